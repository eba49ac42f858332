import type { Job, JobStore } from './job-store.js';

/** Why a worker aborted a running handler's signal (`signal.reason`). */
export class JobInterrupted extends Error {
  constructor(readonly why: 'shutdown' | 'lease lost') {
    super(why === 'shutdown' ? 'the worker is shutting down' : 'the job lease was lost: another worker may have taken the job');
    this.name = 'JobInterrupted';
  }
}

export interface JobContext {
  /** Aborted, with a JobInterrupted as its reason, when the worker closes or loses the lease: stop at the next safe point. */
  readonly signal: AbortSignal;
  /** This worker (node): who holds the job's lease. */
  readonly workerId: string;
}

export interface JobHandler {
  /**
   * Does the job. Resolving completes it; throwing fails this attempt, retried
   * with exponential backoff until its attempts are spent. Throwing after the
   * signal aborted for a shutdown (or throwing JobInterrupted('shutdown')) gives
   * the job back to the queue, this attempt uncounted.
   */
  run(job: Job, context: JobContext): Promise<void>;
  /** The job will not be tried again (attempts spent, or its last lease ran out): record what it was doing as failed. */
  exhausted?(job: Job, error: string): Promise<void>;
  /** Backoff before retry n is min(maxMs, baseMs · 2^(n-1)); defaults from the worker. */
  retry?: RetryBackoff;
}

export interface RetryBackoff {
  baseMs: number;
  maxMs: number;
}

export interface WorkerLogger {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

export interface WorkerOptions {
  /** This node's name in job leases; unique per process. */
  workerId: string;
  /** Jobs run at once (default 2). */
  concurrency?: number;
  /** How long a claim lasts without a heartbeat (default 30 s): a dead node's jobs are retaken after this. */
  leaseMs?: number;
  /** How often a running job's lease is renewed (default leaseMs / 3). */
  heartbeatMs?: number;
  /** Poll interval while jobs keep coming (default 200 ms); doubled on every empty poll up to maxIdlePollMs (default 5 s). */
  pollMs?: number;
  maxIdlePollMs?: number;
  /** Retry backoff for handlers that set none (default 1 s doubling to 15 min). */
  retry?: RetryBackoff;
  /** Finished jobs are deleted once older than this (default 7 days). */
  keepFinishedMs?: number;
  logger?: WorkerLogger;
}

interface Running {
  controller: AbortController;
  task: Promise<void>;
}

const SILENT: WorkerLogger = { info: () => undefined, warn: () => undefined, error: () => undefined };
const HOUR = 3_600_000;

/** Backoff before the retry that follows attempt `attempts`. */
export function retryDelay(attempts: number, backoff: RetryBackoff): number {
  return Math.min(backoff.maxMs, backoff.baseMs * 2 ** Math.max(0, attempts - 1));
}

/**
 * One per node: claims due jobs of the kinds it has handlers for and runs them,
 * a few at a time, renewing each lease while its handler runs. Polls quickly
 * while there is work and backs off while there is none; `wake()` cuts the wait
 * short (this node just queued something). No handler's failure ever escapes:
 * it becomes the job's error. `close()` aborts running handlers and waits for them.
 */
export class JobWorker {
  private readonly handlers = new Map<string, JobHandler>();
  private readonly running = new Map<number, Running>();
  private readonly concurrency: number;
  private readonly leaseMs: number;
  private readonly heartbeatMs: number;
  private readonly pollMs: number;
  private readonly maxIdlePollMs: number;
  private readonly retry: RetryBackoff;
  private readonly log: WorkerLogger;
  private loop?: Promise<void>;
  private closed = false;
  private poked = false;
  private interruptSleep?: () => void;
  private lastPrune = 0;

  constructor(
    private readonly store: JobStore,
    private readonly options: WorkerOptions,
  ) {
    this.concurrency = Math.max(1, options.concurrency ?? 2);
    this.leaseMs = options.leaseMs ?? 30_000;
    this.heartbeatMs = options.heartbeatMs ?? Math.max(10, Math.floor(this.leaseMs / 3));
    this.pollMs = options.pollMs ?? 200;
    this.maxIdlePollMs = Math.max(this.pollMs, options.maxIdlePollMs ?? 5_000);
    this.retry = options.retry ?? { baseMs: 1_000, maxMs: 15 * 60_000 };
    this.log = options.logger ?? SILENT;
  }

  get workerId(): string {
    return this.options.workerId;
  }

  /** Jobs running now. */
  get busy(): number {
    return this.running.size;
  }

  handle(kind: string, handler: JobHandler): this {
    this.handlers.set(kind, handler);
    this.wake();
    return this;
  }

  start(): void {
    if (this.closed) throw new Error('the job worker is closed');
    this.loop ??= this.poll().catch((err: unknown) => this.log.error({ err, worker: this.workerId }, 'jobs: the worker loop stopped'));
  }

  /** There may be work now: poll at once, and at the fast interval again. */
  wake(): void {
    this.poked = true;
    this.interruptSleep?.();
  }

  /** Stops claiming, aborts running handlers (reason: JobInterrupted 'shutdown') and waits until they have settled. */
  async close(): Promise<void> {
    this.closed = true;
    this.interruptSleep?.();
    for (const r of this.running.values()) r.controller.abort(new JobInterrupted('shutdown'));
    await this.loop;
    await Promise.all([...this.running.values()].map((r) => r.task));
  }

