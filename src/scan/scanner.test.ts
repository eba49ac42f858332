import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import tar from 'tar-stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { sqliteStores, type MetaStoresFixture } from '../../test/support/meta-stores.js';
import { defaultDetectors } from './detect/index.js';
import type { InstalledPackage } from './inventory.js';
import { LAYER_INVENTORY_FORMAT } from './layers/layer-inventory.js';
import { importOsvJsonLines } from './osv/import.js';
import { blankScan, type Finding, type ImageScan, type SeveritySummary } from './report.js';
import { NO_POLICY } from './scan-store.js';
import { REMATCH_JOB, SCAN_JOB, Scanner, type ScanCompletedEvent, type ScanJobPayload, type ScannerDeps } from './scanner.js';

// ---------- images built here: real gzip tar layers, OCI manifests and an index ----------

const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
const OCI_CONFIG = 'application/vnd.oci.image.config.v1+json';
const OCI_LAYER_GZIP = 'application/vnd.oci.image.layer.v1.tar+gzip';
const HELM_CONFIG = 'application/vnd.cncf.helm.config.v1+json';

const sha256 = (data: Buffer | string) => `sha256:${createHash('sha256').update(data).digest('hex')}`;

async function tarGz(files: Record<string, string>): Promise<Buffer> {
  const pack = tar.pack();
  const chunks: Buffer[] = [];
  const collected = (async () => {
    for await (const chunk of pack) chunks.push(chunk as Buffer);
  })();
  for (const [name, content] of Object.entries(files)) {
    await new Promise<void>((resolve, reject) => pack.entry({ name, type: 'file', mode: 0o644 }, content, (err) => (err ? reject(err) : resolve())));
  }
  pack.finalize();
  await collected;
  return gzipSync(Buffer.concat(chunks));
}

const ALPINE_OS_RELEASE = 'NAME="Alpine Linux"\nID=alpine\nVERSION_ID=3.19.1\nPRETTY_NAME="Alpine Linux v3.19"\n';
const apkEntry = (name: string, version: string, origin: string, license: string) => `P:${name}\nV:${version}\nA:x86_64\nL:${license}\no:${origin}\nT:${name}\nF:usr/lib\n`;
const APK_INSTALLED = [
  apkEntry('musl', '1.2.4_git20230717-r4', 'musl', 'MIT'),
  apkEntry('busybox', '1.36.1-r15', 'busybox', 'GPL-2.0-only'),
  apkEntry('libcrypto3', '3.1.4-r1', 'openssl', 'Apache-2.0'),
  apkEntry('libssl3', '3.1.4-r1', 'openssl', 'Apache-2.0'),
].join('\n');
const packageJson = (name: string, version: string) => JSON.stringify({ name, version, license: 'MIT', main: 'index.js' });

/** The registry side of a scan: manifests by repository and digest, blobs by digest, and what was asked of them. */
class FakeRegistry {
  readonly manifests = new Map<string, { mediaType: string; body: Buffer }>();
  readonly blobs = new Map<string, Buffer>();
  /** Every readBlob call, in order. */
  readonly reads: string[] = [];
  readonly jobs: { kind: string; payload: unknown; dedupeKey: string }[] = [];
  readonly audits: Parameters<ScannerDeps['audit']>[0][] = [];
  /** How many scan jobs have been run by runScans. */
  private ran = 0;

  async layer(files: Record<string, string>): Promise<string> {
    const blob = await tarGz(files);
    const digest = sha256(blob);
    this.blobs.set(digest, blob);
    return digest;
  }

  push(repository: string, mediaType: string, json: unknown): string {
    const body = Buffer.from(JSON.stringify(json));
    const digest = sha256(body);
    this.manifests.set(`${repository}@${digest}`, { mediaType, body });
    return digest;
  }

  image(repository: string, layers: string[], config = OCI_CONFIG, extra: Record<string, unknown> = {}): string {
    return this.push(repository, OCI_MANIFEST, {
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      config: { mediaType: config, digest: sha256(`config of ${layers.join()}`), size: 2 },
      layers: layers.map((digest) => ({ mediaType: OCI_LAYER_GZIP, digest, size: this.blobs.get(digest)?.length ?? 1 })),
      ...extra,
    });
  }

  deps(): Pick<ScannerDeps, 'findManifest' | 'readBlob' | 'enqueue' | 'audit'> {
    return {
      findManifest: async (repository, digest) => this.manifests.get(`${repository}@${digest}`),
      readBlob: async (digest) => {
        this.reads.push(digest);
        const blob = this.blobs.get(digest);
        if (!blob) throw new Error(`blob ${digest} unknown`);
        return Readable.from([blob]);
      },
      enqueue: async (kind, payload, dedupeKey) => void this.jobs.push({ kind, payload, dedupeKey }),
      audit: async (entry) => void this.audits.push(entry),
    };
  }

  /** Runs the scan jobs queued so far (and those they queue), in order, as the job worker would. */
  async runScans(scanner: Scanner): Promise<void> {
    for (; this.ran < this.jobs.length; this.ran++) {
      const job = this.jobs[this.ran]!;
      if (job.kind === SCAN_JOB) await scanner.scan(job.payload as ScanJobPayload);
    }
  }

