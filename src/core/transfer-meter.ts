import { Transform, pipeline, type Readable, type TransformCallback } from 'node:stream';
import { monthOf, type TransferRow, type UsageStore } from './usage.js';
import { WriteBehind } from './write-behind.js';

export interface TransferMeterOptions {
  /** How often counted bytes are written to the store. */
  flushIntervalMs: number;
  /** Told when a flush fails; the bytes are kept and retried at the next flush. */
  onError?: (err: unknown) => void;
}

/**
 * Outbound transfer per registry per month. Blob GETs are the hot path, so
 * bytes are counted in memory as they are sent and written to the store every
 * few seconds (and on shutdown), never once per request.
 */
export class TransferMeter extends WriteBehind<string, TransferRow> {
  constructor(
    private readonly store: Pick<UsageStore, 'addTransfer'>,
    options: TransferMeterOptions,
  ) {
    super(options);
  }

  add(registry: string, bytes: number, at = Date.now()): void {
    this.addTo(registry, monthOf(at), bytes);
  }

  private addTo(registry: string, month: string, bytes: number): void {
    if (bytes <= 0) return;
    const key = `${registry}\u0000${month}`;
    const row = this.queued.get(key);
    if (row) row.bytes += bytes;
    else this.queued.set(key, { registry, month, bytes });
  }

  /**
   * Passes a blob body through, counting each chunk as it goes out: a client
   * that hangs up is charged only for what was sent, and a range only for its bytes.
   */
  count(registry: string, body: Readable): Readable {
    // A pull that spans midnight at the month's end counts in the month it started.
    const month = monthOf(Date.now());
    const meter = this;
    const counter = new Transform({
      transform(chunk: Buffer, _encoding: BufferEncoding, done: TransformCallback) {
        meter.addTo(registry, month, chunk.length);
        done(null, chunk);
      },
    });
    // pipeline, not pipe: when the response closes early, the file is closed too.
    return pipeline(body, counter, () => undefined);
  }

  /** Bytes counted but not yet written, by month. */
  pending(registry: string): Map<string, number> {
    const out = new Map<string, number>();
    for (const row of this.queued.values()) if (row.registry === registry) out.set(row.month, (out.get(row.month) ?? 0) + row.bytes);
    return out;
  }

  /** Drops what was counted for a registry that is being deleted (its name may be reused). */
  forget(registry: string): void {
    for (const [key, row] of this.queued) if (row.registry === registry) this.queued.delete(key);
  }

  protected write(batch: Map<string, TransferRow>): Promise<void> {
    return this.store.addTransfer([...batch.values()]);
  }

  protected restore(_key: string, row: TransferRow): void {
    this.addTo(row.registry, row.month, row.bytes);
  }
}
