// Test data without holding it in memory repeatedly: one random file is written once,
// and every "fresh" big blob is that file's first SIZE-TAIL bytes followed by a unique
// TAIL-byte suffix. The hash state of the shared prefix is computed once and copied,
// so each fresh blob's digest costs microseconds, and dedup can't short-circuit a push.
import { createHash, randomBytes, type Hash } from 'node:crypto';
import { createReadStream, openSync, writeSync, closeSync } from 'node:fs';

const TAIL = 64;
const MiB = 1 << 20;

export interface BlobSource {
  size: number;
  digest: string;
  /** The bytes [start, end) as a stream of chunks. */
  chunks(start?: number, end?: number): AsyncIterable<Buffer>;
}

export function sha256(data: Buffer | string): string {
  return 'sha256:' + createHash('sha256').update(data).digest('hex');
}

export function bufferBlob(data: Buffer): BlobSource {
  return {
    size: data.length,
    digest: sha256(data),
    async *chunks(start = 0, end = data.length) {
      yield data.subarray(start, end);
    },
  };
}

export class BigBlobFactory {
  private prefixHash: Hash;
  private counter = 0;

  private constructor(
    readonly file: string,
    readonly size: number,
    prefixHash: Hash,
    /** Digest of the whole file as written (what nginx serves). */
    readonly fileDigest: string,
  ) {
    this.prefixHash = prefixHash;
  }

  /** Writes `size` random bytes to `file` in 1 MiB pieces and hashes the shared prefix. */
  static create(file: string, size: number): BigBlobFactory {
    const fd = openSync(file, 'w');
    const hash = createHash('sha256');
    const whole = createHash('sha256');
    const prefix = size - TAIL;
    try {
      for (let off = 0; off < size; off += MiB) {
        const piece = randomBytes(Math.min(MiB, size - off));
        writeSync(fd, piece);
        whole.update(piece);
        if (off < prefix) hash.update(piece.subarray(0, Math.min(piece.length, prefix - off)));
      }
    } finally {
      closeSync(fd);
    }
    return new BigBlobFactory(file, size, hash, 'sha256:' + whole.digest('hex'));
  }

  /** A blob no registry has seen: the shared prefix plus a unique random tail. */
  fresh(): BlobSource {
    const tail = Buffer.concat([Buffer.from(`${++this.counter}:`), randomBytes(TAIL)]).subarray(0, TAIL);
    const digest = 'sha256:' + this.prefixHash.copy().update(tail).digest('hex');
    const { file, size } = this;
    const prefix = size - TAIL;
    return {
      size,
      digest,
      async *chunks(start = 0, end = size) {
        if (start < prefix) {
          // 1 MiB reads: large enough that the client never limits the server.
          const stream = createReadStream(file, { start, end: Math.min(end, prefix) - 1, highWaterMark: MiB });
          for await (const chunk of stream) yield chunk as Buffer;
        }
        if (end > prefix) yield tail.subarray(Math.max(start - prefix, 0), end - prefix);
      },
    };
  }
}
