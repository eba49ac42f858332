/**
 * Seeds a running Berth with what the control panel's pages show: a registry
 * with a single-platform image and a two-platform index (pushed with skopeo from
 * an OCI layout written in code), a Debian image whose dpkg database holds
 * packages named by OSV records imported first, so its scan on push ends with
 * findings, an SBOM artifact whose `subject` is the image (pushed over /v2/ by
 * HTTP, as ORAS would), and an empty registry for the getting-started panel.
 * Every step checks its answer and throws with it, so a broken seed says why.
 */
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { requireTool, run } from '../../support/clients.js';
import { buildTestLayout, OCI_MANIFEST } from '../../support/oci-layout.js';
import { filesLayer, ImageLayout, parents, type FileSpec, type VulnerabilityReport } from '../../scan/support.js';
import { expectStatus } from './http.js';

export interface SeededImages {
  /** 'acme' */
  registry: string;
  /** Paths inside the registry: ['app', 'tools/debian']. */
  repositories: string[];
  /** A single-platform image: app:image. */
  image: { repo: string; tag: string; digest: string };
  /** A linux/amd64 + linux/arm64 index: app:multi. */
  index: { repo: string; tag: string; digest: string; platforms: string[] };
  /** tools/debian:bookworm, scanned to completion, with findings. */
  vulnerable: { repo: string; tag: string; digest: string; advisoryIds: string[]; packages: string[] };
  /** An SPDX SBOM artifact whose subject is `image`, in the same repository. */
  referrer: { repo: string; subjectDigest: string; digest: string; artifactType: string };
  /** A registry with no repositories. */
  emptyRegistry: string;
}

/** What the seed needs of the environment: the server, its admin and an API caller. */
export interface SeedTarget {
  host: string;
  adminUser: string;
  adminPassword: string;
  /** Basic-auth fetch as admin; `path` starts with /api/ or /v2/. */
  api(path: string, init?: RequestInit): Promise<Response>;
}

export const SEED_REGISTRY = 'acme';
export const EMPTY_REGISTRY = 'sandbox';
export const SBOM_ARTIFACT_TYPE = 'application/spdx+json';

/**
 * The Debian packages in the vulnerable image (binary name, version, source
 * package and version), and OSV records for Debian 12 naming their sources.
 */
const DEBIAN_PACKAGES = [
  { name: 'base-files', version: '12.4+deb12u5', source: undefined },
  { name: 'bash', version: '5.2.15-2+b2', source: 'bash (5.2.15-2)' },
  { name: 'libssl3', version: '3.0.11-1~deb12u2', source: 'openssl' },
  { name: 'zlib1g', version: '1:1.2.13.dfsg-1', source: 'zlib' },
  { name: 'tar', version: '1.34+dfsg-1.2', source: undefined },
  { name: 'libc6', version: '2.36-9+deb12u4', source: 'glibc' },
] as const;

interface Advisory {
  id: string;
  alias: string;
  source: string;
  fixed: string;
  vector: string;
  summary: string;
}

