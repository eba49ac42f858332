/**
 * Language packages and an Alpine system in image layers, inventoried exactly:
 * an npm node_modules tree (scoped and nested packages, one upgraded and one
 * deleted by a whiteout in an upper layer), Python distributions (.dist-info
 * METADATA and .egg-info PKG-INFO; a virtualenv replaced through an opaque
 * whiteout), Go binaries (one built here with module deps and a replacement,
 * compared with `go version -m`; one of Debian's, built without modules), and
 * an apk database under an Alpine os-release, extended by an upper layer
 * (`apk add`). The images are written in code and pushed with skopeo.
 */
import { copyFileSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_PASSWORD, basic } from '../auth/helpers.js';
import { startBerth, tempDir, type BerthProcess } from '../support/berth-process.js';
import {
  buildGoProgram,
  expectSameItems,
  filesLayer,
  goModules,
  ImageLayout,
  parents,
  ScanApi,
  skopeoPush,
  toolsOrSkipReason,
  type BuiltImage,
  type FileSpec,
  type ReportedPackage,
  type VulnerabilityReport,
} from './support.js';

const skipReason = await toolsOrSkipReason({ skopeo: 'skopeo', go: 'golang-go', umoci: 'umoci' });
if (skipReason) console.warn(`skipping the language package scan tests: ${skipReason}`);

const REGISTRY = 'scan-lang';
const CREDS = `admin:${ADMIN_PASSWORD}`;

let work: string;
let berth: BerthProcess;
let api: ScanApi;
let layoutDir: string;
let lang: BuiltImage;
let alpine: BuiltImage;
/** What `go version -m` says of each binary put in the image, by its path there. */
let goBinaries: Record<string, { name: string; version: string }[]>;

const json = (value: object) => `${JSON.stringify(value, null, 2)}\n`;
const packageJson = (name: string, version: string, extra: object = {}): string =>
  json({ name, version, description: `${name} for the scan tests`, license: 'MIT', main: 'index.js', ...extra });
const pythonMetadata = (name: string, version: string) =>
  `Metadata-Version: 2.1\nName: ${name}\nVersion: ${version}\nSummary: ${name} for the scan tests\nLicense: Apache-2.0\n\n${name}\n${'='.repeat(name.length)}\n\nVersion: 0.0.0-not-this-one\n`;

/** One apk `installed` stanza: the fields apk writes, with a file list. */
function apkStanza(p: { name: string; version: string; origin: string; license: string; files: string[] }): string {
  return [
    `C:Q1${Buffer.from(`${p.name}-${p.version}`).toString('base64').slice(0, 26)}=`,
    `P:${p.name}`,
    `V:${p.version}`,
    'A:x86_64',
    'S:123456',
    'I:456789',
    `T:${p.name} package`,
    'U:https://alpinelinux.org',
    `L:${p.license}`,
    `o:${p.origin}`,
    'm:Natanael Copa <ncopa@alpinelinux.org>',
    't:1705940090',
    'c:0123456789abcdef0123456789abcdef01234567',
    ...p.files.flatMap((f) => {
      const slash = f.lastIndexOf('/');
      return [`F:${f.slice(0, slash)}`, `R:${f.slice(slash + 1)}`, 'a:0:0:755', `Z:Q1${Buffer.from(f).toString('base64').slice(0, 26)}=`];
    }),
    '',
  ].join('\n');
}

