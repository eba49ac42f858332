/**
 * The scanner on a real Debian bookworm image: a minbase root filesystem made
 * by debootstrap from this machine's Debian mirror, written as a one-layer OCI
 * image and pushed with skopeo. Proves that the scan ends within 3 s of the
 * push, that the inventory is exactly what dpkg-query lists (packages,
 * versions, source packages and versions), and that OSV Debian records
 * imported afterwards are matched against the stored inventory — without a
 * new push — exactly as `dpkg --compare-versions` orders the versions.
 */
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_PASSWORD, basic } from '../auth/helpers.js';
import { startBerth, tempDir, type BerthProcess } from '../support/berth-process.js';
import {
  debianRootfs,
  directoryLayer,
  dpkgCompare,
  dpkgQuery,
  expectSameItems,
  ImageLayout,
  ScanApi,
  skopeoPush,
  toolsOrSkipReason,
  type BuiltImage,
  type DebianRootfs,
  type DpkgRow,
  type ReportedPackage,
  type VulnerabilityReport,
} from './support.js';

const skipReason = await toolsOrSkipReason({ debootstrap: 'debootstrap', skopeo: 'skopeo', 'dpkg-query': 'dpkg', tar: 'tar' });
if (skipReason) console.warn(`skipping the Debian image scan tests: ${skipReason}`);

const REGISTRY = 'scan-debian';
const REPO = 'bookworm';
const ECOSYSTEM = 'Debian:12';

let work: string;
let rootfs: DebianRootfs;
let rows: DpkgRow[];
let image: BuiltImage;
let layoutDir: string;
let berth: BerthProcess;
let api: ScanApi;
let layerSeconds: number;

/** A package as compared: source name and version default to the binary's own (dpkg-query prints them that way). */
const packageLine = (p: { ecosystem: string; name: string; version: string; sourceName?: string; sourceVersion?: string }) =>
  `${p.ecosystem} ${p.name} ${p.version} (source ${p.sourceName ?? p.name} ${p.sourceVersion ?? p.version})`;
const reportedLine = (p: ReportedPackage) => packageLine({ ...p, sourceName: p.source_name, sourceVersion: p.source_version });

