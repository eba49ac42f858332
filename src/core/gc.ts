/**
 * Online garbage collection: mark and sweep over the reference relations in the
 * metadata store, per registry, while pushes, pulls and deletes go on.
 *
 * Why no manifest ever references a deleted blob (every step below is a
 * metadata transaction; on SQLite Kysely runs one at a time over the one
 * connection, so they are serialisable — a PostgreSQL store must run these at
 * SERIALIZABLE or lock the rows it checks):
 * 1. A manifest put checks, inside its transaction, that each blob it names is
 *    linked in its repository. GC removes a link only in a transaction that
 *    re-checks that no manifest of the repository names the blob. Whichever
 *    commits first, the other sees it: the put fails, or GC keeps the link.
 * 2. Bytes are deleted only inside a transaction that re-checks that no
 *    repository links the digest and no manifest names it (manifest_references
 *    outlives a link removed with DELETE /v2/…/blobs/, so that is checked too).
 *    Links are only ever created from an upload that committed the bytes or a
 *    mount that found them, which leads to 3.
 * 3. The gap a transaction cannot see: a push has made the bytes visible (or
 *    found identical bytes and skipped writing) or a mount has found them, and
 *    its link is not yet committed. ClaimingBlobStore records a claim under a
 *    per-digest lock that deletion takes too, and GC keeps a claimed blob while
 *    the upload's session exists (its link commits in the transaction that ends
 *    the session) or for 10 minutes after a mount. A commit that comes after the
 *    deletion finds no bytes and writes its own.
 * 4. Grace: links, blob rows and manifests younger than gc.gracePeriod are kept,
 *    so a client that pushed blobs but not yet its manifest is not refused.
 */
import { randomUUID } from 'node:crypto';
import type { Digest } from '../oci/digest.js';
import type { MetaStore } from '../storage/meta/meta-store.js';
import type { ClaimingBlobStore } from './gc-claims.js';
import { GcPass, type GcTally } from './gc-pass.js';
import { sweepStorage } from './gc-sweep.js';

export const GC_TYPES = ['untagged manifests only', 'unreferenced blobs only', 'untagged manifests and unreferenced blobs'] as const;
export type GcType = (typeof GC_TYPES)[number];
export type GcStatus = 'requested' | 'scanning manifests' | 'deleting unreferenced blobs' | 'cancelling' | 'failed' | 'succeeded' | 'cancelled';
export const FINISHED_STATUSES: readonly GcStatus[] = ['failed', 'succeeded', 'cancelled'];

export interface GcRun {
  id: string;
  registryId: number;
  type: GcType;
  status: GcStatus;
  dryRun: boolean;
  createdAt: number;
  updatedAt: number;
  manifestsDeleted: number;
  /** Blobs the registry no longer holds (their last link in it went). */
  blobsDeleted: number;
  /** Their sizes: what the registry's storage lost in blobs. */
  freedBytes: number;
  error: string | null;
}

export type GcRunPatch = Partial<Pick<GcRun, 'status' | 'manifestsDeleted' | 'blobsDeleted' | 'freedBytes' | 'error'>> & { updatedAt: number };

/** One repository's manifests as the mark phase sees them. */
export interface ManifestGraph {
  manifests: { id: number; digest: Digest; size: number; subjectDigest: Digest | null; createdAt: number }[];
  taggedIds: number[];
  /** Index → child manifest references. */
  children: { parentId: number; digest: Digest }[];
}

/** Queries GC asks, in or out of a transaction. */
export interface GcReader {
  repositories(registryId: number): Promise<{ id: number; name: string }[]>;
  manifestGraph(repositoryId: number): Promise<ManifestGraph>;
  /** The repository's blob links created at or before `createdBefore`. */
  oldLinks(repositoryId: number, createdBefore: number): Promise<{ digest: Digest; createdAt: number }[]>;
  /** Every (manifest, digest) reference of the repository's manifests. */
  referencesIn(repositoryId: number): Promise<{ manifestId: number; digest: Digest }[]>;
  isReferencedIn(repositoryId: number, digest: Digest): Promise<boolean>;
  linkCreatedAt(repositoryId: number, digest: Digest): Promise<number | undefined>;
  /** How many of the registry's repositories link the blob, and its size. */
  registryBlob(registryId: number, digest: Digest): Promise<{ size: number; refs: number } | undefined>;
  blobState(digest: Digest): Promise<{ row?: { size: number; createdAt: number }; linked: boolean; referenced: boolean }>;
  /** Blob rows no repository links and no manifest names, created at or before `createdBefore`, after `after`. */
  unlinkedBlobs(createdBefore: number, after: string, limit: number): Promise<Digest[]>;
  knownBlobs(digests: Digest[]): Promise<Set<string>>;
  openSessions(uploadIds: string[]): Promise<Set<string>>;
  /** Upload sessions last written before `updatedBefore`. */
  idleSessions(updatedBefore: number, limit: number): Promise<string[]>;
  sessionUpdatedAt(uploadId: string): Promise<number | undefined>;
}

