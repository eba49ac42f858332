import type { PullTimeStore } from './retention-store.js';

export interface PullTimesOptions {
  /** How often recorded pulls are written to the store. */
  flushIntervalMs: number;
  /** Told when a flush fails; its pulls are kept and retried at the next flush. */
  onError?: (err: unknown) => void;
  /** Pending manifests beyond this are written at once, not at the next tick. */
  maxPending?: number;
}

/**
 * The last pull of each manifest, for retention's pull-based rules. Manifest
 * GETs are the hot read path, so a pull is noted in memory (the latest time
 * per manifest) and written every few seconds in one transaction, and on
 * shutdown; never a write per pull. A pull is recorded to the flush interval's
 * precision, which is far finer than rules counted in days need.
 */
export class PullTimes {
  private pending = new Map<number, number>();
  private timer: NodeJS.Timeout | undefined;
  private flushing: Promise<void> = Promise.resolve();

  constructor(
    private readonly store: PullTimeStore,
    private readonly options: PullTimesOptions,
  ) {}

  start(): void {
    this.timer ??= setInterval(() => void this.flush(), this.options.flushIntervalMs);
    this.timer.unref();
  }

  /** Stops the timer and writes what is left. */
  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    await this.flush();
  }

  /** A GET served the manifest (its row id). */
  record(manifestId: number, at = Date.now()): void {
    this.note(manifestId, at);
    if (this.pending.size >= (this.options.maxPending ?? 10_000)) void this.flush();
  }

  private note(manifestId: number, at: number): void {
    const known = this.pending.get(manifestId);
    if (known === undefined || known < at) this.pending.set(manifestId, at);
  }

  /** Pulls noted but not yet written. */
  get size(): number {
    return this.pending.size;
  }

  /** Writes the pulls; one flush at a time, and a failed one keeps its pulls for the next. */
  flush(): Promise<void> {
    this.flushing = this.flushing.then(async () => {
      if (this.pending.size === 0) return;
      const batch = this.pending;
      this.pending = new Map();
      try {
        await this.store.recordPulls([...batch].map(([manifestId, at]) => ({ manifestId, at })));
      } catch (err) {
        for (const [manifestId, at] of batch) this.note(manifestId, at);
        this.options.onError?.(err);
      }
    });
    return this.flushing;
  }
}
