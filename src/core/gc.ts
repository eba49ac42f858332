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
 *    With several nodes sharing the metadata, a node's memory is not enough:
 *    the claim is first committed to the metadata (SharedBlobClaims in
 *    gc-claims.ts), and GC's deletion locks the digest's claim row in its
 *    transaction. GC on one node keeps what a push on another is about to
 *    link, or the push's claim waits for the deletion and it writes its own.
 * 4. Grace: links, blob rows and manifests younger than gc.gracePeriod are kept,
 *    so a client that pushed blobs but not yet its manifest is not refused.
 *
 * Runs go through the job queue (src/jobs/): starting one records the run and
 * queues its job in one transaction, and whichever node's worker claims the job
 * runs it. Cancelling marks the run in the database; the node running it looks
 * there at its checkpoints. A run whose node died (its job's lease ran out) is
 * taken up again by another node, from scratch: every pass plans again from
 * what is there and re-checks each deletion in its transaction, so repeating
 * work already done deletes nothing twice.
 */
import { randomUUID } from 'node:crypto';
import type { Job } from '../jobs/job-store.js';
import { JobInterrupted, type JobContext, type JobHandler } from '../jobs/worker.js';
import type { Digest } from '../oci/digest.js';
import type { MetaStore } from '../storage/meta/meta-store.js';
import type { ClaimingBlobStore, SharedBlobClaims } from './gc-claims.js';
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
  /** The job that runs it (absent: a run recorded before the job queue). */
  jobId?: number;
  /** The node that last took it up (absent until one has). */
  node?: string;
}

export type GcRunPatch = Partial<Pick<GcRun, 'status' | 'manifestsDeleted' | 'blobsDeleted' | 'freedBytes' | 'error'>> & { updatedAt: number; node?: string | null };

/** The job a run is carried out by, queued with it. */
export interface GcRunJob {
  kind: string;
  payload: unknown;
  maxAttempts: number;
}

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
  /**
   * Whether a push on any node claims the digest (SharedBlobClaims): a time
   * claim not yet expired, or an upload session still open. Locks the digest's
   * claim row until the transaction ends, so no new claim can slip in while GC
   * deletes the bytes; a push claiming meanwhile waits, then finds them gone.
   */
  sharedClaimHeld(digest: Digest, now: number): Promise<boolean>;
}

/** The GC's port on the metadata store (kysely-gc-store.ts). */
export interface GcStore extends GcReader {
  /**
   * True when other nodes may share this metadata (PostgreSQL): their runs are
   * theirs. False when this process alone uses it (SQLite, under the
   * data-directory lock): an unfinished run it does not run was cut short.
   */
  readonly sharedByNodes: boolean;
  /** With shared metadata: where pushes record their claims for every node's GC. */
  readonly sharedClaims?: SharedBlobClaims;
  transaction<T>(work: (tx: GcTransaction) => Promise<T>): Promise<T>;
  /**
   * Inserts the run unless the registry has an unfinished one (checked
   * atomically): then returns that one. With `job`, queues the job that runs it
   * in the same transaction and records its id on the run.
   */
  createRun(run: GcRun, job?: GcRunJob): Promise<{ run: GcRun } | { active: GcRun }>;
  getRun(id: string): Promise<GcRun | undefined>;
  activeRun(registryId: number): Promise<GcRun | undefined>;
  /** Newest first. */
  listRuns(registryId: number, limit: number, offset: number): Promise<{ runs: GcRun[]; total: number }>;
  /**
   * `when`: 'unfinished' updates only a run not yet finished; 'progress' also
   * leaves alone a run being cancelled (a progress update must not undo that).
   * `owner`: only while that node is the one running it (a node that lost its
   * job's lease must not write over the node that took it).
   */
  updateRun(id: string, patch: GcRunPatch, when?: 'unfinished' | 'progress', owner?: string): Promise<void>;
  /**
   * Asks an unfinished run to stop: 'cancelling' while its job runs somewhere
   * (that node sees it at its next checkpoint); 'cancelled' at once, its job
   * dropped, when nothing has taken the job up yet or nothing will.
   */
  requestCancel(id: string, at: number): Promise<void>;
  /** Marks every unfinished run failed, and their jobs; returns how many runs. */
  failUnfinishedRuns(error: string, at: number): Promise<number>;
  /** Marks failed the unfinished runs no job will run: none queued with them (older runs), or theirs has ended. */
  failRunsWithoutJob(error: string, at: number): Promise<number>;
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
  /** After a committed change: drops it from every node's read cache (Registry.repositoryChanged). */
  changed(repository: string): Promise<void>;
  logger?: GcLogger;
  /** Upload sessions idle longer than this are expired (default 24 h). */
  sessionIdleMs?: number;
  /** Staging files no session owns are removed when older than this or the grace period, whichever is longer (default 10 min). */
  stagingOrphanMs?: number;
  /** How often claims of finished pushes are forgotten (default 1 min). */
  pruneEveryMs?: number;
}

