/**
 * The retention service on a real SQLite store and a real Registry (uploads,
 * manifest puts and deletes, immutable tags, online GC) with a real job
 * worker: every scenario takes a dry run, then a real run, and checks the run
 * deleted exactly what the dry run listed, recorded and audited it, and that
 * GC then freed the blobs.
 */
import { createHash, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { sqliteStores, type MetaStoresFixture } from '../../../test/support/meta-stores.js';
import type { AuditEntry } from '../../auth/audit-log.js';
import { immutableRuleFor } from '../../core/immutable-tags.js';
import { Registry } from '../../core/registry.js';
import type { Job, JobStore } from '../../jobs/job-store.js';
import { JobWorker, type JobHandler } from '../../jobs/worker.js';
import type { Digest } from '../../oci/digest.js';
import type { RepoName } from '../../oci/name.js';
import { FilesystemBlobStore } from '../../storage/blob/filesystem/filesystem-blob-store.js';
import { DAY_MS } from './evaluate.js';
import { RETENTION_JOB, Retention, type RetentionDeps, type RetentionPreview } from './retention.js';
import type { RetentionRun, RunDeletion } from './retention-store.js';
import { policySchema, type PolicyInput, type RetentionPolicy } from './rules.js';

const MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const INDEX = 'application/vnd.oci.image.index.v1+json';
const CONFIG = 'application/vnd.oci.image.config.v1+json';
const LAYER = 'application/vnd.oci.image.layer.v1.tar';
const sha256 = (b: Buffer | string) => `sha256:${createHash('sha256').update(b).digest('hex')}` as Digest;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const logger = pino({ level: 'silent' });
const REGISTRY = 'acme';

interface Pushed {
  digest: Digest;
  size: number;
  layer?: Digest;
}

interface World {
  fixture: MetaStoresFixture;
  dir: string;
  registry: Registry;
  retention: Retention;
  worker: JobWorker;
  audits: AuditEntry[];
  registryRef: { id: number; name: string };
  deps: RetentionDeps;
}

let w: World;

async function world(options: { protectImmutable?: boolean; deleteManifest?: RetentionDeps['deleteManifest']; graceMs?: number } = {}): Promise<World> {
  const fixture = await sqliteStores();
  const { stores } = fixture;
  const dir = await mkdtemp(join(tmpdir(), 'berth-retention-'));
  const files = new FilesystemBlobStore(dir);
  await files.init();
  const registry = new Registry(stores.meta, files, { gc: { store: stores.gc, gracePeriodMs: 0, logger }, immutableTags: stores.immutableTags });
  const worker = new JobWorker(stores.jobs, { workerId: 'test-node', pollMs: 10, maxIdlePollMs: 50, logger });
  registry.gc!.attach(worker);
  const audits: AuditEntry[] = [];
  const created = await stores.access.createRegistry(REGISTRY, false);
  const deps: RetentionDeps = {
    store: stores.retention,
    deleteManifest: options.deleteManifest ?? ((repository, digest, actor) => registry.manifests.delete(repository, digest, actor)),
    startGc: async (target) => {
      const r = await registry.gc!.start(target, 'unreferenced blobs only', false);
      return 'run' in r ? r.run.id : undefined;
    },
    jobs: stores.jobs,
    wake: () => worker.wake(),
    audit: async (entry) => void audits.push(entry),
    graceMs: options.graceMs ?? 0,
    logger,
    ...(options.protectImmutable
      ? { isProtected: async (repository: RepoName, tag: string) => immutableRuleFor(await stores.immutableTags.rulesOf(REGISTRY), repository, tag) !== undefined }
      : {}),
  };
  const retention = new Retention(deps);
  retention.attach(worker);
  worker.start();
  return { fixture, dir, registry, retention, worker, audits, registryRef: { id: created.id, name: REGISTRY }, deps };
}

beforeEach(async () => {
  w = await world();
});

afterEach(async () => {
  vi.useRealTimers();
  await w.worker.close();
  await w.registry.gc!.close();
  await w.fixture.cleanup();
  await rm(w.dir, { recursive: true, force: true });
});

// ---------- pushing through the registry, at chosen times ----------

const CONFIG_BLOB = Buffer.from('{"architecture":"amd64","os":"linux"}');

async function blob(repo: RepoName, bytes: Buffer): Promise<Digest> {
  return w.registry.uploads.monolithic(repo, sha256(bytes), { body: Readable.from([bytes]), length: bytes.length });
}

/** Pushes an image with a layer of its own (so deleting it frees bytes), at `at` (epoch ms). */
async function image(repo: string, tag: string | undefined, at: number, extra: { subject?: Pushed; artifactType?: string } = {}): Promise<Pushed> {
  vi.useFakeTimers({ toFake: ['Date'], now: at });
  try {
    const name = repo as RepoName;
    const layerBytes = randomBytes(64);
    const layer = await blob(name, layerBytes);
    const config = await blob(name, CONFIG_BLOB);
    const body = Buffer.from(JSON.stringify({
      schemaVersion: 2,
      mediaType: MANIFEST,
      ...(extra.artifactType ? { artifactType: extra.artifactType } : {}),
      config: { mediaType: CONFIG, digest: config, size: CONFIG_BLOB.length },
      layers: [{ mediaType: LAYER, digest: layer, size: layerBytes.length }],
      ...(extra.subject ? { subject: { mediaType: MANIFEST, digest: extra.subject.digest, size: extra.subject.size } } : {}),
    }));
    const digest = sha256(body);
    await w.registry.manifests.put(name, tag ?? digest, body, MANIFEST);
    return { digest, size: body.length, layer };
  } finally {
    vi.useRealTimers();
  }
}

async function index(repo: string, tag: string | undefined, at: number, children: Pushed[]): Promise<Pushed> {
  vi.useFakeTimers({ toFake: ['Date'], now: at });
  try {
    const body = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: INDEX, manifests: children.map((c, i) => ({ mediaType: MANIFEST, digest: c.digest, size: c.size, platform: { architecture: `a${i}`, os: 'linux' } })) }));
    const digest = sha256(body);
    await w.registry.manifests.put(repo as RepoName, tag ?? digest, body, INDEX);
    return { digest, size: body.length };
  } finally {
    vi.useRealTimers();
  }
}

