import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { describe, expect, it } from 'vitest';
import { ZstdDecompressStream } from './zstd-stream.js';

const haveZstd = (() => {
  try {
    execFileSync('zstd', ['--version']);
    return true;
  } catch {
    return false;
  }
})();
const skipZstd = !haveZstd && process.env.CI !== 'true';
if (skipZstd) console.warn('zstd stream tests skipped: the zstd command (Debian package zstd) is not installed');

const zstd = (input: Buffer, ...args: string[]) => execFileSync('zstd', ['-q', '-c', ...args], { input, maxBuffer: 1 << 30 });

function pieces(data: Buffer, size: number): Readable {
  return Readable.from(
    (function* () {
      for (let at = 0; at < data.length; at += size) yield data.subarray(at, at + size);
    })(),
  );
}

async function decompress(source: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  await pipeline(source, new ZstdDecompressStream(), new Writable({ write: (chunk, _e, done) => void (chunks.push(chunk), done()) }));
  return Buffer.concat(chunks);
}

describe.skipIf(skipZstd)('ZstdDecompressStream', () => {
  // Part random (incompressible), part text (compressible): raw and compressed blocks both.
  const data = Buffer.concat([randomBytes(300_000), Buffer.from('berth layer '.repeat(200_000)), randomBytes(1000)]);

  it.each([1, 7, 4096, 1 << 20])('gives back what zstd compressed, fed in pieces of %i bytes', async (size) => {
    const input = size === 1 ? data.subarray(0, 50_000) : data;
    expect((await decompress(pieces(zstd(input), size))).equals(input)).toBe(true);
  });

  it('reads concatenated frames, with checksums and at high levels', async () => {
    const frames = Buffer.concat([zstd(data, '--check'), zstd(data.subarray(0, 1000), '-19'), zstd(Buffer.alloc(0))]);
    expect((await decompress(pieces(frames, 65_536))).equals(Buffer.concat([data, data.subarray(0, 1000)]))).toBe(true);
  });

  it('fails on a truncated stream and on bytes that are not zstd', async () => {
    const whole = zstd(data);
    await expect(decompress(pieces(whole.subarray(0, whole.length - 100), 65_536))).rejects.toThrow(/zstd/);
    await expect(decompress(pieces(Buffer.from('definitely not zstandard data'), 64))).rejects.toThrow(/zstd/);
  });

  it('stops decoding while its reader is full, even when one small chunk expands enormously', async () => {
    // 256 MiB of zeros compresses to a few KiB: one input chunk for the whole thing.
    const bomb = zstd(Buffer.alloc(256 * 1024 * 1024));
    expect(bomb.length).toBeLessThan(64 * 1024);
    const stream = new ZstdDecompressStream();
    stream.end(bomb);
    await new Promise((resolve) => setTimeout(resolve, 50));
    // Nobody reads: decoding stopped near the high-water mark instead of running to 256 MiB.
    expect(stream.readableLength).toBeLessThan(8 * 1024 * 1024);
    let total = 0;
    for await (const chunk of stream) total += (chunk as Buffer).length;
    expect(total).toBe(256 * 1024 * 1024);
  });
});
