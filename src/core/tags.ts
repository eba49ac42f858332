import type { RepoName } from '../oci/name.js';
import type { MetaStore } from '../storage/meta/meta-store.js';
import { fetchPage, type Page, type PageRequest } from './pagination.js';
import { requireRepository } from './repositories.js';

/** A page of a repository's tags, in lexical order. */
export async function listTags(meta: MetaStore, name: RepoName, page: PageRequest): Promise<Page> {
  const repo = await requireRepository(meta, name);
  return fetchPage(page, (limit, last) => meta.listTags(repo.id, limit, last));
}

/** A page of all repository names, in lexical order. */
export function listRepositories(meta: MetaStore, page: PageRequest): Promise<Page> {
  return fetchPage(page, (limit, last) => meta.listRepositories(limit, last));
}
