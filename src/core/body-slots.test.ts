import { describe, expect, it } from 'vitest';
import { BodySlots } from './body-slots.js';

describe('BodySlots', () => {
  it('lets at most `max` holders in at once, and the waiting ones in first come, first served', async () => {
    const slots = new BodySlots(2);
    const entered: number[] = [];
    let inside = 0;
    let most = 0;
    const releases: (() => void)[] = [];
    const tasks = [0, 1, 2, 3, 4].map(async (i) => {
      await slots.acquire();
      entered.push(i);
      most = Math.max(most, ++inside);
      await new Promise<void>((resolve) => releases.push(resolve));
      inside--;
      slots.release();
    });
    await new Promise((r) => setImmediate(r));
    expect(entered).toEqual([0, 1]);
    while (releases.length > 0 || entered.length < 5) {
      releases.shift()?.();
      await new Promise((r) => setImmediate(r));
    }
    releases.forEach((r) => r());
    await Promise.all(tasks);
    expect(entered).toEqual([0, 1, 2, 3, 4]);
    expect(most).toBe(2);
  });
});
