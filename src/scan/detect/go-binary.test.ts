/**
 * Synthetic build info for the format's corners, and real Go binaries: one
 * built here in module mode (a versioned dep, a dep replaced by another
 * module, one replaced by a local directory) for amd64 and for 32-bit
 * big-endian MIPS, and the Go programs Debian ships (skopeo, containerd, …),
 * each checked against `go version -m`.
 */
import { execFileSync } from 'node:child_process';
import { createReadStream, existsSync, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DetectorResult, LayerFile } from './detector.js';
import { GO_DEVEL_VERSION, MAX_GO_BINARY_BYTES, MAX_GO_MODINFO_BYTES, goBinaryDetector, parseModinfo } from './go-binary.js';

const executable = (path: string, size: number): LayerFile => ({ path, size, mode: 0o755 });
const go = (name: string, version: string, location: string) => ({ ecosystem: 'Go', versionScheme: 'semver', name, version, location });

async function detectFile(path: string): Promise<DetectorResult> {
  return goBinaryDetector.detect(executable(path.slice(1), statSync(path).size), createReadStream(path));
}

/** Cuts `data` into `size`-byte chunks, so that headers and strings straddle chunk boundaries. */
function chunked(data: Buffer, size: number): Readable {
  const parts: Buffer[] = [];
  for (let i = 0; i < data.length; i += size) parts.push(data.subarray(i, i + size));
  return Readable.from(parts);
}

// --- synthetic build info -------------------------------------------------------

const SENTINEL_START = Buffer.from('3077af0c9274080241e1c107e6d618e6', 'hex');
const SENTINEL_END = Buffer.from('f932433186182072008242104116d8f2', 'hex');

function uvarint(n: number): Buffer {
  const bytes: number[] = [];
  while (n >= 0x80) {
    bytes.push((n & 0x7f) | 0x80);
    n = Math.floor(n / 128);
  }
  bytes.push(n);
  return Buffer.from(bytes);
}

function inlineBuildInfo(goVersion: string, modinfo: string, pointerSize = 8, flags = 2): Buffer {
  const header = Buffer.alloc(32);
  header.write('\xff Go buildinf:', 'latin1');
  header[14] = pointerSize;
  header[15] = flags;
  const mod = Buffer.concat([SENTINEL_START, Buffer.from(modinfo), SENTINEL_END]);
  return Buffer.concat([header, uvarint(goVersion.length), Buffer.from(goVersion), uvarint(mod.length), mod]);
}

/** An ELF-looking file with `blob` at a 16-byte-aligned offset after `before`. */
function elfWith(before: Buffer, blob: Buffer): Buffer {
  const head = Buffer.concat([Buffer.from('\x7fELF\x02\x01\x01', 'latin1'), Buffer.alloc(57), before]);
  const pad = Buffer.alloc((16 - (head.length % 16)) % 16);
  return Buffer.concat([head, pad, blob, Buffer.alloc(100)]);
}

const MODINFO = [
  'path\texample.com/app/cmd/app',
  'mod\texample.com/app\tv1.4.0\th1:abc=',
  'dep\tgolang.org/x/net\tv0.17.0\th1:def=',
  'dep\tgithub.com/old/lib\tv1.0.0\th1:ghi=',
  '=>\tgithub.com/fork/lib\tv1.0.1-0.20231010120000-abcdef123456\th1:jkl=',
  'dep\texample.com/app/internal\tv0.0.0-00010101000000-000000000000',
  '=>\t./internal\t(devel)\t',
  '',
  'build\t-compiler=gc',
  'build\tGOOS=linux',
  '',
].join('\n');