const daysAgo = (d: number) => Date.now() - d * DAY_MS;
const policy = (input: PolicyInput): RetentionPolicy => policySchema.parse(input);
type RuleInput = PolicyInput['rules'][number];
const expireRule = (rulePriority: number, selection: Record<string, unknown>): RuleInput => ({ rulePriority, selection, action: { type: 'expire' } }) as RuleInput;

async function manifestsOf(repo: string): Promise<Set<string>> {
  const r = await w.fixture.stores.meta.getRepository(repo as RepoName);
  return new Set(r ? (await w.fixture.stores.retention.manifestFacts(r.id)).map((f) => f.digest) : []);
}

const expiredIn = (preview: RetentionPreview) => preview.repositories.flatMap((p) => p.deleteOrder.map((d) => `${p.repository}@${d}`));

async function waitForRun(id: string, timeoutMs = 30_000): Promise<RetentionRun> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const run = await w.retention.run(id);
    if (run && (run.status === 'succeeded' || run.status === 'failed')) return run;
    if (Date.now() > until) throw new Error(`run ${id} still ${run?.status}`);
    await sleep(10);
  }
}

async function allDeletions(runId: string): Promise<RunDeletion[]> {
  return (await w.retention.deletions(runId, 100_000, 0)).deletions;
}

