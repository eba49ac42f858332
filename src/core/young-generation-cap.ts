import { PerformanceObserver } from 'node:perf_hooks';
import { getHeapSpaceStatistics, setFlagsFromString } from 'node:v8';

/** V8's own growth step for the young generation (--semi-space-growth-factor's default). */
const V8_GROWTH_FACTOR = 2;

/** The growth factor V8 was last given here (process-wide, like the flag). */
let growthFactor = V8_GROWTH_FACTOR;

function setGrowthFactor(next: number): void {
  if (next === growthFactor) return;
  growthFactor = next;
  setFlagsFromString(`--semi-space-growth-factor=${next}`);
}

/**
 * Stops the young generation growing at all, until the returned function (or
 * capYoungGeneration) lets it again. For the start of the process: loading the server's
 * modules and opening its stores is one long burst of allocation, in which V8 doubles the
 * young generation collection after collection (to 32 MiB, the whole run long) before a
 * cap's observer gets its first turn. Held from the first import, a server started at
 * 96 MiB instead of 103 and peaked at 121 MiB instead of 131–135 through the benchmark's
 * setup (15,000 manifest pushes); its young generation stayed at the cap.
 */
export function holdYoungGenerationGrowth(): () => void {
  setGrowthFactor(1);
  return () => setGrowthFactor(V8_GROWTH_FACTOR);
}

/**
 * Keeps V8's young generation (its "new space") at or under `capBytes`.
 *
 * Under load V8 grows it to 32 MiB (two 16 MiB semi-spaces) and keeps every page of it
 * resident until a quiet moment shrinks it again: a third of Berth's resident memory once
 * upload bodies no longer pass through JavaScript (bench/pushes.ts, 3 rounds: peak RSS
 * 170 MiB without the cap, 122–151 with 16 MiB; monolithic push and image pushes within
 * the run-to-run spread).
 *
 * Only a command-line flag sets the size limit itself, and Berth must not depend on how it
 * is launched. But V8 reads the growth factor each time it considers growing: after every
 * collection, growth is switched off once the young generation has reached the cap and
 * back on once V8 has shrunk it (switched off for good it would stay at whatever size V8
 * last shrank it to, and a tiny one promotes everything). A growth step between a
 * collection and this observer's callback can still overshoot once; V8's next shrink
 * brings it back.
 * Returns a function that stops watching (and leaves V8's default growth).
 */
export function capYoungGeneration(capBytes = 16 * 1024 * 1024): () => void {
  const check = () => setGrowthFactor(youngGenerationBytes() >= capBytes ? 1 : V8_GROWTH_FACTOR);
  const observer = new PerformanceObserver(check);
  observer.observe({ entryTypes: ['gc'] });
  check();
  return () => {
    observer.disconnect();
    setGrowthFactor(V8_GROWTH_FACTOR);
  };
}

/** The young generation's current size (both semi-spaces), in bytes. */
export function youngGenerationBytes(): number {
  return getHeapSpaceStatistics().find((space) => space.space_name === 'new_space')?.space_size ?? 0;
}