const ALPINE_BASE = [
  { name: 'musl', version: '1.2.4_git20230717-r4', origin: 'musl', license: 'MIT', files: ['lib/ld-musl-x86_64.so.1'] },
  { name: 'busybox', version: '1.36.1-r15', origin: 'busybox', license: 'GPL-2.0-only', files: ['bin/busybox'] },
  { name: 'busybox-binsh', version: '1.36.1-r15', origin: 'busybox', license: 'GPL-2.0-only', files: ['bin/sh'] },
  { name: 'alpine-baselayout', version: '3.4.3-r2', origin: 'alpine-baselayout', license: 'GPL-2.0-only', files: ['etc/motd'] },
  { name: 'alpine-baselayout-data', version: '3.4.3-r2', origin: 'alpine-baselayout', license: 'GPL-2.0-only', files: ['etc/fstab'] },
  { name: 'alpine-keys', version: '2.4-r1', origin: 'alpine-keys', license: 'MIT', files: ['etc/apk/keys/alpine-devel@lists.alpinelinux.org-4a6a0840.rsa.pub'] },
  { name: 'ca-certificates-bundle', version: '20230506-r0', origin: 'ca-certificates', license: 'MPL-2.0 AND MIT', files: ['etc/ssl/certs/ca-certificates.crt'] },
  { name: 'libcrypto3', version: '3.1.4-r5', origin: 'openssl', license: 'Apache-2.0', files: ['lib/libcrypto.so.3'] },
  { name: 'libssl3', version: '3.1.4-r5', origin: 'openssl', license: 'Apache-2.0', files: ['lib/libssl.so.3'] },
  { name: 'ssl_client', version: '1.36.1-r15', origin: 'busybox', license: 'GPL-2.0-only', files: ['usr/bin/ssl_client'] },
  { name: 'zlib', version: '1.3.1-r0', origin: 'zlib', license: 'Zlib', files: ['lib/libz.so.1.3.1'] },
  { name: 'apk-tools', version: '2.14.0-r5', origin: 'apk-tools', license: 'GPL-2.0-only', files: ['sbin/apk'] },
  { name: 'scanelf', version: '1.3.7-r2', origin: 'pax-utils', license: 'GPL-2.0-only', files: ['usr/bin/scanelf'] },
  { name: 'musl-utils', version: '1.2.4_git20230717-r4', origin: 'musl', license: 'MIT AND BSD-2-Clause AND GPL-2.0-or-later', files: ['usr/bin/ldd'] },
  { name: 'libc-utils', version: '0.7.2-r5', origin: 'libc-dev', license: 'BSD-2-Clause AND BSD-3-Clause', files: [] },
];
/** What `apk add curl` adds in the upper layer. */
const ALPINE_ADDED = [
  { name: 'nghttp2-libs', version: '1.58.0-r0', origin: 'nghttp2', license: 'MIT', files: ['usr/lib/libnghttp2.so.14'] },
  { name: 'libcurl', version: '8.5.0-r0', origin: 'curl', license: 'curl', files: ['usr/lib/libcurl.so.4'] },
  { name: 'curl', version: '8.5.0-r0', origin: 'curl', license: 'curl', files: ['usr/bin/curl'] },
];
const ALPINE_OS_RELEASE = 'NAME="Alpine Linux"\nID=alpine\nVERSION_ID=3.19.1\nPRETTY_NAME="Alpine Linux v3.19"\nHOME_URL="https://alpinelinux.org/"\nBUG_REPORT_URL="https://gitlab.alpinelinux.org/alpine/aports/-/issues"\n';