/** Saves the policy, previews it, runs it, and checks the run did exactly what the preview said. */
async function previewThenRun(input: PolicyInput): Promise<{ preview: RetentionPreview; run: RetentionRun; deletions: RunDeletion[] }> {
  const { stored } = await w.retention.save(w.registryRef, policy(input));
  const preview = await w.retention.preview(w.registryRef, stored.policy);
  const requested = await w.retention.requestRun(w.registryRef, stored.policy.id, 'admin');
  expect(requested && 'run' in requested).toBe(true);
  const run = await waitForRun((requested as { run: RetentionRun }).run.id);
  expect(run.status, run.error ?? '').toBe('succeeded');
  const deletions = await allDeletions(run.id);
  // The real run deleted exactly the dry run's list, in its order.
  expect(deletions.map((d) => `${d.repository}@${d.digest}`)).toEqual(expiredIn(preview));
  expect(deletions.every((d) => d.outcome === 'deleted')).toBe(true);
  expect({ images: run.imagesDeleted, manifests: run.manifestsDeleted, bytes: run.bytesFreed }).toEqual({
    images: preview.summary.imagesExpired,
    manifests: preview.summary.manifestsExpired,
    bytes: preview.summary.bytesFreed,
  });
  for (const d of deletions) expect(await manifestsOf(d.repository)).not.toContain(d.digest);
  const audited = w.audits.filter((a) => a.action === 'retention.delete' && a.detail?.run === run.id);
  expect(audited.map((a) => a.resource)).toEqual(deletions.map((d) => `${d.repository}@${d.digest}`));
  expect(w.audits.find((a) => a.action === 'retention.run' && a.resource === run.id)).toMatchObject({ outcome: 'success', detail: { images_deleted: run.imagesDeleted, bytes_freed: run.bytesFreed } });
  return { preview, run, deletions };
}

