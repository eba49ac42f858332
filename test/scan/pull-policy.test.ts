/**
 * A registry's pull policy on vulnerable images, through the real clients:
 * with `block_severity: HIGH`, skopeo and docker cannot pull an image with a
 * CRITICAL or HIGH finding (DENIED, naming the findings) but can pull one whose
 * worst finding is MEDIUM; HEAD still answers; the refusals are in the audit
 * log; allowlisting the findings (by id or by alias) lets the pull through; an
 * artifact Berth does not scan is never blocked; and `block_unscanned` blocks
 * images whose scan has not completed (a server with scan.onPush=false) until
 * a requested scan completes.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_PASSWORD, basic, pushBlob, putManifest } from '../auth/helpers.js';
import { startBerth, tempDir, type BerthProcess } from '../support/berth-process.js';
import { ALL_MANIFEST_TYPES, CommandError, run, startDockerd, type Dockerd } from '../support/clients.js';
import {
  filesLayer,
  ImageLayout,
  parents,
  ScanApi,
  skopeoPush,
  toolsOrSkipReason,
  type BuiltImage,
  type FileSpec,
  type ReportedFinding,
  type VulnerabilityReport,
} from './support.js';

const skipReason = await toolsOrSkipReason({ skopeo: 'skopeo', dockerd: 'docker.io', '/usr/bin/docker': 'docker.io', containerd: 'containerd' });
if (skipReason) console.warn(`skipping the pull policy tests: ${skipReason}`);

const REGISTRY = 'policy';
const REPO = 'app';
const CREDS = `admin:${ADMIN_PASSWORD}`;
const AUTH = basic('admin', ADMIN_PASSWORD);

/** OSV records (GitHub advisories, as osv.dev publishes them for npm) with CVSS vectors: one CRITICAL, one HIGH, one MEDIUM. */
const CRITICAL = { id: 'GHSA-8bcr-4mq9-crit', alias: 'CVE-2099-31001', pkg: 'lodash', installed: '4.17.20', fixed: '4.17.21', vector: 'CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H', score: 9.8 };
const HIGH = { id: 'GHSA-5h9q-vx2m-high', alias: 'CVE-2099-31002', pkg: 'minimist', installed: '1.2.5', fixed: '1.2.6', vector: 'CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:H/A:N', score: 7.5 };
const MEDIUM = { id: 'GHSA-w2xm-7c3p-medm', alias: 'CVE-2099-31003', pkg: 'ms', installed: '2.1.3', fixed: '2.1.4', vector: 'CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:U/C:L/I:L/A:N', score: 5.4 };
const ADVISORIES = [CRITICAL, HIGH, MEDIUM];

const osvRecord = (a: (typeof ADVISORIES)[number]) => ({
  schema_version: '1.6.0',
  id: a.id,
  aliases: [a.alias],
  modified: '2025-01-01T00:00:00Z',
  published: '2025-01-01T00:00:00Z',
  summary: `${a.pkg} before ${a.fixed} is vulnerable (scan test)`,
  severity: [{ type: 'CVSS_V3', score: a.vector }],
  affected: [{ package: { ecosystem: 'npm', name: a.pkg, purl: `pkg:npm/${a.pkg}` }, ranges: [{ type: 'SEMVER', events: [{ introduced: '0' }, { fixed: a.fixed }] }] }],
  database_specific: { severity: a.score >= 9 ? 'CRITICAL' : a.score >= 7 ? 'HIGH' : 'MODERATE' },
});

let work: string;
let berth: BerthProcess;
/** A second server that does not scan on push: its images stay "not scanned". */
let lazy: BerthProcess;
let api: ScanApi;
let lazyApi: ScanApi;
let dockerd: Dockerd;
let layoutDir: string;
let vulnerable: BuiltImage;
let clean: BuiltImage;
let artifactDigest: string;

