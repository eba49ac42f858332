import type { BlobStore } from '../storage/blob/blob-store.js';
import type { ManifestRecord, MetaStore } from '../storage/meta/meta-store.js';
import { ReadCache } from './read-cache.js';
import { Blobs } from './blobs.js';
import { Manifests } from './manifests.js';
import { Uploads } from './uploads.js';

export interface RegistryOptions {
  /**
   * True when this process is the only writer of the metadata (the embedded
   * default, which locks its data directory): hot reads are then cached in memory.
   */
  singleWriter?: boolean;
  cacheBytes?: number;
}

function sizeOfCached(value: unknown): number {
  return typeof value === 'number' ? 8 : (value as ManifestRecord).body.length + 256;
}

/** The registry's domain services over one pair of stores. */
export class Registry {
  readonly blobs: Blobs;
  readonly uploads: Uploads;
  readonly manifests: Manifests;

  constructor(
    readonly meta: MetaStore,
    readonly blobStore: BlobStore,
    options: RegistryOptions = {},
  ) {
    const cache = options.singleWriter ? new ReadCache<unknown>(options.cacheBytes ?? 32 * 1024 * 1024, sizeOfCached) : undefined;
    this.blobs = new Blobs(meta, blobStore, cache as ReadCache<number> | undefined);
    this.uploads = new Uploads(meta, blobStore);
    this.manifests = new Manifests(meta, cache as ReadCache<ManifestRecord> | undefined);
  }

  /** Throws when either store is unreachable (readiness). */
  async ping(): Promise<void> {
    await Promise.all([this.meta.ping(), this.blobStore.ping()]);
  }
}
