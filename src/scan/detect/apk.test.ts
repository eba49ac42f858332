import { createReadStream } from 'node:fs';
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { apkDetector, parseApkInstalled } from './apk.js';

const INSTALLED = new URL('../../../test/fixtures/scan/os/apk/installed', import.meta.url);
const FILE = { path: 'lib/apk/db/installed', size: 0, mode: 0o644 };

describe('apk detector', () => {
  it('wants apk’s installed database only', () => {
    expect(apkDetector.wants(FILE)).toBe(true);
    expect(apkDetector.wants({ ...FILE, path: 'lib/apk/db/triggers' })).toBe(false);
    expect(apkDetector.wants({ ...FILE, path: 'usr/lib/apk/db/installed' })).toBe(false);
  });

  it('reads name, version, arch, origin and license of every package in an Alpine 3.19 database', async () => {
    const { packages } = await apkDetector.detect(FILE, createReadStream(INSTALLED));
    const at = { versionScheme: 'apk', location: 'lib/apk/db/installed', arch: 'x86_64' } as const;
    expect(packages).toEqual([
      { ...at, name: 'musl', version: '1.2.4_git20230717-r4', source: { name: 'musl', version: '1.2.4_git20230717-r4' }, licenses: ['MIT'] },
      { ...at, name: 'busybox', version: '1.36.1-r15', source: { name: 'busybox', version: '1.36.1-r15' }, licenses: ['GPL-2.0-only'] },
      { ...at, name: 'alpine-baselayout', version: '3.4.3-r2', source: { name: 'alpine-baselayout', version: '3.4.3-r2' }, licenses: ['GPL-2.0-only'] },
      { ...at, name: 'alpine-baselayout-data', version: '3.4.3-r2', source: { name: 'alpine-baselayout', version: '3.4.3-r2' }, licenses: ['GPL-2.0-only'] },
      { ...at, name: 'ca-certificates-bundle', version: '20230506-r0', source: { name: 'ca-certificates', version: '20230506-r0' }, licenses: ['MPL-2.0 AND MIT'] },
      { ...at, name: 'libcrypto3', version: '3.1.4-r5', source: { name: 'openssl', version: '3.1.4-r5' }, licenses: ['Apache-2.0'] },
      { ...at, name: 'libssl3', version: '3.1.4-r5', source: { name: 'openssl', version: '3.1.4-r5' }, licenses: ['Apache-2.0'] },
      { ...at, name: 'zlib', version: '1.3.1-r0', source: { name: 'zlib', version: '1.3.1-r0' }, licenses: ['Zlib'] },
      { ...at, name: 'apk-tools', version: '2.14.0-r5', source: { name: 'apk-tools', version: '2.14.0-r5' }, licenses: ['GPL-2.0-only'] },
      { ...at, name: 'musl-utils', version: '1.2.4_git20230717-r4', source: { name: 'musl', version: '1.2.4_git20230717-r4' }, licenses: ['MIT AND BSD-2-Clause AND GPL-2.0-or-later'] },
      { ...at, name: 'libc-utils', version: '0.7.2-r5', source: { name: 'libc-dev', version: '0.7.2-r5' }, licenses: ['BSD-2-Clause AND BSD-3-Clause'] },
      // No `o:` line: the package is its own source; no `L:` line: no licenses.
      { versionScheme: 'apk', location: 'lib/apk/db/installed', arch: 'noarch', name: 'my-local-build', version: '0.1.0-r0', source: { name: 'my-local-build', version: '0.1.0-r0' } },
    ]);
  });

  it('copes with a database without a trailing blank line, CRLF endings and stray lines', async () => {
    const text = 'P:a\r\nV:1-r0\r\ngarbage\r\n\r\nP:b\nV:2-r1\nP:not-b'; // a repeated key keeps the first value
    const { packages } = await apkDetector.detect(FILE, Readable.from([Buffer.from(text)]));
    expect(packages?.map((p) => `${p.name} ${p.version}`)).toEqual(['a 1-r0', 'b 2-r1']);
    expect(parseApkInstalled('', FILE.path)).toEqual([]);
  });
});
