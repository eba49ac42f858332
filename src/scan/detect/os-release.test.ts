import { createReadStream } from 'node:fs';
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import type { DetectedOs } from '../inventory.js';
import { osReleaseDetector, parseOsRelease } from './os-release.js';

const FIXTURES = new URL('../../../test/fixtures/scan/os/os-release/', import.meta.url);

async function detect(text: string, path = 'etc/os-release'): Promise<DetectedOs | undefined> {
  return (await osReleaseDetector.detect({ path, size: text.length, mode: 0o644 }, Readable.from([Buffer.from(text)]))).os;
}

async function detectFixture(name: string): Promise<DetectedOs | undefined> {
  const file = { path: 'usr/lib/os-release', size: 0, mode: 0o644 };
  return (await osReleaseDetector.detect(file, createReadStream(new URL(name, FIXTURES)))).os;
}

describe('os-release detector', () => {
  it('wants /etc/os-release and /usr/lib/os-release only', () => {
    const wants = (path: string) => osReleaseDetector.wants({ path, size: 300, mode: 0o644 });
    expect(wants('etc/os-release')).toBe(true);
    expect(wants('usr/lib/os-release')).toBe(true);
    expect(wants('etc/lsb-release')).toBe(false);
    expect(wants('opt/etc/os-release')).toBe(false);
  });

  it.each<[string, Omit<DetectedOs, 'prettyName'>]>([
    ['debian-12', { id: 'debian', versionId: '12', ecosystem: 'Debian:12' }],
    // Testing/sid: no VERSION_ID and no OSV release of its own.
    ['debian-sid', { id: 'debian', versionId: '', ecosystem: null }],
    // OSV requires the :LTS suffix for LTS releases, and only for them.
    ['ubuntu-22.04', { id: 'ubuntu', versionId: '22.04', ecosystem: 'Ubuntu:22.04:LTS' }],
    ['ubuntu-23.10', { id: 'ubuntu', versionId: '23.10', ecosystem: 'Ubuntu:23.10' }],
    ['alpine-3.19', { id: 'alpine', versionId: '3.19.1', ecosystem: 'Alpine:v3.19' }],
    ['alpine-edge', { id: 'alpine', versionId: '3.20.0_alpha20240329', ecosystem: null }],
    ['rocky-9', { id: 'rocky', versionId: '9.3', ecosystem: 'Rocky Linux:9' }],
    ['almalinux-9', { id: 'almalinux', versionId: '9.3', ecosystem: 'AlmaLinux:9' }],
    ['rhel-9', { id: 'rhel', versionId: '9.3', ecosystem: 'Red Hat' }],
    ['fedora-39', { id: 'fedora', versionId: '39', ecosystem: null }],
  ])('%s', async (fixture, expected) => {
    const os = await detectFixture(fixture);
    expect(os).toEqual({ ...expected, prettyName: expect.any(String) });
  });

  it('keeps PRETTY_NAME for reports', async () => {
    expect((await detectFixture('rhel-9'))?.prettyName).toBe('Red Hat Enterprise Linux 9.3 (Plow)');
    expect((await detectFixture('debian-sid'))?.prettyName).toBe('Debian GNU/Linux trixie/sid');
  });

  it('tells Ubuntu LTS releases by VERSION, or by April of an even year when VERSION is missing', async () => {
    expect((await detect('ID=ubuntu\nVERSION_ID=24.04\n'))?.ecosystem).toBe('Ubuntu:24.04:LTS');
    expect((await detect('ID=ubuntu\nVERSION_ID=24.10\n'))?.ecosystem).toBe('Ubuntu:24.10');
    expect((await detect('ID=ubuntu\nVERSION_ID=23.04\n'))?.ecosystem).toBe('Ubuntu:23.04');
  });

  it('reads quoting the way os-release(5) writes it, and defaults ID to linux', async () => {
    const fields = parseOsRelease('# comment\nA="say \\"hi\\" \\$HOME"\nB=\'lit\\eral\'\nC=plain\\ value\n  D = bad\nE=\n');
    expect(Object.fromEntries(fields)).toEqual({ A: 'say "hi" $HOME', B: 'lit\\eral', C: 'plain value', E: '' });
    expect(await detect('NAME=Whatever\n')).toEqual({ id: 'linux', versionId: '', prettyName: 'Whatever', ecosystem: null });
    expect((await detect('ID=Debian\r\nVERSION_ID="11"\r\n'))?.ecosystem).toBe('Debian:11');
  });

  it('refuses an os-release larger than any real one', async () => {
    await expect(detect(`ID=debian\n${'#'.repeat(100_000)}\n`)).rejects.toThrow(/larger than/);
  });
});