describe('a run deletes exactly what its dry run lists', () => {
  it('imageCountMoreThan over 300 tags, sinceImagePushed over 150 untagged manifests; GC then frees their layers', async () => {
    const repo = 'acme/app';
    const tagged: Pushed[] = [];
    for (let i = 0; i < 300; i++) tagged.push(await image(repo, `build-${i}`, daysAgo(400 - i)));
    const untagged: Pushed[] = [];
    for (let i = 0; i < 150; i++) untagged.push(await image(repo, undefined, daysAgo(149.5 - i)));
    const { preview, run } = await previewThenRun({
      id: 'builds',
      rules: [expireRule(1, { tagStatus: 'untagged', countType: 'sinceImagePushed', countUnit: 'days', countNumber: 30 }), expireRule(2, { tagStatus: 'tagged', tagPatternList: ['build-*'], countType: 'imageCountMoreThan', countNumber: 20 })],
    });
    expect(preview.summary).toMatchObject({ repositories: 1, imagesExpired: 280 + 120, byRule: [{ rulePriority: 1, imagesExpired: 120 }, { rulePriority: 2, imagesExpired: 280 }] });
    const left = await manifestsOf(repo);
    expect(left.size).toBe(20 + 30);
    expect(tagged.slice(280).every((p) => left.has(p.digest))).toBe(true);
    expect(untagged.slice(120).every((p) => left.has(p.digest))).toBe(true);
    // Each image had a layer of its own plus the shared config: the estimate is the manifests and their own layers.
    expect(run.bytesFreed).toBe(tagged.slice(0, 280).concat(untagged.slice(0, 120)).reduce((n, p) => n + p.size + 64, 0));
    // GC, started by the run, removes the deleted images' layers and keeps the rest.
    expect(run.gcRunId).toBeTruthy();
    const gc = await waitForGc(run.gcRunId!);
    expect(gc.freedBytes).toBe(400 * 64);
    expect(existsSync(blobPath(tagged[0]!.layer!))).toBe(false);
    expect(existsSync(blobPath(tagged[299]!.layer!))).toBe(true);
  });

  it('sinceImagePulled over recorded pull times, with keep rules for tags and for recent pulls', async () => {
    const repo = 'acme/web';
    const images: Pushed[] = [];
    for (let i = 0; i < 120; i++) images.push(await image(repo, i % 10 === 0 ? `v1.${i}` : `ci-${i}`, daysAgo(200)));
    const ids = [...(await w.fixture.stores.retention.manifestFacts((await w.fixture.stores.meta.getRepository(repo as RepoName))!.id))].map((f) => f.id);
    // Image i was last pulled i days ago; the first 40 never.
    await w.fixture.stores.retention.recordPulls(ids.slice(40).map((id, k) => ({ manifestId: id, at: daysAgo(k + 40) })));
    const { preview } = await previewThenRun({
      id: 'pulls',
      rules: [expireRule(1, { tagStatus: 'any', countType: 'sinceImagePulled', countUnit: 'days', countNumber: 60 })],
      keep: [{ tagPatternList: ['v1.*'] }, { tagStatus: 'tagged', mostRecentlyPulled: 5 }],
    });
    // Pulled 40..59 days ago: kept by the rule. Older pulls and never-pulled (pushed 200 days ago): expired, unless v1.* or among the 5 most recently pulled (all within 60 days anyway).
    const kept = new Set(images.filter((_, i) => (i >= 40 && i < 60) || i % 10 === 0).map((p) => p.digest));
    expect(new Set(preview.repositories[0]!.deleteOrder)).toEqual(new Set(images.map((p) => p.digest).filter((d) => !kept.has(d))));
    const decision = preview.repositories[0]!.decisions.find((d) => d.digest === images[70]!.digest)!;
    expect(decision.reason).toMatch(/rule 1 \(any\): last pulled 70 days ago, more than 60 days/);
  });

  it('multi-platform indexes with signatures: children and referrers go with their image, after it', async () => {
    const repo = 'acme/multi';
    const releases: { index: Pushed; children: Pushed[]; sig: Pushed }[] = [];
    for (let i = 0; i < 40; i++) {
      const children = [await image(repo, undefined, daysAgo(100 - i)), await image(repo, undefined, daysAgo(100 - i))];
      const idx = await index(repo, `1.${i}`, daysAgo(100 - i), children);
      const sig = await image(repo, undefined, daysAgo(100 - i), { subject: idx, artifactType: 'application/vnd.dev.cosign.artifact.sig.v1+json' });
      releases.push({ index: idx, children, sig });
    }
    const loose = [];
    for (let i = 0; i < 30; i++) loose.push(await image(repo, undefined, daysAgo(60)));
    const { preview, deletions } = await previewThenRun({
      id: 'multi',
      rules: [expireRule(1, { tagStatus: 'untagged', countType: 'imageCountMoreThan', countNumber: 10 }), expireRule(2, { tagStatus: 'tagged', countType: 'imageCountMoreThan', countNumber: 15 })],
    });
    // 25 releases go (index, 2 children, signature each); 20 of the 30 loose manifests.
    expect(preview.summary).toMatchObject({ imagesExpired: 25 + 20, manifestsExpired: 25 * 4 + 20 });
    const position = new Map(deletions.map((d, i) => [d.digest, i]));
    for (const r of releases.slice(0, 25)) {
      for (const c of r.children) expect(position.get(r.index.digest)!).toBeLessThan(position.get(c.digest)!);
      expect(position.get(r.index.digest)!).toBeLessThan(position.get(r.sig.digest)!);
    }
    const left = await manifestsOf(repo);
    for (const r of releases.slice(25)) for (const p of [r.index, ...r.children, r.sig]) expect(left).toContain(p.digest);
  });

  it('every rule type and keep kind at once, with protected tags, indexes and signatures, on hundreds of manifests', async () => {
    await cleanupWorld();
    w = await world({ protectImmutable: true });
    const repo = 'acme/everything';
    const kinds = ['ci', 'pr', 'v', 'lts', 'misc'];
    const tagged: Pushed[] = [];
    for (let i = 0; i < 250; i++) tagged.push(await image(repo, `${kinds[i % 5]}-${i}`, daysAgo(200 - (i % 200) - 0.5)));
    const untagged: Pushed[] = [];
    for (let i = 0; i < 150; i++) untagged.push(await image(repo, undefined, daysAgo(150 - i - 0.5)));
    for (let i = 0; i < 20; i++) {
      const children = [await image(repo, undefined, daysAgo(80 - i * 4 - 0.5)), await image(repo, undefined, daysAgo(80 - i * 4 - 0.5))];
      const idx = await index(repo, `${i % 2 ? 'ci' : 'v'}-multi-${i}`, daysAgo(80 - i * 4 - 0.5), children);
      await image(repo, undefined, daysAgo(80 - i * 4 - 0.5), { subject: idx });
    }
    await w.fixture.stores.immutableTags.addRule({ registryId: w.registryRef.id, repositoryPattern: '**', tagPattern: 'lts-*', createdBy: 'admin', createdAt: Date.now() });
    const facts = await w.fixture.stores.retention.manifestFacts((await w.fixture.stores.meta.getRepository(repo as RepoName))!.id);
    // Every seventh manifest pulled, k days ago.
    await w.fixture.stores.retention.recordPulls(facts.filter((_, k) => k % 7 === 0).map((f, k) => ({ manifestId: f.id, at: daysAgo(k % 100) })));
    const { preview, run } = await previewThenRun({
      id: 'everything',
      rules: [
        expireRule(1, { tagStatus: 'untagged', countType: 'imageCountMoreThan', countNumber: 20 }),
        expireRule(2, { tagStatus: 'tagged', tagPrefixList: ['pr-'], countType: 'sinceImagePushed', countUnit: 'days', countNumber: 10 }),
        expireRule(3, { tagStatus: 'tagged', tagPatternList: ['ci-*'], countType: 'imageCountMoreThan', countNumber: 40 }),
        expireRule(4, { tagStatus: 'any', countType: 'sinceImagePulled', countUnit: 'days', countNumber: 60 }),
      ],
      keep: [{ tagPatternList: ['v-1*'] }, { mostRecentlyPulled: 5 }, { tagStatus: 'tagged', pulledWithinDays: 3 }],
    });
    const byRule = Object.fromEntries(preview.summary.byRule.map((r) => [r.rulePriority, r.imagesExpired]));
    expect(Object.keys(byRule).sort()).toEqual(['1', '2', '3', '4']);
    expect(run.imagesDeleted).toBeGreaterThan(200);
    const decisions = preview.repositories[0]!.decisions;
    // Protected tags stayed, whatever rule 4 said of them.
    for (const d of decisions.filter((x) => x.tags.some((t) => t.startsWith('lts-')))) expect(d.action).toBe('keep');
    // Keep rules kept some of what rules expired.
    expect(decisions.some((d) => d.action === 'keep' && d.keepRule === 1)).toBe(true);
    expect(decisions.some((d) => d.action === 'keep' && d.keepRule === 2)).toBe(true);
    // No manifest that stays names one that went.
    const left = await manifestsOf(repo);
    for (const f of await w.fixture.stores.retention.manifestFacts((await w.fixture.stores.meta.getRepository(repo as RepoName))!.id)) {
      for (const child of f.children) expect(left).toContain(child);
      if (f.subject) expect(left).toContain(f.subject);
    }
  });

  it('scopes: a repository-specific policy takes its repositories from the registry-wide one', async () => {
    for (const repo of ['acme/team-a/api', 'acme/team-a/web', 'acme/other']) for (let i = 0; i < 5; i++) await image(repo, `t${i}`, daysAgo(10 - i));
    await w.retention.save(w.registryRef, policy({ id: 'team-a', scope: { repositories: ['team-a/*'] }, rules: [expireRule(1, { tagStatus: 'any', countType: 'imageCountMoreThan', countNumber: 2 })] }));
    const { preview } = await previewThenRun({ id: 'everything', rules: [expireRule(1, { tagStatus: 'any', countType: 'imageCountMoreThan', countNumber: 4 })] });
    expect(preview.repositories.map((r) => r.repository)).toEqual(['acme/other']);
    expect((await manifestsOf('acme/other')).size).toBe(4);
    expect((await manifestsOf('acme/team-a/api')).size).toBe(5);
    const teamRun = await previewThenRun({ id: 'team-a', scope: { repositories: ['team-a/*'] }, rules: [expireRule(1, { tagStatus: 'any', countType: 'imageCountMoreThan', countNumber: 2 })] });
    expect(teamRun.preview.repositories.map((r) => r.repository)).toEqual(['acme/team-a/api', 'acme/team-a/web']);
    expect((await manifestsOf('acme/team-a/web')).size).toBe(2);
  });

  it("an unsaved policy's dry run changes nothing", async () => {
    for (let i = 0; i < 5; i++) await image('acme/app', `t${i}`, daysAgo(10 - i));
    const preview = await w.retention.preview(w.registryRef, policy({ rules: [expireRule(1, { tagStatus: 'any', countType: 'imageCountMoreThan', countNumber: 1 })] }));
    expect(preview.policyId).toBeNull();
    expect(preview.summary.imagesExpired).toBe(4);
    expect((await manifestsOf('acme/app')).size).toBe(5);
  });
});

