import { afterEach, describe, expect, it, vi } from 'vitest';
import { META_BACKENDS, withStores } from '../../test/support/meta-stores.js';
import { LoginThrottle } from './throttle.js';

const MINUTE = 60_000;

for (const backend of META_BACKENDS) {
  describe.skipIf(backend.skip)(`LoginThrottle: ${backend.name}`, () => {
    afterEach(() => {
      vi.useRealTimers();
    });

    it('refuses a user after too many failures, and clears on success', withStores(backend, async ({ authState }) => {
      const t = new LoginThrottle({ windowMs: MINUTE, maxPerUser: 3, maxPerSource: 100 }, authState);
      for (let i = 0; i < 2; i++) await t.recordFailure('eve', '10.0.0.1');
      expect(await t.retryAfter('eve', '10.0.0.2')).toBe(0);
      await t.recordFailure('eve', '10.0.0.1');
      expect(await t.retryAfter('eve', '10.0.0.2')).toBe(60);
      expect(await t.retryAfter('bob', '10.0.0.2')).toBe(0);
      await t.recordSuccess('eve');
      expect(await t.retryAfter('eve', '10.0.0.2')).toBe(0);
    }));

    it('refuses a source that guesses many users; a success does not clear the source', withStores(backend, async ({ authState }) => {
      const t = new LoginThrottle({ windowMs: MINUTE, maxPerUser: 100, maxPerSource: 5 }, authState);
      for (let i = 0; i < 5; i++) await t.recordFailure(`user${i}`, '10.0.0.9');
      await t.recordSuccess('user0');
      expect(await t.retryAfter('someone-else', '10.0.0.9')).toBeGreaterThan(0);
      expect(await t.retryAfter('someone-else', '10.0.0.10')).toBe(0);
    }));

    it('slides: a failure stops counting once it is windowMs old, and the wait says when', withStores(backend, async ({ authState }) => {
      vi.useFakeTimers({ toFake: ['Date'] });
      const t0 = Date.now();
      const t = new LoginThrottle({ windowMs: MINUTE, maxPerUser: 3, maxPerSource: 100 }, authState);
      for (const offset of [0, 10_000, 20_000]) {
        vi.setSystemTime(t0 + offset);
        await t.recordFailure('frank', '10.0.0.3');
      }
      vi.setSystemTime(t0 + 30_000);
      expect(await t.retryAfter('frank', '10.0.0.3')).toBe(30);
      vi.setSystemTime(t0 + 59_500);
      expect(await t.retryAfter('frank', '10.0.0.3')).toBe(1);
      vi.setSystemTime(t0 + 60_000); // the first failure has left the window
      expect(await t.retryAfter('frank', '10.0.0.3')).toBe(0);
      await t.recordFailure('frank', '10.0.0.3');
      expect(await t.retryAfter('frank', '10.0.0.3')).toBe(10); // until the one at t0+10 s leaves
    }));

    it('two nodes over one store count together: failures on each add up', withStores(backend, async ({ authState }) => {
      const options = { windowMs: MINUTE, maxPerUser: 4, maxPerSource: 100 };
      const [a, b] = [new LoginThrottle(options, authState), new LoginThrottle(options, authState)];
      await a.recordFailure('grace', '10.0.0.4');
      await b.recordFailure('grace', '10.0.0.5');
      await a.recordFailure('grace', '10.0.0.4');
      expect(await b.retryAfter('grace', '10.0.0.6')).toBe(0);
      await b.recordFailure('grace', '10.0.0.5');
      expect(await a.retryAfter('grace', '10.0.0.6')).toBeGreaterThan(0);
      expect(await b.retryAfter('grace', '10.0.0.6')).toBeGreaterThan(0);
      await a.recordSuccess('grace');
      expect(await b.retryAfter('grace', '10.0.0.6')).toBe(0);
    }));

    it('forgets failures older than the window as new ones are written', withStores(backend, async ({ authState }) => {
      vi.useFakeTimers({ toFake: ['Date'] });
      const t0 = Date.now();
      const t = new LoginThrottle({ windowMs: MINUTE, maxPerUser: 3, maxPerSource: 100 }, authState);
      await t.recordFailure('old', '10.0.0.7');
      vi.setSystemTime(t0 + 2 * MINUTE);
      await t.recordFailure('new', '10.0.0.8');
      expect(await authState.recentLoginFailures(['u:old', 's:10.0.0.7', 'u:new'], 0)).toEqual(new Map([['u:new', { count: 1, first: t0 + 2 * MINUTE }]]));
    }));
  });
}
