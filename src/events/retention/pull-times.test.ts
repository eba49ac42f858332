import { describe, expect, it } from 'vitest';
import { PullTimes } from './pull-times.js';

type Pull = { manifestId: number; at: number };

describe('PullTimes', () => {
  it('keeps the latest pull per manifest and writes them together, once', async () => {
    const written: Pull[][] = [];
    const pulls = new PullTimes({ recordPulls: async (p) => void written.push([...p]) }, { flushIntervalMs: 60_000 });
    pulls.record(1, 100);
    pulls.record(1, 300);
    pulls.record(1, 200);
    pulls.record(2, 50);
    expect(pulls.size).toBe(2);
    await pulls.flush();
    await pulls.flush(); // nothing left: no write
    expect(written).toEqual([[{ manifestId: 1, at: 300 }, { manifestId: 2, at: 50 }]]);
  });

  it('keeps the pulls of a failed write for the next one, and writes what is left on stop', async () => {
    let fail = true;
    const written: Pull[] = [];
    const errors: unknown[] = [];
    const pulls = new PullTimes(
      {
        recordPulls: async (p) => {
          if (fail) throw new Error('database is locked');
          written.push(...p);
        },
      },
      { flushIntervalMs: 60_000, onError: (err) => errors.push(err) },
    );
    pulls.record(7, 10);
    await pulls.flush();
    expect(errors).toHaveLength(1);
    pulls.record(7, 5);
    pulls.record(8, 1);
    fail = false;
    await pulls.stop();
    expect(written).toEqual([{ manifestId: 7, at: 10 }, { manifestId: 8, at: 1 }]);
  });

  it('writes at once when many manifests are pending', async () => {
    const written: Pull[][] = [];
    const pulls = new PullTimes({ recordPulls: async (p) => void written.push([...p]) }, { flushIntervalMs: 60_000, maxPending: 3 });
    for (const id of [1, 2, 3]) pulls.record(id, id);
    await pulls.flush();
    expect(written[0]).toHaveLength(3);
  });
});