  scanJobsFor(digest: string): number {
    return this.jobs.filter((j) => j.kind === SCAN_JOB && (j.payload as ScanJobPayload).digest === digest).length;
  }
}

// ---------- the vulnerability database: OSV records imported as JSON lines ----------

const range = (introduced: string, fixed: string) => [{ type: 'ECOSYSTEM', events: [{ introduced }, { fixed }] }];
const cvss = (vector: string) => [{ type: 'CVSS_V3', score: vector }];

const OPENSSL_DH = {
  id: 'ALPINE-CVE-2023-5678',
  aliases: ['CVE-2023-5678'],
  modified: '2024-01-10T00:00:00Z',
  summary: 'openssl: excessive time spent in DH check / generation with large Q parameter value',
  severity: cvss('CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:L'),
  affected: [
    { package: { ecosystem: 'Alpine:v3.19', name: 'openssl' }, ranges: range('0', '3.1.4-r3') },
    // Another release of Alpine: never matched against v3.19 packages.
    { package: { ecosystem: 'Alpine:v3.18', name: 'openssl' }, ranges: range('0', '3.1.4-r9') },
  ],
};
const BUSYBOX_UNRATED = {
  id: 'ALPINE-CVE-2022-48174',
  aliases: ['CVE-2022-48174'],
  modified: '2024-01-10T00:00:00Z',
  details: 'There is a stack overflow vulnerability in ash.c:6030 in busybox.\nMore text.',
  affected: [{ package: { ecosystem: 'Alpine:v3.19', name: 'busybox' }, ranges: range('0', '1.36.1-r16') }],
};
const LODASH_INJECTION = {
  id: 'GHSA-35jh-r3h4-6jhm',
  aliases: ['CVE-2021-23337'],
  modified: '2022-02-08T21:35:09Z',
  summary: 'Command Injection in lodash',
  severity: cvss('CVSS:3.1/AV:N/AC:L/PR:H/UI:N/S:U/C:H/I:H/A:H'),
  affected: [{ package: { ecosystem: 'npm', name: 'lodash' }, ranges: range('0', '4.17.21') }],
};
/** Fixed before the installed lodash: no finding. */
const LODASH_FIXED_EARLIER = {
  id: 'GHSA-p6mc-m468-83gw',
  aliases: ['CVE-2020-8203'],
  modified: '2022-02-08T21:35:09Z',
  summary: 'Prototype Pollution in lodash',
  severity: cvss('CVSS:3.1/AV:N/AC:H/PR:N/UI:N/S:U/C:N/I:H/A:H'),
  affected: [{ package: { ecosystem: 'npm', name: 'lodash' }, ranges: range('3.7.0', '4.17.19') }],
};
const MINIMIST_POLLUTION = {
  id: 'GHSA-xvch-5gv4-984h',
  aliases: ['CVE-2021-44906'],
  modified: '2023-02-27T14:47:14Z',
  summary: 'Prototype Pollution in minimist',
  severity: cvss('CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H'),
  affected: [{ package: { ecosystem: 'npm', name: 'minimist' }, ranges: range('1.0.0', '1.2.6') }],
};
// Imported later: a database change.
const SEMVER_REDOS = {
  id: 'GHSA-c2qf-rxjj-qqgw',
  aliases: ['CVE-2022-25883'],
  modified: '2023-07-10T22:57:56Z',
  summary: 'semver vulnerable to Regular Expression Denial of Service',
  severity: cvss('CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:L'),
  affected: [{ package: { ecosystem: 'npm', name: 'semver' }, ranges: range('7.0.0', '7.5.2') }],
};
const MUSL_ICONV = {
  id: 'ALPINE-CVE-2025-26519',
  aliases: ['CVE-2025-26519'],
  modified: '2025-02-14T00:00:00Z',
  summary: 'musl: iconv out-of-bounds write',
  severity: cvss('CVSS:3.1/AV:N/AC:H/PR:N/UI:N/S:U/C:H/I:H/A:H'),
  affected: [{ package: { ecosystem: 'Alpine:v3.19', name: 'musl' }, ranges: range('0', '1.2.4_git20230717-r5') }],
};

async function importRecords(fixture: MetaStoresFixture, ...records: object[]): Promise<number> {
  const report = await importOsvJsonLines(fixture.stores.vulndb, Readable.from(records.map((r) => `${JSON.stringify(r)}\n`)), { source: 'test-feed' });
  expect(report.skipped).toBe(0);
  return report.generation;
}

// ---------- the fixture ----------

const T0 = 1_730_000_000_000;
const REPO = 'acme/web';

let fixture: MetaStoresFixture;
let registry: FakeRegistry;
let clock: number;
let scanner: Scanner;
let events: ScanCompletedEvent[];
let warnings: { obj: object; msg?: string }[];

/** The base Alpine layer and the npm layer of `acme/web:1`, and the other npm layer of `acme/web:2`. */
let base: string;
let app1: string;
let app2: string;

