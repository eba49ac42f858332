import type { RunningDigest } from '../oci/digest.js';
import type { BlobStore } from '../storage/blob/blob-store.js';
import type { ManifestRecord, MetaStore } from '../storage/meta/meta-store.js';
import type { ChangeFeed } from './change-feed.js';
import { ReadCache } from './read-cache.js';
import { Blobs } from './blobs.js';
import { GarbageCollector, type GcLogger, type GcStore } from './gc.js';
import { ClaimingBlobStore } from './gc-claims.js';
import { Manifests } from './manifests.js';
import { BodySlots } from './body-slots.js';
import { ImmutableTags, type ImmutableTagStore } from './immutable-tags.js';
import type { Scanner } from '../scan/scanner.js';
import type { PullPolicy } from '../scan/pull-policy.js';
import type { VulnDbStore } from '../scan/osv/vulndb-store.js';
import type { Retention } from '../events/retention/retention.js';
import { Quota } from './quota.js';
import type { TierCatalog } from './tiers.js';
import type { TransferMeter } from './transfer-meter.js';
import { Uploads } from './uploads.js';
import { UsageReports, type Pricing, type RegistryAccounts, type UsageStore } from './usage.js';

export interface RegistryOptions {
  /**
   * True when this process is the only writer of the metadata (the embedded
   * default, which locks its data directory): hot reads are then cached in memory.
   */
  singleWriter?: boolean;
  /** With several nodes: how they announce changes to each other, so hot reads can be cached here too. */
  changeFeed?: ChangeFeed;
  cacheBytes?: number;
  /** Set when blob GETs are answered with a redirect to where the bytes are (a presigned bucket URL). */
  blobRedirect?: (digest: string) => Promise<string>;
  /** Tiers, quotas and usage; without them nothing is limited or metered. */
  accounts?: { store: UsageStore; tiers: TierCatalog; pricing: Pricing; meter: TransferMeter };
  /** Upload bodies read at once, process-wide (default 16). */
  maxConcurrentUploadBodies?: number;
  /** Starts an upload session's running SHA-256; a native one lets the HTTP layer receive bodies directly (see DirectBody). */
  newUploadDigest?: () => RunningDigest;
  /** Rules making tags immutable; without them every tag may move. */
  immutableTags?: ImmutableTagStore;
  /** Online garbage collection over the same stores; without it there is none. */
  gc?: { store: GcStore; gracePeriodMs: number; logger?: GcLogger };
}

function sizeOfCached(value: unknown): number {
  return typeof value === 'number' ? 8 : (value as ManifestRecord).body.length + 256;
}

/** The registry's domain services over one pair of stores. */
export class Registry {
  readonly blobs: Blobs;
  readonly uploads: Uploads;
  readonly manifests: Manifests;
  readonly accounts?: RegistryAccounts;
  readonly gc?: GarbageCollector;
  readonly immutableTags?: ImmutableTags;
  readonly immutableTagStore?: ImmutableTagStore;
  readonly blobRedirect?: (digest: string) => Promise<string>;
  /** Vulnerability scanning and the pull policy on its results; set by the composition root when scanning is on. */
  scanning?: { scanner: Scanner; pullPolicy: PullPolicy; vulndb: VulnDbStore };
  /** Retention policies and their runs; set by the composition root. */
  retention?: Retention;
  private readonly cache?: ReadCache<unknown>;

  constructor(
    readonly meta: MetaStore,
    readonly blobStore: BlobStore,
    options: RegistryOptions = {},
  ) {
    const cacheable = options.singleWriter || options.changeFeed;
    const cache = cacheable ? new ReadCache<unknown>(options.cacheBytes ?? 32 * 1024 * 1024, sizeOfCached, options.changeFeed) : undefined;
    this.cache = cache;
    this.blobRedirect = options.blobRedirect;
    // With GC, pushes reach the bytes through claims, so GC never deletes bytes a push is about to link (gc.ts).
    const claiming = options.gc ? new ClaimingBlobStore(blobStore) : undefined;
    if (claiming) this.blobStore = blobStore = claiming;
    this.blobs = new Blobs(meta, blobStore, cache as ReadCache<number> | undefined);
    const a = options.accounts;
    const quota = a ? new Quota(meta, a.store, a.tiers) : undefined;
    if (a && quota) this.accounts = { ...a, quota, usage: new UsageReports(a.store, a.tiers, a.pricing, a.meter) };
    this.uploads = new Uploads(meta, blobStore, quota, new BodySlots(options.maxConcurrentUploadBodies ?? 16), options.newUploadDigest);
    this.manifests = new Manifests(meta, cache as ReadCache<ManifestRecord> | undefined, quota);
    if (options.immutableTags) this.immutableTags = this.manifests.immutableTags = new ImmutableTags(options.immutableTags);
    this.immutableTagStore = options.immutableTags;
    if (claiming && options.gc) this.gc = new GarbageCollector(options.gc.store, claiming, { ...options.gc, invalidate: (name) => this.invalidateRepository(name), changed: (name) => this.repositoryChanged(name) });
  }

  /** Deletes a registry and everything in it; its blobs become garbage for GC. False when there is no such registry. */
  async deleteRegistry(name: string): Promise<boolean> {
    const removed = await this.accounts?.store.deleteRegistry(name);
    if (!removed) return false;
    this.accounts!.meter.forget(name);
    await Promise.all(removed.repositories.map((repository) => this.repositoryChanged(repository)));
    await Promise.all(removed.uploadIds.map((id) => this.blobStore.deleteUpload(id).catch(() => undefined)));
    return true;
  }

  /** Drops what the read cache holds for a repository on this node, before a change made outside Manifests and Blobs. */
  invalidateRepository(name: string): void {
    this.cache?.invalidate(name);
  }

  /** After such a change is committed: drops the repository from every node's read cache. */
  async repositoryChanged(name: string): Promise<void> {
    await this.cache?.changed(name);
  }

  /** Throws when either store is unreachable (readiness). */
  async ping(): Promise<void> {
    await Promise.all([this.meta.ping(), this.blobStore.ping()]);
  }
}
