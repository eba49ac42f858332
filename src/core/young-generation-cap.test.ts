import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const MODULE = fileURLToPath(new URL('./young-generation-cap.ts', import.meta.url));

/**
 * Runs an allocation load in a process of its own (V8's flags are process-wide) and reports
 * the young generation's largest size (and its size when the load began): objects that survive a while, in batches with a turn
 * of the event loop between, which is what makes V8 grow it.
 */
function youngGenerationUnderLoad(capMiB: number | undefined, setup = capMiB === undefined ? '' : `capYoungGeneration(${capMiB} * 1024 * 1024);`): { largest: number; start: number } {
  const script = `
    import { capYoungGeneration, holdYoungGenerationGrowth, youngGenerationBytes } from ${JSON.stringify(MODULE)};
    ${setup}
    const start = youngGenerationBytes();
    let largest = 0;
    let kept = [];
    for (let round = 0; round < 200; round++) {
      for (let i = 0; i < 20000; i++) kept.push({ round, i, text: 'x' + i });
      if (kept.length > 200000) kept = kept.slice(100000);
      largest = Math.max(largest, youngGenerationBytes());
      await new Promise((resolve) => setImmediate(resolve));
    }
    console.log(JSON.stringify({ largest, start }));
  `;
  const out = execFileSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { encoding: 'utf8' });
  return JSON.parse(out.trim()) as { largest: number; start: number };
}

describe('capYoungGeneration', () => {
  const MiB = 1024 * 1024;

  it('lets the load grow the young generation to 16 MiB or more without the cap (the control)', () => {
    expect(youngGenerationUnderLoad(undefined).largest).toBeGreaterThanOrEqual(16 * MiB);
  });

  it('keeps it within one growth step of a 4 MiB cap under the same load', () => {
    const { largest } = youngGenerationUnderLoad(4);
    expect(largest).toBeGreaterThan(0);
    // The observer runs after a collection, not in it: a growth that comes before its callback
    // overshoots by one step (V8 doubles), and no further.
    expect(largest).toBeLessThanOrEqual(8 * MiB);
  });

  it('holds it at its starting size while held, and lets it grow once released', () => {
    // Loading the test's own modules already grew it a step or two before the hold.
    const held = youngGenerationUnderLoad(undefined, 'holdYoungGenerationGrowth();');
    expect(held.start).toBeLessThan(16 * MiB);
    expect(held.largest).toBe(held.start);
    expect(youngGenerationUnderLoad(undefined, 'holdYoungGenerationGrowth()();').largest).toBeGreaterThanOrEqual(16 * MiB);
  });

  it('takes over from a hold: the cap lets it grow up to the cap', () => {
    const { largest } = youngGenerationUnderLoad(undefined, 'holdYoungGenerationGrowth(); capYoungGeneration(8 * 1024 * 1024);');
    expect(largest).toBeGreaterThanOrEqual(8 * MiB);
    expect(largest).toBeLessThanOrEqual(16 * MiB);
  });
});
