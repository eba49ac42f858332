import type { BlobStore } from '../storage/blob/blob-store.js';
import type { MetaStore } from '../storage/meta/meta-store.js';
import { Blobs } from './blobs.js';
import { Manifests } from './manifests.js';
import { Uploads } from './uploads.js';

/** The registry's domain services over one pair of stores. */
export class Registry {
  readonly blobs: Blobs;
  readonly uploads: Uploads;
  readonly manifests: Manifests;

  constructor(
    readonly meta: MetaStore,
    readonly blobStore: BlobStore,
  ) {
    this.blobs = new Blobs(meta, blobStore);
    this.uploads = new Uploads(meta, blobStore);
    this.manifests = new Manifests(meta);
  }

  /** Throws when either store is unreachable (readiness). */
  async ping(): Promise<void> {
    await Promise.all([this.meta.ping(), this.blobStore.ping()]);
  }
}
