import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { describe, expect, it } from 'vitest';
import { TransferMeter } from './transfer-meter.js';
import type { TransferRow } from './usage.js';

function meterWith(addTransfer: (rows: TransferRow[]) => Promise<void>) {
  return new TransferMeter({ addTransfer }, { flushIntervalMs: 60_000 });
}

describe('TransferMeter', () => {
  it('counts the bytes that pass through, per registry and month, and writes them in one flush', async () => {
    const written: TransferRow[][] = [];
    const meter = meterWith(async (rows) => void written.push(rows));
    const sink = new Writable({ write: (_c, _e, done) => done() });
    await pipeline(meter.count('team', Readable.from([Buffer.alloc(10), Buffer.alloc(5)])), sink);
    meter.add('team', 7, Date.parse('2026-10-31T23:59:59Z'));
    expect(meter.pending('team').get('2026-10')).toBe(7);
    await meter.flush();
    expect(written).toHaveLength(1);
    expect(written[0]).toEqual(expect.arrayContaining([expect.objectContaining({ registry: 'team', bytes: 15 }), { registry: 'team', month: '2026-10', bytes: 7 }]));
    expect(meter.pending('team').size).toBe(0);
    await meter.flush(); // nothing to write: no call
    expect(written).toHaveLength(1);
  });

  it('keeps the bytes of a failed flush for the next one, and forgets a deleted registry', async () => {
    let fail = true;
    const written: TransferRow[] = [];
    const errors: unknown[] = [];
    const meter = new TransferMeter(
      {
        addTransfer: async (rows) => {
          if (fail) throw new Error('disk full');
          written.push(...rows);
        },
      },
      { flushIntervalMs: 60_000, onError: (err) => errors.push(err) },
    );
    meter.add('a', 100);
    meter.add('gone', 1);
    await meter.flush();
    expect(errors).toHaveLength(1);
    meter.add('a', 1);
    meter.forget('gone');
    fail = false;
    await meter.stop();
    expect(written).toEqual([expect.objectContaining({ registry: 'a', bytes: 101 })]);
  });
});
