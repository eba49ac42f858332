import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { exportJWK, generateKeyPair } from 'jose';
import { describe, expect, it } from 'vitest';
import { META_BACKENDS, withStores } from '../../test/support/meta-stores.js';
import type { SigningKeyStore } from './auth-state-store.js';
import { KeyRing, SIGNING_ALGORITHM, type KeyRingOptions } from './key-ring.js';
import { RegistryTokens } from './registry-tokens.js';

const DAY = 86_400_000;
const OPTIONS: KeyRingOptions = { rotateAfterMs: 90 * DAY, retainMs: 360_000 };
const tokensOf = (ring: KeyRing) => new RegistryTokens(ring, { issuer: 'berth', service: 'berth', ttlSeconds: 300 });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A key file as Berth wrote them to `<data>/keys` before keys moved into the metadata store. */
async function legacyKeyFile(dir: string, kid: string, createdAt: number, retiredAt?: number): Promise<void> {
  const { privateKey } = await generateKeyPair(SIGNING_ALGORITHM, { extractable: true });
  const privateJwk = { ...(await exportJWK(privateKey)), kid, alg: SIGNING_ALGORITHM };
  await writeFile(join(dir, `${kid}.jwk.json`), JSON.stringify({ kid, createdAt, retiredAt, privateJwk }), { mode: 0o600 });
}

/** The store, counting how often the keys are read. */
function counting(store: SigningKeyStore): SigningKeyStore & { reads: number } {
  const counted = Object.create(store) as SigningKeyStore & { reads: number };
  counted.reads = 0;
  counted.listSigningKeys = () => {
    counted.reads++;
    return store.listSigningKeys();
  };
  return counted;
}