beforeEach(async () => {
  fixture = await sqliteStores();
  registry = new FakeRegistry();
  clock = T0;
  events = [];
  warnings = [];
  scanner = new Scanner({
    scans: fixture.stores.scans,
    vulndb: fixture.stores.vulndb,
    detectors: defaultDetectors,
    ...registry.deps(),
    now: () => clock,
    logger: { warn: (obj, msg) => void warnings.push({ obj, msg }), info: () => undefined },
  });
  scanner.onCompleted((event) => events.push(event));
  base = await registry.layer({ 'etc/os-release': ALPINE_OS_RELEASE, 'lib/apk/db/installed': APK_INSTALLED, 'bin/busybox': 'ELF not really' });
  app1 = await registry.layer({
    'app/node_modules/lodash/package.json': packageJson('lodash', '4.17.20'),
    'app/node_modules/minimist/package.json': packageJson('minimist', '1.2.5'),
    'app/node_modules/lodash/lodash.js': 'module.exports = {}',
    'app/server.js': 'require("lodash")',
  });
  app2 = await registry.layer({ 'app/node_modules/semver/package.json': packageJson('semver', '7.5.1') });
});

afterEach(async () => {
  await fixture.cleanup();
});

function alpine(name: string, version: string, origin: string, license: string): InstalledPackage {
  return {
    ecosystem: 'Alpine:v3.19',
    versionScheme: 'apk',
    name,
    version,
    source: { name: origin, version },
    location: 'lib/apk/db/installed',
    layerDigest: base,
    arch: 'x86_64',
    licenses: [license],
  };
}
function npm(name: string, version: string, layerDigest: string): InstalledPackage {
  return { ecosystem: 'npm', versionScheme: 'semver', name, version, location: `app/node_modules/${name}/package.json`, layerDigest, licenses: ['MIT'] };
}
const BASE_PACKAGES = () => [
  alpine('musl', '1.2.4_git20230717-r4', 'musl', 'MIT'),
  alpine('busybox', '1.36.1-r15', 'busybox', 'GPL-2.0-only'),
  alpine('libcrypto3', '3.1.4-r1', 'openssl', 'Apache-2.0'),
  alpine('libssl3', '3.1.4-r1', 'openssl', 'Apache-2.0'),
];
const ALPINE_OS = { id: 'alpine', versionId: '3.19.1', prettyName: 'Alpine Linux v3.19', ecosystem: 'Alpine:v3.19' };

const apkFinding = (name: string, origin: string, version: string) => ({
  ecosystem: 'Alpine:v3.19',
  name,
  version,
  ...(origin !== name ? { source: { name: origin, version } } : {}),
  location: 'lib/apk/db/installed',
  layerDigest: base,
});
const npmFinding = (name: string, version: string, layerDigest: string) => ({ ecosystem: 'npm', name, version, location: `app/node_modules/${name}/package.json`, layerDigest });

const summary = (counts: Partial<SeveritySummary>): SeveritySummary => {
  const s = { CRITICAL: 0, HIGH: 0, MEDIUM: 0, LOW: 0, UNKNOWN: 0, ...counts };
  return { ...s, total: s.CRITICAL + s.HIGH + s.MEDIUM + s.LOW + s.UNKNOWN };
};

/** The findings of `acme/web:1` against the first import, most severe first. */
function image1Findings(): Finding[] {
  return [
    {
      id: 'GHSA-xvch-5gv4-984h',
      aliases: ['CVE-2021-44906'],
      severity: 'CRITICAL',
      score: 9.8,
      vector: 'CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H',
      summary: 'Prototype Pollution in minimist',
      package: npmFinding('minimist', '1.2.5', app1),
      fixedVersion: '1.2.6',
    },
    {
      id: 'GHSA-35jh-r3h4-6jhm',
      aliases: ['CVE-2021-23337'],
      severity: 'HIGH',
      score: 7.2,
      vector: 'CVSS:3.1/AV:N/AC:L/PR:H/UI:N/S:U/C:H/I:H/A:H',
      summary: 'Command Injection in lodash',
      package: npmFinding('lodash', '4.17.20', app1),
      fixedVersion: '4.17.21',
    },
    // One vulnerability of the openssl source package: a finding for each binary package built from it.
    ...['libcrypto3', 'libssl3'].map(
      (name): Finding => ({
        id: 'ALPINE-CVE-2023-5678',
        aliases: ['CVE-2023-5678'],
        severity: 'MEDIUM',
        score: 5.3,
        vector: 'CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:L',
        summary: 'openssl: excessive time spent in DH check / generation with large Q parameter value',
        package: apkFinding(name, 'openssl', '3.1.4-r1'),
        fixedVersion: '3.1.4-r3',
      }),
    ),
    {
      id: 'ALPINE-CVE-2022-48174',
      aliases: ['CVE-2022-48174'],
      severity: 'UNKNOWN',
      // No summary: the first line of the details stands in.
      summary: 'There is a stack overflow vulnerability in ash.c:6030 in busybox.',
      package: apkFinding('busybox', 'busybox', '1.36.1-r15'),
      fixedVersion: '1.36.1-r16',
    },
  ];
}