describe('immutable tags', () => {
  const expireAll = { id: 'all', rules: [expireRule(1, { tagStatus: 'any', countType: 'sinceImagePushed', countUnit: 'days', countNumber: 1 })] };

  it('with the predicate wired, are kept in the dry run and the run alike, with what they need', async () => {
    await cleanupWorld();
    w = await world({ protectImmutable: true });
    const child = await image('acme/app', undefined, daysAgo(10));
    const release = await index('acme/app', 'v1.0', daysAgo(10), [child]);
    const sig = await image('acme/app', undefined, daysAgo(10), { subject: release });
    const other = await image('acme/app', 'dev', daysAgo(10));
    await w.fixture.stores.immutableTags.addRule({ registryId: w.registryRef.id, repositoryPattern: '**', tagPattern: 'v*', createdBy: 'admin', createdAt: Date.now() });
    const { preview } = await previewThenRun(expireAll);
    expect(preview.repositories[0]!.deleteOrder).toEqual([other.digest]);
    const left = await manifestsOf('acme/app');
    for (const p of [child, release, sig]) expect(left).toContain(p.digest);
    expect(preview.repositories[0]!.decisions.find((d) => d.digest === release.digest)?.reason).toBe('tag v1.0 is protected (immutable)');
  });

  it('without it, core refuses the deletion: the run records it as refused and keeps what belongs to it', async () => {
    const release = await image('acme/app', 'v1.0', daysAgo(10));
    const sig = await image('acme/app', undefined, daysAgo(10), { subject: release });
    await w.fixture.stores.immutableTags.addRule({ registryId: w.registryRef.id, repositoryPattern: '**', tagPattern: 'v*', createdBy: 'admin', createdAt: Date.now() });
    const { stored } = await w.retention.save(w.registryRef, policy(expireAll));
    const requested = (await w.retention.requestRun(w.registryRef, stored.policy.id, 'admin')) as { run: RetentionRun };
    const run = await waitForRun(requested.run.id);
    expect(run).toMatchObject({ status: 'succeeded', manifestsDeleted: 0, skipped: 2 });
    const deletions = await allDeletions(run.id);
    expect(deletions.map((d) => d.outcome)).toEqual(['refused', 'changed']);
    expect(deletions[0]!.reason).toMatch(/refused: .*immutable/);
    expect(deletions[1]).toMatchObject({ digest: sig.digest, reason: expect.stringMatching(/stays with sha256:/) });
    expect((await manifestsOf('acme/app')).size).toBe(2);
  });
});

