import { runInNewContext } from 'node:vm';
import { setFlagsFromString } from 'node:v8';
import { describe, expect, it } from 'vitest';
import { startMemoryTrimmer } from './memory-trimmer.js';

// npm run build builds the module; with CI=true a failed build already failed the run.
const trimmer = startMemoryTrimmer({ intervalMs: 60_000, thresholdBytes: 16 * 1024 * 1024 });

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
});
