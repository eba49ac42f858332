import { loadNative } from './load-native.js';

interface NativeModule {
  trim(thresholdBytes: number): Promise<number>;
}

export interface MemoryTrimmer {
  /** Trims once now if at least `thresholdBytes` were freed since the last trim; resolves with the free bytes found (0: nothing done). */
  trimNow(): Promise<number>;
  stop(): void;
}

/**
 * Hands the memory malloc holds free back to the system: every `intervalMs`, when at least
 * `thresholdBytes` were freed since the last time (native/memory.c: malloc_trim on libuv's
 * pool, off the event loop). Undefined where the native module is not built or not Linux.
 */
export function startMemoryTrimmer(options: { intervalMs: number; thresholdBytes: number }): MemoryTrimmer | undefined {
  const native = loadNative<NativeModule>('memory');
  if (!native) return undefined;
  let running: Promise<number> | undefined;
  const trimNow = () => {
    running ??= native.trim(options.thresholdBytes).finally(() => (running = undefined));
    return running;
  };
  const timer = setInterval(() => void trimNow().catch(() => undefined), options.intervalMs);
  timer.unref();
  return { trimNow, stop: () => clearInterval(timer) };
}
