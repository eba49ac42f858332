import { createHash } from 'node:crypto';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { describe, expect, it } from 'vitest';
import { bodyChunkReclaimer, ChunkReclaimer, youngGenerationCollector } from './chunk-reclaimer.js';
import { HashingStream } from './hashing-stream.js';

const KiB = 1024;
const MiB = 1024 * KiB;

describe('ChunkReclaimer', () => {
  it('collects once per `everyBytes` of spent body, however the bytes are split', () => {
    let collected = 0;
    const reclaimer = new ChunkReclaimer(() => collected++, MiB);
    for (let i = 0; i < 15; i++) reclaimer.spent(100 * KiB); // collects at the 11th; 400 KiB counted since
    expect(collected).toBe(1);
    reclaimer.spent(600 * KiB); // 1000 KiB: not yet
    expect(collected).toBe(1);
    reclaimer.spent(100 * KiB);
    expect(collected).toBe(2);
    reclaimer.spent(3 * MiB); // one large chunk: one collection, the count starts again
    expect(collected).toBe(3);
    expect(reclaimer.collections).toBe(3);
  });

  it('does nothing where the runtime offers no collector', () => {
    const reclaimer = new ChunkReclaimer(undefined, MiB);
    reclaimer.spent(10 * MiB);
    expect(reclaimer.collections).toBe(0);
  });

  it("frees spent chunks before V8's external-memory limit would: 128 MiB of 64 KiB chunks stay within a few collections' worth", async () => {
    const collectYoung = youngGenerationCollector();
    expect(collectYoung, 'this runtime offers gc({ type: "minor" })').toBeDefined();
    const reclaimer = new ChunkReclaimer(collectYoung, 8 * MiB);
    const base = process.memoryUsage().arrayBuffers;
    let peak = 0;
    for (let i = 0; i < 2048; i++) {
      const chunk = Buffer.allocUnsafeSlow(64 * KiB); // its own ArrayBuffer, as the HTTP parser's copies are
      chunk[0] = i;
      reclaimer.spent(chunk.length);
      if (i % 16 === 0) {
        peak = Math.max(peak, process.memoryUsage().arrayBuffers - base);
        await new Promise(setImmediate); // as between a socket's reads: V8 frees swept buffers off the main thread
      }
    }
    expect(reclaimer.collections).toBe(16);
    // Without the collections the dead chunks pile up to V8's ~64 MiB external limit (31–45 MiB seen at 64 MiB in).
    expect(peak).toBeLessThan(24 * MiB);
  });

  it('counts every byte that passes through a HashingStream', async () => {
    const before = bodyChunkReclaimer.collections;
    const chunks = Array.from({ length: 384 }, () => Buffer.alloc(64 * KiB, 7)); // 24 MiB: past one interval, wherever the count stood
    await pipeline(Readable.from(chunks), new HashingStream(createHash('sha256'), 24 * MiB), new Writable({ write: (_c, _e, done) => done() }));
    expect(bodyChunkReclaimer.collections - before).toBeGreaterThanOrEqual(1);
  });
});
