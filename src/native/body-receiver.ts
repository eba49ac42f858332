import type { RunningDigest } from '../oci/digest.js';
import { errnoCode, loadNative, transferTracker, type TransferModule } from './load-native.js';

/**
 * Receives a request body straight from its socket into a file: a thread of its own
 * (native/receive.c) reads the bytes, hashes them and writes them, so none of them
 * becomes a JavaScript buffer and the event loop only starts and finishes each receive.
 */
export interface BodyReceiver {
  /** A SHA-256 whose running state a receive can advance; usable as any running digest in between. */
  sha256(): NativeSha256;
  /**
   * Takes a body of `length` bytes, feeds it to `digest` and writes it to `fileFd` from
   * `offset`; resolves with `length`. Its first bytes are `prefix` (what was already read from
   * the socket, copied: the caller may reuse it at once); the rest is read from `socketFd`. Fails (with `code` and `bytesReceived`) when the
   * client ends early (ENODATA) or goes away, when no byte comes for `stallMs` (0: never
   * gives up), or when the write fails (e.g. ENOSPC): the digest then holds every byte
   * received, so a caller that rolls back keeps a copy from before. Both descriptors are
   * duplicated; `signal` ends the receive early (ECANCELED).
   */
  receive(socketFd: number, fileFd: number, offset: number, length: number, digest: NativeSha256, stallMs: number, signal?: AbortSignal, prefix?: Uint8Array): Promise<number>;
}

interface NativeModule extends TransferModule {
  sha256(): unknown;
  sha256Update(state: unknown, bytes: Uint8Array): void;
  sha256Copy(state: unknown): unknown;
  sha256Hex(state: unknown): string;
  receive(socketFd: number, fileFd: number, offset: number, length: number, state: unknown, stallMs: number, prefix?: Uint8Array): number;
}

/**
 * SHA-256 with its state in the native module. While a receive advances it, every call
 * here throws (the module marks it busy): the caller awaits the receive first.
 */
export class NativeSha256 implements RunningDigest {
  constructor(
    private readonly native: NativeModule,
    /** The module's handle on the state; only the module reads it. */
    readonly state: unknown,
  ) {}

  update(bytes: Uint8Array): this {
    this.native.sha256Update(this.state, bytes);
    return this;
  }

  copy(): NativeSha256 {
    return new NativeSha256(this.native, this.native.sha256Copy(this.state));
  }

  /** The digest of the bytes so far; unlike node:crypto's, the state stays usable. */
  digest(_encoding: 'hex'): string {
    return this.native.sha256Hex(this.state);
  }
}

let loaded: BodyReceiver | null | undefined;

/** The process's receiver, or undefined where the native module is not built (or not Linux). */
export function bodyReceiver(): BodyReceiver | undefined {
  if (loaded === undefined) loaded = load();
  return loaded ?? undefined;
}

function load(): BodyReceiver | null {
  const native = loadNative<NativeModule>('receive');
  if (!native) return null;
  const track = transferTracker(native, receiveError);
  return {
    sha256: () => new NativeSha256(native, native.sha256()),
    receive(socketFd, fileFd, offset, length, digest, stallMs, signal, prefix) {
      if (length === 0) return Promise.resolve(0);
      return track(() => native.receive(socketFd, fileFd, offset, length, digest.state, stallMs, prefix), signal);
    },
  };
}

function receiveError(errno: number, bytesReceived: number): Error {
  const code = errnoCode(errno);
  const reason = code === 'ETIMEDOUT' ? 'the client stopped sending' : code === 'ENODATA' ? 'the client ended the body before its declared length' : code;
  return Object.assign(new Error(`receiving the body failed after ${bytesReceived} bytes: ${reason}`), { code, errno, bytesReceived });
}
