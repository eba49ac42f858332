import { runInNewContext } from 'node:vm';
import { getHeapStatistics, setFlagsFromString } from 'node:v8';
import { describe, expect, it } from 'vitest';
import { startMemoryTrimmer } from './memory-trimmer.js';

// npm run build builds the module; with CI=true a failed build already failed the run.
const trimmer = startMemoryTrimmer({ intervalMs: 60_000, thresholdBytes: 16 * 1024 * 1024, activity: () => 0 });

/** V8's own full collection (the flag installs `gc` only in contexts created after it). */
function collect(): void {
  setFlagsFromString('--expose-gc');
  (runInNewContext('gc') as () => void)();
}

describe('the memory module', () => {
  it('is built on Linux (npm run build)', () => {
    if (process.platform === 'linux') expect(trimmer, 'native/build/Release/memory.node: run npm run build').toBeDefined();
  });
});

describe.runIf(trimmer)('MemoryTrimmer', () => {
  it('gives the holes freed buffers leave in the heap back to the system', async () => {
    trimmer!.stop();
    // 160 MiB in 64 KiB buffers (malloc'd, like request bodies); every 16th stays alive, so
    // free() alone cannot shrink the heap from its top: only a trim releases the pages between.
    let buffers: Buffer[] | undefined = Array.from({ length: 2560 }, () => Buffer.alloc(64 * 1024, 1));
    const kept = buffers.filter((_, i) => i % 16 === 0);
    buffers = undefined;
    collect();
    collect();
    const before = process.memoryUsage.rss();
    const free = await trimmer!.trimNow();
    const after = process.memoryUsage.rss();
    expect(free).toBeGreaterThan(100 * 1024 * 1024);
    expect(before - after).toBeGreaterThan(64 * 1024 * 1024);
    expect(kept.every((b) => b[0] === 1 && b[b.length - 1] === 1)).toBe(true);
    // Nothing worth it left: the next call does nothing.
    expect(await trimmer!.trimNow()).toBe(0);
  });

  it('a memory-reducing collection gives back the heap a burst grew', async () => {
    let garbage: number[][] | undefined = Array.from({ length: 400 }, () => Array.from({ length: 20_000 }, (_, i) => i));
    const grown = getHeapStatistics().total_heap_size;
    expect(garbage.length).toBe(400);
    garbage = undefined;
    await trimmer!.reduceNow();
    // The collection is incremental: it finishes over the next turns of the event loop.
    for (let waited = 0; getHeapStatistics().total_heap_size >= grown - 32 * 1024 * 1024 && waited < 5_000; waited += 20) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    expect(getHeapStatistics().total_heap_size).toBeLessThan(grown - 32 * 1024 * 1024);
  });

  it('reduces once when requests stop, not while they come nor again while idle', () => {
    let requests = 0;
    const watching = startMemoryTrimmer({ intervalMs: 3_600_000, thresholdBytes: 1 << 30, activity: () => requests })!;
    try {
      watching.check(); // start-up counts as a burst: the first quiet interval reduces
      expect(watching.reductions).toBe(1);
      watching.check();
      expect(watching.reductions).toBe(1); // still idle: nothing new to give back
      for (let i = 0; i < 5; i++) {
        requests++;
        watching.check();
      }
      expect(watching.reductions).toBe(1); // busy every interval
      watching.check();
      watching.check();
      expect(watching.reductions).toBe(2); // quiet after the burst: once
    } finally {
      watching.stop();
    }
  });
});
