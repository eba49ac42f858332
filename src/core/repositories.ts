import { RegistryError } from '../oci/errors.js';
import { registryOf, type RepoName } from '../oci/name.js';
import type { MetaStore, RepositoryRecord } from '../storage/meta/meta-store.js';

/** The repository, or NAME_UNKNOWN when nothing was ever pushed to it. */
export async function requireRepository(meta: MetaStore, name: RepoName): Promise<RepositoryRecord> {
  const repo = await meta.getRepository(name);
  if (!repo) throw new RegistryError('NAME_UNKNOWN', `repository ${name} not known to registry`, { name });
  return repo;
}

/** The repository, created with its registry (first path component) on first push. */
export function ensureRepository(meta: MetaStore, name: RepoName): Promise<RepositoryRecord> {
  return meta.ensureRepository(name, registryOf(name));
}
