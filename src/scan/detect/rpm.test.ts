import { execFileSync } from 'node:child_process';
import { createReadStream, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DetectedPackage, LayerFile } from './detector.js';
import { RPMTAG, readRpmTags } from './rpm-header.js';
import { createRpmDetector, rpmDetector, sourceRpmName } from './rpm.js';

const haveRpm = (() => {
  try {
    execFileSync('rpmbuild', ['--version']);
    execFileSync('rpm', ['--version']);
    return true;
  } catch {
    return false;
  }
})();
const skipRpm = !haveRpm && process.env.CI !== 'true';
if (skipRpm) console.warn('rpmdb tests skipped: rpm and rpmbuild (Debian package rpm) are not installed');

/** Spec files for small real packages: epochs present, absent and 0; a subpackage; licenses with spaces. */
const SPECS: Record<string, string> = {
  'berth-foo': `Name: berth-foo
Version: 1.2.3
Release: 4.el9
Epoch: 2
Summary: test package with an epoch and a subpackage
License: MIT AND (BSD-2-Clause OR Apache-2.0)
BuildArch: noarch
%description
test
%package -n berth-foo-libs
Summary: built from berth-foo's source rpm
License: MIT
%description -n berth-foo-libs
test
%files
%files -n berth-foo-libs
`,
  'berth-bar': `Name: berth-bar
Version: 0.9
Release: 1.el9_3
Summary: test package without an epoch
License: GPL-2.0-or-later
%description
test
%files
`,
  'berth-zero': `Name: berth-zero
Version: 10.0.1
Release: 2
Epoch: 0
Summary: test package whose epoch is 0
License: ASL 2.0
BuildArch: noarch
%description
test
%files
`,
};

const file = (path: string): LayerFile => ({ path, size: 0, mode: 0o644 });

