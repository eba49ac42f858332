import { Duplex } from 'node:stream';
import { Decompress } from 'fzstd';

/**
 * Input is fed to the decoder in slices this small because of how much one
 * slice can expand to: a 4-byte RLE block is 128 KiB of output, so 64 bytes
 * decode to at most ~2 MiB before the stream can stop for backpressure.
 * (A whole 64 KiB chunk of a zero-filled layer could decode to gigabytes.)
 */
const SLICE_BYTES = 64;

interface PendingWrite {
  chunk: Buffer;
  offset: number;
  done: (err?: Error | null) => void;
}

/**
 * Zstandard decompression as a stream, over fzstd's pure-JS push decoder.
 * A Duplex rather than a Transform: when the reader falls behind, decoding
 * pauses mid-chunk and resumes from `_read`, which a Transform cannot do.
 */
export class ZstdDecompressStream extends Duplex {
  private readonly decoder: Decompress;
  private pending: PendingWrite | undefined;
  private readerWantsMore = true;
  private feeding = false;

  constructor() {
    super({ writableHighWaterMark: 64 * 1024, readableHighWaterMark: 256 * 1024 });
    this.decoder = new Decompress((data) => {
      if (data.length === 0) return;
      if (!this.push(Buffer.from(data.buffer, data.byteOffset, data.byteLength))) this.readerWantsMore = false;
    });
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, done: (err?: Error | null) => void): void {
    this.pending = { chunk, offset: 0, done };
    this.feed();
  }

  override _read(): void {
    this.readerWantsMore = true;
    this.feed();
  }

  override _final(done: (err?: Error | null) => void): void {
    try {
      this.decoder.push(new Uint8Array(0), true);
    } catch (err) {
      done(zstdError(err));
      return;
    }
    this.push(null);
    done();
  }

  /** Decodes the pending chunk slice by slice until it is used up or the reader is full. */
  private feed(): void {
    const pending = this.pending;
    if (!pending || this.feeding) return;
    this.feeding = true;
    try {
      while (pending.offset < pending.chunk.length) {
        if (!this.readerWantsMore) return;
        const end = Math.min(pending.offset + SLICE_BYTES, pending.chunk.length);
        this.decoder.push(pending.chunk.subarray(pending.offset, end));
        pending.offset = end;
      }
    } catch (err) {
      this.pending = undefined;
      pending.done(zstdError(err));
      return;
    } finally {
      this.feeding = false;
    }
    this.pending = undefined;
    pending.done();
  }
}

function zstdError(err: unknown): Error {
  return new Error(`zstd: ${err instanceof Error ? err.message : String(err)}`);
}