describe('go-binary detector: synthetic build info', () => {
  const at = 'usr/local/bin/app';

  it('wants executables within the size cap only', () => {
    expect(goBinaryDetector.wants(executable(at, 1_000_000))).toBe(true);
    expect(goBinaryDetector.wants({ path: at, size: 1_000_000, mode: 0o644 })).toBe(false);
    expect(goBinaryDetector.wants(executable(at, MAX_GO_BINARY_BYTES + 1))).toBe(false);
  });

  it('reads the inline format, across chunk boundaries, skipping unaligned and invalid copies of the magic', async () => {
    // An unaligned copy, and an aligned one that is only the string constant (as in programs that read build info).
    const decoys = Buffer.concat([Buffer.from('xx\xff Go buildinf:yy', 'latin1'), Buffer.alloc(13), Buffer.from('\xff Go buildinf:\0\0', 'latin1'), Buffer.alloc(30)]);
    const binary = elfWith(decoys, inlineBuildInfo('go1.21.5 X:boringcrypto', MODINFO));
    for (const chunkSize of [1, 7, 16, 4096]) {
      expect(await goBinaryDetector.detect(executable(at, binary.length), chunked(binary, chunkSize))).toEqual({
        packages: [
          go('stdlib', 'go1.21.5', at),
          go('example.com/app', 'v1.4.0', at),
          go('golang.org/x/net', 'v0.17.0', at),
          go('github.com/fork/lib', 'v1.0.1-0.20231010120000-abcdef123456', at),
          go('example.com/app/internal', GO_DEVEL_VERSION, at),
        ],
      });
    }
  });

  it('reports only the standard library for a build without modules (GOPATH mode)', async () => {
    const binary = elfWith(Buffer.alloc(0), inlineBuildInfo('go1.19.8', 'path\tgithub.com/containers/skopeo/cmd/skopeo\nbuild\t-compiler=gc\n', 4, 3));
    expect(await goBinaryDetector.detect(executable(at, binary.length), chunked(binary, 64))).toEqual({ packages: [go('stdlib', 'go1.19.8', at)] });
  });

  it('notes a binary from before Go 1.18 (pointer format) instead of guessing', async () => {
    const header = Buffer.alloc(32);
    header.write('\xff Go buildinf:', 'latin1');
    header[14] = 8;
    header[15] = 0;
    const binary = elfWith(Buffer.alloc(0), header);
    expect(await goBinaryDetector.detect(executable(at, binary.length), chunked(binary, 4096))).toEqual({
      notes: [`${at}: Go binary built before Go 1.18 (build info by pointer); its modules are not inventoried`],
    });
    // A copy that only looks like the old format (a constant in a program that reads build info) loses to real inline build info after it.
    const both = elfWith(Buffer.concat([header, Buffer.alloc(32)]), inlineBuildInfo('go1.22.1', 'path\tx\n'));
    expect(await goBinaryDetector.detect(executable(at, both.length), chunked(both, 4096))).toEqual({ packages: [go('stdlib', 'go1.22.1', at)] });
  });

  it('ignores build info whose module list is over the cap', async () => {
    const binary = elfWith(Buffer.alloc(0), inlineBuildInfo('go1.22.0', `path\tx\n${'dep\ta\tv1.0.0\n'.repeat(MAX_GO_MODINFO_BYTES / 10)}`));
    expect(await goBinaryDetector.detect(executable(at, binary.length), chunked(binary, 65536))).toEqual({});
  });

  it('drops a non-ELF executable (a script) after its first bytes', async () => {
    let pulled = 0;
    async function* script() {
      for (let i = 0; i < 100; i++) {
        pulled++;
        yield Buffer.from(i === 0 ? '#!/bin/sh\n' : 'echo \xff Go buildinf:\n');
      }
    }
    const stream = Readable.from(script());
    expect(await goBinaryDetector.detect(executable('usr/bin/run.sh', 2000), stream)).toEqual({});
    expect(pulled).toBeLessThan(3);
    expect(stream.destroyed).toBe(true);
  });

  it('parses modinfo lines: main module, deps and the replacement after each', () => {
    expect(parseModinfo(MODINFO)).toEqual({
      main: { path: 'example.com/app', version: 'v1.4.0' },
      deps: [
        { path: 'golang.org/x/net', version: 'v0.17.0' },
        { path: 'github.com/old/lib', version: 'v1.0.0', replace: { path: 'github.com/fork/lib', version: 'v1.0.1-0.20231010120000-abcdef123456' } },
        { path: 'example.com/app/internal', version: 'v0.0.0-00010101000000-000000000000', replace: { path: './internal', version: '(devel)' } },
      ],
    });
  });
});

// --- real binaries -------------------------------------------------------------

const GO = ['/usr/bin/go', '/usr/lib/go/bin/go', '/usr/local/go/bin/go'].find((p) => existsSync(p));
const REQUIRE_GO = process.env.CI === 'true';
if (!GO && !REQUIRE_GO) console.warn('go-binary tests: no Go toolchain (Debian package golang-go), so real Go binaries are not tested');

/** `go version -m`, read with the detector's documented rules: Go's own parser is the reference. */
function goVersionM(path: string, location: string) {
  const lines = execFileSync(GO!, ['version', '-m', path], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 }).split('\n');
  const goVersion = lines[0]!.slice(lines[0]!.indexOf(': ') + 2).split(' ')[0]!;
  const modules: Array<{ path: string; version: string; replace?: [string, string] }> = [];
  for (const line of lines.slice(1)) {
    const [, word, modulePath = '', version = ''] = line.split('\t');
    if (word === 'mod' || word === 'dep') modules.push({ path: modulePath, version });
    if (word === '=>') modules[modules.length - 1]!.replace = [modulePath, version];
  }
  return [
    go('stdlib', goVersion, location),
    ...modules.map(({ path: p, version, replace }) => {
      if (!replace) return go(p, version || GO_DEVEL_VERSION, location);
      return /^(\.|\/)/.test(replace[0]) ? go(p, replace[1] || GO_DEVEL_VERSION, location) : go(replace[0], replace[1], location);
    }),
  ];
}

