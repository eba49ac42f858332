import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { Readable } from 'node:stream';
import { createGzip, gzipSync } from 'node:zlib';
import tar from 'tar-stream';
import { describe, expect, it } from 'vitest';
import type { Detector } from './detect/detector.js';
import { readCapped } from './detect/detector.js';
import { osDetectors } from './detect/index.js';
import type { InstalledPackage } from './inventory.js';
import { inventoryImage, inventoryLayer, mergeLayerInventories, normaliseLayerPath, type LayerInventory, type LayerSource } from './layers.js';

const FIXTURES = new URL('../../test/fixtures/scan/os/', import.meta.url);
const DEBIAN_12 = readFileSync(new URL('os-release/debian-12', FIXTURES), 'utf8');
const ALPINE_319 = readFileSync(new URL('os-release/alpine-3.19', FIXTURES), 'utf8');
const DEBIAN_OS = { id: 'debian', versionId: '12', prettyName: 'Debian GNU/Linux 12 (bookworm)', ecosystem: 'Debian:12' };

const haveZstd = (() => {
  try {
    execFileSync('zstd', ['--version']);
    return true;
  } catch {
    return false;
  }
})();
if (!haveZstd && process.env.CI === 'true') throw new Error('the zstd command (Debian package zstd) is missing');
if (!haveZstd) console.warn('zstd layers are tested with gzip instead: the zstd command (Debian package zstd) is not installed');

// ---------- building layers ----------

type Entry =
  | { name: string; content: string | Buffer; mode?: number }
  | { name: string; type: 'symlink' | 'link'; linkname: string }
  | { name: string; type: 'directory' };

type Compression = 'gzip' | 'zstd' | 'none';

async function tarOf(entries: Entry[]): Promise<Buffer> {
  const pack = tar.pack();
  const chunks: Buffer[] = [];
  const collected = (async () => {
    for await (const chunk of pack) chunks.push(chunk as Buffer);
  })();
  for (const entry of entries) {
    await new Promise<void>((resolve, reject) => {
      const done = (err?: Error | null) => (err ? reject(err) : resolve());
      if ('content' in entry) pack.entry({ name: entry.name, type: 'file', mode: entry.mode ?? 0o644 }, entry.content, done);
      else pack.entry({ name: entry.name, type: entry.type, ...('linkname' in entry ? { linkname: entry.linkname } : {}) }, done);
    });
  }
  pack.finalize();
  await collected;
  return Buffer.concat(chunks);
}

function compress(data: Buffer, compression: Compression): Buffer {
  if (compression === 'gzip' || (compression === 'zstd' && !haveZstd)) return gzipSync(data);
  if (compression === 'zstd') return execFileSync('zstd', ['-q', '-c'], { input: data, maxBuffer: 1 << 30 });
  return data;
}

/** A layer served in awkward 1000-byte pieces, so magic bytes and headers straddle chunks. */
function sourceOf(digest: string, blob: Buffer, pieceSize = 1000): LayerSource {
  return {
    digest,
    open: async () =>
      Readable.from(
        (function* () {
          for (let at = 0; at < blob.length; at += pieceSize) yield blob.subarray(at, at + pieceSize);
        })(),
      ),
  };
}

async function layer(digest: string, entries: Entry[], compression: Compression = 'gzip'): Promise<LayerSource> {
  return sourceOf(digest, compress(await tarOf(entries), compression));
}

function dpkgStatus(...packages: [name: string, version: string, source?: string][]): string {
  return packages
    .map(([name, version, source]) => `Package: ${name}\nStatus: install ok installed\nArchitecture: amd64\n${source ? `Source: ${source}\n` : ''}Version: ${version}\nDescription: ${name}\n test\n`)
    .join('\n');
}

function dpkg(name: string, version: string, layerDigest: string, location = 'var/lib/dpkg/status', source = { name, version }): InstalledPackage {
  return { ecosystem: 'Debian:12', versionScheme: 'dpkg', name, version, source, location, layerDigest, arch: 'amd64' };
}

const names = (packages: InstalledPackage[]) => packages.map((p) => `${p.name} ${p.version} ${p.layerDigest}`);

// ---------- tests ----------

