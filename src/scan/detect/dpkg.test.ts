import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import type { DetectedPackage } from './detector.js';
import { dpkgDetector, parseDpkgStatus } from './dpkg.js';

const FIXTURES = fileURLToPath(new URL('../../../test/fixtures/scan/os/dpkg/', import.meta.url));
const ON_DISK_STATES = ['installed', 'triggers-pending', 'triggers-awaiting', 'half-configured', 'unpacked'];

const haveDpkgQuery = (() => {
  try {
    execFileSync('dpkg-query', ['--version']);
    return true;
  } catch {
    return false;
  }
})();
const skipDpkgQuery = !haveDpkgQuery && process.env.CI !== 'true';
if (skipDpkgQuery) console.warn('dpkg tests against dpkg-query skipped: dpkg-query is not installed');

/** `name version source sourceVersion arch` per package with files on disk, as dpkg itself reports them, sorted. */
function dpkgQuery(adminDir: string): string[] {
  const out = execFileSync(
    'dpkg-query',
    [`--admindir=${adminDir}`, '-W', '-f', '${db:Status-Status} ${Package} ${Version} ${source:Package} ${source:Version} ${Architecture}\\n'],
    { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 },
  );
  return out
    .split('\n')
    .filter((line) => ON_DISK_STATES.includes(line.split(' ')[0]!))
    .map((line) => line.split(' ').slice(1).join(' '))
    .sort();
}

function summaries(packages: DetectedPackage[]): string[] {
  return packages.map((p) => `${p.name} ${p.version} ${p.source?.name} ${p.source?.version} ${p.arch}`).sort();
}

async function detect(path: string, text: string): Promise<DetectedPackage[]> {
  return (await dpkgDetector.detect({ path, size: text.length, mode: 0o644 }, Readable.from([Buffer.from(text)]))).packages ?? [];
}

describe('dpkg detector', () => {
  it('wants the status database and distroless status.d entries, not their md5sums', () => {
    const wants = (path: string) => dpkgDetector.wants({ path, size: 100, mode: 0o644 });
    expect(wants('var/lib/dpkg/status')).toBe(true);
    expect(wants('var/lib/dpkg/status.d/libssl3')).toBe(true);
    expect(wants('var/lib/dpkg/status.d/libssl3.md5sums')).toBe(false);
    expect(wants('var/lib/dpkg/status-old')).toBe(false);
    expect(wants('var/lib/dpkg/status.d/nested/x')).toBe(false);
    expect(wants('var/lib/dpkg/available')).toBe(false);
  });

  it('reads binary and source packages, epochs and architectures, skipping removed packages', async () => {
    const packages = await detect('var/lib/dpkg/status', readFileSync(`${FIXTURES}status`, 'utf8'));
    const at = { versionScheme: 'dpkg', location: 'var/lib/dpkg/status' } as const;
    expect(packages).toEqual([
      { ...at, name: 'base-files', version: '12.4+deb12u5', source: { name: 'base-files', version: '12.4+deb12u5' }, arch: 'amd64' },
      // The source version is the one in parentheses: the binary's epoch is its own.
      { ...at, name: 'bsdutils', version: '1:2.38.1-5+deb12u3', source: { name: 'util-linux', version: '2.38.1-5+deb12u3' }, arch: 'amd64' },
      { ...at, name: 'libc6', version: '2.36-9+deb12u7', source: { name: 'glibc', version: '2.36-9+deb12u7' }, arch: 'amd64' },
      { ...at, name: 'libc6', version: '2.36-9+deb12u7', source: { name: 'glibc', version: '2.36-9+deb12u7' }, arch: 'i386' },
      { ...at, name: 'libssl3', version: '3.0.11-1~deb12u2', source: { name: 'openssl', version: '3.0.11-1~deb12u2' }, arch: 'amd64' },
      { ...at, name: 'tzdata', version: '2024a-0+deb12u1', source: { name: 'tzdata', version: '2024a-0+deb12u1' }, arch: 'all' },
      { ...at, name: 'libpam-runtime', version: '1.5.2-6+deb12u1', source: { name: 'pam', version: '1.5.2-6+deb12u1' }, arch: 'all' },
      // `Source: vim` without a version: the binary's, epoch included.
      { ...at, name: 'vim-tiny', version: '2:9.0.1378-2', source: { name: 'vim', version: '2:9.0.1378-2' }, arch: 'amd64' },
    ]);
  });

  it('reads distroless status.d files, which have no Status line', async () => {
    const names = readdirSync(`${FIXTURES}status.d`).filter((name) => dpkgDetector.wants({ path: `var/lib/dpkg/status.d/${name}`, size: 0, mode: 0o644 }));
    const packages = (await Promise.all(names.map((name) => detect(`var/lib/dpkg/status.d/${name}`, readFileSync(`${FIXTURES}status.d/${name}`, 'utf8'))))).flat();
    expect(packages).toEqual([
      { versionScheme: 'dpkg', name: 'base-files', version: '12.4+deb12u5', source: { name: 'base-files', version: '12.4+deb12u5' }, location: 'var/lib/dpkg/status.d/base-files', arch: 'amd64' },
      { versionScheme: 'dpkg', name: 'libssl3', version: '3.0.11-1~deb12u2', source: { name: 'openssl', version: '3.0.11-1~deb12u2' }, location: 'var/lib/dpkg/status.d/libssl3', arch: 'amd64' },
    ]);
  });

  it('ignores stanzas without a name or version', () => {
    expect(parseDpkgStatus('Package: x\nStatus: install ok installed\n\nVersion: 1\n\n\n', 'var/lib/dpkg/status')).toEqual([]);
  });

  describe.skipIf(skipDpkgQuery)('agrees with dpkg-query', () => {
    it('on the fixture', async () => {
      const packages = await detect('var/lib/dpkg/status', readFileSync(`${FIXTURES}status`, 'utf8'));
      expect(summaries(packages)).toEqual(dpkgQuery(FIXTURES));
    });

    it.skipIf(!existsSync('/var/lib/dpkg/status'))("on this machine's own database", async () => {
      const packages = await detect('var/lib/dpkg/status', readFileSync('/var/lib/dpkg/status', 'utf8'));
      expect(packages.length).toBeGreaterThan(50);
      expect(summaries(packages)).toEqual(dpkgQuery('/var/lib/dpkg'));
    });
  });
});
