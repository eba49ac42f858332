import { describe, expect, it } from 'vitest';
import { Quota } from '../../core/quota.js';
import { TierCatalog, type Tier } from '../../core/tiers.js';
import { digestBytes, type Digest } from '../../oci/digest.js';
import { parseRepoName } from '../../oci/name.js';
import type { MetaStores } from './stores.js';
import type { StoresFixture } from './stores.case.test.js';

const d = (s: string): Digest => digestBytes(Buffer.from(s));
const times = <T>(n: number, f: (i: number) => Promise<T>) => Promise.allSettled(Array.from({ length: n }, (_, i) => f(i)));
const fulfilled = <T>(results: PromiseSettledResult<T>[]) => results.filter((r): r is PromiseFulfilledResult<T> => r.status === 'fulfilled').map((r) => r.value);

const KIB = 1024;
const STARTER: Tier = { slug: 'starter', name: 'Starter', includedRepositories: 1, includedStorageBytes: 64 * KIB, includedBandwidthBytes: null, monthlyPriceInCents: 0, allowStorageOverage: false, storageOveragePricePerGbInCents: 0 };

/**
 * What core relies on when writers overlap: SQLite gets it by running one writer
 * at a time, other dialects must give the same outcome (see transaction.ts).
 */
export function describeConcurrentWrites(name: string, create: () => Promise<StoresFixture>): void {
  describe(`concurrent writes: ${name}`, () => {
    const withStores = (test: (s: MetaStores) => Promise<void>) => async () => {
      const f = await create();
      try {
        // Open a pool's connections up front, so the writers below really overlap.
        await Promise.all(Array.from({ length: 10 }, () => f.stores.meta.ping()));
        await test(f.stores);
      } finally {
        await f.cleanup();
      }
    };

    it('12 concurrent pushes against a storage quota: exactly the 7 that fit commit', withStores(async ({ meta, usage }) => {
      const quota = new Quota(meta, usage, new TierCatalog([STARTER], ['local'], 'starter'));
      await usage.ensureRegistry('race', { tierSlug: 'starter', region: 'local' });
      const repo = await meta.ensureRepository(parseRepoName('race/app'), 'race');
      await meta.linkBlob(repo.id, d('seed'), 1);
      const blob = 8 * KIB;
      // As Uploads.complete commits a blob: the link and its quota check in one transaction.
      const results = await times(12, async (i) => {
        const q = await quota.forPush(parseRepoName('race/app'));
        await meta.transaction((tx) => q.withinStorage(tx, () => tx.linkBlob(repo.id, d(`blob ${i}`), blob)));
      });
      const refused = results.filter((r) => r.status === 'rejected').map((r) => (r as PromiseRejectedResult).reason as Error);
      expect(refused.map((e) => e.message).filter((m) => !/allows/.test(m))).toEqual([]);
      expect(fulfilled(results)).toHaveLength(7);
      expect(await meta.registryStorage('race')).toBe(1 + 7 * blob);
      expect((await usage.getAccount('race'))?.storageBytes).toBe(1 + 7 * blob);
    }));

    it('one blob linked into ten repositories of a registry at once: counted once, every link in its reference count', withStores(async ({ meta, gc, access }) => {
      const repos = await Promise.all(Array.from({ length: 10 }, (_, i) => meta.ensureRepository(parseRepoName(`shared/r${i}`), 'shared')));
      const registryId = (await access.getRegistry('shared'))!.id;
      await times(10, (i) => meta.linkBlob(repos[i]!.id, d('layer'), 1000)).then((r) => expect(fulfilled(r)).toHaveLength(10));
      await times(10, (i) => meta.linkBlob(repos[i]!.id, d('layer'), 1000)).then((r) => expect(fulfilled(r)).toHaveLength(10));
      expect(await meta.registryStorage('shared')).toBe(1000);
      expect(await gc.registryBlob(registryId, d('layer'))).toEqual({ size: 1000, refs: 10 });
      const unlinked = fulfilled(await times(10, (i) => meta.unlinkBlob(repos[i]!.id, d('layer'))));
      expect(unlinked).toEqual(Array(10).fill(true));
      expect(await gc.registryBlob(registryId, d('layer'))).toBeUndefined();
      expect(await meta.registryStorage('shared')).toBe(0);
    }));

    it('"create if missing" races resolve to the one row: repositories, registries, manifests', withStores(async ({ meta, access, usage }) => {
      const repos = fulfilled(await times(16, () => meta.ensureRepository(parseRepoName('race/one'), 'race')));
      expect(repos).toHaveLength(16);
      expect(new Set(repos.map((r) => r.id)).size).toBe(1);
      // The same, each inside a transaction of its own, as a manifest put does.
      const inTx = fulfilled(await times(8, (i) => meta.transaction((tx) => tx.ensureRepository(parseRepoName(`race/tx${i % 2}`), 'race'))));
      expect(new Set(inTx.map((r) => r.id)).size).toBe(2);
      const registries = fulfilled(await times(8, (i) => (i % 2 ? access.createRegistry('reg', false) : usage.ensureRegistry('reg', { tierSlug: 'basic', region: 'local' }).then(() => access.getRegistry('reg')))));
      expect(new Set(registries.map((r) => r?.id)).size).toBe(1);

      const body = Buffer.from('{"same":"manifest"}');
      const put = () => meta.putManifest({ repositoryId: repos[0]!.id, digest: digestBytes(body), mediaType: 'application/json', size: body.length, body, blobDigests: [d('a'), d('b')], childDigests: [] });
      const ids = fulfilled(await times(10, put));
      expect(ids).toHaveLength(10);
      expect(new Set(ids).size).toBe(1);
      expect(await meta.registryStorage('race')).toBe(body.length);
    }));

    it('garbage collection started ten times at once for one registry runs once', withStores(async ({ access, gc }) => {
      const reg = await access.createRegistry('busy', false);
      const run = (i: number) => ({ id: `run-${i}`, registryId: reg.id, type: 'untagged manifests only' as const, status: 'requested' as const, dryRun: false, createdAt: i, updatedAt: i, manifestsDeleted: 0, blobsDeleted: 0, freedBytes: 0, error: null });
      const outcomes = fulfilled(await times(10, (i) => gc.createRun(run(i))));
      expect(outcomes).toHaveLength(10);
      expect(outcomes.filter((o) => 'run' in o)).toHaveLength(1);
      expect((await gc.listRuns(reg.id, 20, 0)).total).toBe(1);
    }));
  });
}