/** An image with these npm packages installed under /app/node_modules. */
async function npmImage(layout: ImageLayout, tag: string, packages: { name: string; version: string }[]): Promise<BuiltImage> {
  const files: FileSpec[] = [
    { name: 'app/package.json', content: JSON.stringify({ name: tag, version: '1.0.0', private: true }) },
    ...packages.map((p) => ({ name: `app/node_modules/${p.name}/package.json`, content: JSON.stringify({ name: p.name, version: p.version, license: 'MIT' }) })),
    { name: 'app/nonce', content: randomBytes(16).toString('hex') },
  ];
  const layer = await filesLayer([...parents(...files.map((f) => f.name)), ...files], layout.layerPath(tag));
  return layout.image(tag, [layer], { cmd: ['/app/start'] });
}

const skopeoPull = (host: string, ref: string) =>
  run('skopeo', ['copy', '--quiet', '--src-tls-verify=false', '--src-creds', CREDS, `docker://${host}/${REGISTRY}/${REPO}${ref}`, `oci:${join(work, 'pulled', randomBytes(4).toString('hex'))}:x`]);

async function refused(p: Promise<unknown>, what: string): Promise<string> {
  const outcome = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(outcome, `${what} succeeded; the policy should have refused it`).toBeInstanceOf(CommandError);
  const err = outcome as CommandError;
  return `${err.stdout}\n${err.stderr}`;
}

const docker = (...args: string[]) => dockerd.docker(args);
/** `docker pull`, then the local copy is removed so the next pull asks Berth again. */
async function dockerPull(ref: string): Promise<string> {
  const out = (await docker('pull', ref)).stdout;
  await docker('image', 'rm', '-f', ref);
  return out;
}

/** A raw manifest GET or HEAD by the admin, every manifest type accepted. */
const manifestRequest = (server: BerthProcess, method: 'GET' | 'HEAD', reference: string) =>
  fetch(`${server.url}/v2/${REGISTRY}/${REPO}/manifests/${reference}`, { method, headers: { authorization: AUTH, accept: ALL_MANIFEST_TYPES } });

const findingLine = (f: ReportedFinding) => `${f.id} ${f.severity} ${f.score ?? '-'} ${f.package.name} ${f.package.version} fixed ${f.fixed_version ?? '-'} aliases ${f.aliases.join(',')}`;

