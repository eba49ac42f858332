/**
 * Retention against a real Berth process: hundreds of tiny images pushed over
 * HTTP (tagged builds, untagged manifests, multi-platform releases with
 * signatures), ages set in the server's database, pulls made over HTTP. A
 * policy is dry-run through the API, then run: the run deletes exactly the dry
 * run's list, in its order; every deletion is audited; the garbage collection
 * the run starts frees the deleted images' blobs and nothing else. Then the
 * same through the `berth retention` CLI.
 */
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MT, stopAndClean } from '../conformance/helpers.js';
import { ADMIN_PASSWORD, Client, hasFile, rand, startGcBerth, withDb, type Pushed } from '../gc/gc-support.js';
import { berthCli, newHome, ok, type Home } from '../cli/run-cli.js';
import type { BerthProcess } from '../support/berth-process.js';

const DAY = 86_400_000;
let berth: BerthProcess;
let c: Client;
let home: Home;

beforeAll(async () => {
  berth = await startGcBerth();
  c = new Client(berth.url);
  home = newHome();
  await ok(home, ['login', berth.host, '-u', 'admin', '--password-stdin'], { input: ADMIN_PASSWORD });
});
afterAll(() => stopAndClean(berth));

/** Runs `work` over `items`, `n` at a time. */
async function pool<T, R>(items: T[], n: number, work: (item: T, i: number) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  await Promise.all(Array.from({ length: n }, async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await work(items[i]!, i);
    }
  }));
  return out;
}

const range = (n: number) => Array.from({ length: n }, (_, i) => i);

/** Sets manifests' push times in the server's database (ms since epoch), as if pushed then. */
function setPushedAt(repo: string, times: Map<string, number>): void {
  withDb(berth, (db) => {
    const update = db.prepare('update manifests set created_at = ? where digest = ? and repository_id = (select id from repositories where name = ?)');
    db.transaction(() => {
      for (const [digest, at] of times) expect(update.run(at, digest, repo).changes).toBe(1);
    })();
  });
}

async function waitFor<T>(what: string, probe: () => Promise<T | undefined | false> | T | undefined | false, timeoutMs = 30_000): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

interface Release {
  index: Pushed;
  children: Pushed[];
  signature: Pushed;
}

/** A repository of 200 builds, 100 untagged manifests and 10 signed multi-platform releases, with ages. */
async function fill(repo: string): Promise<{ builds: Pushed[]; untagged: Pushed[]; releases: Release[] }> {
  const layer = () => randomBytes(100 + Math.floor(Math.random() * 100));
  const builds = await pool(range(200), 16, (i) => c.pushImage(repo, `build-${i}`, [layer()]));
  const untagged = await pool(range(100), 16, () => c.pushImage(repo, undefined, [layer()]));
  const releases = await pool(range(10), 4, async (i) => {
    const children = [await c.pushImage(repo, undefined, [layer()]), await c.pushImage(repo, undefined, [layer()])];
    const index = await c.pushIndex(repo, `release-${i}`, children);
    const signature = await c.pushImage(repo, undefined, [layer()], { subject: index, artifactType: 'application/vnd.dev.cosign.artifact.sig.v1+json' });
    return { index, children, signature };
  });
  const now = Date.now();
  const times = new Map<string, number>();
  builds.forEach((b, i) => times.set(b.digest, now - (300 - i) * DAY)); // build-199 is the newest, a hundred days old
  untagged.forEach((u, i) => times.set(u.digest, now - (99.5 - i) * DAY)); // 99.5 down to 0.5 days old
  releases.forEach((r, i) => {
    for (const p of [r.index, ...r.children, r.signature]) times.set(p.digest, now - (94.5 - i * 10) * DAY); // 94.5 down to 4.5 days
  });
  setPushedAt(repo, times);
  return { builds, untagged, releases };
}

const policy = {
  description: 'builds: keep 50; untagged: 30 days; releases: 45 days; anything pulled this week stays',
  rules: [
    { rulePriority: 1, selection: { tagStatus: 'untagged', countType: 'sinceImagePushed', countUnit: 'days', countNumber: 30 }, action: { type: 'expire' } },
    { rulePriority: 2, selection: { tagStatus: 'tagged', tagPatternList: ['build-*'], countType: 'imageCountMoreThan', countNumber: 50 }, action: { type: 'expire' } },
    { rulePriority: 3, selection: { tagStatus: 'tagged', tagPatternList: ['release-*'], countType: 'sinceImagePushed', countUnit: 'days', countNumber: 45 }, action: { type: 'expire' } },
  ],
  keep: [{ pulledWithinDays: 7 }],
};

