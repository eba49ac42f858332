import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

interface NativeModule {
  trim(thresholdBytes: number): Promise<number>;
  reduceHeap(): void;
}

/** Built by scripts/build-native.mjs (npm run build) from native/memory.cc; the same two levels up from src/ and dist/. */
const MODULE_PATH = fileURLToPath(new URL('../../native/build/Release/memory.node', import.meta.url));

export interface MemoryTrimmerOptions {
  intervalMs: number;
  /** Trim only when at least this much was freed since the last trim. */
  thresholdBytes: number;
  /** A count that grows with every request: a whole interval without growth after some is "idle". */
  activity: () => number;
}

export interface MemoryTrimmer {
  /** Trims once now if at least `thresholdBytes` were freed since the last trim; resolves with the free bytes found (0: nothing done). */
  trimNow(): Promise<number>;
  /** Starts V8's memory-reducing collection (incremental: it returns at once), then trims. */
  reduceNow(): Promise<number>;
  /** What every interval does (exposed so it can be driven without waiting). */
  check(): void;
  /** How many times the server was found idle and its memory reduced. */
  readonly reductions: number;
  stop(): void;
}

/**
 * Gives memory back to the system (native/memory.cc). Every `intervalMs`: malloc's free
 * pages (malloc_trim on libuv's pool, off the event loop) once `thresholdBytes` were freed
 * since the last time; and when a whole interval passed without a request after some, a
 * memory-reducing collection, which also shrinks the young generation a burst grew (idle RSS
 * ≈100 → ≈82 MiB right after start). Undefined where the native module is not built or not Linux.
 */
export function startMemoryTrimmer(options: MemoryTrimmerOptions): MemoryTrimmer | undefined {
  if (process.platform !== 'linux' || !existsSync(MODULE_PATH)) return undefined;
  const native = createRequire(import.meta.url)(MODULE_PATH) as NativeModule;
  let running: Promise<number> | undefined;
  const trimNow = () => {
    running ??= native.trim(options.thresholdBytes).finally(() => (running = undefined));
    return running;
  };
  const reduceNow = () => {
    native.reduceHeap();
    return trimNow();
  };
  let reductions = 0;
  let seen = options.activity();
  let busySinceReduced = true; // start-up itself is the first burst
  const check = () => {
    const now = options.activity();
    if (now !== seen) {
      seen = now;
      busySinceReduced = true;
      void trimNow().catch(() => undefined);
    } else if (busySinceReduced) {
      busySinceReduced = false;
      reductions++;
      void reduceNow().catch(() => undefined);
    }
  };
  const timer = setInterval(check, options.intervalMs);
  timer.unref();
  return {
    trimNow,
    reduceNow,
    check,
    get reductions() {
      return reductions;
    },
    stop: () => clearInterval(timer),
  };
}