/** Changes GC makes; links and manifests go through `meta`, which keeps storage accounting in step. */
export interface GcTransaction extends GcReader {
  readonly meta: MetaStore;
  deleteBlobRow(digest: Digest): Promise<void>;
  deleteSession(uploadId: string): Promise<boolean>;
}

/** The GC's port on the metadata store (kysely-gc-store.ts). */
export interface GcStore extends GcReader {
  transaction<T>(work: (tx: GcTransaction) => Promise<T>): Promise<T>;
  /** Inserts the run unless the registry has an unfinished one (checked atomically): then returns that one. */
  createRun(run: GcRun): Promise<{ run: GcRun } | { active: GcRun }>;
  getRun(id: string): Promise<GcRun | undefined>;
  activeRun(registryId: number): Promise<GcRun | undefined>;
  /** Newest first. */
  listRuns(registryId: number, limit: number, offset: number): Promise<{ runs: GcRun[]; total: number }>;
  /**
   * `when`: 'unfinished' updates only a run not yet finished; 'progress' also
   * leaves alone a run being cancelled (a progress update must not undo that).
   */
  updateRun(id: string, patch: GcRunPatch, when?: 'unfinished' | 'progress'): Promise<void>;
  /** Marks every unfinished run failed; returns how many. */
  failUnfinishedRuns(error: string, at: number): Promise<number>;
}

export interface GcLogger {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

export interface GcOptions {
  gracePeriodMs: number;
  /** Drops a repository from the read cache (Registry.invalidateRepository). */
  invalidate(repository: string): void;
  logger?: GcLogger;
  /** Upload sessions idle longer than this are expired (default 24 h). */
  sessionIdleMs?: number;
  /** Staging files no session owns are removed when older than this or the grace period, whichever is longer (default 10 min). */
  stagingOrphanMs?: number;
  /** How often claims of finished pushes are forgotten (default 1 min). */
  pruneEveryMs?: number;
}

const DAY = 86_400_000;

class Stopped extends Error {
  constructor(readonly reason: 'cancel' | 'shutdown') {
    super(`stopped: ${reason}`);
  }
}

interface RunControl {
  stop?: 'cancel' | 'shutdown';
  done?: Promise<void>;
  lastProgress: number;
}

/**
 * Garbage-collection runs as background jobs in this process: one unfinished
 * run per registry, progress and counts in gc_runs, cancellable between
 * batches. A run left unfinished by a crash is marked failed at the next start
 * (`recover`), not resumed: a new run redoes whatever it had not done.
 */
export class GarbageCollector {
  private readonly controls = new Map<string, RunControl>();
  private readonly pruneTimer: NodeJS.Timeout;
  private sweeping = false;
  private closed = false;
  private lastTime = 0;

  constructor(
    private readonly store: GcStore,
    private readonly blobs: ClaimingBlobStore,
    private readonly options: GcOptions,
  ) {
    this.pruneTimer = setInterval(() => void this.pruneClaims().catch((err: unknown) => options.logger?.warn({ err }, 'gc: could not prune blob claims')), options.pruneEveryMs ?? 60_000);
    this.pruneTimer.unref();
  }

  async recover(): Promise<number> {
    const n = await this.store.failUnfinishedRuns('interrupted: the server stopped during this run; start a new one', this.now());
    if (n > 0) this.options.logger?.warn({ runs: n }, 'gc: runs interrupted by the last shutdown were marked failed');
    return n;
  }

  async start(registry: { id: number; name: string }, type: GcType, dryRun: boolean): Promise<{ run: GcRun } | { active: GcRun }> {
    if (this.closed) throw new Error('garbage collection is shutting down');
    const now = this.now();
    const result = await this.store.createRun({
      id: randomUUID(), registryId: registry.id, type, status: 'requested', dryRun, createdAt: now, updatedAt: now,
      manifestsDeleted: 0, blobsDeleted: 0, freedBytes: 0, error: null,
    });
    if ('run' in result) {
      const { run } = result;
      const control: RunControl = { lastProgress: Date.now() };
      this.controls.set(run.id, control);
      control.done = new Promise<void>((resolve) => setImmediate(resolve))
        .then(() => this.execute(run, registry.name, control))
        .finally(() => this.controls.delete(run.id));
    }
    return result;
  }

  get(id: string): Promise<GcRun | undefined> {
    return this.store.getRun(id);
  }

  active(registryId: number): Promise<GcRun | undefined> {
    return this.store.activeRun(registryId);
  }

  list(registryId: number, limit: number, offset: number): Promise<{ runs: GcRun[]; total: number }> {
    return this.store.listRuns(registryId, limit, offset);
  }

