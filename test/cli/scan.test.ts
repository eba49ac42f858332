/**
 * `berth scan` and `berth vulndb` (the built CLI) against a real server: an image whose
 * layer holds a small Alpine root (os-release and apk's installed database), OSV records
 * imported with `berth vulndb import` (JSON lines, a directory of pretty-printed records,
 * a zip), then the image's report, its SBOM, a rescan, an index, and the registry's scan
 * policy as pulls see it.
 */
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { basic, putManifest, pushBlob, rand, stopAndClean } from '../auth/helpers.js';
import { MT, descriptorOf, imageManifest, indexManifest, sha256, type Bytes } from '../conformance/helpers.js';
import { startBerth, tempDir, type BerthProcess } from '../support/berth-process.js';
import { requireTool, run } from '../support/clients.js';
import { tarOf } from '../support/oci-layout.js';
import { berthCli, newHome, ok, type Home } from './run-cli.js';

const ADMIN_PASSWORD = 'admin-password-scancli-1';
const AUTH = basic('admin', ADMIN_PASSWORD);
const CVE = 'CVE-2024-99001';
/** CVSS 3.1 base score 7.5: network, low complexity, no privileges or interaction, high confidentiality impact only. */
const HIGH_VECTOR = 'CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:N/A:N';

let berth: BerthProcess;
let home: Home;
let work: string;
let image: { digest: string };

const OS_RELEASE = 'NAME="Alpine Linux"\nID=alpine\nVERSION_ID=3.19.1\nPRETTY_NAME="Alpine Linux v3.19"\n';
/** libcrypto3 is built from openssl (its origin), which is what Alpine's OSV records name. */
const APK_INSTALLED = [
  ['P:libcrypto3', 'V:3.1.4-r0', 'A:x86_64', 'o:openssl', 'L:Apache-2.0'],
  ['P:musl', 'V:1.2.4_git20230717-r4', 'A:x86_64', 'o:musl', 'L:MIT'],
]
  .map((stanza) => `${stanza.join('\n')}\n`)
  .join('\n');

const osvRecord = (id: string, name: string, fixed: string, extra: object = {}) => ({
  schema_version: '1.6.0',
  id,
  modified: '2024-03-01T00:00:00Z',
  published: '2024-02-01T00:00:00Z',
  summary: `${name}: a test vulnerability`,
  affected: [{ package: { ecosystem: 'Alpine:v3.19', name }, ranges: [{ type: 'ECOSYSTEM', events: [{ introduced: '0' }, { fixed }] }] }],
  ...extra,
});

/** An image of one gzip layer with the Alpine root; unique per call (a label in its config). */
async function pushAlpineImage(repo: string, tag: string): Promise<{ digest: string; body: Bytes }> {
  const tar = await tarOf([
    { name: 'etc/', type: 'directory' },
    { name: 'etc/os-release', content: Buffer.from(OS_RELEASE) },
    { name: 'lib/', type: 'directory' },
    { name: 'lib/apk/', type: 'directory' },
    { name: 'lib/apk/db/', type: 'directory' },
    { name: 'lib/apk/db/installed', content: Buffer.from(APK_INSTALLED) },
  ]);
  const layer = gzipSync(tar) as Bytes;
  const config = Buffer.from(
    JSON.stringify({ architecture: 'amd64', os: 'linux', config: { Labels: { nonce: rand() } }, rootfs: { type: 'layers', diff_ids: [sha256(tar)] } }),
  ) as Bytes;
  await pushBlob(berth.url, AUTH, repo, config);
  await pushBlob(berth.url, AUTH, repo, layer);
  const body = Buffer.from(JSON.stringify(imageManifest(descriptorOf(config, MT.ociConfig), [descriptorOf(layer, MT.ociLayer)]))) as Bytes;
  const res = await putManifest(berth.url, AUTH, repo, tag, body);
  expect(res.status, await res.text()).toBe(201);
  return { digest: sha256(body), body };
}

