import { describe, expect, it } from 'vitest';
import { META_BACKENDS, withStores } from '../../../test/support/meta-stores.js';
import { digestBytes, type Digest } from '../../oci/digest.js';
import type { RepoName } from '../../oci/name.js';
import { blankScan, emptySummary } from '../../scan/report.js';
import type { NewManifest } from './meta-store.js';

const d = (s: string): Digest => digestBytes(Buffer.from(s));

function manifest(repositoryId: number, body: string, extra: Partial<NewManifest> = {}): NewManifest {
  return { repositoryId, digest: d(body), mediaType: 'application/vnd.oci.image.manifest.v1+json', size: body.length, body: Buffer.from(body), blobDigests: [], childDigests: [], ...extra };
}

/** The listing queries the management API's repository views read, on every dialect. */
for (const backend of META_BACKENDS) {
  describe.skipIf(backend.skip)(`KyselyRepositoryQueries: ${backend.name}`, () => {
    it('stats: distinct referenced blobs once plus manifests, the last push, tag counts', withStores(backend, async ({ meta, repositoryQueries: q }) => {
      const a = await meta.ensureRepository('acme/a' as RepoName, 'acme');
      const b = await meta.ensureRepository('acme/b' as RepoName, 'acme');
      const empty = await meta.ensureRepository('acme/empty' as RepoName, 'acme');
      await meta.linkBlob(a.id, d('shared'), 100);
      await meta.linkBlob(a.id, d('own'), 40);
      await meta.linkBlob(a.id, d('unreferenced'), 7000); // linked, but no manifest names it
      await meta.linkBlob(b.id, d('shared'), 100);
      const one = await meta.putManifest(manifest(a.id, 'one', { blobDigests: [d('shared'), d('own')] }));
      await meta.putManifest(manifest(a.id, 'two!', { blobDigests: [d('shared')] }));
      await meta.putManifest(manifest(b.id, 'three', { blobDigests: [d('shared')] }));
      const before = Date.now();
      await meta.setTag(a.id, 'v1', one);

      const stats = await q.stats([a.id, b.id, empty.id]);
      expect(stats.get(a.id)).toMatchObject({ sizeBytes: 100 + 40 + 'one'.length + 'two!'.length, tagCount: 1 });
      expect(stats.get(a.id)!.pushedAt).toBeGreaterThanOrEqual(before);
      expect(stats.get(b.id)).toMatchObject({ sizeBytes: 100 + 'three'.length, tagCount: 0, pushedAt: expect.any(Number) });
      expect(stats.get(empty.id)).toBeUndefined();
    }));

    it('manifests: tagged and untagged only, with artifact type, subject and the last recorded pull', withStores(backend, async ({ meta, repositoryQueries: q, retention }) => {
      const a = await meta.ensureRepository('acme/a' as RepoName, 'acme');
      const image = await meta.putManifest(manifest(a.id, 'image', { artifactType: 'application/vnd.oci.image.config.v1+json' }));
      await meta.putManifest(manifest(a.id, 'signature', { artifactType: 'application/vnd.dev.cosign.artifact.sig.v1+json', subjectDigest: d('image') }));
      await meta.setTag(a.id, 'latest', image);
      await retention.recordPulls([{ manifestId: image, at: 1_700_000_000_000 }]);

      const tagged = await q.manifests(a.id, 10, 0, true);
      expect(tagged.total).toBe(1);
      expect(tagged.items.map((m) => m.digest)).toEqual([d('image')]);
      expect(tagged.items[0]).toMatchObject({ tags: ['latest'], pulledAt: 1_700_000_000_000, subjectDigest: null });
      const untagged = await q.manifests(a.id, 10, 0, false);
      expect(untagged.total).toBe(1);
      expect(untagged.items[0]).toMatchObject({ digest: d('signature'), tags: [], pulledAt: null, artifactType: 'application/vnd.dev.cosign.artifact.sig.v1+json', subjectDigest: d('image') });
      expect((await q.manifests(a.id, 10, 0)).total).toBe(2);
      expect((await q.manifests(a.id, 1, 1, undefined)).items).toHaveLength(1);
    }));

    it('scanSummaries: the summaries of completed image scans, per repository; none without one', withStores(backend, async ({ meta, repositoryQueries: q, scans }) => {
      const a = await meta.ensureRepository('acme/a' as RepoName, 'acme');
      const b = await meta.ensureRepository('acme/b' as RepoName, 'acme');
      for (const body of ['x', 'y', 'z']) await meta.putManifest(manifest(a.id, body));
      await meta.putManifest(manifest(b.id, 'queued'));
      const high = { ...emptySummary(), HIGH: 2, LOW: 1, total: 3 };
      await scans.saveScan({ ...blankScan(d('x'), 'complete', 1), summary: high, completedAt: 2 });
      await scans.saveScan({ ...blankScan(d('y'), 'complete', 1), summary: emptySummary(), completedAt: 2 });
      await scans.saveScan({ ...blankScan(d('z'), 'unsupported', 1), completedAt: 2 });
      await scans.saveScan(blankScan(d('queued'), 'queued', 1));

      const found = await q.scanSummaries([a.id, b.id]);
      expect(found.get(a.id)?.sort((s, t) => t.total - s.total)).toEqual([high, emptySummary()]);
      expect(found.has(b.id)).toBe(false);
    }));
  });
}
