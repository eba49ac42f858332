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
