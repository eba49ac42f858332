import type { Readable } from 'node:stream';
import type { Digest } from '../oci/digest.js';
import { RegistryError } from '../oci/errors.js';
import type { RepoName } from '../oci/name.js';
import type { BlobStore, ByteRange } from '../storage/blob/blob-store.js';
import type { MetaStore } from '../storage/meta/meta-store.js';
import { requireRepository } from './repositories.js';

export interface BlobInfo {
  digest: Digest;
  size: number;
}

/** Reading and deleting blobs as members of a repository. */
export class Blobs {
  constructor(
    private readonly meta: MetaStore,
    private readonly store: BlobStore,
  ) {}

  /** Size of a blob in a repository; BLOB_UNKNOWN when the repository does not hold it. */
  async stat(name: RepoName, digest: Digest): Promise<BlobInfo> {
    const blob = await this.meta.findRepositoryBlob(name, digest);
    if (blob) return { digest, size: blob.size };
    await requireRepository(this.meta, name);
    throw unknownBlob(digest);
  }

  async open(digest: Digest, range?: ByteRange): Promise<Readable> {
    try {
      return await this.store.read(digest, range);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw unknownBlob(digest);
      throw err;
    }
  }

  /** Removes the blob from the repository; its bytes go when nothing else references them (GC). */
  async delete(name: RepoName, digest: Digest): Promise<void> {
    const repo = await requireRepository(this.meta, name);
    if (!(await this.meta.unlinkBlob(repo.id, digest))) throw unknownBlob(digest);
  }
}

export function unknownBlob(digest: Digest): RegistryError {
  return new RegistryError('BLOB_UNKNOWN', `blob ${digest} unknown to repository`, { digest });
}
