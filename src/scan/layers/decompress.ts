import { Readable, type Duplex } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { ZstdDecompressStream } from './zstd-stream.js';

export type LayerCompression = 'gzip' | 'zstd' | 'none';

const GZIP_MAGIC = Buffer.from([0x1f, 0x8b]);
const ZSTD_MAGIC = Buffer.from([0x28, 0xb5, 0x2f, 0xfd]);

/**
 * The layer's compression, told by its first bytes rather than its media type
 * (registries hold layers whose media type is wrong), and the layer as a
 * stream again, from its first byte. Anything not gzip or zstd is taken for
 * a plain tar; the tar parser rejects what is not one.
 */
export async function sniffCompression(raw: Readable): Promise<{ compression: LayerCompression; stream: Readable }> {
  const iterator = raw[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  const head: Buffer[] = [];
  let length = 0;
  let ended = false;
  while (length < ZSTD_MAGIC.length) {
    const next = await iterator.next();
    if (next.done) {
      ended = true;
      break;
    }
    head.push(next.value);
    length += next.value.length;
  }
  const first = Buffer.concat(head, length);
  const stream = Readable.from(replay(first, ended ? undefined : iterator), { objectMode: false });
  return { compression: compressionOf(first), stream };
}

async function* replay(first: Buffer, rest: AsyncIterator<Buffer> | undefined): AsyncGenerator<Buffer> {
  if (first.length > 0) yield first;
  if (!rest) return;
  // Returning early (the reader stopped) returns the source iterator too, which destroys the source.
  yield* { [Symbol.asyncIterator]: () => rest };
}

function compressionOf(head: Buffer): LayerCompression {
  if (head.subarray(0, GZIP_MAGIC.length).equals(GZIP_MAGIC)) return 'gzip';
  if (head.subarray(0, ZSTD_MAGIC.length).equals(ZSTD_MAGIC)) return 'zstd';
  return 'none';
}

/** A stream that decompresses, or undefined for an uncompressed layer. */
export function decompressor(compression: LayerCompression): Duplex | undefined {
  if (compression === 'gzip') return createGunzip({ chunkSize: 64 * 1024 });
  if (compression === 'zstd') return new ZstdDecompressStream();
  return undefined;
}
