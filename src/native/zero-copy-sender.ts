import { errnoCode, loadNative, transferTracker, type TransferModule } from './load-native.js';

/**
 * Sends file bytes to a socket with sendfile(2): the kernel moves them from the page
 * cache to the socket, with no copy through JavaScript buffers and on a thread of its
 * own (native/sendfile.c), so the event loop only starts and finishes each send.
 */
export interface ZeroCopySender {
  /**
   * Sends `length` bytes of `fileFd` from `offset` to `socketFd`; resolves with `length`.
   * Fails (with `code`, e.g. EPIPE, and `bytesSent`) when the client goes away, when no byte
   * moves for `stallMs` (0: never gives up), or when the file ends early (ENODATA).
   * Both descriptors are duplicated: the caller may close its own at any time; `signal`
   * ends the send early (ECANCELED), e.g. when the response was destroyed.
   */
  send(socketFd: number, fileFd: number, offset: number, length: number, stallMs: number, signal?: AbortSignal): Promise<number>;
}

interface NativeModule extends TransferModule {
  send(socketFd: number, fileFd: number, offset: number, length: number, stallMs: number): number;
}

let loaded: ZeroCopySender | null | undefined;

/** The process's sender, or undefined where the native module is not built (or not Linux). */
export function zeroCopySender(): ZeroCopySender | undefined {
  if (loaded === undefined) loaded = load();
  return loaded ?? undefined;
}

function load(): ZeroCopySender | null {
  const native = loadNative<NativeModule>('sendfile');
  if (!native) return null;
  const track = transferTracker(native, sendError);
  return {
    send(socketFd, fileFd, offset, length, stallMs, signal) {
      if (length === 0) return Promise.resolve(0);
      return track(() => native.send(socketFd, fileFd, offset, length, stallMs), signal);
    },
  };
}

function sendError(errno: number, bytesSent: number): Error {
  const code = errnoCode(errno);
  const reason = code === 'ETIMEDOUT' ? 'the client stopped reading' : code === 'ENODATA' ? 'the file ended before the range did' : code;
  return Object.assign(new Error(`sendfile failed after ${bytesSent} bytes: ${reason}`), { code, errno, bytesSent });
}