async function firstImport(): Promise<number> {
  return importRecords(fixture, OPENSSL_DH, BUSYBOX_UNRATED, LODASH_INJECTION, LODASH_FIXED_EARLIER, MINIMIST_POLLUTION);
}

async function scanNow(repository: string, digest: string): Promise<ImageScan> {
  expect(await scanner.queue(repository, digest)).toBe(true);
  await registry.runScans(scanner);
  return (await fixture.stores.scans.get(digest))!;
}

// ---------- tests ----------

describe('Scanner: queueing', () => {
  it('queues a pushed manifest as a durable scan job keyed by digest; again while pending, not once complete, and again on a rescan (force)', async () => {
    const image = registry.image(REPO, [base]);
    expect(await scanner.queue(REPO, image)).toBe(true);
    expect(registry.jobs).toEqual([{ kind: SCAN_JOB, payload: { repository: REPO, digest: image }, dedupeKey: `scan:${image}` }]);
    expect(await fixture.stores.scans.get(image)).toEqual(blankScan(image, 'queued', T0));

    // Still queued: the job is asked for again under the same key (the queue keeps one).
    clock = T0 + 10;
    expect(await scanner.queue(REPO, image)).toBe(true);
    expect(registry.jobs.map((j) => j.dedupeKey)).toEqual([`scan:${image}`, `scan:${image}`]);
    expect((await fixture.stores.scans.get(image))?.queuedAt).toBe(T0);

    await registry.runScans(scanner);
    expect((await fixture.stores.scans.get(image))?.status).toBe('complete');
    expect(await scanner.queue(REPO, image)).toBe(false);
    expect(registry.jobs).toHaveLength(2);

    clock = T0 + 20;
    expect(await scanner.queue(REPO, image, true)).toBe(true);
    expect(registry.jobs).toHaveLength(3);
    expect(await fixture.stores.scans.get(image)).toMatchObject({ status: 'queued', queuedAt: T0 + 20, error: null });
  });

  it('queues a rematch of stored inventories as one job per database generation', async () => {
    await scanner.queueRematch();
    expect(registry.jobs).toEqual([{ kind: REMATCH_JOB, payload: { generation: 0 }, dedupeKey: `${REMATCH_JOB}@0` }]);
  });
});

