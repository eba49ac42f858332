import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const MODULE = fileURLToPath(new URL('./young-generation-cap.ts', import.meta.url));

/**
 * Runs an allocation load in a process of its own (V8's flags are process-wide) and reports
 * the young generation's largest size: objects that survive a while, in batches with a turn
 * of the event loop between, which is what makes V8 grow it.
 */
function largestYoungGeneration(capMiB: number | undefined): number {
  const script = `
    import { capYoungGeneration, youngGenerationBytes } from ${JSON.stringify(MODULE)};
    ${capMiB === undefined ? '' : `capYoungGeneration(${capMiB} * 1024 * 1024);`}
    let largest = 0;
    let kept = [];
    for (let round = 0; round < 200; round++) {
      for (let i = 0; i < 20000; i++) kept.push({ round, i, text: 'x' + i });
      if (kept.length > 200000) kept = kept.slice(100000);
      largest = Math.max(largest, youngGenerationBytes());
      await new Promise((resolve) => setImmediate(resolve));
    }
    console.log(largest);
  `;
  const out = execFileSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { encoding: 'utf8' });
  return Number(out.trim());
}

describe('capYoungGeneration', () => {
  const MiB = 1024 * 1024;

  it('lets the load grow the young generation to 16 MiB or more without the cap (the control)', () => {
    expect(largestYoungGeneration(undefined)).toBeGreaterThanOrEqual(16 * MiB);
  });

  it('keeps it within one growth step of a 4 MiB cap under the same load', () => {
    const largest = largestYoungGeneration(4);
    expect(largest).toBeGreaterThan(0);
    // The observer runs after a collection, not in it: a growth that comes before its callback
    // overshoots by one step (V8 doubles), and no further.
    expect(largest).toBeLessThanOrEqual(8 * MiB);
  });
});
