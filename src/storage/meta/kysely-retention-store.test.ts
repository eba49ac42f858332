import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { META_BACKENDS, withStores } from '../../../test/support/meta-stores.js';
import type { RetentionRun, RunDeletion } from '../../events/retention/retention-store.js';
import { policySchema, type SavedPolicy } from '../../events/retention/rules.js';
import type { Digest } from '../../oci/digest.js';
import type { RepoName } from '../../oci/name.js';
import type { MetaStores } from './stores.js';

const sha = (s: string) => `sha256:${createHash('sha256').update(s).digest('hex')}` as Digest;
const policy = (id: string, extra: object = {}): SavedPolicy =>
  ({ ...policySchema.parse({ rules: [{ rulePriority: 1, selection: { tagStatus: 'untagged', countType: 'imageCountMoreThan', countNumber: 5 }, action: { type: 'expire' } }], ...extra }), id }) as SavedPolicy;

/** Stores a manifest naming `blobs` (linked first, `size` bytes each) and `children`; returns its id. */
async function put(stores: MetaStores, repo: RepoName, name: string, opts: { blobs?: string[]; children?: string[]; subject?: string; tag?: string } = {}) {
  const r = await stores.meta.ensureRepository(repo, repo.split('/')[0]!);
  for (const b of opts.blobs ?? []) await stores.meta.linkBlob(r.id, sha(b), 1000);
  const id = await stores.meta.putManifest({
    repositoryId: r.id,
    digest: sha(name),
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    size: 100,
    body: Buffer.from(name),
    subjectDigest: opts.subject ? sha(opts.subject) : undefined,
    blobDigests: (opts.blobs ?? []).map(sha),
    childDigests: (opts.children ?? []).map(sha),
  });
  if (opts.tag) await stores.meta.setTag(r.id, opts.tag, id);
  return { id, repositoryId: r.id };
}

const run = (id: string, registryId: number, at: number, extra: Partial<RetentionRun> = {}): RetentionRun => ({
  id, registryId, policyId: 'p', trigger: 'manual', status: 'queued', requestedBy: 'admin', createdAt: at, startedAt: null, finishedAt: null,
  repositories: 0, imagesDeleted: 0, manifestsDeleted: 0, bytesFreed: 0, skipped: 0, error: null, jobId: null, node: null, gcRunId: null, ...extra,
});

const deletion = (digest: string): RunDeletion => ({ repository: 'acme/app', digest, role: 'image', tags: ['a'], size: 10, rulePriority: 1, reason: 'rule 1', outcome: 'deleted' });