describe('Scanner: scanning an image', () => {
  it('inventories an Alpine image with npm packages and stores exactly its packages and findings, at the database generation', async () => {
    const generation = await firstImport();
    const image = registry.image(REPO, [base, app1]);
    clock = T0 + 1000;
    await scanner.queue(REPO, image);
    clock = T0 + 2000;
    await registry.runScans(scanner);

    const scan = await fixture.stores.scans.get(image);
    expect(scan?.inventory).toEqual({
      os: ALPINE_OS,
      // By path: app/… before lib/apk/…; bin/busybox (no detector wants it) is not a package.
      packages: [npm('lodash', '4.17.20', app1), npm('minimist', '1.2.5', app1), ...BASE_PACKAGES()],
      notes: [],
    });
    expect(scan?.findings).toEqual(image1Findings());
    expect(scan).toMatchObject({
      digest: image,
      status: 'complete',
      kind: 'image',
      summary: summary({ CRITICAL: 1, HIGH: 1, MEDIUM: 2, UNKNOWN: 1 }),
      children: null,
      vulndbGeneration: generation,
      error: null,
      startedAt: T0 + 2000,
      completedAt: T0 + 2000,
    });
    // Each layer was read once, and its inventory kept by layer digest.
    expect(registry.reads).toEqual([base, app1]);
    expect((await fixture.stores.scans.getLayer(base, LAYER_INVENTORY_FORMAT))?.digest).toBe(base);
    expect(await fixture.stores.scans.getLayer(app1, LAYER_INVENTORY_FORMAT + 1)).toBeUndefined();
  });

  it('tells listeners and the audit log of the finished scan, with its summary', async () => {
    await firstImport();
    const image = registry.image(REPO, [base, app1]);
    await scanNow(REPO, image);
    const expectedSummary = summary({ CRITICAL: 1, HIGH: 1, MEDIUM: 2, UNKNOWN: 1 });
    expect(events).toEqual([{ repository: REPO, digest: image, status: 'complete', summary: expectedSummary }]);
    expect(registry.audits).toEqual([
      { action: 'scan.complete', outcome: 'success', registry: 'acme', resource: `${REPO}@${image}`, reason: 'complete', detail: { ...expectedSummary } },
    ]);
  });

  it('scans an image with nothing vulnerable (empty database) as complete with no findings', async () => {
    const image = registry.image(REPO, [base]);
    const scan = await scanNow(REPO, image);
    expect(scan).toMatchObject({ status: 'complete', findings: [], summary: summary({}), vulndbGeneration: 0 });
    expect(scan.inventory?.packages).toEqual(BASE_PACKAGES());
  });

  it('does not read a layer again for a second image that shares it, in any repository', async () => {
    await firstImport();
    await scanNow(REPO, registry.image(REPO, [base, app1]));
    expect(registry.reads).toEqual([base, app1]);

    const other = registry.image('acme/api', [base, app2]);
    const scan = await scanNow('acme/api', other);
    expect(registry.reads).toEqual([base, app1, app2]);
    // The shared layer's packages, from its stored inventory, still attributed to it.
    expect(scan.inventory).toEqual({ os: ALPINE_OS, packages: [npm('semver', '7.5.1', app2), ...BASE_PACKAGES()], notes: [] });
    expect(scan.findings?.map((f) => `${f.id} ${f.package.name}`)).toEqual([
      'ALPINE-CVE-2023-5678 libcrypto3',
      'ALPINE-CVE-2023-5678 libssl3',
      'ALPINE-CVE-2022-48174 busybox',
    ]);
  });

  it('reports a manifest deleted before its turn as failed, with the reason', async () => {
    const image = registry.image(REPO, [base]);
    await scanner.queue(REPO, image);
    registry.manifests.delete(`${REPO}@${image}`);
    clock = T0 + 5;
    await registry.runScans(scanner);
    expect(await fixture.stores.scans.get(image)).toMatchObject({
      status: 'failed',
      error: 'the manifest was deleted before it was scanned',
      completedAt: T0 + 5,
      findings: null,
    });
    expect(registry.reads).toEqual([]);
    expect(events).toEqual([{ repository: REPO, digest: image, status: 'failed', summary: null }]);
    expect(registry.audits).toEqual([
      { action: 'scan.complete', outcome: 'failure', registry: 'acme', resource: `${REPO}@${image}`, reason: 'the manifest was deleted before it was scanned' },
    ]);
  });

  it('throws (to be retried) when a layer cannot be read, caching no partial inventory and telling no one', async () => {
    await firstImport();
    const image = registry.image(REPO, [base, app1]);
    await scanner.queue(REPO, image);
    const good = registry.blobs.get(app1)!;
    registry.blobs.set(app1, good.subarray(0, good.length - 40)); // truncated gzip
    await expect(registry.runScans(scanner)).rejects.toThrow();
    expect((await fixture.stores.scans.get(image))?.status).toBe('scanning');
    expect(await fixture.stores.scans.getLayer(app1, LAYER_INVENTORY_FORMAT)).toBeUndefined();
    expect(events).toEqual([]);
    expect(registry.audits).toEqual([]);

    // The retry: the base layer comes from the cache, only the failed one is read again.
    registry.blobs.set(app1, good);
    registry.reads.length = 0;
    await scanner.scan({ repository: REPO, digest: image });
    expect(registry.reads).toEqual([app1]);
    expect((await fixture.stores.scans.get(image))?.findings).toEqual(image1Findings());
  });

  it('marks the scan failed after its attempts are spent, and tells listeners and the audit log', async () => {
    const image = registry.image(REPO, [base]);
    await scanner.queue(REPO, image);
    clock = T0 + 30;
    await scanner.failed({ repository: REPO, digest: image }, 'blob sha256:abc: connection reset');
    expect(await fixture.stores.scans.get(image)).toMatchObject({ status: 'failed', error: 'blob sha256:abc: connection reset', completedAt: T0 + 30 });
    expect(events).toEqual([{ repository: REPO, digest: image, status: 'failed', summary: null }]);
    expect(registry.audits).toEqual([
      { action: 'scan.complete', outcome: 'failure', registry: 'acme', resource: `${REPO}@${image}`, reason: 'blob sha256:abc: connection reset' },
    ]);
    // A failed scan is queued again by the next push of the manifest.
    expect(await scanner.queue(REPO, image)).toBe(true);
  });

  it('stores at most 2000 characters of the error of a failed scan', async () => {
    const image = registry.image(REPO, [base]);
    await scanner.queue(REPO, image);
    const error = `layer read failed: ${'x'.repeat(5000)}`;
    await scanner.failed({ repository: REPO, digest: image }, error);
    const stored = await fixture.stores.scans.get(image);
    expect(stored?.status).toBe('failed');
    expect(stored?.error?.length).toBe(2000);
    expect(stored?.error?.startsWith('layer read failed: xxx')).toBe(true);
  });

  it('keeps the time a scan was queued once it has run', async () => {
    const image = registry.image(REPO, [base]);
    await scanner.queue(REPO, image);
    clock = T0 + 60_000;
    await registry.runScans(scanner);
    expect(await fixture.stores.scans.get(image)).toMatchObject({ status: 'complete', queuedAt: T0, startedAt: T0 + 60_000, completedAt: T0 + 60_000 });
  });

  it('goes on telling other listeners when one throws, and logs it', async () => {
    const after: string[] = [];
    scanner.onCompleted(() => {
      throw new Error('webhook down');
    });
    scanner.onCompleted((e) => after.push(e.digest));
    const image = registry.image(REPO, [base]);
    await scanNow(REPO, image);
    expect(events.map((e) => e.digest)).toEqual([image]);
    expect(after).toEqual([image]);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]!.msg).toBe('a scan.completed listener failed');
    expect(warnings[0]!.obj).toMatchObject({ digest: image });
    expect((await fixture.stores.scans.get(image))?.status).toBe('complete');
  });
});