for (const backend of META_BACKENDS) {
  describe.skipIf(backend.skip)(`KeyRing: ${backend.name}`, () => {
    it('makes a key in an empty store, and a node opening later signs with the same one', withStores(backend, async ({ authState }) => {
      const first = await KeyRing.open(authState, OPTIONS);
      const second = await KeyRing.open(authState, OPTIONS);
      expect((await second.signingKey()).kid).toBe((await first.signingKey()).kid);
      expect(await authState.listSigningKeys()).toHaveLength(1);
      const token = (await tokensOf(first).issue('alice', 'user', [])).token;
      expect(await tokensOf(second).verify(token)).toMatchObject({ subject: 'alice' });
    }));

    it('nodes starting at once on an empty store end up verifying each other’s tokens', withStores(backend, async ({ authState }) => {
      const rings = await Promise.all([1, 2, 3, 4].map(() => KeyRing.open(authState, OPTIONS)));
      const stored = await authState.listSigningKeys();
      expect(stored.filter((k) => k.retiredAt === null)).toHaveLength(1);
      // The store's transaction lets one of them add a key; the others find it.
      expect(stored).toHaveLength(1);
      for (const signer of rings) {
        const token = (await tokensOf(signer).issue('bob', 'user', [])).token;
        for (const verifier of rings) expect(await tokensOf(verifier).verify(token)).toMatchObject({ subject: 'bob' });
      }
    }));

    it('rotation: the new key signs, the old one verifies, retired, until its tokens have expired', withStores(backend, async ({ authState }) => {
      const ring = await KeyRing.open(authState, OPTIONS);
      const tokens = tokensOf(ring);
      const before = (await tokens.issue('carol', 'user', [])).token;
      const oldKid = (await ring.signingKey()).kid;
      const newKid = await ring.rotate();
      expect(newKid).not.toBe(oldKid);
      expect((await ring.signingKey()).kid).toBe(newKid);
      expect(await tokensOf(ring).verify(before)).toMatchObject({ subject: 'carol' });
      const listed = ring.list();
      expect(listed.map((k) => k.kid)).toEqual([newKid, oldKid]);
      expect(listed[0]!.retiredAt).toBeUndefined();
      expect(listed[1]!.retiredAt).toEqual(expect.any(Number));
      expect((await authState.listSigningKeys()).map((k) => [k.kid, k.retiredAt === null])).toEqual([[newKid, true], [oldKid, false]]);
    }));

    it('replaces a key older than rotateAfterMs at start, and deletes keys retired for longer than they verify', withStores(backend, async ({ authState }) => {
      const now = Date.now();
      const { privateKey } = await generateKeyPair(SIGNING_ALGORITHM, { extractable: true });
      const jwk = JSON.stringify(await exportJWK(privateKey));
      await authState.importSigningKeys([
        { kid: 'old-current', createdAt: now - 100 * DAY, retiredAt: null, privateJwk: jwk },
        { kid: 'long-retired', createdAt: now - 200 * DAY, retiredAt: now - 10 * DAY, privateJwk: jwk },
      ]);
      const ring = await KeyRing.open(authState, OPTIONS);
      const kid = (await ring.signingKey()).kid;
      expect(kid).not.toBe('old-current');
      expect(await ring.verificationKey('old-current')).toBeDefined();
      expect(await ring.verificationKey('long-retired')).toBeUndefined();
      expect((await authState.listSigningKeys()).map((k) => k.kid).sort()).toEqual([kid, 'old-current'].sort());
    }));

    it('imports the key files of an older installation once, and keeps signing with its key', withStores(backend, async ({ authState }) => {
      const dir = await mkdtemp(join(tmpdir(), 'berth-keys-'));
      try {
        const now = Date.now();
        await legacyKeyFile(dir, 'legacy-current', now - DAY);
        await legacyKeyFile(dir, 'legacy-retired', now - 2 * DAY, now - 60_000);
        await writeFile(join(dir, 'notes.txt'), 'not a key');
        const ring = await KeyRing.open(authState, { ...OPTIONS, legacyDir: dir });
        expect((await ring.signingKey()).kid).toBe('legacy-current');
        expect(await ring.verificationKey('legacy-retired')).toBeDefined();
        expect((await authState.listSigningKeys()).map((k) => k.kid)).toEqual(['legacy-current', 'legacy-retired']);

        // Once the store has keys, key files are never read again.
        await legacyKeyFile(dir, 'legacy-later', now);
        const again = await KeyRing.open(authState, { ...OPTIONS, legacyDir: dir });
        expect((await again.signingKey()).kid).toBe('legacy-current');
        expect(await again.verificationKey('legacy-later')).toBeUndefined();
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    }));

    it('without a legacy directory, or with an empty one, just makes a key', withStores(backend, async ({ authState }) => {
      const ring = await KeyRing.open(authState, { ...OPTIONS, legacyDir: join(tmpdir(), 'berth-no-such-dir-', String(Date.now())) });
      expect((await ring.signingKey()).kid).toMatch(/^[A-Za-z0-9_-]{12}$/);
    }));

    it('a key made on another node verifies here at once: an unknown key id is looked up in the store', withStores(backend, async ({ authState }) => {
      const here = await KeyRing.open(authState, OPTIONS);
      const elsewhere = await KeyRing.open(authState, OPTIONS);
      await elsewhere.rotate();
      const token = (await tokensOf(elsewhere).issue('dave', 'user', [])).token;
      expect(await tokensOf(here).verify(token)).toMatchObject({ subject: 'dave' });
    }));

    it('unknown key ids send a node to the store once per interval, however many arrive', withStores(backend, async ({ authState }) => {
      const store = counting(authState);
      const ring = await KeyRing.open(store, { ...OPTIONS, missReloadMs: 300 });
      const opened = store.reads;
      const misses = await Promise.all(Array.from({ length: 20 }, (_, i) => ring.verificationKey(`forged-${i}`)));
      expect(misses.every((k) => k === undefined)).toBe(true);
      expect(store.reads - opened).toBe(1);
      // The next miss waits for the interval to pass rather than reading again at once.
      const started = Date.now();
      await Promise.all([ring.verificationKey('forged-again'), ring.verificationKey('forged-too')]);
      expect(store.reads - opened).toBe(2);
      expect(Date.now() - started).toBeGreaterThanOrEqual(200);
    }));

    it('a rotation on another node moves signing here once this node’s copy is older than refreshMs', withStores(backend, async ({ authState }) => {
      const here = await KeyRing.open(authState, { ...OPTIONS, refreshMs: 200, missReloadMs: 10 });
      const elsewhere = await KeyRing.open(authState, OPTIONS);
      const newKid = await elsewhere.rotate();
      expect((await here.signingKey()).kid).not.toBe(newKid);
      await sleep(250);
      expect((await here.signingKey()).kid).toBe(newKid);
      expect(here.list().find((k) => k.kid !== newKid)?.retiredAt).toEqual(expect.any(Number));
    }));

    it('keeps the keys it has when the store cannot be read, and says so', withStores(backend, async ({ authState }) => {
      const errors: unknown[] = [];
      let failing = false;
      const flaky = Object.create(authState) as SigningKeyStore;
      flaky.listSigningKeys = () => (failing ? Promise.reject(new Error('store down')) : authState.listSigningKeys());
      const ring = await KeyRing.open(flaky, { ...OPTIONS, refreshMs: 0, missReloadMs: 0, onError: (e) => errors.push(e) });
      const kid = (await ring.signingKey()).kid;
      failing = true;
      expect((await ring.signingKey()).kid).toBe(kid);
      expect(await ring.verificationKey(kid)).toBeDefined();
      expect(await ring.verificationKey('unknown')).toBeUndefined();
      expect(errors.length).toBeGreaterThan(0);
    }));
  });
}
