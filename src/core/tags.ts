import type { RepoName } from '../oci/name.js';
import type { MetaStore } from '../storage/meta/meta-store.js';
import { fetchFilteredPage, fetchPage, type Page, type PageRequest } from './pagination.js';
import { requireRepository } from './repositories.js';

/** A page of a repository's tags, in lexical order. */
export async function listTags(meta: MetaStore, name: RepoName, page: PageRequest): Promise<Page> {
  const repo = await requireRepository(meta, name);
  return fetchPage(page, (limit, last) => meta.listTags(repo.id, limit, last));
}

/** A page of repository names in lexical order, optionally only those `visible` accepts. */
export function listRepositories(meta: MetaStore, page: PageRequest, visible?: (name: RepoName) => Promise<boolean>): Promise<Page> {
  const list = (limit: number, last?: string) => meta.listRepositories(limit, last);
  return visible ? fetchFilteredPage(page, list, (name) => visible(name as RepoName)) : fetchPage(page, list);
}