describe.skipIf(skipReason)('language packages and an Alpine system in image layers', () => {
  beforeAll(async () => {
    work = tempDir('berth-scan-lang-');
    layoutDir = join(work, 'layout');
    const layout = new ImageLayout(layoutDir);
    const program = await buildGoProgram(join(work, 'go'));
    const debianGo = join(work, 'umoci');
    copyFileSync('/usr/bin/umoci', debianGo);
    goBinaries = { 'usr/local/bin/scanfixture': await goModules(program), 'usr/bin/umoci': await goModules(debianGo) };

    // --- the language image: three layers -------------------------------------------
    const nm = 'app/node_modules';
    const site = 'usr/local/lib/python3.11/site-packages';
    const venv = 'opt/venv/lib/python3.11/site-packages';
    const lower: FileSpec[] = [
      { name: 'app/package.json', content: packageJson('scan-test-app', '1.0.0', { private: true, dependencies: { express: '^4.18.2' } }) },
      { name: 'app/server.js', content: "require('express')().listen(8080);\n" },
      { name: `${nm}/express/package.json`, content: packageJson('express', '4.18.2') },
      { name: `${nm}/express/index.js`, content: "module.exports = require('./lib/express');\n" },
      { name: `${nm}/express/node_modules/debug/package.json`, content: packageJson('debug', '2.6.9') },
      { name: `${nm}/@babel/core/package.json`, content: packageJson('@babel/core', '7.23.0') },
      { name: `${nm}/left-pad/package.json`, content: packageJson('left-pad', '1.3.0', { license: 'WTFPL' }) },
      { name: `${nm}/left-pad/index.js`, content: 'module.exports = (s, n) => String(s).padStart(n);\n' },
      { name: `${nm}/lodash/package.json`, content: packageJson('lodash', '4.17.20') },
      { name: `${site}/requests-2.31.0.dist-info/METADATA`, content: pythonMetadata('requests', '2.31.0') },
      { name: `${site}/requests-2.31.0.dist-info/RECORD`, content: 'requests/__init__.py,,\n' },
      { name: `${site}/requests/__init__.py`, content: "__version__ = '2.31.0'\n" },
      { name: `${site}/PyYAML-6.0.1-py3.11.egg-info/PKG-INFO`, content: pythonMetadata('PyYAML', '6.0.1') },
      { name: `${site}/PyYAML-6.0.1-py3.11.egg-info/top_level.txt`, content: 'yaml\n' },
      { name: `${venv}/urllib3-1.26.18.dist-info/METADATA`, content: pythonMetadata('urllib3', '1.26.18') },
      { name: `${venv}/idna-3.4.dist-info/METADATA`, content: pythonMetadata('idna', '3.4') },
    ];
    const upper: FileSpec[] = [
      // npm uninstall left-pad: an OCI whiteout deletes its directory.
      { name: `${nm}/.wh.left-pad` },
      // npm install lodash@4.17.21: the package.json is replaced.
      { name: `${nm}/lodash/package.json`, content: packageJson('lodash', '4.17.21') },
      // The virtualenv made again: an opaque whiteout hides everything below, then the new contents.
      { name: `${venv}/.wh..wh..opq` },
      { name: `${venv}/urllib3-2.0.7.dist-info/METADATA`, content: pythonMetadata('urllib3', '2.0.7') },
    ];
    const binaries: FileSpec[] = [
      { name: 'usr/local/bin/scanfixture', content: readFileSync(program), mode: 0o755 },
      { name: 'usr/bin/umoci', content: readFileSync(debianGo), mode: 0o755 },
      { name: 'usr/local/bin/run.sh', content: '#!/bin/sh\nexec /usr/local/bin/scanfixture\n', mode: 0o755 },
    ];
    const withParents = (files: FileSpec[]) => [...parents(...files.map((f) => f.name)), ...files];
    lang = layout.image('lang', [
      await filesLayer(withParents(lower), layout.layerPath('lang-1')),
      await filesLayer(withParents(upper), layout.layerPath('lang-2')),
      await filesLayer(withParents(binaries), layout.layerPath('lang-3')),
    ]);

    // --- the Alpine image: a base layer and `apk add curl` ---------------------------------
    const db = 'lib/apk/db/installed';
    const alpineBase: FileSpec[] = [
      { name: 'etc/os-release', content: ALPINE_OS_RELEASE },
      { name: 'etc/alpine-release', content: '3.19.1\n' },
      { name: db, content: ALPINE_BASE.map(apkStanza).join('\n') },
    ];
    const apkAdd: FileSpec[] = [{ name: db, content: [...ALPINE_BASE, ...ALPINE_ADDED].map(apkStanza).join('\n') }];
    alpine = layout.image('alpine', [
      await filesLayer(withParents(alpineBase), layout.layerPath('alpine-1')),
      await filesLayer(withParents(apkAdd), layout.layerPath('alpine-2')),
    ]);

    berth = await startBerth({ dataDir: join(work, 'berth'), adminPassword: ADMIN_PASSWORD });
    api = new ScanApi(berth.url, basic('admin', ADMIN_PASSWORD));
    await api.expect(201, 'POST', '/registries', { name: REGISTRY });
    await skopeoPush(layoutDir, 'lang', berth.host, `${REGISTRY}/lang`, CREDS);
    await skopeoPush(layoutDir, 'alpine', berth.host, `${REGISTRY}/alpine`, CREDS);
  }, 20 * 60_000);

  afterAll(async () => {
    await berth?.stop();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  /** A package as compared: where it is and which layer brought it, by layer number. */
  const line = (image: BuiltImage, p: { ecosystem: string; name: string; version: string; source_name?: string; source_version?: string; location: string; layer_digest: string }) => {
    const layer = image.layers.findIndex((l) => l.digest === p.layer_digest);
    const source = p.source_name !== undefined || p.source_version !== undefined ? ` (source ${p.source_name ?? p.name} ${p.source_version ?? p.version})` : '';
    return `${p.ecosystem} ${p.name} ${p.version}${source} at ${p.location} from ${layer < 0 ? `unknown layer ${p.layer_digest}` : `layer ${layer + 1}`}`;
  };

  async function scanned(repo: string, image: BuiltImage): Promise<VulnerabilityReport> {
    const report = await api.scanned(REGISTRY, repo, image.digest);
    expect(report.status, `scan of ${repo}: ${report.status} ${report.error}`).toBe('complete');
    return report;
  }

  it('lists exactly the npm, PyPI and Go packages left in the layers, and none deleted by whiteouts', async () => {
    const report = await scanned('lang', lang);
    const at = (layer: number) => lang.layers[layer - 1]!.digest;
    const npm = (name: string, version: string, location: string, layer = 1) => ({ ecosystem: 'npm', name, version, location: `app/node_modules/${location}/package.json`, layer_digest: at(layer) });
    const pypi = (name: string, version: string, location: string, layer = 1) => ({ ecosystem: 'PyPI', name, version, location, layer_digest: at(layer) });
    const expected = [
      npm('express', '4.18.2', 'express'),
      npm('debug', '2.6.9', 'express/node_modules/debug'),
      npm('@babel/core', '7.23.0', '@babel/core'),
      npm('lodash', '4.17.21', 'lodash', 2),
      pypi('requests', '2.31.0', 'usr/local/lib/python3.11/site-packages/requests-2.31.0.dist-info/METADATA'),
      pypi('PyYAML', '6.0.1', 'usr/local/lib/python3.11/site-packages/PyYAML-6.0.1-py3.11.egg-info/PKG-INFO'),
      pypi('urllib3', '2.0.7', 'opt/venv/lib/python3.11/site-packages/urllib3-2.0.7.dist-info/METADATA', 2),
      ...Object.entries(goBinaries).flatMap(([location, modules]) => modules.map((m) => ({ ecosystem: 'Go', ...m, location, layer_digest: at(3) }))),
    ];
    // The fixtures are what they claim: the built program has a main module, deps and a replaced dep; Debian's has no module info.
    expect(goBinaries['usr/local/bin/scanfixture']!.map((m) => `${m.name} ${m.version}`).slice(1)).toEqual([
      'example.com/scanfixture (devel)',
      'example.com/colors-fork v0.3.1',
      'example.com/greeting v1.4.2',
    ]);
    expect(goBinaries['usr/bin/umoci']!.map((m) => m.name)).toEqual(['stdlib']);

    expectSameItems(
      (report.packages ?? []).map((p) => line(lang, p)),
      expected.map((p) => line(lang, p)),
      'packages of the language image',
    );
    expect(report.package_count).toBe(expected.length);
    expect(report.os, 'an image without os-release has no OS').toBeNull();
  });

  it('lists the apk database under its Alpine release, each package with its origin and the layer that added it', async () => {
    const report = await scanned('alpine', alpine);
    expect(report.os).toMatchObject({ id: 'alpine', version_id: '3.19.1', ecosystem: 'Alpine:v3.19' });
    const expected = [...ALPINE_BASE.map((p) => ({ p, layer: 1 })), ...ALPINE_ADDED.map((p) => ({ p, layer: 2 }))].map(({ p, layer }) => ({
      ecosystem: 'Alpine:v3.19',
      name: p.name,
      version: p.version,
      source_name: p.origin,
      source_version: p.version,
      location: 'lib/apk/db/installed',
      layer_digest: alpine.layers[layer - 1]!.digest,
    }));
    expectSameItems(
      (report.packages ?? []).map((p) => line(alpine, { ...p, source_name: p.source_name ?? p.name, source_version: p.source_version ?? p.version })),
      expected.map((p) => line(alpine, p)),
      'packages of the Alpine image',
    );
    expect(report.package_count).toBe(expected.length);
    const arch = (report.packages ?? []).filter((p: ReportedPackage) => p.arch !== undefined && p.arch !== 'x86_64');
    expect(arch.map((p) => `${p.name}: ${p.arch}`), 'apk records A:x86_64').toEqual([]);
  });
});