describe('retention through the API', () => {
  it('a run deletes exactly what the dry run listed, audits each deletion, and GC frees their blobs', { timeout: 180_000 }, async () => {
    const reg = `ret-${rand()}`;
    const repo = `${reg}/app`;
    const { builds, untagged, releases } = await fill(repo);

    // Pulls over HTTP: five old builds, and a platform of the oldest release (its index counts as pulled).
    for (const b of builds.slice(0, 5)) expect((await c.req('GET', `/v2/${repo}/manifests/build-${builds.indexOf(b)}`, undefined, { accept: MT.ociManifest })).status).toBe(200);
    expect((await c.req('GET', `/v2/${repo}/manifests/${releases[0]!.children[1]!.digest}`, undefined, { accept: MT.ociManifest })).status).toBe(200);
    // HEAD is not a pull.
    expect((await c.req('HEAD', `/v2/${repo}/manifests/build-10`, undefined, { accept: MT.ociManifest })).status).toBe(200);
    const pulls = () => withDb(berth, (db) => (db.prepare('select count(*) as n from manifest_pulls').get() as { n: number }).n);
    await waitFor('pull times to be written', () => pulls() >= 6);
    expect(pulls()).toBe(6); // the HEAD is not among them

    const saved = await c.ok('PUT', `/registries/${reg}/retention-policies/nightly`, policy);
    expect(saved.retention_policy).toMatchObject({ id: 'nightly', scope: 'registry', schedule: '0 0 * * *', enabled: true, revision: 1, registry_name: reg });

    const dry = (await c.ok('POST', `/registries/${reg}/retention-policies/dry-run`, { ...policy, id: 'nightly' })).retention_plan;
    const [plan] = dry.repositories;
    expect(plan.repository).toBe(repo);
    const expired = new Set<string>(plan.expire.map((d: any) => d.digest));
    // Rule 1: untagged older than 30 days (70 of them), never the releases' children or signatures.
    // Rule 2: builds beyond the newest 50 (150), less the five pulled this week.
    // Rule 3: releases older than 45 days (5 of them), each with its two platforms and its signature, less release 0 (a platform pulled).
    expect(dry.summary).toMatchObject({ repositories: 1, images_expired: 70 + 145 + 4, manifests_expired: 70 + 145 + 4 * 4, by_rule: [{ rule_priority: 1, images_expired: 70 }, { rule_priority: 2, images_expired: 145 }, { rule_priority: 3, images_expired: 4 }] });
    for (const u of untagged.slice(0, 70)) expect(expired).toContain(u.digest);
    for (const u of untagged.slice(70)) expect(expired).not.toContain(u.digest);
    for (const b of builds.slice(0, 5)) expect(expired).not.toContain(b.digest);
    for (const b of builds.slice(5, 150)) expect(expired).toContain(b.digest);
    for (const r of releases.slice(1, 5)) for (const p of [r.index, ...r.children, r.signature]) expect(expired).toContain(p.digest);
    for (const r of [releases[0]!, ...releases.slice(5)]) for (const p of [r.index, ...r.children, r.signature]) expect(expired).not.toContain(p.digest);
    const kept = plan.keep.find((d: any) => d.digest === builds[0]!.digest);
    expect(kept).toMatchObject({ rule_priority: 2, keep_rule: 1, reason: expect.stringMatching(/^keep rule 1 \(any\): pulled 0 days ago, within 7 days \(rule 2 \(tagged build-\*\): number 200 of 200/) });
    expect(plan.keep.find((d: any) => d.digest === releases[0]!.index.digest)?.reason).toMatch(/^keep rule 1/);
    expect(plan.keep.find((d: any) => d.digest === releases[0]!.signature.digest)?.reason).toMatch(/^referrer of kept sha256:/);
    const order = plan.expire.map((d: any) => d.digest);
    const at = (p: Pushed) => order.indexOf(p.digest);
    for (const r of releases.slice(1, 5)) {
      for (const child of r.children) expect(at(r.index)).toBeLessThan(at(child));
      expect(at(r.index)).toBeLessThan(at(r.signature));
    }

    const started = await c.api('POST', `/registries/${reg}/retention-policies/nightly/runs`);
    expect(started.status).toBe(202);
    expect(started.body.retention_run).toMatchObject({ policy_id: 'nightly', trigger: 'manual', status: 'queued', requested_by: 'admin' });
    const runPath = `/registries/${reg}/retention-policies/nightly/runs/${started.body.retention_run.id}`;
    const run = await waitFor('the run to finish', async () => {
      const r = (await c.ok('GET', runPath)).retention_run;
      return ['succeeded', 'failed'].includes(r.status) && r;
    });
    expect(run).toMatchObject({ status: 'succeeded', repositories: 1, images_deleted: dry.summary.images_expired, manifests_deleted: dry.summary.manifests_expired, bytes_freed: dry.summary.bytes_freed, skipped: 0, error: null });

    // What the run deleted, page by page: the dry run's list, in its order.
    const deletions: any[] = [];
    for (let page = 1; ; page++) {
      const body = await c.ok('GET', `${runPath}?per_page=100&page=${page}`);
      deletions.push(...body.deletions);
      if (!body.links.pages.next) break;
    }
    expect(deletions.map((d) => d.digest)).toEqual(order);
    expect(deletions.every((d) => d.outcome === 'deleted' && d.repository === repo)).toBe(true);
    expect(deletions.map((d) => d.rule_priority)).toEqual(plan.expire.map((d: any) => d.rule_priority));

    for (const digest of order.slice(0, 20)) expect(await c.manifestStatus(repo, digest)).toBe(404);
    for (const b of builds.slice(150)) expect(await c.manifestStatus(repo, b.digest)).toBe(200);
    expect(await c.manifestStatus(repo, 'release-0')).toBe(200);

    const runs = await c.ok('GET', `/registries/${reg}/retention-policies/nightly/runs`);
    expect(runs).toMatchObject({ meta: { total: 1 }, retention_runs: [{ id: run.id }] });

    // Audited: each deletion, and the run.
    const audit = await c.req('GET', `/api/v2/audit/export?registry=${reg}&action=retention.delete`);
    const events = (await audit.text()).trim().split('\n').map((l) => JSON.parse(l));
    expect(events).toHaveLength(order.length);
    expect(new Set(events.map((e) => e.resource))).toEqual(new Set(order.map((d: string) => `${repo}@${d}`)));
    expect(events.every((e) => e.actor === 'system' && e.outcome === 'success' && e.detail.run === run.id)).toBe(true);
    const runEvents = await (await c.req('GET', `/api/v2/audit/export?registry=${reg}&action=retention.run`)).text();
    expect(JSON.parse(runEvents.trim())).toMatchObject({ resource: run.id, outcome: 'success', detail: { policy: 'nightly', images_deleted: run.images_deleted } });
    const requested = await (await c.req('GET', `/api/v2/audit/export?registry=${reg}&action=retention.run.request`)).text();
    expect(JSON.parse(requested.trim())).toMatchObject({ actor: 'admin', resource: run.id });

    // The garbage collection the run started frees the deleted images' own layers; what stays is whole.
    expect(run.gc_run_id).toBeTruthy();
    const gc = await c.waitGc(reg, run.gc_run_id);
    expect(gc.status).toBe('succeeded');
    const deletedImages = [...builds.slice(5, 150), ...untagged.slice(0, 70), ...releases.slice(1, 5).flatMap((r) => [...r.children, r.signature])];
    for (const p of deletedImages) expect(hasFile(berth, p.blobs[1]!.digest)).toBe(false);
    for (const p of [...builds.slice(0, 5), ...builds.slice(150), ...untagged.slice(70)]) expect(hasFile(berth, p.blobs[1]!.digest)).toBe(true);
    for (const p of [builds[0]!, builds[199]!, releases[0]!.children[0]!, releases[9]!.signature]) expect(await c.verify(p)).toEqual([]);
    expect(gc.blobs_deleted).toBe(deletedImages.length * 2); // each had its own config and layer
  });

  it('answers as the API reference says: validation, conflicts, missing things, admins only', async () => {
    const reg = `ret-${rand()}`;
    await c.pushImage(`${reg}/app`, 'v1', [randomBytes(10)]);
    const bad = await c.api('PUT', `/registries/${reg}/retention-policies/p`, { rules: [{ rulePriority: 1, selection: { tagStatus: 'tagged', countType: 'imageCountMoreThan', countUnit: 'days', countNumber: 1 }, action: { type: 'expire' } }] });
    expect(bad).toMatchObject({ status: 422, body: { id: 'unprocessable_entity', message: expect.stringMatching(/countUnit: imageCountMoreThan takes no countUnit/) } });
    const mismatch = await c.api('PUT', `/registries/${reg}/retention-policies/p`, { ...policy, id: 'q' });
    expect(mismatch.status).toBe(422);
    expect((await c.api('POST', `/registries/${reg}/retention-policies`, { ...policy, id: 'p' })).status).toBe(201);
    expect((await c.api('POST', `/registries/${reg}/retention-policies`, { ...policy, id: 'p' })).status).toBe(409);
    const generated = await c.api('POST', `/registries/${reg}/retention-policies`, { ...policy, scope: { repositories: ['other/*'] } });
    expect(generated.body.retention_policy.id).toMatch(/^policy-[0-9a-f]{8}$/);
    const replaced = await c.api('PUT', `/registries/${reg}/retention-policies/p`, { ...policy, enabled: false });
    expect(replaced).toMatchObject({ status: 200, body: { retention_policy: { revision: 2, enabled: false, next_run_at: null } } });
    expect((await c.ok('GET', `/registries/${reg}/retention-policies`)).retention_policies.map((p: any) => p.id).sort()).toEqual([generated.body.retention_policy.id, 'p'].sort());
    expect((await c.api('GET', `/registries/${reg}/retention-policies/nope`)).status).toBe(404);
    expect((await c.api('POST', `/registries/${reg}/retention-policies/nope/runs`)).status).toBe(404);
    expect((await c.api('GET', `/registries/${reg}/retention-policies/p/runs/nope`)).status).toBe(404);
    expect((await c.api('DELETE', `/registries/${reg}/retention-policies/p`)).status).toBe(204);
    expect((await c.api('DELETE', `/registries/${reg}/retention-policies/p`)).status).toBe(404);
    const anonymous = await fetch(`${berth.url}/api/v2/registries/${reg}/retention-policies`);
    expect(anonymous.status).toBe(401);
  });
});

describe('berth retention (the CLI)', () => {
  it('sets a policy from a file, dry-runs it, runs it and lists what the run deleted', { timeout: 120_000 }, async () => {
    const reg = `retcli-${rand()}`;
    const repo = `${reg}/app`;
    const images = await pool(range(30), 8, (i) => c.pushImage(repo, `t${i}`, [randomBytes(50)]));
    const now = Date.now();
    setPushedAt(repo, new Map(images.map((p, i) => [p.digest, now - (40 - i) * DAY])));
    const file = join(home.dir, 'policy.json');
    writeFileSync(file, JSON.stringify({ id: 'cli', schedule: '15 3 * * *', rules: [{ rulePriority: 1, selection: { tagStatus: 'tagged', tagPatternList: ['t*'], countType: 'imageCountMoreThan', countNumber: 10 }, action: { type: 'expire' } }], keep: [{ tagPatternList: ['t0'] }] }));

    const shown = await ok(home, ['retention', 'set', file, '-r', reg]);
    expect(shown).toMatch(/Policy cli of .* \(revision 1\)/);
    expect(shown).toMatch(/schedule: 15 3 \* \* \* \(UTC\), next run/);
    expect(shown).toMatch(/rule 1: expire tagged t\* images beyond the 10 newest/);
    expect(shown).toMatch(/keep 1: all of tagged t0 images/);

    const listed = await ok(home, ['retention', 'list', reg, '-o', 'json']);
    expect(JSON.parse(listed)).toMatchObject([{ id: 'cli', schedule: '15 3 * * *' }]);
    expect(JSON.parse(await ok(home, ['retention', 'show', 'cli', '-r', reg, '-o', 'json']))).toMatchObject({ id: 'cli', rules: [{ rulePriority: 1 }], keep: [{ tagPatternList: ['t0'] }] });

    const dryText = await ok(home, ['retention', 'dry-run', 'cli', '-r', reg]);
    expect(dryText).toMatch(/19 image\(s\) \(19 manifest\(s\)\) in 1 repository would be deleted \(rule 1: 19\)/);
    const dry = JSON.parse(await ok(home, ['retention', 'dry-run', file, '-r', reg, '-o', 'json']));
    const planned = dry.repositories[0].expire.map((d: any) => d.digest);
    expect(planned).toHaveLength(19);

    const ran = await berthCli(home, ['retention', 'run', 'cli', '-r', reg, '--wait']);
    expect(ran.code, ran.stderr).toBe(0);
    expect(ran.stdout).toMatch(/Retention run .* of cli succeeded: 19 image\(s\), 19 manifest\(s\) deleted/);
    const runs = JSON.parse(await ok(home, ['retention', 'runs', 'cli', '-r', reg, '-o', 'json']));
    expect(runs).toMatchObject([{ status: 'succeeded', images_deleted: 19 }]);
    const deleted = JSON.parse(await ok(home, ['retention', 'runs', 'cli', runs[0].id, '-r', reg, '-o', 'json']));
    expect(deleted.map((d: any) => d.digest)).toEqual(planned);

    const refused = await berthCli(home, ['retention', 'set', join(home.dir, 'missing.json'), '-r', reg]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/cannot read/);
    writeFileSync(file, JSON.stringify({ rules: [] }));
    const invalid = await berthCli(home, ['retention', 'set', file, '-r', reg]);
    expect(invalid.code).toBe(1);
    expect(invalid.stderr).toMatch(/rules/);
    const removed = await berthCli(home, ['retention', 'delete', 'cli', '-r', reg, '--force']);
    expect(removed.stdout).toMatch(/Deleted retention policy cli/);
  });
});