describe('Scanner: artifacts that are not images', () => {
  it('marks a Helm chart (config media type) unsupported with the reason, reading no layer', async () => {
    const chart = await registry.layer({ 'mychart/Chart.yaml': 'name: mychart\n' });
    const digest = registry.push(REPO, OCI_MANIFEST, {
      schemaVersion: 2,
      config: { mediaType: HELM_CONFIG, digest: sha256('{}'), size: 2 },
      layers: [{ mediaType: 'application/vnd.cncf.helm.chart.content.v1.tar+gzip', digest: chart, size: 10 }],
    });
    const scan = await scanNow(REPO, digest);
    const reason = `an artifact (${HELM_CONFIG}), not a container image`;
    expect(scan).toMatchObject({ status: 'unsupported', kind: 'image', error: reason, inventory: null, findings: null, summary: null });
    expect(registry.reads).toEqual([]);
    expect(events).toEqual([{ repository: REPO, digest, status: 'unsupported', summary: null }]);
    expect(registry.audits).toEqual([{ action: 'scan.complete', outcome: 'success', registry: 'acme', resource: `${REPO}@${digest}`, reason }]);
    // Left alone by later pushes; a rescan is allowed.
    expect(await scanner.queue(REPO, digest)).toBe(false);
    expect(await scanner.queue(REPO, digest, true)).toBe(true);
  });

  it('marks a manifest with an artifactType unsupported, even over an image config', async () => {
    const digest = registry.image(REPO, [base], OCI_CONFIG, { artifactType: 'application/vnd.dev.sigstore.bundle.v0.3+json' });
    const scan = await scanNow(REPO, digest);
    expect(scan).toMatchObject({ status: 'unsupported', error: 'an artifact (application/vnd.dev.sigstore.bundle.v0.3+json), not a container image' });
    expect(registry.reads).toEqual([]);
  });

  it('records when an unsupported artifact was looked at', async () => {
    const digest = registry.image(REPO, [base], HELM_CONFIG);
    clock = T0 + 7;
    const scan = await scanNow(REPO, digest);
    expect(scan).toMatchObject({ status: 'unsupported', completedAt: T0 + 7 });
  });
});