function writeTree(root: string, files: Record<string, string>): void {
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(dirname(join(root, path)), { recursive: true });
    writeFileSync(join(root, path), text);
  }
}

/** A module-mode program with vendored deps, so it builds offline. */
const APP_SOURCES: Record<string, string> = {
  'go.mod': [
    'module example.com/app',
    '',
    'go 1.19',
    '',
    'require (',
    '\texample.com/greet v1.2.3',
    '\texample.com/local v0.0.0',
    '\texample.com/old v1.0.0',
    ')',
    '',
    'replace example.com/old v1.0.0 => example.com/new v1.1.0',
    '',
    'replace example.com/local => ./local',
    '',
  ].join('\n'),
  'vendor/modules.txt': [
    '# example.com/greet v1.2.3',
    '## explicit',
    'example.com/greet',
    '# example.com/local v0.0.0 => ./local',
    '## explicit',
    'example.com/local',
    '# example.com/old v1.0.0 => example.com/new v1.1.0',
    '## explicit',
    'example.com/old',
    '# example.com/local => ./local',
    '',
  ].join('\n'),
  'vendor/example.com/greet/greet.go': 'package greet\n\nfunc Hello() string { return "hello" }\n',
  'vendor/example.com/old/old.go': 'package old\n\nfunc Name() string { return "new" }\n',
  'vendor/example.com/local/local.go': 'package local\n\nfunc X() int { return 1 }\n',
  'local/go.mod': 'module example.com/local\n',
  'local/local.go': 'package local\n\nfunc X() int { return 1 }\n',
  'main.go': [
    'package main',
    '',
    'import (',
    '\t"example.com/greet"',
    '\t"example.com/local"',
    '\t"example.com/old"',
    ')',
    '',
    'func main() { println(greet.Hello(), old.Name(), local.X()) }',
    '',
  ].join('\n'),
};

const DEBIAN_GO_PROGRAMS = ['/usr/bin/skopeo', '/usr/bin/ctr', '/usr/bin/containerd', '/usr/bin/umoci', '/usr/sbin/runc', '/usr/bin/buildah'].filter((p) => existsSync(p));

describe.skipIf(!GO && !REQUIRE_GO)('go-binary detector: real Go binaries', () => {
  let work: string;
  let goVersion: string;

  beforeAll(() => {
    if (!GO) throw new Error('a Go toolchain is required in CI: install the Debian package golang-go (scripts/install-test-deps.sh)');
    work = mkdtempSync(join(tmpdir(), 'berth-go-binary-'));
    writeTree(work, APP_SOURCES);
    goVersion = execFileSync(GO, ['env', 'GOVERSION'], { encoding: 'utf8' }).trim();
    const env = { ...process.env, CGO_ENABLED: '0', GOFLAGS: '-mod=vendor', GOPROXY: 'off', GOTOOLCHAIN: 'local', GOWORK: 'off', GO111MODULE: 'on' };
    for (const [output, goarch] of [['app-amd64', 'amd64'], ['app-mips', 'mips']] as const) {
      execFileSync(GO, ['build', '-trimpath', '-buildvcs=false', '-o', output, '.'], { cwd: work, env: { ...env, GOARCH: goarch }, stdio: 'pipe' });
    }
  });

  afterAll(() => {
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it.each(['app-amd64', 'app-mips'])('reads a module-mode build exactly (%s)', async (name) => {
    const path = join(work, name);
    const location = path.slice(1);
    const expected = [
      go('stdlib', goVersion, location),
      go('example.com/app', GO_DEVEL_VERSION, location),
      go('example.com/greet', 'v1.2.3', location),
      go('example.com/local', GO_DEVEL_VERSION, location), // replaced by ./local
      go('example.com/new', 'v1.1.0', location), // example.com/old replaced by it
    ];
    expect(await detectFile(path)).toEqual({ packages: expected });
    expect(goVersionM(path, location)).toEqual(expected);
  });

  it.skipIf(DEBIAN_GO_PROGRAMS.length === 0).each(DEBIAN_GO_PROGRAMS)('agrees with `go version -m` on %s', async (path) => {
    const result = await detectFile(path);
    expect(result).toEqual({ packages: goVersionM(path, path.slice(1)) });
    expect(result.packages?.[0]).toMatchObject({ name: 'stdlib', version: expect.stringMatching(/^go1\.\d+/) });
  });
});

describe('go-binary detector: ELF programs that are not Go', () => {
  it.each(['/usr/bin/ls', '/usr/bin/true'].filter((p) => existsSync(p)))('finds nothing in %s, quickly', async (path) => {
    const started = performance.now();
    expect(await detectFile(path)).toEqual({});
    expect(performance.now() - started).toBeLessThan(1000);
  });
});