for (const backend of META_BACKENDS) {
  describe.skipIf(backend.skip)(`KyselyRetentionStore: ${backend.name}`, () => {
    it('saves policies by registry and id, counting revisions', withStores(backend, async (stores) => {
      const { retention } = stores;
      await stores.access.createRegistry('acme', false);
      await stores.access.createRegistry('other', false);
      const acme = (await stores.access.getRegistry('acme'))!.id;
      const other = (await stores.access.getRegistry('other'))!.id;
      const first = await retention.putPolicy(acme, policy('nightly'), 1000);
      expect(first).toMatchObject({ created: true, stored: { registryId: acme, registry: 'acme', revision: 1, createdAt: 1000, updatedAt: 1000, policy: policy('nightly') } });
      const again = await retention.putPolicy(acme, policy('nightly', { schedule: '@hourly' }), 2000);
      expect(again).toMatchObject({ created: false, stored: { revision: 2, createdAt: 1000, updatedAt: 2000, policy: { schedule: '@hourly' } } });
      await retention.putPolicy(acme, policy('another'), 3000);
      await retention.putPolicy(other, policy('nightly'), 3000);
      expect((await retention.listPolicies(acme)).map((p) => p.policy.id)).toEqual(['another', 'nightly']);
      expect((await retention.listPolicies()).map((p) => `${p.registry}/${p.policy.id}`)).toEqual(['acme/another', 'acme/nightly', 'other/nightly']);
      expect(await retention.deletePolicy(acme, 'nightly')).toBe(true);
      expect(await retention.deletePolicy(acme, 'nightly')).toBe(false);
      expect(await retention.getPolicy(acme, 'nightly')).toBeUndefined();
      expect((await retention.getPolicy(other, 'nightly'))?.revision).toBe(1);
    }));

    it('reads a repository as evaluation needs it, with pull times recorded in batches', withStores(backend, async (stores) => {
      const { retention } = stores;
      const repo = 'acme/app' as RepoName;
      const child = await put(stores, repo, 'child', { blobs: ['layer'] });
      const index = await put(stores, repo, 'index', { children: ['child'], tag: 'latest' });
      const sig = await put(stores, repo, 'sig', { subject: 'index' });
      await stores.meta.setTag(index.repositoryId, 'v1', index.id);
      await retention.recordPulls([{ manifestId: child.id, at: 5000 }, { manifestId: index.id, at: 7000 }]);
      // An older time never overwrites a newer one; a manifest deleted meanwhile is skipped.
      await retention.recordPulls([{ manifestId: child.id, at: 4000 }, { manifestId: index.id, at: 8000 }, { manifestId: 999_999, at: 9000 }]);
      const facts = await retention.manifestFacts(index.repositoryId);
      expect(facts.map((f) => ({ ...f, pushedAt: typeof f.pushedAt }))).toEqual([
        { id: child.id, digest: sha('child'), mediaType: 'application/vnd.oci.image.manifest.v1+json', size: 100, pushedAt: 'number', pulledAt: 5000, tags: [], subject: null, children: [] },
        { id: index.id, digest: sha('index'), mediaType: 'application/vnd.oci.image.manifest.v1+json', size: 100, pushedAt: 'number', pulledAt: 8000, tags: ['latest', 'v1'], subject: null, children: [sha('child')] },
        { id: sig.id, digest: sha('sig'), mediaType: 'application/vnd.oci.image.manifest.v1+json', size: 100, pushedAt: 'number', pulledAt: null, tags: [], subject: sha('index'), children: [] },
      ]);
      expect(await retention.dependents(index.repositoryId, sha('child'))).toEqual({ tags: [], referencedBy: [sha('index')] });
      expect(await retention.dependents(index.repositoryId, sha('index'))).toEqual({ tags: ['latest', 'v1'], referencedBy: [sha('sig')] });
      // A deleted manifest takes its pull time with it.
      await stores.meta.deleteManifest(index.repositoryId, sha('sig'));
      await stores.meta.deleteManifest(index.repositoryId, sha('index'));
      expect((await retention.manifestFacts(index.repositoryId)).map((f) => f.digest)).toEqual([sha('child')]);
      await retention.recordPulls([{ manifestId: index.id, at: 9999 }]);
    }));

    it("tells what manifests hold and which blobs the rest of the registry still names", withStores(backend, async (stores) => {
      const { retention } = stores;
      const a = await put(stores, 'acme/a' as RepoName, 'a1', { blobs: ['shared', 'only-a1'] });
      const a2 = await put(stores, 'acme/a' as RepoName, 'a2', { blobs: ['shared', 'only-a2'] });
      const b = await put(stores, 'acme/b' as RepoName, 'b1', { blobs: ['in-b-too'] });
      await put(stores, 'acme/b' as RepoName, 'b2', { blobs: ['in-b-too'] });
      // Another registry naming a blob does not keep it in this registry's storage.
      await put(stores, 'other/x' as RepoName, 'x1', { blobs: ['only-a2'] });
      const acme = (await stores.access.getRegistry('acme'))!.id;
      const footprints = await retention.footprints([a.id, a2.id, a.id]);
      expect(footprints.get(a.id)).toEqual({ size: 100, blobs: expect.arrayContaining([{ digest: sha('shared'), size: 1000 }, { digest: sha('only-a1'), size: 1000 }]) });
      expect(footprints.size).toBe(2);
      const all = [sha('shared'), sha('only-a1'), sha('only-a2'), sha('in-b-too')];
      expect(await retention.blobsInUse(acme, all, new Set())).toEqual(new Set(all));
      expect(await retention.blobsInUse(acme, all, new Set([a.id]))).toEqual(new Set([sha('shared'), sha('only-a2'), sha('in-b-too')]));
      // Another registry naming a blob does not keep it in use here.
      expect(await retention.blobsInUse(acme, all, new Set([a.id, a2.id]))).toEqual(new Set([sha('in-b-too')]));
      expect(await retention.blobsInUse(acme, all, new Set([a.id, a2.id, b.id]))).toEqual(new Set([sha('in-b-too')]));
      expect(await retention.footprints([])).toEqual(new Map());
    }));

    it('records runs, one unfinished run per policy, with the job queued alongside', withStores(backend, async (stores) => {
      const { retention, jobs } = stores;
      await stores.access.createRegistry('acme', false);
      const acme = (await stores.access.getRegistry('acme'))!.id;
      const first = await retention.createRun(run('r1', acme, 1000), { kind: 'retention.run', payload: { runId: 'r1' }, maxAttempts: 3 });
      expect('run' in first && first.run.jobId).toBeGreaterThan(0);
      const jobId = 'run' in first ? first.run.jobId! : 0;
      expect(await jobs.get(jobId)).toMatchObject({ kind: 'retention.run', payload: { runId: 'r1' }, maxAttempts: 3, status: 'queued' });
      expect(await retention.createRun(run('r2', acme, 2000))).toEqual({ active: expect.objectContaining({ id: 'r1' }) });
      expect((await retention.runOfJob(jobId))?.id).toBe('r1');
      await retention.updateRun('r1', { status: 'succeeded', startedAt: 1100, finishedAt: 1200, repositories: 2, imagesDeleted: 3, manifestsDeleted: 5, bytesFreed: 12345, skipped: 1, node: 'n1', gcRunId: 'gc-1', error: null });
      expect(await retention.getRun('r1')).toEqual(run('r1', acme, 1000, { status: 'succeeded', startedAt: 1100, finishedAt: 1200, repositories: 2, imagesDeleted: 3, manifestsDeleted: 5, bytesFreed: 12345, skipped: 1, node: 'n1', gcRunId: 'gc-1', jobId }));
      expect('run' in (await retention.createRun(run('r2', acme, 2000, { trigger: 'schedule', requestedBy: null })))).toBe(true);
      await retention.createRun(run('r3', acme, 3000, { policyId: 'other' }));
      const listed = await retention.listRuns(acme, 'p', 1, 0);
      expect(listed).toEqual({ runs: [expect.objectContaining({ id: 'r2', trigger: 'schedule' })], total: 2 });
      expect((await retention.listRuns(acme, 'p', 10, 1)).runs.map((r) => r.id)).toEqual(['r1']);

      await retention.addDeletions('r1', [deletion('d1'), deletion('d2')]);
      await retention.addDeletions('r1', Array.from({ length: 450 }, (_, i) => deletion(`e${i}`)));
      const page = await retention.deletions('r1', 3, 1);
      expect(page.total).toBe(452);
      expect(page.deletions.map((d) => d.digest)).toEqual(['d2', 'e0', 'e1']);
      expect(page.deletions[0]).toEqual(deletion('d2'));
    }));

    it("goes with its registry", withStores(backend, async (stores) => {
      const { retention } = stores;
      await put(stores, 'gone/app' as RepoName, 'm', { blobs: ['l'] });
      const id = (await stores.access.getRegistry('gone'))!.id;
      await retention.putPolicy(id, policy('p'), 1);
      await retention.createRun(run('r', id, 1));
      await retention.addDeletions('r', [deletion('x')]);
      const facts = await retention.manifestFacts((await stores.meta.getRepository('gone/app' as RepoName))!.id);
      await retention.recordPulls([{ manifestId: facts[0]!.id, at: 5 }]);
      expect(await stores.usage.deleteRegistry('gone')).toBeDefined();
      expect(await retention.listPolicies()).toEqual([]);
      expect(await retention.getRun('r')).toBeUndefined();
    }));
  });
}