describe.skipIf(skipReason)('the pull policy, with skopeo and docker', () => {
  beforeAll(async () => {
    work = tempDir('berth-scan-policy-');
    layoutDir = join(work, 'layout');
    mkdirSync(join(work, 'pulled'));
    const layout = new ImageLayout(layoutDir);
    vulnerable = await npmImage(layout, 'vulnerable', [
      { name: 'lodash', version: CRITICAL.installed },
      { name: 'minimist', version: HIGH.installed },
      { name: 'ms', version: MEDIUM.installed },
      { name: 'express', version: '4.19.2' },
    ]);
    clean = await npmImage(layout, 'clean', [
      { name: 'ms', version: MEDIUM.installed },
      { name: 'express', version: '4.19.2' },
    ]);

    [berth, lazy, dockerd] = await Promise.all([
      startBerth({ dataDir: join(work, 'berth'), adminPassword: ADMIN_PASSWORD }),
      startBerth({ dataDir: join(work, 'lazy'), adminPassword: ADMIN_PASSWORD, env: { BERTH_SCAN_ON_PUSH: 'false' } }),
      startDockerd(),
    ]);
    api = new ScanApi(berth.url, AUTH);
    lazyApi = new ScanApi(lazy.url, AUTH);
    for (const server of [berth, lazy]) {
      await dockerd.docker(['login', server.host, '-u', 'admin', '--password-stdin'], { input: ADMIN_PASSWORD });
    }
    await api.expect(201, 'POST', '/registries', { name: REGISTRY });
    await lazyApi.expect(201, 'POST', '/registries', { name: REGISTRY });

    const imported = await api.importOsv(ADVISORIES.map(osvRecord), 'berth-test-npm');
    expect(imported, JSON.stringify(imported.problems)).toMatchObject({ records: 3, imported: 3, skipped: 0 });
    for (const tag of ['vulnerable', 'clean']) await skopeoPush(layoutDir, tag, berth.host, `${REGISTRY}/${REPO}`, CREDS);
    await skopeoPush(layoutDir, 'clean', lazy.host, `${REGISTRY}/${REPO}`, CREDS);

    // An artifact (an OCI manifest with an artifactType and no filesystem layers), pushed over HTTP.
    const empty = Buffer.from('{}');
    const report = Buffer.from(JSON.stringify({ kind: 'test report', nonce: randomBytes(8).toString('hex') }));
    await pushBlob(berth.url, AUTH, `${REGISTRY}/${REPO}`, empty);
    await pushBlob(berth.url, AUTH, `${REGISTRY}/${REPO}`, report);
    const digest = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;
    const artifact = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        artifactType: 'application/vnd.example.test-report.v1+json',
        config: { mediaType: 'application/vnd.oci.empty.v1+json', digest: digest(empty), size: empty.length },
        layers: [{ mediaType: 'application/vnd.example.test-report.v1+json', digest: digest(report), size: report.length }],
      }),
    );
    const put = await putManifest(berth.url, AUTH, `${REGISTRY}/${REPO}`, 'artifact', artifact);
    expect(put.status, await put.text()).toBe(201);
    artifactDigest = digest(artifact);
  }, 10 * 60_000);

  afterAll(async () => {
    await dockerd?.stop();
    await berth?.stop();
    await lazy?.stop();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it('scans the images: CRITICAL, HIGH and MEDIUM findings in one, only MEDIUM in the other; the artifact is unsupported', async () => {
    const v = await api.scanned(REGISTRY, REPO, vulnerable.digest);
    expect(v.status, `${v.status}: ${v.error}`).toBe('complete');
    expect(v.findings.map(findingLine)).toEqual(
      ADVISORIES.map((a) => `${a.id} ${a === CRITICAL ? 'CRITICAL' : a === HIGH ? 'HIGH' : 'MEDIUM'} ${a.score} ${a.pkg} ${a.installed} fixed ${a.fixed} aliases ${a.alias}`),
    );
    expect(v.summary).toEqual({ critical: 1, high: 1, medium: 1, low: 0, unknown: 0, total: 3 });
    const c = await api.scanned(REGISTRY, REPO, clean.digest);
    expect(c.findings.map((f) => `${f.id} ${f.severity}`)).toEqual([`${MEDIUM.id} MEDIUM`]);
    const a = await api.scanned(REGISTRY, REPO, artifactDigest);
    expect(a.status, `the artifact's scan: ${a.status} (${a.error})`).toBe('unsupported');
  });

  it('keeps the policy a registry admin sets: fields left out keep their value', async () => {
    expect(await api.expect(200, 'GET', `/registries/${REGISTRY}/scan-policy`)).toEqual({ scan_policy: { block_severity: null, allowlist: [], block_unscanned: false } });
    expect(await api.putPolicy(REGISTRY, { block_severity: 'HIGH' })).toEqual({ block_severity: 'HIGH', allowlist: [], block_unscanned: false });
    expect(await api.expect(200, 'GET', `/registries/${REGISTRY}/scan-policy`)).toEqual({ scan_policy: { block_severity: 'HIGH', allowlist: [], block_unscanned: false } });
  });

  it('refuses GET of the vulnerable manifest with DENIED naming its CRITICAL and HIGH findings; HEAD still answers 200', async () => {
    for (const reference of ['vulnerable', vulnerable.digest]) {
      const res = await manifestRequest(berth, 'GET', reference);
      const text = await res.text();
      expect(res.status, `GET manifests/${reference}: ${text}`).toBe(403);
      const error = (JSON.parse(text) as { errors: { code: string; message: string; detail?: unknown }[] }).errors[0]!;
      expect(error.code).toBe('DENIED');
      expect(error.message).toMatch(
        new RegExp(
          `^pull of ${REGISTRY}/${REPO}@${vulnerable.digest} refused: the registry's policy blocks pulls of images with vulnerabilities at or above HIGH: 2 found, ` +
            `${CRITICAL.id} \\(CRITICAL 9\\.8\\) in lodash 4\\.17\\.20, fixed in 4\\.17\\.21; ${HIGH.id} \\(HIGH 7\\.5\\) in minimist 1\\.2\\.5, fixed in 1\\.2\\.6$`,
        ),
      );
      expect(error.message, 'a MEDIUM finding does not block at HIGH').not.toContain(MEDIUM.id);
      expect(error.detail).toBeDefined();

      const head = await manifestRequest(berth, 'HEAD', reference);
      expect(head.status, `HEAD manifests/${reference}`).toBe(200);
      expect(head.headers.get('docker-content-digest')).toBe(vulnerable.digest);
    }
  });

  it('skopeo copy of the vulnerable image fails with the DENIED message; the MEDIUM-only image is copied', async () => {
    for (const ref of [':vulnerable', `@${vulnerable.digest}`]) {
      const out = await refused(skopeoPull(berth.host, ref), `skopeo copy ${ref}`);
      expect(out).toMatch(/denied/i);
      expect(out).toContain(`pull of ${REGISTRY}/${REPO}@${vulnerable.digest} refused`);
      expect(out).toContain(`${CRITICAL.id} (CRITICAL 9.8) in lodash 4.17.20, fixed in 4.17.21`);
      expect(out).toContain(`${HIGH.id} (HIGH 7.5) in minimist 1.2.5`);
    }
    await skopeoPull(berth.host, ':clean');
  });

  it('docker pull of the vulnerable image fails with the DENIED message; the MEDIUM-only image is pulled', async () => {
    const out = await refused(docker('pull', `${berth.host}/${REGISTRY}/${REPO}:vulnerable`), 'docker pull :vulnerable');
    expect(out).toMatch(/denied/i);
    expect(out).toContain(CRITICAL.id);
    expect(await refused(docker('pull', `${berth.host}/${REGISTRY}/${REPO}@${vulnerable.digest}`), 'docker pull @digest')).toContain(CRITICAL.id);
    expect(await dockerPull(`${berth.host}/${REGISTRY}/${REPO}:clean`)).toContain(`Digest: ${clean.digest}`);
  });

  it('records every refused pull in the audit log as pull.blocked', async () => {
    const body = await api.expect<{ events: { action: string; registry: string; resource: string; outcome: string; reason: string | null; actor: string; detail: any }[] }>(
      200,
      'GET',
      `/audit?action=pull.blocked&registry=${REGISTRY}&per_page=100`,
    );
    // GET by tag and by digest (raw), skopeo by tag and by digest, docker by tag and by digest: at least one each.
    expect(body.events.length, JSON.stringify(body.events, null, 1)).toBeGreaterThanOrEqual(6);
    for (const e of body.events) {
      expect(e, JSON.stringify(e)).toMatchObject({ action: 'pull.blocked', registry: REGISTRY, outcome: 'denied', actor: 'admin' });
      expect(e.resource).toContain(`${REGISTRY}/${REPO}`);
      expect(e.reason).toContain(CRITICAL.id);
      expect((e.detail?.findings ?? []).map((f: { id: string }) => f.id)).toEqual([CRITICAL.id, HIGH.id]);
    }
    const resources = body.events.map((e) => e.resource);
    expect(resources.some((r) => r.endsWith('vulnerable')), `a pull by tag: ${resources.join(', ')}`).toBe(true);
    expect(resources.some((r) => r.endsWith(vulnerable.digest)), `a pull by digest: ${resources.join(', ')}`).toBe(true);
  });

  it('lets the pull through once its findings are allowlisted, by id or by alias', async () => {
    // Only the CRITICAL one allowlisted: the HIGH one still blocks, and is the only one named.
    expect(await api.putPolicy(REGISTRY, { allowlist: [CRITICAL.id] })).toEqual({ block_severity: 'HIGH', allowlist: [CRITICAL.id], block_unscanned: false });
    const out = await refused(skopeoPull(berth.host, ':vulnerable'), 'skopeo copy with one of two findings allowlisted');
    expect(out).toContain(`1 found, ${HIGH.id} (HIGH 7.5) in minimist 1.2.5`);
    expect(out).not.toContain(CRITICAL.id);

    // The HIGH one by its alias (the CVE id) too: nothing blocks.
    await api.putPolicy(REGISTRY, { allowlist: [CRITICAL.id, HIGH.alias] });
    await skopeoPull(berth.host, ':vulnerable');
    await skopeoPull(berth.host, `@${vulnerable.digest}`);
    expect(await dockerPull(`${berth.host}/${REGISTRY}/${REPO}:vulnerable`)).toContain(`Digest: ${vulnerable.digest}`);

    // The CRITICAL one by its alias instead of its id works the same.
    await api.putPolicy(REGISTRY, { allowlist: [CRITICAL.alias, HIGH.alias] });
    await skopeoPull(berth.host, ':vulnerable');
  });

  it('never blocks an artifact Berth does not scan, even with block_unscanned', async () => {
    expect(await api.putPolicy(REGISTRY, { allowlist: [], block_unscanned: true })).toEqual({ block_severity: 'HIGH', allowlist: [], block_unscanned: true });
    const res = await manifestRequest(berth, 'GET', 'artifact');
    expect(res.status, await res.text()).toBe(200);
    expect(res.headers.get('docker-content-digest')).toBe(artifactDigest);
    const raw = await run('skopeo', ['inspect', '--raw', '--tls-verify=false', '--creds', CREDS, `docker://${berth.host}/${REGISTRY}/${REPO}:artifact`]);
    expect(JSON.parse(raw.stdout).artifactType).toBe('application/vnd.example.test-report.v1+json');
    // The same policy still refuses the vulnerable image: the artifact passed on its own merits.
    expect(await refused(skopeoPull(berth.host, ':vulnerable'), 'skopeo copy :vulnerable with the allowlist emptied')).toContain(`pull of ${REGISTRY}/${REPO}@${vulnerable.digest} refused`);
  });

  it('block_unscanned refuses an image whose scan has not completed (scan.onPush=false) until a requested scan completes', async () => {
    const before = (await lazyApi.vulnerabilities(REGISTRY, REPO, clean.digest)).body.vulnerabilities as VulnerabilityReport;
    expect(before.status, 'an image pushed to a server with scan.onPush=false').toBe('not scanned');
    // No policy yet: it is pulled.
    await skopeoPull(lazy.host, ':clean');

    expect(await lazyApi.putPolicy(REGISTRY, { block_unscanned: true })).toEqual({ block_severity: null, allowlist: [], block_unscanned: true });
    const out = await refused(skopeoPull(lazy.host, ':clean'), 'skopeo copy of an unscanned image');
    expect(out).toMatch(/denied/i);
    expect(out).toContain(`pull of ${REGISTRY}/${REPO}@${clean.digest} refused`);
    expect(out).toMatch(/unscanned|not been scanned/);
    const dockerOut = await refused(docker('pull', `${lazy.host}/${REGISTRY}/${REPO}:clean`), 'docker pull of an unscanned image');
    expect(dockerOut).toMatch(/denied/i);
    expect((await manifestRequest(lazy, 'HEAD', 'clean')).status).toBe(200);
    const audit = await lazyApi.expect<{ events: { resource: string; outcome: string }[] }>(200, 'GET', `/audit?action=pull.blocked&registry=${REGISTRY}`);
    expect(audit.events.length).toBeGreaterThanOrEqual(2);

    const queued = await lazyApi.expect<{ vulnerabilities: VulnerabilityReport }>(202, 'POST', `${ScanApi.digestPath(REGISTRY, REPO, clean.digest)}/scan`);
    expect(queued.vulnerabilities.digest).toBe(clean.digest);
    expect(queued.vulnerabilities.status, 'the answer to a requested scan').not.toBe('not scanned');
    const done = await lazyApi.scanned(REGISTRY, REPO, clean.digest);
    expect(done.status, `${done.status}: ${done.error}`).toBe('complete');
    await skopeoPull(lazy.host, ':clean');
    expect(await dockerPull(`${lazy.host}/${REGISTRY}/${REPO}:clean`)).toContain(`Digest: ${clean.digest}`);
  });
});