describe('safety while a run deletes', () => {
  it('a manifest tagged since the plan stays, and so do its referrers', async () => {
    let later: Pushed | undefined;
    let tagged = false;
    await cleanupWorld();
    w = await world({
      deleteManifest: async (repository, digest, actor) => {
        if (!tagged && later) {
          tagged = true;
          // A client tags a manifest the run planned to delete, while the run is under way.
          const body = (await w.fixture.stores.meta.findManifest(repository, { digest: later.digest as Digest }))!.body;
          await w.registry.manifests.put(repository, 'rescued', body, MANIFEST);
        }
        await w.registry.manifests.delete(repository, digest, actor);
      },
    });
    // Deleted newest first: `first` goes before `later`, and tags it on the way.
    const first = await image('acme/app', undefined, daysAgo(8));
    later = await image('acme/app', undefined, daysAgo(10));
    const laterSig = await image('acme/app', undefined, daysAgo(10), { subject: later });
    await image('acme/app', 'keep', daysAgo(1));
    const { stored } = await w.retention.save(w.registryRef, policy({ id: 'untagged', rules: [expireRule(1, { tagStatus: 'untagged', countType: 'sinceImagePushed', countUnit: 'days', countNumber: 5 })] }));
    const requested = (await w.retention.requestRun(w.registryRef, stored.policy.id, 'admin')) as { run: RetentionRun };
    const run = await waitForRun(requested.run.id);
    const outcomes = Object.fromEntries((await allDeletions(run.id)).map((d) => [d.digest, d.outcome]));
    expect(outcomes).toEqual({ [later.digest]: 'changed', [laterSig.digest]: 'changed', [first.digest]: 'deleted' });
    expect(run).toMatchObject({ manifestsDeleted: 1, skipped: 2 });
    expect(await manifestsOf('acme/app')).toContain(laterSig.digest);
  });

  it('untagged manifests within the grace period are kept (their index may be on its way)', async () => {
    await cleanupWorld();
    w = await world({ graceMs: 60 * 60_000 });
    await image('acme/app', undefined, daysAgo(2));
    const fresh = await image('acme/app', undefined, Date.now() - 60_000);
    const preview = await w.retention.preview(w.registryRef, policy({ rules: [expireRule(1, { tagStatus: 'untagged', countType: 'imageCountMoreThan', countNumber: 1 })] }));
    expect(preview.summary.imagesExpired).toBe(1);
    const fresher = preview.repositories[0]!.decisions.find((d) => d.digest === fresh.digest)!;
    expect(fresher.action).toBe('keep');
  });
});