  /** Asks a run to stop at its next batch; undefined when the registry has no such run. A finished run is left as it is. */
  async cancel(registryId: number, id: string): Promise<{ run: GcRun; alreadyFinished: boolean } | undefined> {
    const run = await this.store.getRun(id);
    if (!run || run.registryId !== registryId) return undefined;
    if (FINISHED_STATUSES.includes(run.status)) return { run, alreadyFinished: true };
    const control = this.controls.get(id);
    if (control) control.stop ??= 'cancel';
    // Without a control nothing is running it (it cannot happen after `recover`): it is over now.
    await this.store.updateRun(id, { status: control ? 'cancelling' : 'cancelled', updatedAt: this.now() }, 'unfinished');
    return { run: (await this.store.getRun(id)) ?? run, alreadyFinished: false };
  }

  /** Stops every run at its next batch (they are marked failed) and waits for them. */
  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.pruneTimer);
    for (const control of this.controls.values()) control.stop ??= 'shutdown';
    await Promise.all([...this.controls.values()].map((c) => c.done));
  }

  private async execute(run: GcRun, registryName: string, control: RunControl): Promise<void> {
    const started = Date.now();
    const cutoff = started - this.options.gracePeriodMs;
    const checkpoint = async () => {
      // SQLite answers synchronously: without a turn of the event loop between steps, requests would wait for the whole run.
      await new Promise<void>((resolve) => setImmediate(resolve));
      if (control.stop) throw new Stopped(control.stop);
      if (Date.now() - control.lastProgress >= 500) await this.progress(run, control, undefined, pass.tally);
    };
    const pass = new GcPass(this.store, this.blobs, { registryId: run.registryId, dryRun: run.dryRun, cutoff, invalidate: this.options.invalidate, checkpoint });
    let final: Pick<GcRunPatch, 'status' | 'error'>;
    try {
      await this.pruneClaims();
      const repositories = await this.store.repositories(run.registryId);
      if (run.type !== 'unreferenced blobs only') {
        await this.progress(run, control, 'scanning manifests', pass.tally);
        for (const repo of repositories) {
          await checkpoint();
          await pass.manifests(repo);
        }
      }
      if (run.type !== 'untagged manifests only') {
        await this.progress(run, control, 'deleting unreferenced blobs', pass.tally);
        for (const repo of repositories) {
          await checkpoint();
          await pass.links(repo);
        }
        if (!run.dryRun) {
          await pass.blobs();
          await this.sweep(cutoff, checkpoint);
        }
      }
      final = { status: 'succeeded' };
    } catch (err) {
      if (err instanceof Stopped) {
        final = err.reason === 'cancel' ? { status: 'cancelled' } : { status: 'failed', error: 'interrupted: the server shut down during this run' };
      } else {
        this.options.logger?.error({ err, gc: run.id, registry: registryName }, 'gc: run failed');
        final = { status: 'failed', error: (err as Error).message };
      }
    }
    await this.store.updateRun(run.id, { ...final, ...pass.tally, updatedAt: this.now() }).catch((err: unknown) => {
      this.options.logger?.error({ err, gc: run.id }, 'gc: could not record the end of a run');
    });
    this.options.logger?.info({ gc: run.id, registry: registryName, type: run.type, dryRun: run.dryRun, ...final, ...pass.tally, durationMs: Date.now() - started }, 'gc: run finished');
  }

  private async progress(run: GcRun, control: RunControl, status: GcStatus | undefined, tally: GcTally): Promise<void> {
    control.lastProgress = Date.now();
    await this.store.updateRun(run.id, { ...(status ? { status } : {}), ...tally, updatedAt: this.now() }, 'progress');
  }

  /** The server-wide sweep, at most one at a time (runs of several registries may overlap). */
  private async sweep(cutoff: number, checkpoint: () => Promise<void>): Promise<void> {
    if (this.sweeping) return;
    this.sweeping = true;
    try {
      const now = Date.now();
      const report = await sweepStorage(this.store, this.blobs, {
        cutoff,
        stagingCutoff: Math.min(cutoff, now - (this.options.stagingOrphanMs ?? 10 * 60_000)),
        idleCutoff: now - (this.options.sessionIdleMs ?? DAY),
        checkpoint,
      });
      if (Object.values(report).some((n) => n > 0)) this.options.logger?.info({ ...report }, 'gc: swept storage no registry owns');
    } finally {
      this.sweeping = false;
    }
  }

  private pruneClaims(): Promise<void> {
    return this.blobs.prune((ids) => this.store.openSessions(ids));
  }

  /** Strictly increasing milliseconds, so runs started in the same millisecond still list in order. */
  private now(): number {
    this.lastTime = Math.max(Date.now(), this.lastTime + 1);
    return this.lastTime;
  }
}
