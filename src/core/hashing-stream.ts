import type { RunningDigest } from '../oci/digest.js';
import { Transform, type TransformCallback } from 'node:stream';
import { RegistryError } from '../oci/errors.js';
import { bodyChunkReclaimer } from './chunk-reclaimer.js';

/**
 * Passes bytes through while feeding them to a digest and counting them.
 * When `expectedLength` is known (Content-Range / Content-Length), a body that
 * is longer or shorter fails the stream with SIZE_INVALID, so the caller can
 * roll the staged bytes back.
 */
export class HashingStream extends Transform {
  bytes = 0;

  constructor(
    private readonly hash: RunningDigest,
    private readonly expectedLength?: number,
  ) {
    // Small buffer: with many uploads at once, memory is bounded by connections × this.
    super({ highWaterMark: 64 * 1024 });
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    this.bytes += chunk.length;
    if (this.expectedLength !== undefined && this.bytes > this.expectedLength) {
      done(sizeMismatch(this.expectedLength, this.bytes, 'more'));
      return;
    }
    this.hash.update(chunk);
    done(null, chunk);
    // After the chunk has gone on: a collection now finds it still referenced downstream only if the store is behind.
    bodyChunkReclaimer.spent(chunk.length);
  }

  override _flush(done: TransformCallback): void {
    if (this.expectedLength !== undefined && this.bytes !== this.expectedLength) {
      done(sizeMismatch(this.expectedLength, this.bytes, 'fewer'));
      return;
    }
    done();
  }
}

function sizeMismatch(expected: number, got: number, direction: string): RegistryError {
  return new RegistryError('SIZE_INVALID', `body has ${direction} bytes than declared: expected ${expected}, got ${direction === 'more' ? `at least ${got}` : got}`, {
    expected,
  });
}
