import { describe, expect, it } from 'vitest';
import { META_BACKENDS, withStores } from '../../../test/support/meta-stores.js';
import type { SigningKeyRecord } from '../../auth/auth-state-store.js';

const key = (kid: string, createdAt: number, retiredAt: number | null = null): SigningKeyRecord => ({ kid, createdAt, retiredAt, privateJwk: `{"kid":"${kid}"}` });

for (const backend of META_BACKENDS) {
  describe.skipIf(backend.skip)(`KyselyAuthStateStore: ${backend.name}`, () => {
    it('signing keys: adding one retires the others; "unless one is fresh" adds nothing; old retired ones are deleted', withStores(backend, async ({ authState: s }) => {
      expect(await s.listSigningKeys()).toEqual([]);
      expect(await s.addSigningKey(key('a', 1000))).toBe(true);
      expect(await s.addSigningKey(key('b', 2000))).toBe(true);
      expect(await s.listSigningKeys()).toEqual([key('b', 2000), key('a', 1000, 2000)]);
      expect(await s.addSigningKey(key('c', 3000), { unlessSigningSince: 1500 })).toBe(false);
      expect(await s.addSigningKey(key('c', 3000), { unlessSigningSince: 2500 })).toBe(true);
      expect((await s.listSigningKeys()).map((k) => [k.kid, k.retiredAt])).toEqual([['c', null], ['b', 3000], ['a', 2000]]);
      expect(await s.deleteSigningKeysRetiredBefore(2500)).toBe(1);
      expect((await s.listSigningKeys()).map((k) => k.kid)).toEqual(['c', 'b']);
      expect(await s.importSigningKeys([key('x', 1)])).toBe(false);
    }));

    it('signing keys: an import goes into an empty store only, all at once', withStores(backend, async ({ authState: s }) => {
      expect(await s.importSigningKeys([])).toBe(false);
      expect(await s.importSigningKeys([key('old', 1000, 1500), key('new', 1500)])).toBe(true);
      expect(await s.listSigningKeys()).toEqual([key('new', 1500), key('old', 1000, 1500)]);
      expect(await s.importSigningKeys([key('other', 5000)])).toBe(false);
    }));

    it('nodes adding "unless one is fresh" at the same time add one key between them', withStores(backend, async ({ authState: s }) => {
      const added = await Promise.all(Array.from({ length: 6 }, (_, i) => s.addSigningKey(key(`k${i}`, 10_000 + i), { unlessSigningSince: 0 })));
      expect(added.filter(Boolean)).toHaveLength(1);
      expect(await s.listSigningKeys()).toHaveLength(1);
    }));

    it('login failures: counted per key after the window start, earliest first; cleared per key', withStores(backend, async ({ authState: s }) => {
      await s.addLoginFailures(['u:a', 's:1'], 100, 0);
      await s.addLoginFailures(['u:a', 's:2'], 200, 0);
      await s.addLoginFailures(['u:b'], 300, 0);
      expect(await s.recentLoginFailures(['u:a', 's:1', 's:2', 'u:none'], 0)).toEqual(
        new Map([
          ['u:a', { count: 2, first: 100 }],
          ['s:1', { count: 1, first: 100 }],
          ['s:2', { count: 1, first: 200 }],
        ]),
      );
      expect(await s.recentLoginFailures(['u:a'], 100)).toEqual(new Map([['u:a', { count: 1, first: 200 }]]));
      await s.clearLoginFailures('u:a');
      expect(await s.recentLoginFailures(['u:a', 'u:b'], 0)).toEqual(new Map([['u:b', { count: 1, first: 300 }]]));
    }));

    it('login failures: a write deletes old failures of at most 100 keys; later writes delete the rest', withStores(backend, async ({ authState: s }) => {
      const keys = Array.from({ length: 150 }, (_, i) => `s:10.0.${Math.floor(i / 100)}.${i % 100}`);
      await s.addLoginFailures(keys, 1000, 0);
      await s.addLoginFailures(keys.slice(0, 10), 1500, 0);
      await s.addLoginFailures(['u:trigger'], 5000, 2000);
      const left = await s.recentLoginFailures(keys, 0);
      expect(left.size).toBe(50);
      await s.addLoginFailures(['u:trigger'], 5001, 2000);
      expect((await s.recentLoginFailures(keys, 0)).size).toBe(0);
      expect(await s.recentLoginFailures(['u:trigger'], 2000)).toEqual(new Map([['u:trigger', { count: 2, first: 5000 }]]));
    }));
  });
}