describe('inventoryLayer', () => {
  it('records each wanted file’s findings, whiteouts and opaque directories, as plain JSON', async () => {
    const source = await layer('sha256:one', [
      { name: './', type: 'directory' },
      { name: './etc/', type: 'directory' },
      { name: './etc/os-release', type: 'symlink', linkname: '../usr/lib/os-release' },
      { name: './usr/lib/os-release', content: DEBIAN_12 },
      { name: './usr/bin/true', content: Buffer.alloc(5000, 1), mode: 0o755 },
      { name: './var/lib/dpkg/status', content: dpkgStatus(['zlib1g', '1:1.2.13.dfsg-1', 'zlib (1.2.13.dfsg-1)']) },
      { name: './var/lib/dpkg/status.d/.wh.old-package', content: '' },
      { name: './opt/.wh..wh..opq', content: '' },
      { name: './.wh.tmp', content: '' },
      { name: './.wh.', content: '' },
      { name: './var/.wh..wh.plnk', type: 'directory' },
    ]);
    const inventory = await inventoryLayer(source, osDetectors);
    expect(inventory).toEqual({
      format: 1,
      digest: 'sha256:one',
      files: [
        // A symlink where os-release was: it hides a lower layer's file, with nothing of its own.
        { path: 'etc/os-release', findings: [] },
        { path: 'usr/lib/os-release', findings: [{ detector: 'os-release', os: DEBIAN_OS }] },
        {
          path: 'var/lib/dpkg/status',
          findings: [
            {
              detector: 'dpkg',
              packages: [
                {
                  versionScheme: 'dpkg',
                  name: 'zlib1g',
                  version: '1:1.2.13.dfsg-1',
                  source: { name: 'zlib', version: '1.2.13.dfsg-1' },
                  location: 'var/lib/dpkg/status',
                  arch: 'amd64',
                },
              ],
            },
          ],
        },
      ],
      whiteouts: ['tmp', 'var/lib/dpkg/status.d/old-package'],
      opaqueDirs: ['opt'],
      notes: [],
    } satisfies LayerInventory);
    expect(JSON.parse(JSON.stringify(inventory))).toEqual(inventory);
  });

  it.each<Compression>(['gzip', 'zstd', 'none'])('reads layers by their first bytes (compression: %s)', async (compression) => {
    const entries: Entry[] = [
      { name: 'etc/os-release', content: DEBIAN_12 },
      { name: 'var/lib/dpkg/status', content: dpkgStatus(['a', '1']) },
    ];
    const expected = await inventoryLayer(sourceOf('sha256:x', await tarOf(entries)), osDetectors);
    expect(expected.files.map((f) => f.path)).toEqual(['etc/os-release', 'var/lib/dpkg/status']);
    const blob = compress(await tarOf(entries), compression);
    expect(await inventoryLayer(sourceOf('sha256:x', blob), osDetectors)).toEqual(expected);
    // Even one byte at a time.
    expect(await inventoryLayer(sourceOf('sha256:x', blob, 1), osDetectors)).toEqual(expected);
  });

  it('normalises paths and skips entries that climb out of the image', async () => {
    const source = await layer('sha256:paths', [
      { name: '/etc/os-release', content: DEBIAN_12 },
      { name: './/var/./lib/dpkg//status', content: dpkgStatus(['a', '1']) },
      { name: '../../usr/lib/os-release', content: ALPINE_319 },
      { name: 'lib/apk/../apk/db/installed', content: 'P:evil\nV:1\n' },
    ]);
    const inventory = await inventoryLayer(source, osDetectors);
    expect(inventory.files.map((f) => f.path)).toEqual(['etc/os-release', 'var/lib/dpkg/status']);
    expect(inventory.notes).toEqual(['skipped 2 tar entries whose path leaves the image root (the first: "../../usr/lib/os-release")']);
    expect(normaliseLayerPath('./')).toBe('');
    expect(normaliseLayerPath('a/b/')).toBe('a/b');
  });

  it('gives a hard link its target’s findings at its own path, and notes links it cannot follow', async () => {
    const source = await layer('sha256:links', [
      { name: 'var/lib/dpkg/status.d/libc6', content: dpkgStatus(['libc6', '2.36-9', 'glibc']) },
      { name: 'var/lib/dpkg/status.d/libc6-again', type: 'link', linkname: 'var/lib/dpkg/status.d/libc6' },
      { name: 'var/backups/dpkg.status', content: dpkgStatus(['x', '1']) },
      { name: 'var/lib/dpkg/status', type: 'link', linkname: './var/backups/dpkg.status' },
      { name: 'usr/bin/unwanted-link', type: 'link', linkname: 'var/backups/dpkg.status' },
    ]);
    const inventory = await inventoryLayer(source, osDetectors);
    const libc6 = inventory.files.find((f) => f.path === 'var/lib/dpkg/status.d/libc6')!;
    const again = inventory.files.find((f) => f.path === 'var/lib/dpkg/status.d/libc6-again')!;
    expect(again.findings[0]!.packages).toEqual(libc6.findings[0]!.packages!.map((p) => ({ ...p, location: 'var/lib/dpkg/status.d/libc6-again' })));
    expect(inventory.files.find((f) => f.path === 'var/lib/dpkg/status')).toEqual({
      path: 'var/lib/dpkg/status',
      findings: [
        {
          detector: 'dpkg',
          notes: ['var/lib/dpkg/status is a hard link to ./var/backups/dpkg.status, whose content the dpkg detector did not read in this layer: not inventoried'],
        },
      ],
    });
    expect(inventory.files.map((f) => f.path)).not.toContain('usr/bin/unwanted-link');
  });

  it('streams a file to every detector that wants it, whatever each does with it', async () => {
    const content = Buffer.alloc(3 * 1024 * 1024, 7);
    const sha = createHash('sha256').update(content).digest('hex');
    const wantsData = (file: { path: string }) => file.path.startsWith('data/');
    const detectors: Detector[] = [
      { name: 'hasher', wants: wantsData, detect: async (_f, s) => ({ notes: [createHash('sha256').update(await readCapped(s, 1 << 30)).digest('hex')] }) },
      // Returns without reading a byte (against the contract): only its own branch is dropped.
      { name: 'lazy', wants: wantsData, detect: async () => ({ notes: ['lazy'] }) },
      { name: 'thrower', wants: wantsData, detect: async (_f, s) => (s.destroy(), Promise.reject(new Error('bad format'))) },
      { name: 'capped', wants: wantsData, detect: async (_f, s) => ({ notes: [String((await readCapped(s, 1024)).length)] }) },
      { name: 'slow', wants: wantsData, detect: async (file, s) => {
        let bytes = 0;
        for await (const chunk of s) {
          bytes += (chunk as Buffer).length;
          await new Promise((resolve) => setImmediate(resolve));
        }
        return { notes: [`${file.path} ${bytes}`] };
      } },
    ];
    const source = await layer('sha256:fan', [
      { name: 'data/big', content },
      { name: 'data/after', content: 'still read' },
    ]);
    const inventory = await inventoryLayer(source, detectors);
    expect(inventory.files).toEqual([
      {
        path: 'data/after',
        findings: [
          { detector: 'hasher', notes: [createHash('sha256').update('still read').digest('hex')] },
          { detector: 'lazy', notes: ['lazy'] },
          { detector: 'thrower', notes: ['data/after: the thrower detector could not read it: bad format'] },
          { detector: 'capped', notes: ['10'] },
          { detector: 'slow', notes: ['data/after 10'] },
        ],
      },
      {
        path: 'data/big',
        findings: [
          { detector: 'hasher', notes: [sha] },
          { detector: 'lazy', notes: ['lazy'] },
          { detector: 'thrower', notes: ['data/big: the thrower detector could not read it: bad format'] },
          { detector: 'capped', notes: ['data/big: the capped detector could not read it: file is larger than the 1024 bytes this detector reads'] },
          { detector: 'slow', notes: [`data/big ${content.length}`] },
        ],
      },
    ]);
  });

  it('rejects a layer it cannot read whole, so nothing partial is cached', async () => {
    const blob = gzipSync(await tarOf([{ name: 'var/lib/dpkg/status', content: dpkgStatus(['a', '1']) }]));
    await expect(inventoryLayer(sourceOf('sha256:t', blob.subarray(0, blob.length - 30)), osDetectors)).rejects.toThrow();
    await expect(inventoryLayer(sourceOf('sha256:g', Buffer.from('x'.repeat(2048))), osDetectors)).rejects.toThrow(/tar/i);
    const failing: LayerSource = { digest: 'sha256:f', open: async () => new Readable({ read() { this.destroy(new Error('store unreachable')); } }) };
    await expect(inventoryLayer(failing, osDetectors)).rejects.toThrow('store unreachable');
    // An empty blob is an empty layer.
    expect((await inventoryLayer(sourceOf('sha256:e', Buffer.alloc(0)), osDetectors)).files).toEqual([]);
  });

  it.each<Compression>(['zstd', 'gzip'])('drains a 200 MiB unwanted file in bounded memory (%s)', async (compression) => {
    const size = 200 * 1024 * 1024;
    const blob = await bigLayer(size, compression);
    const before = process.memoryUsage().rss;
    let peak = before;
    const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 5);
    try {
      const inventory = await inventoryLayer(sourceOf('sha256:big', blob, 64 * 1024), osDetectors);
      // The wanted file after the big one was reached and read.
      expect(inventory.files.map((f) => f.path)).toEqual(['var/lib/dpkg/status']);
    } finally {
      clearInterval(sampler);
    }
    peak = Math.max(peak, process.memoryUsage().rss);
    expect(peak - before).toBeLessThan(96 * 1024 * 1024);
  });
});

