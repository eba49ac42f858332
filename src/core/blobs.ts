import type { Readable } from 'node:stream';
import type { Digest } from '../oci/digest.js';
import { RegistryError } from '../oci/errors.js';
import type { RepoName } from '../oci/name.js';
import type { BlobReader, BlobStore, ByteRange } from '../storage/blob/blob-store.js';
import type { MetaStore } from '../storage/meta/meta-store.js';
import type { ReadCache } from './read-cache.js';
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
    /** Set only when this process is the metadata's one writer (see ReadCache). */
    private readonly cache?: ReadCache<number>,
  ) {}

  /** Size of a blob in a repository; BLOB_UNKNOWN when the repository does not hold it. */
  async stat(name: RepoName, digest: Digest): Promise<BlobInfo> {
    const size = this.cache?.get(name, digest);
    if (size !== undefined) return { digest, size };
    const generation = this.cache?.generation() ?? 0;
    const blob = await this.meta.findRepositoryBlob(name, digest);
    if (blob) {
      this.cache?.set(name, digest, blob.size, generation);
      return { digest, size: blob.size };
    }
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

  /** A positional reader when the store offers one (see BlobStore.openReader), else undefined: stream with `open`. */
  async openReader(digest: Digest): Promise<BlobReader | undefined> {
    if (!this.store.openReader) return undefined;
    try {
      return await this.store.openReader(digest);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw unknownBlob(digest);
      throw err;
    }
  }

  /** Removes the blob from the repository; its bytes go when nothing else references them (GC). */
  async delete(name: RepoName, digest: Digest): Promise<void> {
    const repo = await requireRepository(this.meta, name);
    this.cache?.invalidate(name);
    const unlinked = await this.meta.unlinkBlob(repo.id, digest);
    await this.cache?.changed(name);
    if (!unlinked) throw unknownBlob(digest);
  }
}

export function unknownBlob(digest: Digest): RegistryError {
  return new RegistryError('BLOB_UNKNOWN', `blob ${digest} unknown to repository`, { digest });
}