const DAY = 86_400_000;
/** The job kind that carries out garbage-collection runs. */
export const GC_JOB = 'gc';
/** Nodes that may take a run up (the first included) before it is failed: each retake follows a node that stopped mid-run. */
const GC_JOB_ATTEMPTS = 3;
/** How often a running run looks in the database for a cancel request (made on whichever node the request reached). */
const CANCEL_POLL_MS = 250;

interface GcJobPayload {
  runId: string;
  /** The registry's name, for logs. */
  registry: string;
}

/** Where runs are queued for execution: the node's job worker (src/jobs/worker.ts). */
export interface GcJobQueue {
  handle(kind: string, handler: JobHandler): unknown;
  /** Something was just queued: poll now. */
  wake(): void;
}

/** 'lost': the run is no longer this node's (its job's lease went to another node, or the run was ended elsewhere). */
type StopReason = 'cancel' | 'shutdown' | 'lost';

class Stopped extends Error {
  constructor(readonly reason: StopReason) {
    super(`stopped: ${reason}`);
  }
}

interface RunControl {
  stop?: StopReason;
  done?: Promise<void>;
  lastProgress: number;
  lastPoll: number;
  /** This node (its worker id), which the run row names while it runs here. */
  owner: string;
  signal: AbortSignal;
}

/**
 * Garbage-collection runs: one unfinished run per registry, progress and
 * counts in gc_runs, cancellable between batches. A run is carried out by the
 * job queued with it, on whichever node claims it (`attach` this to the node's
 * worker). With the metadata this process's alone (SQLite), a run left
 * unfinished by a crash or a shutdown is marked failed, not resumed: a new run
 * redoes whatever it had not done. With nodes sharing it, a run whose node died
 * is taken up by another once its job's lease runs out, and one a shutdown cut
 * short goes back to the queue.
 */
export class GarbageCollector {
  private readonly controls = new Map<string, RunControl>();
  private readonly finishedListeners: ((run: GcRun, registryName: string) => void)[] = [];
  private readonly pruneTimer: NodeJS.Timeout;
  private queue?: GcJobQueue;
  private sweeping = false;
  private closed = false;
  private lastTime = 0;

  constructor(
    private readonly store: GcStore,
    private readonly blobs: ClaimingBlobStore,
    private readonly options: GcOptions,
  ) {
    // Other nodes collect too: this node's pushes must record their claims where those nodes look.
    if (store.sharedClaims) blobs.shareClaims(store.sharedClaims);
    this.pruneTimer = setInterval(() => void this.pruneClaims().catch((err: unknown) => options.logger?.warn({ err }, 'gc: could not prune blob claims')), options.pruneEveryMs ?? 60_000);
    this.pruneTimer.unref();
  }

  /** Calls `listener` when a run this node carried out has finished (succeeded, failed or cancelled) and is recorded so. */
  onFinished(listener: (run: GcRun, registryName: string) => void): void {
    this.finishedListeners.push(listener);
  }

  /** Runs this node's share of the runs: its worker takes runs started on any node. */
  attach(queue: GcJobQueue): void {
    this.queue = queue;
    queue.handle(GC_JOB, { run: (job, context) => this.runJob(job, context), exhausted: (job, error) => this.abandon(job, error) });
  }

  /**
   * At start. Alone on the metadata, every unfinished run was cut short by this
   * process's last stop: they are marked failed. Sharing it, runs other nodes
   * run are theirs (one whose node died is retaken when its lease expires):
   * only runs that nothing will ever run are marked failed.
   */
  async recover(): Promise<number> {
    const at = this.now();
    if (this.store.sharedByNodes) {
      const n = await this.store.failRunsWithoutJob('interrupted: no node runs it any more; start a new one', at);
      if (n > 0) this.options.logger?.warn({ runs: n }, 'gc: runs without a job to run them were marked failed');
      return n;
    }
    const n = await this.store.failUnfinishedRuns('interrupted: the server stopped during this run; start a new one', at);
    if (n > 0) this.options.logger?.warn({ runs: n }, 'gc: runs interrupted by the last shutdown were marked failed');
    return n;
  }