describe('Scanner: multi-platform indexes', () => {
  let amd64: string;
  let arm64: string;
  let index: string;

  beforeEach(async () => {
    await firstImport();
    amd64 = registry.image(REPO, [base, app1]);
    arm64 = registry.image(REPO, [base, app2]);
    const attestation = registry.push(REPO, OCI_MANIFEST, {
      schemaVersion: 2,
      config: { mediaType: 'application/vnd.in-toto+json', digest: sha256('att'), size: 2 },
      layers: [],
    });
    index = registry.push(REPO, OCI_INDEX, {
      schemaVersion: 2,
      mediaType: OCI_INDEX,
      manifests: [
        { mediaType: OCI_MANIFEST, digest: amd64, size: 1, platform: { os: 'linux', architecture: 'amd64' } },
        { mediaType: OCI_MANIFEST, digest: arm64, size: 1, platform: { os: 'linux', architecture: 'arm64', variant: 'v8' } },
        // buildx's provenance attestation: not a platform.
        {
          mediaType: OCI_MANIFEST,
          digest: attestation,
          size: 1,
          platform: { os: 'unknown', architecture: 'unknown' },
          annotations: { 'vnd.docker.reference.type': 'attestation-manifest', 'vnd.docker.reference.digest': amd64 },
        },
      ],
    });
  });

  it('queues each platform (not attestations) and records the index with its platforms', async () => {
    await scanner.queue(REPO, index);
    await scanner.scan({ repository: REPO, digest: index });
    expect(registry.jobs.map((j) => (j.payload as ScanJobPayload).digest)).toEqual([index, amd64, arm64]);
    expect(registry.jobs.every((j) => j.kind === SCAN_JOB)).toBe(true);
    expect(await fixture.stores.scans.get(index)).toMatchObject({
      status: 'complete',
      kind: 'index',
      children: [
        { digest: amd64, platform: 'linux/amd64' },
        { digest: arm64, platform: 'linux/arm64/v8' },
      ],
      inventory: null,
      findings: null,
    });
    expect(registry.reads).toEqual([]);
    expect(events).toEqual([{ repository: REPO, digest: index, status: 'complete', summary: null }]);

    // Before the platforms are scanned, the index is as far along as they are.
    const report = await scanner.report(index);
    expect(report?.status).toBe('queued');
    expect(report?.platforms).toEqual([
      { digest: amd64, platform: 'linux/amd64', status: 'queued', summary: null },
      { digest: arm64, platform: 'linux/arm64/v8', status: 'queued', summary: null },
    ]);
    expect(await scanner.findingsOf(index)).toEqual({ status: 'queued', findings: [] });
  });

  it('reports the index complete once its platforms are, with their summaries added up and their findings, each once', async () => {
    await scanner.queue(REPO, index);
    await registry.runScans(scanner);
    const amd64Summary = summary({ CRITICAL: 1, HIGH: 1, MEDIUM: 2, UNKNOWN: 1 });
    const arm64Summary = summary({ MEDIUM: 2, UNKNOWN: 1 });
    const report = await scanner.report(index);
    expect(report).toMatchObject({
      digest: index,
      kind: 'index',
      status: 'complete',
      summary: summary({ CRITICAL: 1, HIGH: 1, MEDIUM: 4, UNKNOWN: 2 }),
      platforms: [
        { digest: amd64, platform: 'linux/amd64', status: 'complete', summary: amd64Summary },
        { digest: arm64, platform: 'linux/arm64/v8', status: 'complete', summary: arm64Summary },
      ],
    });
    const amd64Findings = (await fixture.stores.scans.get(amd64))!.findings!;
    const arm64Findings = (await fixture.stores.scans.get(arm64))!.findings!;
    expect(amd64Findings).toEqual(image1Findings());
    // A finding both platforms have (their shared base layer) counts once.
    const key = (f: (typeof amd64Findings)[number]) => `${f.id}|${f.package.ecosystem}|${f.package.name}|${f.package.version}`;
    const once = [...new Map([...amd64Findings, ...arm64Findings].map((f) => [key(f), f])).values()];
    expect(once.length).toBeLessThan(amd64Findings.length + arm64Findings.length);
    expect(await scanner.findingsOf(index)).toEqual({ status: 'complete', findings: once });
    // An image's report is its own row; its findingsOf its own findings.
    expect(await scanner.report(amd64)).toEqual(await fixture.stores.scans.get(amd64));
    expect(await scanner.findingsOf(amd64)).toEqual({ status: 'complete', findings: amd64Findings });
    // The base layer was read once for both platforms.
    expect(registry.reads).toEqual([base, app1, app2]);
    expect(events.map((e) => [e.digest, e.status])).toEqual([
      [index, 'complete'],
      [amd64, 'complete'],
      [arm64, 'complete'],
    ]);
  });

  it('reports the index failed when a platform failed, and counts an unsupported platform as done', async () => {
    await scanner.queue(REPO, index);
    await scanner.scan({ repository: REPO, digest: index });
    await scanner.scan({ repository: REPO, digest: amd64 });
    expect((await scanner.report(index))?.status).toBe('queued');

    await fixture.stores.scans.setStatus(arm64, 'unsupported', clock);
    expect(await scanner.report(index)).toMatchObject({ status: 'complete', summary: summary({ CRITICAL: 1, HIGH: 1, MEDIUM: 2, UNKNOWN: 1 }) });
    await fixture.stores.scans.setStatus(amd64, 'unsupported', clock);
    expect(await scanner.report(index)).toMatchObject({ status: 'complete', summary: summary({ CRITICAL: 1, HIGH: 1, MEDIUM: 2, UNKNOWN: 1 }) });
    await fixture.stores.scans.setStatus(amd64, 'complete', clock);

    await scanner.failed({ repository: REPO, digest: arm64 }, 'gave up');
    expect(await scanner.report(index)).toMatchObject({ status: 'failed', summary: summary({ CRITICAL: 1, HIGH: 1, MEDIUM: 2, UNKNOWN: 1 }) });
    expect((await scanner.findingsOf(index)).status).toBe('failed');
  });

  it('reports a platform without a scan of its own as not scanned, and the index as queued', async () => {
    const ghost = sha256('never queued');
    await fixture.stores.scans.saveScan({ ...blankScan(index, 'complete', T0), kind: 'index', children: [{ digest: amd64, platform: 'linux/amd64' }, { digest: ghost }] });
    await scanNow(REPO, amd64);
    const report = await scanner.report(index);
    expect(report?.status).toBe('queued');
    expect(report?.platforms).toEqual([
      { digest: amd64, platform: 'linux/amd64', status: 'complete', summary: summary({ CRITICAL: 1, HIGH: 1, MEDIUM: 2, UNKNOWN: 1 }) },
      { digest: ghost, status: 'not scanned', summary: null },
    ]);
  });

  it('rescans the platforms of an index when the index is rescanned', async () => {
    await scanner.queue(REPO, index);
    await registry.runScans(scanner);
    expect(registry.scanJobsFor(amd64)).toBe(1);

    clock = T0 + 100_000;
    expect(await scanner.queue(REPO, index, true)).toBe(true);
    await registry.runScans(scanner);
    expect(registry.scanJobsFor(amd64)).toBe(2);
    expect(registry.scanJobsFor(arm64)).toBe(2);
    expect((await fixture.stores.scans.get(amd64))?.startedAt).toBe(T0 + 100_000);
  });

  it('records when an index scan finished', async () => {
    clock = T0 + 9;
    await scanner.queue(REPO, index);
    await scanner.scan({ repository: REPO, digest: index });
    expect(await fixture.stores.scans.get(index)).toMatchObject({ status: 'complete', completedAt: T0 + 9 });
  });
});