describe.skipIf(skipReason)('a Debian bookworm image made with debootstrap', () => {
  beforeAll(async () => {
    work = tempDir('berth-scan-debian-');
    rootfs = await debianRootfs(work);
    rows = await dpkgQuery(rootfs.dir);
    expect(rows.length, 'dpkg-query listed no packages in the bootstrapped root filesystem').toBeGreaterThan(50);

    const started = performance.now();
    layoutDir = join(work, 'layout');
    const layout = new ImageLayout(layoutDir);
    const layer = await directoryLayer(rootfs.dir, layout.layerPath('rootfs'));
    image = layout.image('bookworm', [layer], { cmd: ['/bin/bash'] });
    layerSeconds = Math.round((performance.now() - started) / 100) / 10;
    console.info(
      `Debian rootfs: ${rootfs.fromCache ? 'from the cache' : `debootstrap from ${rootfs.mirror}`} in ${rootfs.seconds} s; ` +
        `${rows.length} packages; layer ${(layer.size / 1024 / 1024).toFixed(1)} MiB written in ${layerSeconds} s`,
    );

    berth = await startBerth({ dataDir: join(work, 'berth'), adminPassword: ADMIN_PASSWORD });
    api = new ScanApi(berth.url, basic('admin', ADMIN_PASSWORD));
    await api.expect(201, 'POST', '/registries', { name: REGISTRY });
  }, 40 * 60_000);

  afterAll(async () => {
    await berth?.stop();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it('is scanned within 3 s of the push returning', async () => {
    await skopeoPush(layoutDir, 'bookworm', berth.host, `${REGISTRY}/${REPO}`, `admin:${ADMIN_PASSWORD}`);
    const pushed = performance.now();

    const seen: string[] = [];
    let report: VulnerabilityReport | undefined;
    while (performance.now() - pushed < 60_000) {
      const answer = await api.vulnerabilities(REGISTRY, REPO, image.digest);
      expect(answer.status, `GET vulnerabilities of ${image.digest}: ${answer.text.slice(0, 1000)}`).toBe(200);
      const status = answer.body.vulnerabilities.status;
      if (seen[seen.length - 1]?.split(' ')[0] !== status) seen.push(`${status} at ${Math.round(performance.now() - pushed)} ms`);
      if (!['queued', 'scanning', 'not scanned'].includes(status)) {
        report = answer.body.vulnerabilities;
        break;
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    const elapsed = performance.now() - pushed;
    console.info(`scan of the Debian image: ${seen.join(' → ')}`);

    expect(report, `the scan did not end within 60 s: ${seen.join(' → ')}`).toBeDefined();
    expect(report!.status, `scan ended ${report!.status}: ${report!.error}`).toBe('complete');
    expect(elapsed, `the scan completed ${Math.round(elapsed)} ms after the push returned (${seen.join(' → ')}); the bound is 3000 ms`).toBeLessThan(3000);
    expect(report).toMatchObject({ digest: image.digest, kind: 'image', error: null });
    expect(Date.parse(report!.scanned_at ?? ''), `scanned_at ${report!.scanned_at}`).not.toBeNaN();
  });

  it('inventories exactly the packages dpkg-query lists: names, versions, source packages and versions', async () => {
    const answer = await api.vulnerabilities(REGISTRY, REPO, image.digest, true);
    expect(answer.status, answer.text.slice(0, 1000)).toBe(200);
    const report = answer.body.vulnerabilities;
    expect(report.status).toBe('complete');
    expect(report.os).toMatchObject({ id: 'debian', version_id: '12', ecosystem: ECOSYSTEM });
    expect(report.os?.pretty_name).toMatch(/^Debian GNU\/Linux 12/);

    const packages = report.packages ?? [];
    expectSameItems(
      packages.map(reportedLine),
      rows.map((r) => packageLine({ ecosystem: ECOSYSTEM, ...r })),
      'packages reported for the image vs dpkg-query on its root filesystem',
    );
    expect(report.package_count, 'package_count').toBe(rows.length);
    // One layer, one database: every package was found there.
    const misplaced = packages.filter((p) => p.location !== 'var/lib/dpkg/status' || p.layer_digest !== image.layers[0]!.digest);
    expect(misplaced.map((p) => `${p.name}: ${p.location} in ${p.layer_digest}`), `packages not attributed to var/lib/dpkg/status in ${image.layers[0]!.digest}`).toEqual([]);
    // A fresh server has no vulnerability records.
    expect(report.findings).toEqual([]);
    expect(report.summary).toEqual({ critical: 0, high: 0, medium: 0, low: 0, unknown: 0, total: 0 });
  });

  it('matches imported OSV Debian records as dpkg orders the versions, on the stored scan, without a new push', async () => {
    const bySource = new Map<string, DpkgRow[]>();
    for (const r of rows) bySource.set(r.sourceName, [...(bySource.get(r.sourceName) ?? []), r]);
    // util-linux: binaries whose version has an epoch the source's lacks (bsdutils 1:2.38.1-…);
    // bash, e2fsprogs, libcap2: binNMUs (+bN); libcap2, zlib: epochs in the source version; systemd: a tilde.
    const wanted = ['util-linux', 'glibc', 'bash', 'e2fsprogs', 'libcap2', 'systemd', 'zlib'];
    const sources = wanted.filter((s) => bySource.has(s));
    expect(sources, `source packages of the minbase system missing from dpkg-query: ${wanted.filter((s) => !bySource.has(s)).join(', ')}`).toEqual(wanted);
    const bsdutils = rows.find((r) => r.name === 'bsdutils');
    expect(bsdutils?.version, 'bsdutils carries an epoch its source version lacks').toMatch(/^\d+:/);
    expect(bsdutils?.sourceVersion).not.toMatch(/^\d+:/);

    interface Planned {
      record: object;
      id: string;
      source: string;
      kind: 'fixed' | 'last_affected';
      version: string;
      ecosystem: string;
      affected: boolean;
    }
    const planned: Planned[] = [];
    let n = 0;
    const plan = async (source: string, kind: Planned['kind'], version: string, ecosystem = ECOSYSTEM) => {
      const installed = sourceVersionOf(bySource.get(source)!);
      const id = `DEBIAN-CVE-2099-${String(1000 + n++)}`;
      const affected = ecosystem === ECOSYSTEM && (await dpkgCompare(installed, kind === 'fixed' ? 'lt' : 'le', version));
      planned.push({
        id,
        source,
        kind,
        version,
        ecosystem,
        affected,
        record: {
          schema_version: '1.6.0',
          id,
          aliases: [id.replace(/^DEBIAN-/, '')],
          modified: '2025-01-01T00:00:00Z',
          published: '2025-01-01T00:00:00Z',
          summary: `${source}: ${kind} ${version} (installed ${installed})`,
          affected: [
            {
              package: { ecosystem, name: source, purl: `pkg:deb/debian/${source}?arch=source` },
              ranges: [{ type: 'ECOSYSTEM', events: [{ introduced: '0' }, { [kind]: version }] }],
            },
          ],
        },
      });
    };
    for (const source of sources) {
      const v = sourceVersionOf(bySource.get(source)!);
      const { epoch, rest } = splitEpoch(v);
      for (const fixed of [
        `${v}+b1`, // just above (a binNMU of the installed source)
        `${v}.1`, // just above (a non-maintainer upload)
        `${epoch + 1}:${rest}`, // a higher epoch
        v, // the installed version itself
        epoch === 0 ? `0:${v}` : `${epoch}:${rest}`, // the same, with its epoch written out
        `${v}~1`, // just below (a pre-release of it)
        ...(epoch > 0 ? [rest] : []), // the epoch dropped: far below
      ]) {
        await plan(source, 'fixed', fixed);
      }
    }
    const utilLinux = sourceVersionOf(bySource.get('util-linux')!);
    const glibc = sourceVersionOf(bySource.get('glibc')!);
    await plan('util-linux', 'last_affected', utilLinux); // the installed one is the last affected: affected
    await plan('util-linux', 'last_affected', `${utilLinux}~1`); // below: not affected
    await plan('glibc', 'last_affected', `${glibc}+b1`); // above: affected
    // Another Debian release's record never matches a bookworm package.
    await plan('util-linux', 'fixed', `${utilLinux}+b1`, 'Debian:11');

    // The expectation is dpkg's: each case must go both ways somewhere, or the plan proves little.
    expect(planned.filter((p) => p.affected).length).toBeGreaterThan(10);
    expect(planned.filter((p) => !p.affected).length).toBeGreaterThan(10);

    const before = await api.expect(200, 'GET', '/vulndb');
    const imported = await api.importOsv(
      planned.map((p) => p.record),
      'berth-test-debian',
    );
    expect(imported, JSON.stringify(imported.problems)).toMatchObject({ records: planned.length, imported: planned.length, skipped: 0, stale: 0, problems: [] });
    expect(imported.generation).toBeGreaterThan(before.vulndb.generation);
    const after = await api.expect(200, 'GET', '/vulndb');
    expect(after.vulndb).toMatchObject({ generation: imported.generation, records: planned.length, withdrawn: 0 });
    expect(after.vulndb.sources).toEqual([expect.objectContaining({ name: 'berth-test-debian', records: planned.length })]);

    const expected = planned.filter((p) => p.affected).flatMap((p) => bySource.get(p.source)!.map((r) => `${p.id} ${r.name} ${r.version}`));
    const started = performance.now();
    const { report } = await api.waitFor(REGISTRY, REPO, image.digest, (r) => r.status === 'complete' && r.vulndb_generation >= imported.generation, {
      timeoutMs: 10_000,
      what: `re-matching at vulndb generation ${imported.generation}`,
    });
    console.info(
      `${planned.length} records (${planned.filter((p) => p.affected).length} affecting the installed sources) → ${expected.length} expected findings; ` +
        `re-matched ${Math.round(performance.now() - started)} ms after the import answered`,
    );

    const describe = (p: Planned) => `${p.id}: ${p.source} ${p.kind} ${p.version} in ${p.ecosystem} (installed ${sourceVersionOf(bySource.get(p.source)!)}; dpkg says ${p.affected ? 'affected' : 'not affected'})`;
    expectSameItems(
      report.findings.map((f) => `${f.id} ${f.package.name} ${f.package.version}`),
      expected,
      `findings (id, binary package, version) after the import; the records:\n  ${planned.map(describe).join('\n  ')}\n`,
    );

    // Each finding names the source the record is about and the fix the record gives.
    const byId = new Map(planned.map((p) => [p.id, p]));
    for (const f of report.findings) {
      const p = byId.get(f.id)!;
      const row = rows.find((r) => r.name === f.package.name)!;
      expect(f.package, `${f.id} in ${f.package.name}`).toMatchObject({ ecosystem: ECOSYSTEM, version: row.version, location: 'var/lib/dpkg/status', layer_digest: image.layers[0]!.digest });
      expect(f.package.source_name ?? f.package.name, `${f.id} in ${f.package.name}: source`).toBe(p.source);
      expect(f.package.source_version ?? f.package.version, `${f.id} in ${f.package.name}: source version`).toBe(row.sourceVersion);
      expect(f.fixed_version, `${f.id} in ${f.package.name}: fixed_version`).toBe(p.kind === 'fixed' ? p.version : undefined);
      expect(f.aliases, `${f.id}: aliases`).toEqual([f.id.replace(/^DEBIAN-/, '')]);
      expect(f.severity, `${f.id}: a record without a severity`).toBe('UNKNOWN');
    }
    expect(report.summary).toEqual({ critical: 0, high: 0, medium: 0, low: 0, unknown: expected.length, total: expected.length });
    // Every binary built from util-linux shows up with the record that affects the source.
    const utilLinuxBinaries = bySource.get('util-linux')!.map((r) => r.name);
    const firstAffected = planned.find((p) => p.source === 'util-linux' && p.affected)!;
    expect(report.findings.filter((f) => f.id === firstAffected.id).map((f) => f.package.name).sort()).toEqual([...utilLinuxBinaries].sort());
  });
});

/** The source version all of a source's binaries were built from (dpkg-query prints it per binary). */
function sourceVersionOf(binaries: DpkgRow[]): string {
  const versions = [...new Set(binaries.map((b) => b.sourceVersion))];
  expect(versions, `binaries of ${binaries[0]?.sourceName} name different source versions`).toHaveLength(1);
  return versions[0]!;
}

function splitEpoch(version: string): { epoch: number; rest: string } {
  const m = /^(\d+):(.*)$/.exec(version);
  return m ? { epoch: Number(m[1]), rest: m[2]! } : { epoch: 0, rest: version };
}