describe('scheduling', () => {
  /** A Retention whose queue and clock the test holds; its job handler is called directly. */
  function scheduled(now: () => number) {
    const queued: { kind: string; payload: unknown; options: Parameters<JobStore['enqueue']>[2] }[] = [];
    let handler: JobHandler | undefined;
    const retention = new Retention({
      ...w.deps,
      now,
      jobs: { enqueue: async (kind, payload, options) => (queued.push({ kind, payload, options }), { job: { id: queued.length } as Job, created: true }) },
    });
    retention.attach({ handle: (_kind: string, h: JobHandler) => (handler = h) });
    const run = (payload: unknown, id = 1000) => handler!.run({ id, kind: RETENTION_JOB, payload, attempts: 1 } as Job, { signal: new AbortController().signal, workerId: 'n1' });
    return { retention, queued, run };
  }

  it('saving queues the next run at the time the cron names, keyed by policy, revision and time; a run queues the one after', async () => {
    let now = Date.UTC(2030, 0, 1, 10, 0);
    const { retention, queued, run } = scheduled(() => now);
    await image('acme/app', 'old', Date.UTC(2029, 0, 1));
    await image('acme/app', 'new', Date.UTC(2029, 11, 31));
    const { stored } = await retention.save(w.registryRef, policy({ id: 'nightly', schedule: '30 2 * * *', rules: [expireRule(1, { tagStatus: 'any', countType: 'imageCountMoreThan', countNumber: 1 })] }));
    expect(retention.nextRunAt(stored)).toBe(Date.UTC(2030, 0, 2, 2, 30));
    expect(queued).toEqual([{ kind: RETENTION_JOB, payload: { registryId: w.registryRef.id, registry: REGISTRY, policyId: 'nightly', revision: 1, scheduledAt: Date.UTC(2030, 0, 2, 2, 30) }, options: { runAt: Date.UTC(2030, 0, 2, 2, 30), dedupeKey: `retention:${w.registryRef.id}:nightly:1:${Date.UTC(2030, 0, 2, 2, 30)}`, maxAttempts: 3 } }]);
    // The job, when due: queues the next night's run first, then runs.
    now = Date.UTC(2030, 0, 2, 2, 30, 5);
    await run(queued[0]!.payload);
    expect((queued[1]!.options as { runAt: number }).runAt).toBe(Date.UTC(2030, 0, 3, 2, 30));
    const { runs } = await retention.runs(w.registryRef.id, 'nightly', 10, 0);
    expect(runs).toMatchObject([{ trigger: 'schedule', status: 'succeeded', imagesDeleted: 1, jobId: 1000, requestedBy: null }]);
    // Saved again: the old revision's job does nothing; the new one is queued.
    await retention.save(w.registryRef, { ...stored.policy, schedule: '@hourly' });
    expect(queued[2]!.payload).toMatchObject({ revision: 2, scheduledAt: Date.UTC(2030, 0, 2, 3, 0) });
    await run(queued[1]!.payload, 1001);
    expect((await retention.runs(w.registryRef.id, 'nightly', 10, 0)).total).toBe(1);
    expect(queued).toHaveLength(3);
  });

  it('a disabled policy is not scheduled, but runs on request; an unknown one cannot be run', async () => {
    const { retention, queued } = scheduled(() => Date.now());
    const { stored } = await retention.save(w.registryRef, policy({ id: 'manual', enabled: false, rules: [expireRule(1, { tagStatus: 'any', countType: 'imageCountMoreThan', countNumber: 1 })] }));
    expect(queued).toEqual([]);
    expect(retention.nextRunAt(stored)).toBeNull();
    const requested = (await w.retention.requestRun(w.registryRef, 'manual', 'admin')) as { run: RetentionRun };
    expect((await waitForRun(requested.run.id)).status).toBe('succeeded');
    expect(await w.retention.requestRun(w.registryRef, 'missing', 'admin')).toBeUndefined();
  });

  it('one run of a policy at a time; a run whose policy was deleted before it started fails, audited', async () => {
    await w.worker.close(); // nothing takes the job: the first run stays queued
    await w.retention.save(w.registryRef, policy({ id: 'p', rules: [expireRule(1, { tagStatus: 'any', countType: 'imageCountMoreThan', countNumber: 1 })] }));
    const first = (await w.retention.requestRun(w.registryRef, 'p', 'admin')) as { run: RetentionRun };
    const second = await w.retention.requestRun(w.registryRef, 'p', 'admin');
    expect(second).toEqual({ active: first.run });
    expect(await w.retention.remove(w.registryRef.id, 'p')).toBe(true);
    w.worker = new JobWorker(w.fixture.stores.jobs, { workerId: 'second-node', pollMs: 10, maxIdlePollMs: 50, logger });
    w.retention.attach(w.worker);
    w.worker.start();
    expect(await waitForRun(first.run.id)).toMatchObject({ status: 'failed', error: 'the policy p was deleted before the run started' });
    expect(w.audits.find((a) => a.action === 'retention.run')).toMatchObject({ outcome: 'failure', resource: first.run.id });
  });
});

async function cleanupWorld(): Promise<void> {
  await w.worker.close();
  await w.registry.gc!.close();
  await w.fixture.cleanup();
  await rm(w.dir, { recursive: true, force: true });
}

function blobPath(digest: Digest): string {
  const hex = digest.slice('sha256:'.length);
  return join(w.dir, 'blobs', 'sha256', hex.slice(0, 2), hex);
}

async function waitForGc(id: string) {
  const until = Date.now() + 30_000;
  for (;;) {
    const run = await w.registry.gc!.get(id);
    if (run && ['succeeded', 'failed', 'cancelled'].includes(run.status)) {
      expect(run.status).toBe('succeeded');
      return run;
    }
    if (Date.now() > until) throw new Error(`gc ${id} still ${run?.status}`);
    await sleep(20);
  }
}