describe('Scanner: matching again after the database changed', () => {
  it('updates findings and generation of every complete image scan from its stored inventory, reading no layer', async () => {
    const first = await firstImport();
    const web = registry.image(REPO, [base, app1]);
    const api = registry.image('acme/api', [base, app2]);
    await scanNow(REPO, web);
    await scanNow('acme/api', api);
    const unsupported = registry.image(REPO, [base], HELM_CONFIG);
    await scanNow(REPO, unsupported);
    const reads = registry.reads.length;
    events.length = 0;

    const second = await importRecords(fixture, SEMVER_REDOS, MUSL_ICONV);
    expect(second).toBeGreaterThan(first);
    expect(await scanner.rematch()).toBe(2);
    expect(registry.reads).toHaveLength(reads);

    const musl = (layerDigest: string): Finding => ({
      id: 'ALPINE-CVE-2025-26519',
      aliases: ['CVE-2025-26519'],
      severity: 'HIGH',
      score: 8.1,
      vector: 'CVSS:3.1/AV:N/AC:H/PR:N/UI:N/S:U/C:H/I:H/A:H',
      summary: 'musl: iconv out-of-bounds write',
      package: { ...apkFinding('musl', 'musl', '1.2.4_git20230717-r4'), layerDigest },
      fixedVersion: '1.2.4_git20230717-r5',
    });
    const webScan = (await fixture.stores.scans.get(web))!;
    const [minimist, lodash, ...rest] = image1Findings();
    expect(webScan.findings).toEqual([minimist, musl(base), lodash, ...rest]);
    expect(webScan).toMatchObject({ status: 'complete', vulndbGeneration: second, summary: summary({ CRITICAL: 1, HIGH: 2, MEDIUM: 2, UNKNOWN: 1 }) });
    expect(webScan.inventory?.packages).toHaveLength(6);

    const apiScan = (await fixture.stores.scans.get(api))!;
    expect(apiScan.findings?.map((f) => `${f.severity} ${f.id} ${f.package.name}`)).toEqual([
      'HIGH ALPINE-CVE-2025-26519 musl',
      'MEDIUM ALPINE-CVE-2023-5678 libcrypto3',
      'MEDIUM ALPINE-CVE-2023-5678 libssl3',
      'MEDIUM GHSA-c2qf-rxjj-qqgw semver',
      'UNKNOWN ALPINE-CVE-2022-48174 busybox',
    ]);
    expect(apiScan.vulndbGeneration).toBe(second);
    // Unsupported scans are not touched; nothing is left to match again.
    expect(await fixture.stores.scans.get(unsupported)).toMatchObject({ status: 'unsupported', vulndbGeneration: 0, findings: null });
    expect(await scanner.rematch()).toBe(0);
    // A rematch is not a scan: no events, no audit entries.
    expect(events).toEqual([]);
  });

  it('pages through more stale scans than one page holds', async () => {
    const inventory = { os: ALPINE_OS, packages: BASE_PACKAGES(), notes: [] };
    const digests = Array.from({ length: 230 }, (_, i) => sha256(`image ${i}`));
    for (const digest of digests) {
      await fixture.stores.scans.saveScan({ ...blankScan(digest, 'complete', T0), inventory, findings: [], summary: summary({}), completedAt: T0 });
    }
    const generation = await firstImport();
    expect(await scanner.rematch()).toBe(230);
    const summaries = await fixture.stores.scans.summaries(digests);
    expect(new Set([...summaries.values()].map((s) => JSON.stringify(s.summary)))).toEqual(new Set([JSON.stringify(summary({ MEDIUM: 2, UNKNOWN: 1 }))]));
    expect(await fixture.stores.scans.staleScans(generation, '', 10)).toEqual([]);
    expect(registry.reads).toEqual([]);
  });

  it('stops when its job is aborted', async () => {
    const image = registry.image(REPO, [base]);
    await scanNow(REPO, image);
    await firstImport();
    const controller = new AbortController();
    controller.abort(new Error('shutdown'));
    await expect(scanner.rematch(controller.signal)).rejects.toThrow('shutdown');
    expect((await fixture.stores.scans.get(image))?.vulndbGeneration).toBe(0);
  });

  it('a database change while a rematch is running still gets a rematch of its own (real job queue)', async () => {
    const jobs = fixture.stores.jobs;
    const queued = new Scanner({
      scans: fixture.stores.scans,
      vulndb: fixture.stores.vulndb,
      detectors: defaultDetectors,
      ...registry.deps(),
      enqueue: async (kind, payload, dedupeKey) => void (await jobs.enqueue(kind, payload, { dedupeKey })),
      now: () => clock,
    });
    await firstImport();
    await queued.queueRematch();
    const running = await jobs.claim([REMATCH_JOB], 'node-a', 60_000);
    expect(running?.kind).toBe(REMATCH_JOB);

    await importRecords(fixture, SEMVER_REDOS);
    await queued.queueRematch();
    await jobs.complete(running!.id, 'node-a');
    expect((await jobs.claim([REMATCH_JOB], 'node-a', 60_000))?.kind).toBe(REMATCH_JOB);
  });
});

describe('Scanner: pull policies', () => {
  it('gives NO_POLICY for a registry without one, and the policy set for it', async () => {
    const acme = await fixture.stores.access.createRegistry('acme', false);
    expect(await scanner.policy(acme.id)).toEqual(NO_POLICY);
    const policy = { blockSeverity: 'HIGH' as const, allowlist: ['CVE-2021-23337'], blockUnscanned: true };
    await scanner.setPolicy(acme.id, policy);
    expect(await scanner.policy(acme.id)).toEqual(policy);
  });
});