/** A compressed layer holding `size` zero bytes in one unwanted file, then a small wanted one; built as a stream, never whole. */
async function bigLayer(size: number, compression: Compression): Promise<Buffer> {
  const pack = tar.pack();
  const zeros = Buffer.alloc(1024 * 1024);
  const writing = (async () => {
    const sink = pack.entry({ name: 'opt/big.bin', type: 'file', size });
    for (let written = 0; written < size; written += zeros.length) {
      if (!sink.write(zeros)) await new Promise<void>((resolve) => sink.once('drain', () => resolve()));
    }
    await new Promise<void>((resolve, reject) => sink.end((err?: Error | null) => (err ? reject(err) : resolve())));
    pack.entry({ name: 'var/lib/dpkg/status', type: 'file' }, dpkgStatus(['after-big', '1']));
    pack.finalize();
  })();
  const chunks: Buffer[] = [];
  if (compression === 'zstd' && haveZstd) {
    // zstd -c from a pipe: the frame does not declare its size, as with a streamed push.
    const { spawn } = await import('node:child_process');
    const child = spawn('zstd', ['-q', '-c', '-3'], { stdio: ['pipe', 'pipe', 'inherit'] });
    const out = (async () => {
      for await (const chunk of child.stdout) chunks.push(chunk as Buffer);
    })();
    for await (const chunk of pack) if (!child.stdin.write(chunk)) await new Promise((resolve) => child.stdin.once('drain', resolve));
    child.stdin.end();
    await out;
  } else {
    const gzip = createGzip({ level: 1 });
    const out = (async () => {
      for await (const chunk of gzip) chunks.push(chunk as Buffer);
    })();
    for await (const chunk of pack) if (!gzip.write(chunk)) await new Promise((resolve) => gzip.once('drain', resolve));
    gzip.end();
    await out;
  }
  await writing;
  return Buffer.concat(chunks);
}

