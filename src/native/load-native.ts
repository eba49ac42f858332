import { constants } from 'node:os';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

/**
 * One of Berth's native modules (native/*.c, built by scripts/build-native.mjs into
 * native/build/Release, the same two levels up from src/ and dist/), or undefined where
 * it is not built or the platform is not Linux: callers fall back to plain Node.
 */
export function loadNative<T>(name: 'sendfile' | 'receive' | 'memory'): T | undefined {
  const path = fileURLToPath(new URL(`../../native/build/Release/${name}.node`, import.meta.url));
  if (process.platform !== 'linux' || !existsSync(path)) return undefined;
  return createRequire(import.meta.url)(path) as T;
}

const ERRNO_NAMES = new Map(Object.entries(constants.errno).map(([name, value]) => [value, name]));

/** The name of an errno a native module reports (ENODATA, EPIPE, …). */
export function errnoCode(errno: number): string {
  return ERRNO_NAMES.get(errno) ?? `errno ${errno}`;
}

/** What each transfer module (sendfile, receive) exports beside its own submit call. */
export interface TransferModule {
  start(done: (id: number, errno: number, moved: number) => void): void;
  cancel(id: number): void;
}

/**
 * Starts a transfer module's thread and turns its ids and completion callback into promises:
 * `track(submit, signal)` resolves with the bytes moved or rejects with `failure(errno, moved)`;
 * `signal` ends the transfer early (ECANCELED).
 */
export function transferTracker(native: TransferModule, failure: (errno: number, moved: number) => Error) {
  const pending = new Map<number, { resolve: (moved: number) => void; reject: (err: Error) => void }>();
  native.start((id, errno, moved) => {
    const waiter = pending.get(id);
    pending.delete(id);
    if (!waiter) return;
    if (errno === 0) waiter.resolve(moved);
    else waiter.reject(failure(errno, moved));
  });
  return (submit: () => number, signal?: AbortSignal): Promise<number> =>
    new Promise((resolve, reject) => {
      // The callback can only run on a later turn of the event loop, after this is recorded.
      const id = submit();
      const abort = () => native.cancel(id);
      signal?.addEventListener('abort', abort, { once: true });
      const settled = () => signal?.removeEventListener('abort', abort);
      pending.set(id, {
        resolve: (moved) => (settled(), resolve(moved)),
        reject: (err) => (settled(), reject(err)),
      });
      if (signal?.aborted) abort();
    });
}