describe('rpm detector', () => {
  it('wants rpm databases in both places rpm keeps them', () => {
    for (const dir of ['var/lib/rpm/', 'usr/lib/sysimage/rpm/']) {
      for (const name of ['rpmdb.sqlite', 'Packages', 'Packages.db']) expect(rpmDetector.wants(file(dir + name))).toBe(true);
      expect(rpmDetector.wants(file(`${dir}rpmdb.sqlite-shm`))).toBe(false);
      expect(rpmDetector.wants(file(`${dir}Name`))).toBe(false);
    }
    expect(rpmDetector.wants(file('opt/var/lib/rpm/rpmdb.sqlite'))).toBe(false);
  });

  it('notes BerkeleyDB and NDB databases as unreadable instead of failing', async () => {
    const bdb = await rpmDetector.detect(file('var/lib/rpm/Packages'), Readable.from([Buffer.alloc(4096)]));
    expect(bdb).toEqual({ notes: ['var/lib/rpm/Packages is a BerkeleyDB rpmdb, which Berth cannot read yet: its packages are not inventoried'] });
    const ndb = await rpmDetector.detect(file('usr/lib/sysimage/rpm/Packages.db'), Readable.from([Buffer.alloc(10)]));
    expect(ndb.notes?.[0]).toMatch(/is an NDB rpmdb, which Berth cannot read yet/);
  });

  it('rejects a file that is not an SQLite rpmdb (the walker notes it)', async () => {
    await expect(rpmDetector.detect(file('var/lib/rpm/rpmdb.sqlite'), Readable.from([Buffer.from('not a database')]))).rejects.toThrow();
  });

  it('names the source package from SOURCERPM', () => {
    expect(sourceRpmName('util-linux-2.37.4-15.el9.src.rpm')).toBe('util-linux');
    expect(sourceRpmName('python3.11-3.11.5-1.el9_3.src.rpm')).toBe('python3.11');
    expect(sourceRpmName('kernel-5.14.0-362.8.1.el9_3.nosrc.rpm')).toBe('kernel');
    expect(sourceRpmName('(none)')).toBeUndefined();
    expect(sourceRpmName(undefined)).toBeUndefined();
  });

  it('rejects header blobs that point outside themselves', () => {
    const blob = Buffer.alloc(8 + 16 + 4);
    blob.writeUInt32BE(1, 0);
    blob.writeUInt32BE(4, 4);
    blob.writeInt32BE(RPMTAG.NAME, 8);
    blob.writeUInt32BE(6, 12); // STRING
    blob.writeInt32BE(100, 16); // offset past the 4-byte data store
    blob.writeUInt32BE(1, 20);
    expect(() => readRpmTags(blob, [RPMTAG.NAME])).toThrow(/outside/);
    blob.writeInt32BE(0, 16);
    blob.write('abcd', 24); // no NUL before the end
    expect(() => readRpmTags(blob, [RPMTAG.NAME])).toThrow(/NUL/);
    expect(() => readRpmTags(blob.subarray(0, 20), [RPMTAG.NAME])).toThrow(/needs/);
  });

  describe.skipIf(skipRpm)('a real rpmdb.sqlite made by rpm', () => {
    let dir: string;
    let dbPath: string;

    beforeAll(() => {
      dir = mkdtempSync(join(tmpdir(), 'berth-rpm-test-'));
      const top = join(dir, 'rpmbuild');
      for (const [name, spec] of Object.entries(SPECS)) {
        writeFileSync(join(dir, `${name}.spec`), spec);
        execFileSync('rpmbuild', ['--define', `_topdir ${top}`, '--quiet', '-bb', join(dir, `${name}.spec`)], { stdio: 'pipe' });
      }
      const rpms = readdirSync(join(top, 'RPMS'), { recursive: true, encoding: 'utf8' })
        .filter((f) => f.endsWith('.rpm'))
        .map((f) => join(top, 'RPMS', f));
      const db = join(dir, 'db');
      // The sqlite backend is rpm 4.16+'s default; said explicitly in case a distro changed it.
      const rpm = ['--dbpath', db, '--define', '_db_backend sqlite'];
      execFileSync('rpm', [...rpm, '--initdb'], { stdio: 'pipe' });
      execFileSync('rpm', [...rpm, '-i', '--justdb', '--nodeps', '--noscripts', '--ignorearch', ...rpms], { stdio: 'pipe' });
      dbPath = join(db, 'rpmdb.sqlite');
    });

    afterAll(() => rmSync(dir, { recursive: true, force: true }));

    async function detect(): Promise<DetectedPackage[]> {
      return (await rpmDetector.detect(file('usr/lib/sysimage/rpm/rpmdb.sqlite'), createReadStream(dbPath))).packages ?? [];
    }

    it('reads every package as rpm -qa prints it', async () => {
      const query = execFileSync(
        'rpm',
        ['--dbpath', join(dir, 'db'), '-qa', '--qf', '%{NAME}|%|EPOCH?{%{EPOCH}:}:{}|%{VERSION}-%{RELEASE}|%{SOURCERPM}|%{ARCH}|%{LICENSE}\\n'],
        { encoding: 'utf8' },
      );
      const expected = query
        .trim()
        .split('\n')
        .map((line) => {
          const [name, version, sourceRpm, arch, license] = line.split('|');
          return `${name} ${version} ${sourceRpmName(sourceRpm)} ${arch} ${license}`;
        })
        .sort();
      const packages = await detect();
      expect(packages.map((p) => `${p.name} ${p.version} ${p.source?.name} ${p.arch} ${p.licenses?.[0]}`).sort()).toEqual(expected);
      expect(packages).toHaveLength(4);
    });

    it('keeps epochs only where declared, and the binary version as the source version', async () => {
      const byName = new Map((await detect()).map((p) => [p.name, p]));
      const at = { versionScheme: 'rpm', location: 'usr/lib/sysimage/rpm/rpmdb.sqlite' } as const;
      expect(byName.get('berth-foo-libs')).toEqual({
        ...at,
        name: 'berth-foo-libs',
        version: '2:1.2.3-4.el9',
        source: { name: 'berth-foo', version: '2:1.2.3-4.el9' },
        arch: 'noarch',
        licenses: ['MIT'],
      });
      expect(byName.get('berth-bar')?.version).toBe('0.9-1.el9_3');
      expect(byName.get('berth-bar')?.arch).toBe(execFileSync('rpm', ['--eval', '%{_arch}'], { encoding: 'utf8' }).trim());
      expect(byName.get('berth-zero')?.version).toBe('0:10.0.1-2');
      expect(byName.get('berth-zero')?.licenses).toEqual(['ASL 2.0']);
    });

    it('leaves no copy behind, read or refused', async () => {
      const tempDir = join(dir, 'copies');
      mkdirSync(tempDir);
      const capped = createRpmDetector({ tempDir, maxBytes: 64 * 1024 });
      await expect(capped.detect(file('var/lib/rpm/rpmdb.sqlite'), createReadStream(dbPath))).rejects.toThrow(/larger than the 65536 bytes/);
      const roomy = createRpmDetector({ tempDir });
      expect((await roomy.detect(file('var/lib/rpm/rpmdb.sqlite'), createReadStream(dbPath))).packages).toHaveLength(4);
      expect(readdirSync(tempDir)).toEqual([]);
    });
  });
});