describe('mergeLayerInventories', () => {
  it('attributes each package to the lowest layer it has been in without a break', async () => {
    const base = await layer('sha256:base', [
      { name: './etc/os-release', type: 'symlink', linkname: '../usr/lib/os-release' },
      { name: './usr/lib/os-release', content: DEBIAN_12 },
      { name: './var/lib/dpkg/status', content: dpkgStatus(['base-files', '12.4'], ['bsdutils', '1:2.38.1-5', 'util-linux (2.38.1-5)'], ['libssl3', '3.0.11-1', 'openssl']) },
    ], 'gzip');
    // apt-get upgrade libssl3 && apt-get install curl: dpkg rewrites the whole status file.
    const upgrade = await layer('sha256:upgrade', [
      { name: 'var/lib/dpkg/status', content: dpkgStatus(['base-files', '12.4'], ['bsdutils', '1:2.38.1-5', 'util-linux (2.38.1-5)'], ['libssl3', '3.0.13-1', 'openssl'], ['curl', '7.88.1-10']) },
    ], 'zstd');
    const remove = await layer('sha256:remove', [
      { name: '/var/lib/dpkg/status', content: dpkgStatus(['base-files', '12.4'], ['bsdutils', '1:2.38.1-5', 'util-linux (2.38.1-5)'], ['libssl3', '3.0.13-1', 'openssl']) },
    ], 'none');

    const inventory = await inventoryImage([base, upgrade, remove], osDetectors);
    expect(inventory).toEqual({
      os: DEBIAN_OS,
      packages: [
        dpkg('base-files', '12.4', 'sha256:base'),
        dpkg('bsdutils', '1:2.38.1-5', 'sha256:base', undefined, { name: 'util-linux', version: '2.38.1-5' }),
        dpkg('libssl3', '3.0.13-1', 'sha256:upgrade', undefined, { name: 'openssl', version: '3.0.13-1' }),
      ],
      notes: [],
    });
  });

  it('deletes whited-out files and directories, and hides lower contents of opaque directories', async () => {
    const statusD = 'var/lib/dpkg/status.d';
    const layers = [
      await layer('sha256:l0', [
        { name: 'etc/os-release', content: DEBIAN_12 },
        { name: `${statusD}/base-files`, content: dpkgStatus(['base-files', '12.4']) },
        { name: `${statusD}/libc6`, content: dpkgStatus(['libc6', '2.36-9', 'glibc']) },
        { name: `${statusD}/zlib1g`, content: dpkgStatus(['zlib1g', '1.2.13', 'zlib']) },
      ]),
      await layer('sha256:l1', [
        { name: `${statusD}/.wh.zlib1g`, content: '' },
        { name: `${statusD}/libssl3`, content: dpkgStatus(['libssl3', '3.0.11-1', 'openssl']) },
      ], 'zstd'),
      // Opaque: everything below status.d from lower layers goes; this layer's tzdata stays.
      await layer('sha256:l2', [
        { name: `${statusD}/tzdata`, content: dpkgStatus(['tzdata', '2024a']) },
        { name: `${statusD}/.wh..wh..opq`, content: '' },
      ], 'none'),
      // The whole of var/lib deleted, then tzdata put back by the same layer.
      await layer('sha256:l3', [
        { name: 'var/.wh.lib', content: '' },
        { name: `${statusD}/tzdata`, content: dpkgStatus(['tzdata', '2024a']) },
      ]),
    ];
    const inventories = await Promise.all(layers.map((l) => inventoryLayer(l, osDetectors)));
    const upTo = (n: number) => names(mergeLayerInventories(inventories.slice(0, n)).packages);
    const at = (name: string) => `${statusD}/${name}`;
    expect(upTo(1)).toEqual(['base-files 12.4 sha256:l0', 'libc6 2.36-9 sha256:l0', 'zlib1g 1.2.13 sha256:l0']);
    expect(upTo(2)).toEqual(['base-files 12.4 sha256:l0', 'libc6 2.36-9 sha256:l0', 'libssl3 3.0.11-1 sha256:l1']);
    expect(upTo(3)).toEqual(['tzdata 2024a sha256:l2']);
    // Deleted and added again: introduced by the layer that re-added it.
    expect(upTo(4)).toEqual(['tzdata 2024a sha256:l3']);
    expect(mergeLayerInventories(inventories).packages).toEqual([dpkg('tzdata', '2024a', 'sha256:l3', at('tzdata'))]);
    // A whiteout only reaches down: the same layer's file at the same path stays.
    expect(mergeLayerInventories([...inventories, { ...inventories[3]!, digest: 'sha256:l4', whiteouts: [at('tzdata')] }]).packages).toEqual([
      dpkg('tzdata', '2024a', 'sha256:l4', at('tzdata')),
    ]);
  });

  it('takes the OS from /etc/os-release before /usr/lib/os-release, then from the topmost layer', async () => {
    const debian11 = DEBIAN_12.replace('VERSION_ID="12"', 'VERSION_ID="11"');
    const both = await inventoryLayer(await layer('sha256:both', [
      { name: 'etc/os-release', content: debian11 },
      { name: 'usr/lib/os-release', content: debian11 },
    ]), osDetectors);
    const usrLib12 = await inventoryLayer(await layer('sha256:usr', [{ name: 'usr/lib/os-release', content: DEBIAN_12 }]), osDetectors);
    const etcSymlink = await inventoryLayer(await layer('sha256:link', [{ name: 'etc/os-release', type: 'symlink', linkname: '../usr/lib/os-release' }]), osDetectors);
    const etcGone = { ...usrLib12, digest: 'sha256:gone', files: [], whiteouts: ['etc/os-release'] };
    expect(mergeLayerInventories([both, usrLib12]).os?.ecosystem).toBe('Debian:11');
    expect(mergeLayerInventories([both, usrLib12, etcSymlink]).os?.ecosystem).toBe('Debian:12');
    expect(mergeLayerInventories([both, usrLib12, etcGone]).os?.ecosystem).toBe('Debian:12');
    expect(mergeLayerInventories([usrLib12, both]).os?.ecosystem).toBe('Debian:11');
  });

  it('leaves distro packages without an ecosystem, and says so, when the OS is unknown', async () => {
    const apkOnly = await layer('sha256:apk', [{ name: 'lib/apk/db/installed', content: 'P:musl\nV:1.2.4-r4\nA:x86_64\no:musl\n\nP:busybox\nV:1.36.1-r15\n' }]);
    const inventory = await inventoryImage([apkOnly], osDetectors);
    expect(inventory.os).toBeNull();
    expect(inventory.packages.map((p) => [p.name, p.ecosystem])).toEqual([['musl', ''], ['busybox', '']]);
    expect(inventory.notes).toEqual(['no os-release names the distribution: 2 distribution packages listed without an ecosystem, not checked for vulnerabilities']);

    const sid = await layer('sha256:sid', [{ name: 'etc/os-release', content: readFileSync(new URL('os-release/debian-sid', FIXTURES), 'utf8') }]);
    const onSid = await inventoryImage([sid, apkOnly], osDetectors);
    expect(onSid.notes).toEqual(['Debian GNU/Linux trixie/sid has no OSV ecosystem Berth matches: 2 distribution packages listed, not checked for vulnerabilities']);
  });

  it('gives language packages their own ecosystem and keeps notes of surviving files only', async () => {
    const npmish: Detector = {
      name: 'npmish',
      wants: (f) => f.path.endsWith('package.json'),
      detect: async (file, s) => {
        const json = JSON.parse((await readCapped(s, 1 << 20)).toString()) as { name: string; version: string };
        return { packages: [{ ecosystem: 'npm', versionScheme: 'semver', name: json.name, version: json.version, location: file.path }], notes: [`read ${file.path}`] };
      },
    };
    const detectors = [...osDetectors, npmish];
    const l0 = await inventoryLayer(await layer('sha256:a', [
      { name: 'etc/os-release', content: ALPINE_319 },
      { name: 'app/node_modules/left-pad/package.json', content: '{"name":"left-pad","version":"1.3.0"}' },
      { name: 'app/node_modules/gone/package.json', content: '{"name":"gone","version":"1.0.0"}' },
    ]), detectors);
    const l1 = await inventoryLayer(await layer('sha256:b', [{ name: 'app/node_modules/.wh.gone', content: '' }]), detectors);
    expect(mergeLayerInventories([l0, l1])).toEqual({
      os: { id: 'alpine', versionId: '3.19.1', prettyName: 'Alpine Linux v3.19', ecosystem: 'Alpine:v3.19' },
      packages: [
        { ecosystem: 'npm', versionScheme: 'semver', name: 'left-pad', version: '1.3.0', location: 'app/node_modules/left-pad/package.json', layerDigest: 'sha256:a' },
      ],
      notes: ['read app/node_modules/left-pad/package.json'],
    });
  });

  it('attributes a version that comes back to the layer that brought it back', () => {
    const status = (digest: string, version: string): LayerInventory => ({
      format: 1,
      digest,
      files: [{ path: 'var/lib/dpkg/status', findings: [{ detector: 'dpkg', packages: [{ versionScheme: 'dpkg', name: 'a', version, location: 'var/lib/dpkg/status' }] }] }],
      whiteouts: [],
      opaqueDirs: [],
      notes: [],
    });
    const none: LayerInventory = { format: 1, digest: 'sha256:none', files: [], whiteouts: [], opaqueDirs: [], notes: [] };
    expect(names(mergeLayerInventories([status('sha256:0', '1'), none, status('sha256:2', '1')]).packages)).toEqual(['a 1 sha256:0']);
    expect(names(mergeLayerInventories([status('sha256:0', '1'), status('sha256:1', '2'), status('sha256:2', '1')]).packages)).toEqual(['a 1 sha256:2']);
    expect(mergeLayerInventories([])).toEqual({ os: null, packages: [], notes: [] });
  });

  it('merges stored (JSON) inventories exactly like fresh ones', async () => {
    const l0 = await inventoryLayer(await layer('sha256:a', [{ name: 'etc/os-release', content: DEBIAN_12 }, { name: 'var/lib/dpkg/status', content: dpkgStatus(['a', '1']) }]), osDetectors);
    const l1 = await inventoryLayer(await layer('sha256:b', [{ name: 'var/lib/dpkg/status', content: dpkgStatus(['a', '1'], ['b', '2']) }]), osDetectors);
    const stored = [l0, l1].map((l) => JSON.parse(JSON.stringify(l)) as LayerInventory);
    expect(mergeLayerInventories(stored)).toEqual(mergeLayerInventories([l0, l1]));
    expect(names(mergeLayerInventories(stored).packages)).toEqual(['a 1 sha256:a', 'b 2 sha256:b']);
  });
});
