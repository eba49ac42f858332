/**
 * The durable job queue's port: rows in the metadata store that any node's
 * worker may claim. A claim is a lease: the worker holding it renews it while
 * the job runs (heartbeat); a lease that runs out (its node died) makes the job
 * claimable again by any node. Every change a worker makes names itself, and is
 * refused (false) once another worker has taken the job.
 */

export type JobStatus = 'queued' | 'running' | 'done' | 'failed';

export interface Job<P = unknown> {
  id: number;
  /** What kind of work, e.g. `gc`, `webhook`, `scan`: workers take the kinds they have handlers for. */
  kind: string;
  /** The handler's input, stored as JSON. */
  payload: P;
  status: JobStatus;
  /** Not claimed before this (epoch ms): the first run, or the next retry. */
  runAt: number;
  /** Claims so far, this one included: a job retaken after its lease expired counts again. */
  attempts: number;
  maxAttempts: number;
  leaseOwner: string | null;
  leaseExpiresAt: number | null;
  lastError: string | null;
  dedupeKey: string | null;
  createdAt: number;
  updatedAt: number;
}

export interface EnqueueOptions {
  /** Not before this (epoch ms); default now. */
  runAt?: number;
  /** While a job with this key is queued or running, enqueueing another returns that one instead. */
  dedupeKey?: string;
  /** Attempts before the job ends as failed (default 5). */
  maxAttempts?: number;
}

export const DEFAULT_MAX_ATTEMPTS = 5;

export interface JobStore {
  /** Queues a job; `created` is false when an active job with the same dedupe key was returned instead. */
  enqueue(kind: string, payload: unknown, options?: EnqueueOptions): Promise<{ job: Job; created: boolean }>;
  /**
   * Takes one due job of the given kinds for `workerId`, leased for `leaseMs`:
   * a queued job whose time has come, or a running one whose lease has expired.
   * Its attempts count up by one. However many nodes claim at once, a job goes to one.
   */
  claim(kinds: readonly string[], workerId: string, leaseMs: number): Promise<Job | undefined>;
  /** Extends the lease; false when `workerId` no longer holds the job. */
  heartbeat(id: number, workerId: string, leaseMs: number): Promise<boolean>;
  complete(id: number, workerId: string): Promise<boolean>;
  /** Records the error; with `retryAt` the job is queued again for then, without it the job ends as failed. */
  fail(id: number, workerId: string, error: string, retryAt: number | undefined): Promise<boolean>;
  /** Gives the job back, due now, without counting this attempt (the worker is shutting down). */
  release(id: number, workerId: string): Promise<boolean>;
  get(id: number): Promise<Job | undefined>;
  /**
   * Makes every running job claimable now, whoever's lease it holds; returns how many.
   * Only for a process that is the metadata's one user (the embedded default), at start:
   * every lease there belongs to a process that no longer runs, so waiting for them to
   * expire would only delay the work. The cut-short attempt still counts.
   */
  releaseAllRunning(): Promise<number>;
  /** Deletes done and failed jobs last changed before `before`; returns how many. */
  deleteFinished(before: number): Promise<number>;
}
