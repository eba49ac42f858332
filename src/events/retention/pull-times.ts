import { WriteBehind } from '../../core/write-behind.js';
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
export class PullTimes extends WriteBehind<number, number> {
  constructor(
    private readonly store: PullTimeStore,
    private readonly options: PullTimesOptions,
  ) {
    super(options);
  }

  /** A GET served the manifest (its row id). */
  record(manifestId: number, at = Date.now()): void {
    this.note(manifestId, at);
    if (this.queued.size >= (this.options.maxPending ?? 10_000)) void this.flush();
  }

  private note(manifestId: number, at: number): void {
    const known = this.queued.get(manifestId);
    if (known === undefined || known < at) this.queued.set(manifestId, at);
  }

  /** Pulls noted but not yet written. */
  get size(): number {
    return this.queued.size;
  }

  protected write(batch: Map<number, number>): Promise<void> {
    return this.store.recordPulls([...batch].map(([manifestId, at]) => ({ manifestId, at })));
  }

  protected restore(manifestId: number, at: number): void {
    this.note(manifestId, at);
  }
}