  async start(registry: { id: number; name: string }, type: GcType, dryRun: boolean): Promise<{ run: GcRun } | { active: GcRun }> {
    if (this.closed) throw new Error('garbage collection is shutting down');
    const now = this.now();
    const id = randomUUID();
    const payload: GcJobPayload = { runId: id, registry: registry.name };
    const result = await this.store.createRun(
      { id, registryId: registry.id, type, status: 'requested', dryRun, createdAt: now, updatedAt: now, manifestsDeleted: 0, blobsDeleted: 0, freedBytes: 0, error: null },
      { kind: GC_JOB, payload, maxAttempts: GC_JOB_ATTEMPTS },
    );
    if ('run' in result) this.queue?.wake();
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

  /**
   * Asks a run to stop at its next batch, wherever it runs; undefined when the
   * registry has no such run. A finished run is left as it is.
   */
  async cancel(registryId: number, id: string): Promise<{ run: GcRun; alreadyFinished: boolean } | undefined> {
    const run = await this.store.getRun(id);
    if (!run || run.registryId !== registryId) return undefined;
    if (FINISHED_STATUSES.includes(run.status)) return { run, alreadyFinished: true };
    // Running here: it stops at its next checkpoint; elsewhere, its node finds the request in the database.
    const control = this.controls.get(id);
    if (control) control.stop ??= 'cancel';
    await this.store.requestCancel(id, this.now());
    return { run: (await this.store.getRun(id)) ?? run, alreadyFinished: false };
  }

  /** Stops runs on this node at their next batch and waits for them (close the worker first: it aborts them too). */
  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.pruneTimer);
    for (const control of this.controls.values()) control.stop ??= 'shutdown';
    await Promise.all([...this.controls.values()].map((c) => c.done));
    if (!this.store.sharedByNodes) {
      // Alone on the metadata, nothing will run what is still queued: say so now, not at the next start.
      await this.store.failUnfinishedRuns('interrupted: the server shut down during this run', this.now()).catch((err: unknown) => {
        this.options.logger?.error({ err }, 'gc: could not record runs cut short by the shutdown');
      });
    }
  }

  /** The `gc` job: carries out its run on this node, unless it has finished (cancelled before any node took it up). */
  private async runJob(job: Job, context: JobContext): Promise<void> {
    const { runId, registry } = job.payload as GcJobPayload;
    if (this.closed) throw new JobInterrupted('shutdown');
    const run = await this.store.getRun(runId);
    if (!run || FINISHED_STATUSES.includes(run.status)) return;
    if (run.status === 'cancelling') {
      await this.store.updateRun(run.id, { status: 'cancelled', updatedAt: this.now() }, 'unfinished');
      return;
    }
    // From scratch; a real run counts on from what earlier attempts deleted, a dry run counts again.
    const tally: GcTally = run.dryRun ? { manifestsDeleted: 0, blobsDeleted: 0, freedBytes: 0 } : { manifestsDeleted: run.manifestsDeleted, blobsDeleted: run.blobsDeleted, freedBytes: run.freedBytes };
    await this.store.updateRun(run.id, { ...tally, node: context.workerId, updatedAt: this.now() }, 'unfinished');
    if (job.attempts > 1) {
      this.options.logger?.warn({ gc: run.id, registry, attempt: job.attempts, previousNode: run.node }, 'gc: taking up a run whose node stopped; starting it again');
    }
    const control: RunControl = { lastProgress: Date.now(), lastPoll: Date.now(), owner: context.workerId, signal: context.signal };
    const done = this.execute(run, registry, control, tally);
    control.done = done.then(
      () => undefined,
      () => undefined,
    );
    this.controls.set(run.id, control);
    try {
      await done;
    } finally {
      this.controls.delete(run.id);
    }
  }

  /** No attempt left for the run's job (its nodes kept stopping mid-run): the run failed. */
  private async abandon(job: Job, error: string): Promise<void> {
    const { runId } = job.payload as GcJobPayload;
    await this.store.updateRun(runId, { status: 'failed', error: `interrupted: ${error}`, updatedAt: this.now() }, 'unfinished');
  }

  private async execute(run: GcRun, registryName: string, control: RunControl, tally: GcTally): Promise<void> {
    const started = Date.now();
    const cutoff = started - this.options.gracePeriodMs;
    const checkpoint = async () => {
      // SQLite answers synchronously: without a turn of the event loop between steps, requests would wait for the whole run.
      await new Promise<void>((resolve) => setImmediate(resolve));
      await this.stopIfAsked(run, control);
      if (Date.now() - control.lastProgress >= 500) await this.progress(run, control, undefined, pass.tally);
    };
    const pass = new GcPass(this.store, this.blobs, { registryId: run.registryId, dryRun: run.dryRun, cutoff, invalidate: this.options.invalidate, changed: this.options.changed, checkpoint });
    Object.assign(pass.tally, tally);
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
      const stop = err instanceof Stopped ? err.reason : undefined;
      if (stop === 'lost') {
        this.options.logger?.warn({ gc: run.id, registry: registryName, node: control.owner }, 'gc: the run is no longer this node\'s; stopping here');
        throw new JobInterrupted('lease lost');
      }
      if (stop === 'shutdown' && this.store.sharedByNodes) {
        // Taken up again from scratch by the next node to claim its job (this one, restarted, or another).
        await this.store.updateRun(run.id, { status: 'requested', node: null, ...pass.tally, updatedAt: this.now() }, 'progress', control.owner);
        this.options.logger?.info({ gc: run.id, registry: registryName }, 'gc: shutting down; the run goes back to the queue');
        throw new JobInterrupted('shutdown');
      }
      if (stop) {
        final = stop === 'cancel' ? { status: 'cancelled' } : { status: 'failed', error: 'interrupted: the server shut down during this run' };
      } else {
        this.options.logger?.error({ err, gc: run.id, registry: registryName }, 'gc: run failed');
        final = { status: 'failed', error: (err as Error).message };
      }
    }
    // Should this fail, the job fails and is retried: the run is carried out again.
    await this.store.updateRun(run.id, { ...final, ...pass.tally, updatedAt: this.now() }, 'unfinished', control.owner);
    this.options.logger?.info({ gc: run.id, registry: registryName, type: run.type, dryRun: run.dryRun, ...final, ...pass.tally, durationMs: Date.now() - started }, 'gc: run finished');
    const finished: GcRun = { ...run, ...final, error: final.error ?? null, ...pass.tally, updatedAt: this.now() };
    for (const listener of this.finishedListeners) {
      try {
        listener(finished, registryName);
      } catch (err) {
        this.options.logger?.warn({ err, gc: run.id }, 'gc: a run-finished listener failed');
      }
    }
  }

  /** Throws Stopped when the run must stop: cancelled (here, or in the database by any node), shutting down, or no longer this node's. */
  private async stopIfAsked(run: GcRun, control: RunControl): Promise<void> {
    if (!control.stop && control.signal.aborted) {
      const reason: unknown = control.signal.reason;
      control.stop = reason instanceof JobInterrupted && reason.why === 'lease lost' ? 'lost' : 'shutdown';
    }
    if (!control.stop && Date.now() - control.lastPoll >= CANCEL_POLL_MS) {
      control.lastPoll = Date.now();
      const current = await this.store.getRun(run.id);
      if (current?.status === 'cancelling') control.stop = 'cancel';
      else if (!current || FINISHED_STATUSES.includes(current.status) || current.node !== control.owner) control.stop = 'lost';
    }
    if (control.stop) throw new Stopped(control.stop);
  }

  private async progress(run: GcRun, control: RunControl, status: GcStatus | undefined, tally: GcTally): Promise<void> {
    control.lastProgress = Date.now();
    await this.store.updateRun(run.id, { ...(status ? { status } : {}), ...tally, updatedAt: this.now() }, 'progress', control.owner);
  }

  /** The server-wide sweep, at most one at a time on this node (runs of several registries may overlap). */
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

  private async pruneClaims(): Promise<void> {
    await this.blobs.prune((ids) => this.store.openSessions(ids));
    await this.store.sharedClaims?.prune(Date.now());
  }

  /** Strictly increasing milliseconds, so runs started in the same millisecond still list in order. */
  private now(): number {
    this.lastTime = Math.max(Date.now(), this.lastTime + 1);
    return this.lastTime;
  }
}