/** One advisory per severity (CVSS 3.1: 9.8, 7.5, 5.4, 1.9) plus one whose fix is already installed. */
const ADVISORIES: Advisory[] = [
  { id: 'DEBIAN-CVE-2099-41001', alias: 'CVE-2099-41001', source: 'openssl', fixed: '3.0.13-1~deb12u1', vector: 'CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H', summary: 'openssl: buffer overflow in certificate name checks' },
  { id: 'DEBIAN-CVE-2099-41002', alias: 'CVE-2099-41002', source: 'zlib', fixed: '1:1.2.13.dfsg-1+deb12u1', vector: 'CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:H/A:N', summary: 'zlib: heap overflow in inflateGetHeader' },
  { id: 'DEBIAN-CVE-2099-41003', alias: 'CVE-2099-41003', source: 'bash', fixed: '5.2.15-2+deb12u1', vector: 'CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:U/C:L/I:L/A:N', summary: 'bash: command injection through crafted prompt strings' },
  { id: 'DEBIAN-CVE-2099-41004', alias: 'CVE-2099-41004', source: 'tar', fixed: '1.34+dfsg-1.2+deb12u1', vector: 'CVSS:3.1/AV:L/AC:H/PR:H/UI:N/S:U/C:L/I:N/A:N', summary: 'tar: information disclosure through symlinked archive members' },
  // Fixed in a version older than the installed one: never a finding.
  { id: 'DEBIAN-CVE-2099-41005', alias: 'CVE-2099-41005', source: 'glibc', fixed: '2.36-9+deb12u1', vector: 'CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H', summary: 'glibc: already fixed in the installed version' },
];
/** The advisories the scan must report, and the binary packages they are found in. */
const EXPECTED_FINDINGS = [
  { id: 'DEBIAN-CVE-2099-41001', pkg: 'libssl3' },
  { id: 'DEBIAN-CVE-2099-41002', pkg: 'zlib1g' },
  { id: 'DEBIAN-CVE-2099-41003', pkg: 'bash' },
  { id: 'DEBIAN-CVE-2099-41004', pkg: 'tar' },
];

const osvRecord = (a: Advisory) => ({
  schema_version: '1.6.0',
  id: a.id,
  aliases: [a.alias],
  modified: '2025-01-01T00:00:00Z',
  published: '2025-01-01T00:00:00Z',
  summary: a.summary,
  details: `${a.summary}. Fixed in ${a.source} ${a.fixed}.`,
  severity: [{ type: 'CVSS_V3', score: a.vector }],
  affected: [{ package: { ecosystem: 'Debian:12', name: a.source, purl: `pkg:deb/debian/${a.source}?distro=debian-12` }, ranges: [{ type: 'ECOSYSTEM', events: [{ introduced: '0' }, { fixed: a.fixed }] }] }],
  references: [{ type: 'ADVISORY', url: `https://security-tracker.debian.org/tracker/${a.alias}` }],
});

function dpkgStatus(): string {
  return DEBIAN_PACKAGES.map((p) =>
    [
      `Package: ${p.name}`,
      'Status: install ok installed',
      'Priority: required',
      'Section: libs',
      'Installed-Size: 1024',
      'Maintainer: Debian Developers <debian-devel@lists.debian.org>',
      'Architecture: amd64',
      ...(p.source ? [`Source: ${p.source}`] : []),
      `Version: ${p.version}`,
      `Description: ${p.name} (UI test fixture)`,
      '',
    ].join('\n'),
  ).join('\n');
}

const OS_RELEASE = [
  'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"',
  'NAME="Debian GNU/Linux"',
  'VERSION_ID="12"',
  'VERSION="12 (bookworm)"',
  'VERSION_CODENAME=bookworm',
  'ID=debian',
  'HOME_URL="https://www.debian.org/"',
  '',
].join('\n');

const sha256 = (data: Buffer | string) => `sha256:${createHash('sha256').update(data).digest('hex')}`;

async function skopeoCopy(src: string, dest: string, creds: string, all = false): Promise<void> {
  await run('skopeo', ['copy', '--quiet', '--preserve-digests', '--dest-tls-verify=false', '--dest-creds', creds, ...(all ? ['--all'] : []), src, dest], { timeoutMs: 300_000 });
}

/** Monolithic blob upload over /v2/ (POST ?digest=). */
async function pushBlob(target: SeedTarget, repo: string, data: Buffer): Promise<{ digest: string; size: number }> {
  const digest = sha256(data);
  const res = await target.api(`/v2/${repo}/blobs/uploads/?digest=${digest}`, { method: 'POST', body: new Uint8Array(data), headers: { 'content-type': 'application/octet-stream' } });
  await expectStatus(res, 201, `blob upload of ${digest} to ${repo}`);
  return { digest, size: data.length };
}

