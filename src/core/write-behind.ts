/**
 * Counts kept in memory on a hot path and written to a store every few seconds
 * (and on shutdown), never once per request. One flush runs at a time; a flush
 * that fails puts its entries back (`restore`) for the next one.
 */
export abstract class WriteBehind<K, V> {
  /** Entries not yet written. */
  protected queued = new Map<K, V>();
  private timer: NodeJS.Timeout | undefined;
  private flushing: Promise<void> = Promise.resolve();

  constructor(private readonly writeBehind: { flushIntervalMs: number; onError?: (err: unknown) => void }) {}

  /** Writes one batch; throwing keeps its entries for the next flush. */
  protected abstract write(batch: Map<K, V>): Promise<void>;
  /** Puts an entry of a failed batch back, merging it with what arrived meanwhile. */
  protected abstract restore(key: K, value: V): void;

  start(): void {
    this.timer ??= setInterval(() => void this.flush(), this.writeBehind.flushIntervalMs);
    this.timer.unref();
  }

  /** Stops the timer and writes what is left. */
  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    await this.flush();
  }

  flush(): Promise<void> {
    this.flushing = this.flushing.then(async () => {
      if (this.queued.size === 0) return;
      const batch = this.queued;
      this.queued = new Map();
      try {
        await this.write(batch);
      } catch (err) {
        for (const [key, value] of batch) this.restore(key, value);
        this.writeBehind.onError?.(err);
      }
    });
    return this.flushing;
  }
}