  private async poll(): Promise<void> {
    let wait = this.pollMs;
    while (!this.closed) {
      if (this.poked) {
        this.poked = false;
        wait = this.pollMs;
      }
      if (this.running.size >= this.concurrency || this.handlers.size === 0) {
        await this.sleep(this.maxIdlePollMs); // a finishing job or a new handler wakes it
        continue;
      }
      let job: Job | undefined;
      try {
        job = await this.store.claim([...this.handlers.keys()], this.workerId, this.leaseMs);
      } catch (err) {
        this.log.warn({ err, worker: this.workerId }, 'jobs: could not claim a job; retrying');
      }
      if (!job) {
        await this.pruneNow();
        await this.sleep(wait);
        wait = Math.min(wait * 2, this.maxIdlePollMs);
        continue;
      }
      wait = this.pollMs;
      if (this.closed) {
        // Claimed while closing: give it straight back.
        await this.store.release(job.id, this.workerId).catch((err: unknown) => this.log.warn({ err, job: job.id }, 'jobs: could not give a job back'));
        break;
      }
      this.launch(job);
    }
  }

  private launch(job: Job): void {
    const controller = new AbortController();
    const task = this.execute(job, controller)
      .catch((err: unknown) => this.log.error({ err, job: job.id, kind: job.kind }, 'jobs: could not record the outcome of a job'))
      .finally(() => {
        this.running.delete(job.id);
        this.interruptSleep?.();
      });
    this.running.set(job.id, { controller, task });
  }

  private async execute(job: Job, controller: AbortController): Promise<void> {
    const handler = this.handlers.get(job.kind)!;
    const fields = { job: job.id, kind: job.kind, attempt: job.attempts, worker: this.workerId };
    if (job.attempts > job.maxAttempts) {
      // Retaken after its lease ran out, with no attempt left: the node running it stopped, every time.
      const error = `no attempts left: the last lease expired (the node running the job stopped)${job.lastError ? `; earlier: ${job.lastError}` : ''}`;
      await this.giveUp(job, handler, error);
      return;
    }
    const heartbeat = this.keepLease(job, controller);
    let failure: unknown;
    let succeeded = false;
    try {
      await handler.run(job, { signal: controller.signal, workerId: this.workerId });
      succeeded = true;
    } catch (err) {
      failure = err;
    } finally {
      clearInterval(heartbeat);
    }
    if (succeeded) {
      if (!(await this.store.complete(job.id, this.workerId))) this.log.warn(fields, 'jobs: finished a job whose lease another worker had taken');
      return;
    }
    // Interrupted by this worker (the signal's reason), or the handler says so itself (its own owner is shutting down).
    const aborted: unknown = controller.signal.aborted ? controller.signal.reason : undefined;
    const interrupted = aborted instanceof JobInterrupted ? aborted : failure instanceof JobInterrupted ? failure : undefined;
    if (interrupted?.why === 'lease lost') return; // another worker has it now
    if (interrupted?.why === 'shutdown') {
      await this.store.release(job.id, this.workerId);
      this.log.info(fields, 'jobs: shutting down; job given back to the queue');
      return;
    }
    const error = messageOf(failure);
    if (job.attempts < job.maxAttempts) {
      const delay = retryDelay(job.attempts, handler.retry ?? this.retry);
      await this.store.fail(job.id, this.workerId, error, Date.now() + delay);
      this.log.warn({ ...fields, err: failure, retryInMs: delay }, 'jobs: job failed; it will be retried');
    } else {
      await this.giveUp(job, handler, error);
    }
  }

  private async giveUp(job: Job, handler: JobHandler, error: string): Promise<void> {
    try {
      await handler.exhausted?.(job, error);
    } catch (err) {
      this.log.error({ err, job: job.id, kind: job.kind }, 'jobs: the handler could not record a job it gave up on');
    }
    await this.store.fail(job.id, this.workerId, error, undefined);
    this.log.error({ job: job.id, kind: job.kind, attempts: job.attempts, error }, 'jobs: job failed; no attempts left');
  }

  /** Renews the lease while the handler runs; aborts the handler once it is lost, or could not be renewed for a whole lease. */
  private keepLease(job: Job, controller: AbortController): NodeJS.Timeout {
    // When the lease was last known to run for leaseMs more (the claim, or a renewal sent then).
    let renewedAt = Date.now();
    let renewing = false;
    const timer = setInterval(() => {
      if (controller.signal.aborted) return;
      // Unrenewed for a whole lease (the database unreachable, or too slow): another node may have the job by now.
      if (Date.now() - renewedAt >= this.leaseMs) {
        controller.abort(new JobInterrupted('lease lost'));
        return;
      }
      if (renewing) return;
      renewing = true;
      const sentAt = Date.now();
      this.store
        .heartbeat(job.id, this.workerId, this.leaseMs)
        .then(
          (held) => {
            if (held) renewedAt = sentAt;
            else controller.abort(new JobInterrupted('lease lost'));
          },
          (err: unknown) => this.log.warn({ err, job: job.id }, 'jobs: could not renew a lease'),
        )
        .finally(() => (renewing = false));
    }, this.heartbeatMs);
    timer.unref();
    return timer;
  }

  private async pruneNow(): Promise<void> {
    if (Date.now() - this.lastPrune < HOUR) return;
    this.lastPrune = Date.now();
    await this.store.deleteFinished(Date.now() - (this.options.keepFinishedMs ?? 7 * 24 * HOUR)).catch((err: unknown) => this.log.warn({ err }, 'jobs: could not delete old finished jobs'));
  }

  private sleep(ms: number): Promise<void> {
    if (this.closed || this.poked) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      timer.unref(); // the worker alone does not keep the process alive: its owner closes it
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.interruptSleep = () => {
        this.interruptSleep = undefined;
        done();
      };
    });
  }
}

function messageOf(err: unknown): string {
  if (err instanceof Error) return err.message || err.name;
  return typeof err === 'string' ? err : JSON.stringify(err) ?? String(err);
}