const pullStatus = async (repo: string, reference: string) =>
  (await fetch(`${berth.url}/v2/${repo}/manifests/${reference}`, { headers: { authorization: AUTH, accept: MT.ociManifest } })).status;

beforeAll(async () => {
  berth = await startBerth({ adminPassword: ADMIN_PASSWORD });
  home = newHome();
  work = tempDir('berth-scancli-');
  await ok(home, ['login', berth.host, '-u', 'admin', '--password-stdin'], { input: ADMIN_PASSWORD });
  await ok(home, ['registry', 'create', 'team-a']);
});
afterAll(async () => {
  await stopAndClean(berth);
  for (const dir of [home?.dir, work]) if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('berth vulndb', () => {
  it('import: JSON lines, a directory of pretty-printed records (problems name the file), a zip; status lists the sources', async () => {
    const lines = join(work, 'alpine-test.jsonl');
    writeFileSync(lines, `${JSON.stringify(osvRecord(CVE, 'openssl', '3.1.5-r0', { severity: [{ type: 'CVSS_V3', score: HIGH_VECTOR }] }))}\n`);
    const imported = await ok(home, ['vulndb', 'import', lines]);
    expect(imported).toMatch(/alpine-test\.jsonl → source alpine-test\.jsonl: 1 record\(s\): 1 new, 0 updated, 0 unchanged, 0 withdrawn \(generation \d+, [\d.]+ s\)\n$/);

    // Pretty-printed records go as one line each; the broken file is reported by its name.
    const dir = join(work, 'more-advisories');
    mkdirSync(join(dir, 'nested'), { recursive: true });
    writeFileSync(join(dir, 'ALPINE-TEST-2.json'), JSON.stringify(osvRecord('ALPINE-TEST-2', 'curl', '8.5.0-r0'), null, 2));
    writeFileSync(join(dir, 'nested', 'broken.json'), '{"id": "not json');
    mkdirSync(join(dir, '.git'));
    writeFileSync(join(dir, '.git', 'ignored.json'), 'not even looked at');
    const fromDir = await ok(home, ['vulndb', 'import', dir, '--json']);
    expect(fromDir).toHaveLength(1);
    expect(fromDir[0]).toMatchObject({ source: 'more-advisories', records: 1, imported: 1, skipped: 1 });
    const again = await ok(home, ['vulndb', 'import', dir]);
    expect(again).toMatch(/source more-advisories: 1 record\(s\): 0 new, 0 updated, 1 unchanged, 0 withdrawn; 1 skipped/);
    expect(again).toMatch(/\n {2}line 2 \(nested\/broken\.json\): /);

    const single = join(work, 'one-record.json');
    writeFileSync(single, JSON.stringify(osvRecord('ALPINE-TEST-4', 'busybox', '1.36.1-r16'), null, 2));
    expect(await ok(home, ['vulndb', 'import', single])).toMatch(/source one-record\.json: 1 record\(s\): 1 new/);

    await requireTool('zip');
    const zipDir = join(work, 'zip-src');
    mkdirSync(zipDir);
    writeFileSync(join(zipDir, 'ALPINE-TEST-3.json'), JSON.stringify(osvRecord('ALPINE-TEST-3', 'zlib', '1.3.1-r0')));
    await run('zip', ['-q', join(work, 'Alpine.zip'), 'ALPINE-TEST-3.json'], { cwd: zipDir });
    expect(await ok(home, ['vulndb', 'import', join(work, 'Alpine.zip')])).toMatch(/source Alpine\.zip: 1 record\(s\): 1 new/);

    const status = await ok(home, ['vulndb', 'status']);
    expect(status).toMatch(/^Generation \d+ · 4 record\(s\) · last changed \d{4}-/);
    expect(status).toMatch(/\nSOURCE\s+RECORDS\s+IMPORTED\s+AGE\s+LATEST MODIFIED\n/);
    expect(status).toMatch(/\nalpine-test\.jsonl\s+1\s+\d{4}-\S+\s+\d+[smhd]\S*\s+2024-03-01T00:00:00Z\n/);
    expect(status).toMatch(/\nmore-advisories\s+1\s/);
    expect(status).toMatch(/\nECOSYSTEM\s+RECORDS\nAlpine\s+4\n/);
    const json = await ok(home, ['vulndb', 'status', '--json']);
    expect(json.records).toBe(4);
    expect(json.sources.map((s: { name: string }) => s.name).sort()).toEqual(['Alpine.zip', 'alpine-test.jsonl', 'more-advisories', 'one-record.json']);
  });

  it('import refuses what it cannot send, before sending anything', async () => {
    const other = join(work, 'notes.txt');
    writeFileSync(other, 'hello');
    const bad = await berthCli(home, ['vulndb', 'import', join(work, 'alpine-test.jsonl'), other]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/notes\.txt: expected an OSV \.zip, a \.json record/);
    expect(bad.stdout).toBe('');
    const missing = await berthCli(home, ['vulndb', 'import', join(work, 'nope.zip')]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/nope\.zip: no such file or directory/);
  });
});

describe('berth scan', () => {
  beforeAll(async () => {
    image = await pushAlpineImage('team-a/alpine', '3.19');
  });

  it('show --wait: the status line and the finding, with its source package; --json; --severity', async () => {
    const shown = await ok(home, ['scan', 'show', 'team-a/alpine:3.19', '--wait', '120']);
    const lines = shown.split('\n');
    expect(lines[0]).toBe(`team-a/alpine:3.19 (${image.digest})`);
    expect(lines[1]).toMatch(/^complete · alpine 3\.19\.1 · 2 packages · 1 high · scanned \d{4}-/);
    expect(shown).toMatch(/\nID\s+SEVERITY\s+SCORE\s+PACKAGE\s+INSTALLED\s+FIXED IN\s+SOURCE\n/);
    expect(shown).toMatch(new RegExp(`\\n${CVE}\\s+HIGH\\s+7\\.5\\s+libcrypto3\\s+3\\.1\\.4-r0\\s+3\\.1\\.5-r0\\s+openssl\\n`));

    const json = await ok(home, ['scan', 'show', `team-a/alpine@${image.digest}`, '--json']);
    expect(json).toMatchObject({ digest: image.digest, status: 'complete', kind: 'image', package_count: 2, summary: { high: 1, total: 1 } });
    expect(json.findings).toEqual([
      expect.objectContaining({ id: CVE, severity: 'HIGH', score: 7.5, vector: HIGH_VECTOR, fixed_version: '3.1.5-r0', package: expect.objectContaining({ name: 'libcrypto3', source_name: 'openssl' }) }),
    ]);
    // As a path inside --registry; CRITICAL only hides the finding but says so.
    const critical = await ok(home, ['scan', 'show', 'alpine:3.19', '--registry', 'team-a', '--severity', 'critical']);
    expect(critical).not.toContain(CVE);
    expect(critical).toContain('(1 finding(s) below CRITICAL not shown)');
  });

  it('--fail-on: exit 3 at or above the threshold, 0 below it', async () => {
    const failed = await berthCli(home, ['scan', 'show', 'team-a/alpine:3.19', '--fail-on', 'HIGH']);
    expect(failed.code).toBe(3);
    expect(failed.stdout).toContain(CVE);
    expect(failed.stderr).toBe('berth: team-a/alpine:3.19: 1 vulnerability at or above HIGH\n');
    const json = await berthCli(home, ['scan', 'show', 'team-a/alpine:3.19', '--fail-on', 'MEDIUM', '--json']);
    expect(json.code).toBe(3);
    expect(JSON.parse(json.stdout).status).toBe('complete');
    const passed = await berthCli(home, ['scan', 'show', 'team-a/alpine:3.19', '--fail-on', 'CRITICAL']);
    expect(passed.code).toBe(0);
  });

  it('sbom: CycloneDX to a file with the package URL, SPDX to stdout', async () => {
    const file = join(work, 'sbom.cdx.json');
    expect(await ok(home, ['scan', 'sbom', 'team-a/alpine:3.19', '--format', 'cyclonedx', '-o', file])).toBe(`Wrote the CycloneDX SBOM of team-a/alpine:3.19 to ${file}.\n`);
    const bom = JSON.parse(readFileSync(file, 'utf8'));
    expect(bom.bomFormat).toBe('CycloneDX');
    const purls: string[] = bom.components.map((c: { purl?: string }) => c.purl).filter(Boolean);
    expect(purls.some((p) => p.startsWith('pkg:apk/alpine/libcrypto3@3.1.4-r0'))).toBe(true);
    const spdx = JSON.parse(await ok(home, ['scan', 'sbom', 'team-a/alpine:3.19', '--format', 'spdx']));
    expect(spdx.spdxVersion).toBe('SPDX-2.3');
    expect(spdx.packages.map((p: { name: string }) => p.name)).toContain('musl');
  });

  it('rescan: queues a scan, and --wait shows the new report', async () => {
    const queued = await ok(home, ['scan', 'rescan', 'team-a/alpine:3.19']);
    expect(queued).toBe(`Queued a scan of team-a/alpine:3.19 (${image.digest}); \`berth scan show team-a/alpine:3.19 --wait\` waits for it.\n`);
    const done = await berthCli(home, ['scan', 'rescan', `team-a/alpine@${image.digest}`, '--wait', '120', '--json']);
    expect(done.code, done.stderr).toBe(0);
    expect(JSON.parse(done.stdout)).toMatchObject({ status: 'complete', summary: { high: 1 } });
    expect(done.stderr).toMatch(/team-a\/alpine@sha256:\S+: complete\n$/);
  });

  it('an index: per-platform status and summary', async () => {
    const platform = await pushAlpineImage('team-a/multi', 'amd64-only');
    const index = Buffer.from(
      JSON.stringify(indexManifest([descriptorOf(platform.body, MT.ociManifest, { platform: { os: 'linux', architecture: 'amd64' } })])),
    ) as Bytes;
    const res = await fetch(`${berth.url}/v2/team-a/multi/manifests/latest`, { method: 'PUT', headers: { authorization: AUTH, 'content-type': MT.ociIndex }, body: index });
    expect(res.status, await res.text()).toBe(201);
    // No tag given: latest.
    const shown = await ok(home, ['scan', 'show', 'team-a/multi', '--wait', '120']);
    expect(shown).toMatch(/\ncomplete · 1 platform\(s\) · 1 high/);
    expect(shown).toMatch(/\nPLATFORM\s+DIGEST\s+STATUS\s+VULNERABILITIES\n/);
    expect(shown).toMatch(new RegExp(`\\nlinux/amd64\\s+${platform.digest}\\s+complete\\s+1 high\\n`));
    const sbom = await berthCli(home, ['scan', 'sbom', 'team-a/multi']);
    expect(sbom.code).toBe(1);
    expect(sbom.stderr).toContain(platform.digest);
  });

  it('an artifact is unsupported: shown with the reason; --fail-on does not pass it (exit 1) and there is no SBOM', async () => {
    const config = Buffer.from('{}') as Bytes;
    const blob = Buffer.from(`signature ${rand()}`) as Bytes;
    await pushBlob(berth.url, AUTH, 'team-a/sig', config);
    await pushBlob(berth.url, AUTH, 'team-a/sig', blob);
    const body = Buffer.from(
      JSON.stringify(imageManifest(descriptorOf(config, MT.ociEmpty), [descriptorOf(blob, 'application/octet-stream')], { artifactType: 'application/vnd.example.signature' })),
    ) as Bytes;
    expect((await putManifest(berth.url, AUTH, 'team-a/sig', 'v1', body)).status).toBe(201);
    const shown = await ok(home, ['scan', 'show', 'team-a/sig:v1', '--wait', '120']);
    expect(shown.split('\n')[1]).toMatch(/^unsupported: an artifact \(application\/vnd\.example\.signature\)/);
    const gate = await berthCli(home, ['scan', 'show', 'team-a/sig:v1', '--fail-on', 'LOW']);
    expect(gate.code).toBe(1);
    expect(gate.stderr).toMatch(/^berth: cannot check --fail-on: team-a\/sig:v1 cannot be scanned: an artifact/);
    const sbom = await berthCli(home, ['scan', 'sbom', 'team-a/sig:v1']);
    expect(sbom.code).toBe(1);
    expect(sbom.stderr).toMatch(/^berth: no SBOM: team-a\/sig:v1 cannot be scanned/);
  });

  it('policy: show, set, and pulls see it; --no-allow and none reset it', async () => {
    expect(await ok(home, ['scan', 'policy', 'team-a'])).toBe(
      ['Registry:         team-a', 'Block severity:   none (vulnerabilities never block pulls)', 'Allowlist:        -', 'Block unscanned:  no', ''].join('\n'),
    );
    const set = await ok(home, ['scan', 'policy', 'team-a', '--block-severity', 'high', '--block-unscanned']);
    expect(set).toContain('Block severity:   HIGH (pulls of images with vulnerabilities at or above it are refused)');
    expect(set).toContain('Block unscanned:  yes');
    expect(await ok(home, ['scan', 'policy', 'team-a', '--json'])).toEqual({ block_severity: 'HIGH', allowlist: [], block_unscanned: true });
    expect(await pullStatus('team-a/alpine', '3.19')).toBe(403);

    // Only the fields given change.
    await ok(home, ['scan', 'policy', 'team-a', '--allow', `${CVE},GHSA-aaaa-bbbb-cccc`]);
    expect(await ok(home, ['scan', 'policy', 'team-a', '--json'])).toEqual({ block_severity: 'HIGH', allowlist: [CVE, 'GHSA-aaaa-bbbb-cccc'], block_unscanned: true });
    expect(await pullStatus('team-a/alpine', '3.19')).toBe(200);

    await ok(home, ['scan', 'policy', 'team-a', '--block-severity', 'none', '--no-allow', '--allow-unscanned']);
    expect(await ok(home, ['scan', 'policy', 'team-a', '--json'])).toEqual({ block_severity: null, allowlist: [], block_unscanned: false });

    const both = await berthCli(home, ['scan', 'policy', 'team-a', '--block-unscanned', '--allow-unscanned']);
    expect(both.code).toBe(2);
    expect(both.stderr).toMatch(/cannot be used with/);
  });

  it('errors: unknown images are reported readably (exit 1), bad usage exits 2', async () => {
    const noTag = await berthCli(home, ['scan', 'show', 'team-a/alpine:nope']);
    expect(noTag.code).toBe(1);
    expect(noTag.stderr).toBe('berth: no tag nope in team-a/alpine (`berth repository list-tags team-a/alpine` lists its tags)\n');
    const noRepo = await berthCli(home, ['scan', 'show', 'team-a/nothing:1']);
    expect(noRepo.code).toBe(1);
    expect(noRepo.stderr).toMatch(/^berth: not_found: .*nothing.* \(HTTP 404\)\n$/);
    const noManifest = await berthCli(home, ['scan', 'show', `team-a/alpine@sha256:${'0'.repeat(64)}`]);
    expect(noManifest.code).toBe(1);
    expect(noManifest.stderr).toMatch(/^berth: not_found: manifest sha256:0+ .*\(HTTP 404\)\n$/);
    const notDigest = await berthCli(home, ['scan', 'show', 'team-a/alpine@latest']);
    expect(notDigest.code).toBe(2);
    expect(notDigest.stderr).toMatch(/latest is not a digest/);

    const format = await berthCli(home, ['scan', 'sbom', 'team-a/alpine:3.19', '--format', 'xml']);
    expect(format.code).toBe(2);
    expect(format.stderr).toMatch(/option '--format <format>' argument 'xml' is invalid\. Allowed choices are cyclonedx, spdx/);
    const severity = await berthCli(home, ['scan', 'show', 'team-a/alpine:3.19', '--fail-on', 'severe']);
    expect(severity.code).toBe(2);
    expect(severity.stderr).toMatch(/expected one of CRITICAL, HIGH, MEDIUM, LOW, UNKNOWN/);
  });
});