/** Polls the vulnerability report until the scan has ended; throws with the last answer after `timeoutMs`. */
async function scanned(target: SeedTarget, registry: string, repo: string, digest: string, timeoutMs = 120_000): Promise<VulnerabilityReport> {
  const path = `/api/v2/registries/${registry}/repositories/${encodeURIComponent(repo)}/digests/${digest}/vulnerabilities`;
  const deadline = Date.now() + timeoutMs;
  let last = '';
  for (;;) {
    const res = await target.api(path);
    const text = await res.text();
    last = `${res.status} ${text.slice(0, 1500)}`;
    if (res.status === 200) {
      const report = (JSON.parse(text) as { vulnerabilities: VulnerabilityReport }).vulnerabilities;
      if (['complete', 'failed', 'unsupported'].includes(report.status)) return report;
    }
    if (Date.now() > deadline) throw new Error(`seeding: the scan of ${registry}/${repo}@${digest} did not end in ${timeoutMs} ms; last answer ${last}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** Pushes everything in SeededImages into the server; `work` is a scratch directory. */
export async function seedImages(target: SeedTarget, work: string): Promise<SeededImages> {
  await requireTool('skopeo');
  const registry = SEED_REGISTRY;
  const creds = `${target.adminUser}:${target.adminPassword}`;
  const json = (body: unknown): RequestInit => ({ method: 'POST', body: JSON.stringify(body), headers: { 'content-type': 'application/json' } });

  // Registries first: the seeded one, and one that stays empty.
  await expectStatus(await target.api('/api/v2/registries', json({ name: registry })), 201, `POST /api/v2/registries ${registry}`);
  await expectStatus(await target.api('/api/v2/registries', json({ name: EMPTY_REGISTRY })), 201, `POST /api/v2/registries ${EMPTY_REGISTRY}`);

  // The OSV records before the push, so the scan on push matches them.
  const ndjson = ADVISORIES.map((a) => JSON.stringify(osvRecord(a))).join('\n') + '\n';
  const imported = JSON.parse(
    await expectStatus(
      await target.api('/api/v2/vulndb/imports?source=berth-ui-fixtures', { method: 'POST', body: ndjson, headers: { 'content-type': 'application/x-ndjson' } }),
      200,
      'POST /api/v2/vulndb/imports',
    ),
  ) as { import: { imported: number; problems: unknown[] } };
  if (imported.import.imported !== ADVISORIES.length) throw new Error(`seeding: the OSV import stored ${imported.import.imported} of ${ADVISORIES.length} records: ${JSON.stringify(imported.import)}`);

  // app:image and app:multi from an OCI layout; tools/debian:bookworm from another.
  const appRepo = 'app';
  const debianRepo = 'tools/debian';
  const layout = await buildTestLayout({ dir: join(work, 'app-layout'), seed: 'ui' });
  const debian = new ImageLayout(join(work, 'debian-layout'));
  const files: FileSpec[] = [
    { name: 'etc/os-release', content: OS_RELEASE },
    { name: 'etc/debian_version', content: '12.5\n' },
    { name: 'var/lib/dpkg/status', content: dpkgStatus() },
  ];
  const layer = await filesLayer([...parents(...files.map((f) => f.name)), ...files], debian.layerPath('bookworm'));
  const vulnerableImage = debian.image('bookworm', [layer], { cmd: ['/bin/bash'], labels: { 'org.opencontainers.image.title': 'debian fixture' } });

  const host = target.host;
  await Promise.all([
    (async () => {
      await skopeoCopy(`oci:${layout.dir}:${layout.image.tag}`, `docker://${host}/${registry}/${appRepo}:${layout.image.tag}`, creds);
      await skopeoCopy(`oci:${layout.dir}:${layout.index.tag}`, `docker://${host}/${registry}/${appRepo}:${layout.index.tag}`, creds, true);
    })(),
    skopeoCopy(`oci:${debian.dir}:bookworm`, `docker://${host}/${registry}/${debianRepo}:bookworm`, creds),
  ]);

  // An SPDX SBOM referring to app:image, pushed by digest over /v2/.
  const appPath = `${registry}/${appRepo}`;
  const emptyConfig = await pushBlob(target, appPath, Buffer.from('{}'));
  const sbom = Buffer.from(
    JSON.stringify({
      spdxVersion: 'SPDX-2.3',
      dataLicense: 'CC0-1.0',
      SPDXID: 'SPDXRef-DOCUMENT',
      name: `${appPath}:${layout.image.tag}`,
      documentNamespace: `https://berth.example/spdx/${layout.image.digest}`,
      creationInfo: { created: '2024-01-01T00:00:00Z', creators: ['Tool: berth-ui-fixtures'] },
      packages: [{ SPDXID: 'SPDXRef-app', name: 'app', versionInfo: '1.0.0', downloadLocation: 'NOASSERTION' }],
    }),
  );
  const sbomBlob = await pushBlob(target, appPath, sbom);
  const artifact = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      artifactType: SBOM_ARTIFACT_TYPE,
      config: { mediaType: 'application/vnd.oci.empty.v1+json', ...emptyConfig, data: 'e30=' },
      layers: [{ mediaType: SBOM_ARTIFACT_TYPE, ...sbomBlob, annotations: { 'org.opencontainers.image.title': 'sbom.spdx.json' } }],
      subject: { mediaType: OCI_MANIFEST, digest: layout.image.digest, size: layout.image.size },
      annotations: { 'org.opencontainers.image.created': '2024-01-01T00:00:00Z' },
    }),
  );
  const artifactDigest = sha256(artifact);
  const put = await target.api(`/v2/${appPath}/manifests/${artifactDigest}`, { method: 'PUT', body: new Uint8Array(artifact), headers: { 'content-type': OCI_MANIFEST } });
  await expectStatus(put, 201, `PUT the SBOM manifest ${artifactDigest}`);
  const referrers = await target.api(`/v2/${appPath}/referrers/${layout.image.digest}`);
  const listed = JSON.parse(await expectStatus(referrers, 200, 'GET referrers of app:image')) as { manifests: { digest: string }[] };
  if (!listed.manifests.some((m) => m.digest === artifactDigest)) throw new Error(`seeding: the referrers of ${layout.image.digest} do not list the SBOM ${artifactDigest}: ${JSON.stringify(listed)}`);

  // The Debian image's scan on push, to completion, with the expected findings.
  const report = await scanned(target, registry, debianRepo, vulnerableImage.digest);
  const found = report.findings.map((f) => `${f.id} ${f.package.name}`).sort();
  const expected = EXPECTED_FINDINGS.map((f) => `${f.id} ${f.pkg}`).sort();
  if (report.status !== 'complete' || JSON.stringify(found) !== JSON.stringify(expected)) {
    throw new Error(`seeding: the scan of ${registry}/${debianRepo}@${vulnerableImage.digest} ended ${report.status} (${report.error ?? 'no error'}) with findings ${JSON.stringify(found)}; expected ${JSON.stringify(expected)}`);
  }

  return {
    registry,
    repositories: [appRepo, debianRepo],
    image: { repo: appRepo, tag: layout.image.tag, digest: layout.image.digest },
    index: { repo: appRepo, tag: layout.index.tag, digest: layout.index.digest, platforms: Object.values(layout.index.platforms).map((p) => `${p.os}/${p.architecture}`) },
    vulnerable: {
      repo: debianRepo,
      tag: 'bookworm',
      digest: vulnerableImage.digest,
      advisoryIds: EXPECTED_FINDINGS.map((f) => f.id),
      packages: EXPECTED_FINDINGS.map((f) => f.pkg),
    },
    referrer: { repo: appRepo, subjectDigest: layout.image.digest, digest: artifactDigest, artifactType: SBOM_ARTIFACT_TYPE },
    emptyRegistry: EMPTY_REGISTRY,
  };
}
