/**
 * The comparators against the ecosystems' own tools, on thousands of version
 * pairs generated from a seeded PRNG (the same pairs every run): dpkg
 * --compare-versions, rpm's Lua rpm.vercmp, Python's packaging (Debian's
 * /usr/bin/python3) and npm's semver package. Each tool runs once per batch,
 * not once per pair. Every disagreement is listed in the failure.
 *
 * The tools come from scripts/install-test-deps.sh. A missing tool fails the
 * run in CI (CI=true) and skips its test elsewhere. apk-tools has no Debian
 * package: fixtures.test.ts checks apk against pairs apk-tools ordered.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import semver from 'semver';
import { afterAll, describe, expect, it, type TestContext } from 'vitest';
import { compareVersions, isValidVersion, type VersionScheme } from './index.js';
import { sharedTestdata } from '../../../test/support/shared-testdata.js';

type Op = '<' | '=' | '>';
type Pair = [string, string];

const opOf = (n: number): Op => (n < 0 ? '<' : n > 0 ? '>' : '=');
const PYTHON = '/usr/bin/python3';
const FIXTURE_DIR = sharedTestdata('version-order') + '/';
const work = mkdtempSync(join(tmpdir(), 'berth-versions-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

// --- seeded generation -------------------------------------------------------

/** mulberry32: small, fast, and the same sequence for the same seed. */
class Random {
  private state: number;
  constructor(seed: number) {
    this.state = seed >>> 0;
  }
  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  /** An integer in [lo, hi]. */
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.next() * (hi - lo + 1));
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
  pick<T>(items: readonly T[]): T {
    return items[this.int(0, items.length - 1)]!;
  }
  digits(n: number): string {
    let s = String(this.int(1, 9));
    while (s.length < n) s += String(this.int(0, 9));
    return s;
  }
}

/** Numbers as versions have them: mostly small, some with leading zeros, dates, and runs too long for any integer type. */
function versionNumber(r: Random): string {
  switch (r.int(0, 9)) {
    case 0:
      return '0';
    case 1:
      return String(r.int(0, 999));
    case 2:
      return '0'.repeat(r.int(1, 3)) + String(r.int(0, 99));
    case 3:
      return `20${r.int(0, 2)}${r.int(0, 9)}${String(r.int(1, 12)).padStart(2, '0')}${String(r.int(1, 28)).padStart(2, '0')}`;
    case 4:
      return r.digits(r.int(19, 40));
    default:
      return String(r.int(0, 12));
  }
}

/** Small edits that turn a version into a nearby one: the pairs where comparators go wrong. */
function mutate(r: Random, version: string, pieces: readonly ((r: Random) => string)[], alphabet: string): string {
  let v = version;
  for (let edits = r.int(1, 2); edits > 0; edits--) {
    const runs = [...v.matchAll(/[0-9]+/g)];
    const run = runs.length ? r.pick(runs) : undefined;
    const at = r.int(0, v.length);
    switch (r.int(0, 7)) {
      case 0:
        v += r.pick(pieces)(r);
        break;
      case 1:
        v = v.slice(0, at) + r.pick(pieces)(r) + v.slice(at);
        break;
      case 2:
        v = v.slice(0, at) + v.slice(at + 1);
        break;
      case 3:
        v = v.slice(0, at) + alphabet[r.int(0, alphabet.length - 1)] + v.slice(at + 1);
        break;
      case 4: // bump or lower a number
        if (run) v = spliceRun(v, run, String(BigInt(run[0]) + BigInt(r.pick([1, -1, 10]))).replace('-', ''));
        break;
      case 5: // leading zeros in or out
        if (run) v = spliceRun(v, run, r.chance(0.5) ? `0${run[0]}` : run[0].replace(/^0+(?=.)/, ''));
        break;
      case 6: // a long run of digits
        if (run) v = spliceRun(v, run, run[0] + r.digits(r.int(15, 30)));
        break;
      default:
        v = v.slice(0, at) + v.slice(at, at + 1) + v.slice(at);
    }
  }
  return v;
}

function spliceRun(v: string, run: RegExpMatchArray, replacement: string): string {
  return v.slice(0, run.index) + replacement + v.slice(run.index! + run[0].length);
}

/** Pairs: some unrelated, most a version and a near neighbour of it, some identical. */
function generatePairs(r: Random, count: number, version: (r: Random) => string, neighbour: (r: Random, v: string) => string): Pair[] {
  const pairs: Pair[] = [];
  while (pairs.length < count) {
    const a = version(r);
    const kind = r.int(0, 9);
    pairs.push([a, kind === 0 ? version(r) : kind === 1 ? a : neighbour(r, a)]);
  }
  return pairs;
}

// --- the reference tools ------------------------------------------------------

function run(command: string, args: string[], input: string): Promise<{ stdout: string; stderr: string; code: number | null }> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ stdout, stderr, code }));
    child.stdin.end(input);
  });
}

/** What the reference said about a pair: an order, or that it rejects a version. */
type Verdict = Op | 'invalid';

/** Compares our answers with the reference's and fails with every pair that differs. */
function expectAgreement(tool: string, scheme: VersionScheme, pairs: Pair[], verdicts: Verdict[]): void {
  expect(verdicts).toHaveLength(pairs.length);
  const disagreements: string[] = [];
  pairs.forEach(([a, b], i) => {
    const valid = isValidVersion(scheme, a) && isValidVersion(scheme, b);
    const ours: Verdict = valid ? opOf(compareVersions(scheme, a, b)) : 'invalid';
    if (ours !== verdicts[i]) disagreements.push(`${JSON.stringify(a)} vs ${JSON.stringify(b)}: ours ${ours}, ${tool} ${verdicts[i]}`);
  });
  const shown = disagreements.slice(0, 200);
  if (disagreements.length > shown.length) shown.push(`… and ${disagreements.length - shown.length} more`);
  expect(shown, `${disagreements.length} of ${pairs.length} pairs disagree with ${tool}`).toEqual([]);
}

/** Skips (with the reason) when a reference tool is missing, except in CI where that is a failure. */
function requireReference(ctx: TestContext, available: boolean, what: string): void {
  if (available) return;
  if (process.env.CI === 'true') throw new Error(`${what} is required for the version comparator tests in CI (scripts/install-test-deps.sh installs it)`);
  console.warn(`version comparators: skipping, ${what} is not installed (scripts/install-test-deps.sh installs it)`);
  ctx.skip(`${what} is not installed`);
}

const hasCommand = (command: string, args: string[]): boolean => spawnSync(command, args, { stdio: 'ignore' }).status === 0;

// --- dpkg ---------------------------------------------------------------------

const DPKG_PIECES = [
  (r: Random) => `.${versionNumber(r)}`,
  (r: Random) => `+${r.pick(['dfsg', 'ds', 'b', 'really', 'git', 'deb12u', ''])}${versionNumber(r)}`,
  (r: Random) => `~${r.pick(['rc', 'beta', 'bpo', 'deb', '', '~'])}${r.chance(0.7) ? versionNumber(r) : ''}`,
  (r: Random) => r.pick(['a', 'b', 'z', 'A', 'Z', 'rc', 'ubuntu', 'build']) + (r.chance(0.5) ? versionNumber(r) : ''),
  (r: Random) => r.pick(['~', '~~', '+', '.', '-', ':', '_', '%', '@', '=']),
  (r: Random) => `-${versionNumber(r)}`,
];
const DPKG_ALPHABET = '0123456789aAzZ.+~-:_%=';

function dpkgVersion(r: Random): string {
  const epoch = r.chance(0.25) ? `${r.pick(['0', '1', '2', '10', '01', '00', '+1', String(r.int(0, 2 ** 31 - 1))])}:` : '';
  let upstream = r.chance(0.04) ? r.pick(['a', 'Z', '~', '+']) : versionNumber(r);
  for (let n = r.int(0, 4); n > 0; n--) upstream += r.pick(DPKG_PIECES.slice(0, 4))(r);
  const revision = r.chance(0.3)
    ? ''
    : `-${r.pick([
        () => versionNumber(r),
        () => `${r.int(0, 9)}ubuntu${r.int(0, 9)}`,
        () => `${r.int(0, 9)}~deb${r.int(7, 13)}u${r.int(1, 9)}`,
        () => `${r.int(0, 9)}+deb${r.int(7, 13)}u${r.int(1, 9)}`,
        () => `${r.int(0, 9)}build${r.int(1, 3)}`,
        () => `0.${versionNumber(r)}`,
        () => `${r.int(1, 3)}~bpo${r.int(9, 12)}+${r.int(1, 2)}`,
        () => r.pick(['~', 'a', 'A1', '0', '00']),
      ])()}`;
  return epoch + upstream + revision;
}

/** A sh script asking dpkg about each pair: one line per pair, `<`, `=`, `>`, or `E` when dpkg rejects a version. */
function dpkgScript(pairs: Pair[]): string {
  const quote = (s: string) => `'${s.replaceAll("'", "'\\''")}'`;
  return [
    'c() {',
    '  dpkg --compare-versions "$1" lt "$2" 2>/dev/null; status=$?',
    '  if [ $status -eq 0 ]; then echo "<"; elif [ $status -ne 1 ]; then echo E;',
    '  elif dpkg --compare-versions "$1" eq "$2" 2>/dev/null; then echo "="; else echo ">"; fi',
    '}',
    ...pairs.map(([a, b]) => `c ${quote(a)} ${quote(b)}`),
  ].join('\n');
}

const DPKG_EDGE_PAIRS: Pair[] = [
  ['1.0~rc1', '1.0'],
  ['1.0~', '1.0'],
  ['1.0~~', '1.0~'],
  ['1.0~~a', '1.0~'],
  ['1.0a', '1.0+'],
  ['1.0a', '1.0.'],
  ['1.0A', '1.0a'],
  ['1.0', '1.0+b1'],
  ['0:1.0', '1.0'],
  ['1.0-0', '1.0'],
  ['1.0-00', '1.0-'],
  ['1.0-0', '1.0-~'],
  ['1:0.1', '0:9.9'],
  ['1.000000000000000000000000000000001', '1.1'],
  ['1.99999999999999999999999999999', '1.100000000000000000000000000000'],
  ['1.2-3-4', '1.2-3'],
  ['1:2:3-4', '1:2.3-4'],
  ['1.0_1', '1.0a1'],
  ['abc', '1.0'],
  ['2147483647:1', '2147483648:1'],
  ['1.0-', '1.0'],
  ['a:1', '1'],
  [':1', '1'],
  ['1:', '1'],
];

describe('dpkg versions', () => {
  it('order thousands of generated pairs as dpkg --compare-versions does', async (ctx) => {
    requireReference(ctx, existsSync('/usr/bin/dpkg'), 'dpkg');
    const r = new Random(0xdeb1);
    const pairs = [
      ...DPKG_EDGE_PAIRS,
      // Kept off dpkg's command line: a leading "-" (an option to dpkg) and "" (to
      // --compare-versions, "no version", lower than any; not a version at all).
      ...generatePairs(r, 2400, dpkgVersion, (r, v) => mutate(r, v, DPKG_PIECES, DPKG_ALPHABET)).filter(([a, b]) => [a, b].every((v) => v !== '' && !v.startsWith('-'))),
    ];
    // One shell per CPU, each running its share of the dpkg calls.
    const shells = Math.min(4, availableParallelism());
    const share = Math.ceil(pairs.length / shells);
    const outputs = await Promise.all(
      Array.from({ length: shells }, async (_, i) => {
        const { stdout, code } = await run('sh', ['-s'], dpkgScript(pairs.slice(i * share, (i + 1) * share)));
        expect(code).toBe(0);
        return stdout.trim().split('\n').filter(Boolean);
      }),
    );
    const verdicts = outputs.flat().map((line): Verdict => (line === 'E' ? 'invalid' : (line as Op)));
    expectAgreement('dpkg', 'dpkg', pairs, verdicts);
  });
});

// --- rpm ----------------------------------------------------------------------

const RPM_PIECES = [
  (r: Random) => `.${versionNumber(r)}`,
  (r: Random) => r.pick(['.', '_', '+', '..', '%', '-', ':', '~', '^', '~~', '^^', 'α', 'é']),
  (r: Random) => `~${r.pick(['rc', 'beta', 'pre', ''])}${versionNumber(r)}`,
  (r: Random) => `^${r.pick(['git', '', 'post'])}${r.chance(0.6) ? versionNumber(r) : ''}`,
  (r: Random) => r.pick(['a', 'b', 'z', 'A', 'Z', 'rc', 'git', 'el', 'fc', 'aa']) + (r.chance(0.5) ? versionNumber(r) : ''),
  (r: Random) => r.pick(['.el8', '.el9_2', '.fc39', '.module+el8.4.0+1234+abcdef12', '.1.el7', '.ael7b', 'el7']),
];
const RPM_ALPHABET = '0123456789aAzZ.+_~^-:α';

function rpmVersion(r: Random): string {
  const epoch = r.chance(0.25) ? `${r.pick(['0', '1', '2', '10', '01', '00', ''])}:` : '';
  let version = r.chance(0.05) ? r.pick(['a', 'Z', '~', '^', '.', 'α']) : versionNumber(r);
  for (let n = r.int(0, 4); n > 0; n--) version += r.pick(RPM_PIECES.filter((_, i) => i !== 1))(r);
  let release = '';
  if (r.chance(0.75)) {
    release = `-${r.chance(0.1) ? '' : versionNumber(r)}`;
    for (let n = r.int(0, 2); n > 0; n--) release += r.pick(RPM_PIECES)(r);
  }
  return epoch + version + release;
}

/** A Lua chunk for rpm's built-in interpreter: reads tab-separated pairs, prints rpm.vercmp's answer (or E) per line. */
const RPM_LUA = `
local out = {}
for line in io.lines(arg_pairs) do
  local a, b = line:match("^([^\\t]*)\\t([^\\t]*)$")
  local ok, result = pcall(rpm.vercmp, a, b)
  out[#out + 1] = ok and tostring(result) or "E"
end
io.write(table.concat(out, "\\n"), "\\n")
`;

const RPM_EDGE_PAIRS: Pair[] = [
  ['1', '1-1'],
  ['1', '1-'],
  ['1-', '1-0'],
  ['1.0~rc1', '1.0'],
  ['1.0^', '1.0'],
  ['1.0^git1', '1.0.1'],
  ['1.0~rc1^git1', '1.0~rc1'],
  ['1.0^git1~pre', '1.0^git1'],
  ['1.0', '1.0.'],
  ['1.0', '1_0'],
  ['1.0a', '1.0.1'],
  ['1.a', '1.1'],
  ['1.01', '1.1'],
  ['1.0001', '1.01'],
  ['0:1.0', '1.0'],
  [':1.0', '0:1.0'],
  ['1:1.0', '2.0'],
  ['a:1', 'b:1'],
  ['01:1', '1:1'],
  ['1.1.α', '1.1.a'],
  ['1.99999999999999999999999999999', '1.100000000000000000000000000000'],
  ['1-1-1', '1-1'],
  ['1.0-el8', '1.0-1.el8'],
  ['0:3.10.0-229.el7', '0:3.10.0-229.1.2.ael7b'],
];

describe('rpm versions', () => {
  it('order thousands of generated pairs as rpm.vercmp does', async (ctx) => {
    requireReference(ctx, hasCommand('rpm', ['--version']), 'rpm');
    const r = new Random(0x4e41);
    const pairs = [...RPM_EDGE_PAIRS, ...generatePairs(r, 20_000, rpmVersion, (r, v) => mutate(r, v, RPM_PIECES, RPM_ALPHABET))]
      // Tab and newline frame the pairs; rpm.vercmp refuses an empty string.
      .map(([a, b]): Pair => [a || '0', b || '0']);
    const pairsFile = join(work, 'rpm-pairs.tsv');
    writeFileSync(pairsFile, pairs.map((p) => p.join('\t')).join('\n') + '\n');
    const script = join(work, 'rpm-compare.lua');
    writeFileSync(script, `local arg_pairs = ${JSON.stringify(pairsFile)}\n${RPM_LUA}`);
    const { stdout, stderr, code } = await run('rpm', ['--eval', `%{lua: dofile(${JSON.stringify(script)})}`], '');
    expect(code, stderr).toBe(0);
    const verdicts = stdout.trim().split('\n').map((line): Verdict => (line === 'E' ? 'invalid' : opOf(Number(line))));
    expectAgreement('rpm.vercmp', 'rpm', pairs, verdicts);
  });
});

// --- PEP 440 --------------------------------------------------------------------

const PEP440_SEPARATORS = ['', '', '', '.', '-', '_'];

/** A PEP 440 version spelled in any of the ways packaging accepts. */
function pep440Version(r: Random): string {
  const sep = () => r.pick(PEP440_SEPARATORS);
  const n = () => (r.chance(0.8) ? String(r.int(0, 12)) : versionNumber(r));
  let v = '';
  if (r.chance(0.04)) v += r.pick([' ', '\t', '\n ', '\u00a0']);
  if (r.chance(0.1)) v += r.pick(['v', 'V']);
  if (r.chance(0.12)) v += `${n()}!`;
  v += Array.from({ length: r.int(1, 4) }, n).join('.');
  if (r.chance(0.35)) v += sep() + r.pick(['a', 'b', 'c', 'rc', 'alpha', 'beta', 'pre', 'preview', 'A', 'RC', 'Alpha', 'Preview']) + (r.chance(0.75) ? sep() + n() : '');
  if (r.chance(0.25)) v += r.chance(0.25) ? `-${n()}` : sep() + r.pick(['post', 'rev', 'r', 'POST', 'Rev', 'R']) + (r.chance(0.75) ? sep() + n() : '');
  if (r.chance(0.25)) v += sep() + r.pick(['dev', 'DEV', 'Dev']) + (r.chance(0.75) ? sep() + n() : '');
  if (r.chance(0.15)) {
    const part = () => r.pick(['abc', 'ubuntu', 'A1', 'x9', 'local', '0', '01', '1', n()]);
    v += `+${Array.from({ length: r.int(1, 3), }, part).join(r.pick(['.', '-', '_']))}`;
  }
  if (r.chance(0.04)) v += r.pick([' ', '\t', '\n', '\u3000']);
  return v;
}

const PEP440_PIECES = [
  (r: Random) => r.pick(['.', '-', '_', '+', '!', 'v', ' ', '..']),
  (r: Random) => r.pick(['a', 'b', 'c', 'rc', 'post', 'dev', 'r', 'pre', 'alpha', 'x']) + (r.chance(0.5) ? String(r.int(0, 12)) : ''),
  (r: Random) => `.${r.int(0, 12)}`,
  (r: Random) => `+${r.pick(['abc', '1', 'a.b', '01'])}`,
  (r: Random) => String(r.int(0, 99)),
];
const PEP440_ALPHABET = '0123456789.-_+!abcdeprv';

/** Reads JSON pairs on stdin; prints, per pair, "<", "=", ">" or "invalid". */
const PACKAGING_SCRIPT = `
import json, sys
from packaging.version import InvalidVersion, Version

def parse(text):
    try:
        return Version(text)
    except InvalidVersion:
        return None

verdicts = []
for a, b in json.load(sys.stdin):
    va, vb = parse(a), parse(b)
    verdicts.append("invalid" if va is None or vb is None else "<" if va < vb else ">" if va > vb else "=")
json.dump(verdicts, sys.stdout)
`;

const PEP440_EDGE_PAIRS: Pair[] = [
  ['1.0RC1', '1.0rc1'],
  ['1.0-post1', '1.0.post1'],
  ['v1.0', '1.0'],
  ['1.0-1', '1.0.post1'],
  ['1.0.dev0', '1.0a0'],
  ['1.0a1.dev1', '1.0a1'],
  ['1.0.post1.dev1', '1.0.post1'],
  ['1.0.post1.dev1', '1.0'],
  ['1.0+local', '1.0'],
  ['1.0+abc', '1.0+1'],
  ['1.0+1.a', '1.0+1'],
  ['1.0+01', '1.0+1'],
  ['1.0+a-b_c', '1.0+a.b.c'],
  ['1.0.0', '1'],
  ['1!1.0', '2.0'],
  ['1.0c1', '1.0rc1'],
  ['1.0preview2', '1.0pre2'],
  ['1.0r', '1.0.post0'],
  ['1.0a', '1.0a0'],
  [' 1.0\n', '1.0'],
  ['1.0\u00a0', '1.0'],
  ['1.99999999999999999999999999999', '1.100000000000000000000000000000'],
  ['1.0.post', '1.0-post0'],
  ['1.0-', '1.0'],
  ['1.0+', '1.0'],
  ['1.0_1', '1.0'],
  ['1.0rc1.post1.dev1+x', '1.0rc1.post1.dev2'],
];

describe('PEP 440 versions', () => {
  it('order thousands of generated pairs as Python packaging does', async (ctx) => {
    requireReference(ctx, hasCommand(PYTHON, ['-c', 'import packaging.version']), `${PYTHON} with python3-packaging`);
    const r = new Random(0x9e9440);
    const pairs = [...PEP440_EDGE_PAIRS, ...generatePairs(r, 20_000, pep440Version, (r, v) => (r.chance(0.5) ? pep440Version(r) : mutate(r, v, PEP440_PIECES, PEP440_ALPHABET)))];
    const { stdout, stderr, code } = await run(PYTHON, ['-c', PACKAGING_SCRIPT], JSON.stringify(pairs));
    expect(code, stderr).toBe(0);
    expectAgreement('packaging', 'pep440', pairs, JSON.parse(stdout) as Verdict[]);
  });

  it('accept exactly the versions of the PyPI fixtures that packaging accepts', async (ctx) => {
    // Real-world versions, including the legacy ones packaging 22+ rejects.
    requireReference(ctx, hasCommand(PYTHON, ['-c', 'import packaging.version']), `${PYTHON} with python3-packaging`);
    const files = ['pypi-versions.txt', 'pypi-versions-generated.txt'].map((f) => join(FIXTURE_DIR, f));
    if (!files.every((f) => existsSync(f))) {
      if (process.env.CI === 'true') throw new Error(`the PyPI version-order fixtures are missing from ${FIXTURE_DIR}`);
      ctx.skip(`no fixtures at ${FIXTURE_DIR}`);
    }
    const versions = new Set(files.flatMap((f) => [...readFileSync(f, 'utf8').matchAll(/^(\S+) [<=>] (\S+)$/gm)].flatMap((m) => [m[1]!, m[2]!])));
    const pairs = [...versions].map((v): Pair => [v, v]);
    expect(pairs.length).toBeGreaterThan(9000);
    const { stdout, stderr, code } = await run(PYTHON, ['-c', PACKAGING_SCRIPT], JSON.stringify(pairs));
    expect(code, stderr).toBe(0);
    expectAgreement('packaging', 'pep440', pairs, JSON.parse(stdout) as Verdict[]);
  });
});

// --- SemVer -----------------------------------------------------------------------

// npm's semver stores numbers as JavaScript numbers, so it is only a reference below 2^53.
const SAFE = Number.MAX_SAFE_INTEGER;

interface SemverSpec {
  core: [number, number, number];
  prerelease: (string | number)[];
  build: string[];
}

function semverSpec(r: Random): SemverSpec {
  const n = () => (r.chance(0.85) ? r.int(0, 20) : r.chance(0.5) ? r.int(0, 99_999) : r.int(0, SAFE));
  const spec: SemverSpec = { core: [n(), n(), n()], prerelease: [], build: [] };
  if (r.chance(0.15)) {
    // Go pseudo-versions: vX.0.0-yyyymmddhhmmss-abcdefabcdef, vX.Y.(Z+1)-0.yyyymmddhhmmss-abcdefabcdef, vX.Y.Z-pre.0.yyyymmddhhmmss-abcdefabcdef
    const stamp = `20${r.int(10, 29)}${String(r.int(1, 12)).padStart(2, '0')}${r.digits(8)}-${r.int(0, 2 ** 31).toString(16).padStart(8, 'a')}abcd`;
    spec.prerelease = r.pick([[stamp], [0, stamp], [r.pick(['rc', 'beta']), r.int(0, 3), 0, stamp]]);
  } else {
    for (let i = r.chance(0.4) ? r.int(1, 3) : 0; i > 0; i--) spec.prerelease.push(r.chance(0.5) ? n() : r.pick(['alpha', 'beta', 'rc', 'Alpha', 'RC', 'a', 'b', 'x-y', '-', '--', '0a', 'a0', 'pre', 'SNAPSHOT', 'r2', 'R2', 'r100']));
  }
  for (let i = r.chance(0.2) ? r.int(1, 2) : 0; i > 0; i--) spec.build.push(r.pick(['build', '001', 'sha.5114f85', 'incompatible', 'x-1']));
  return spec;
}

function semverText(r: Random, spec: SemverSpec): string {
  return (
    (r.chance(0.3) ? 'v' : '') +
    spec.core.join('.') +
    (spec.prerelease.length ? `-${spec.prerelease.join('.')}` : '') +
    (spec.build.length ? `+${spec.build.join('.')}` : '')
  );
}

/** The same version with one field changed (or none: build metadata and the `v` are drawn afresh). */
function semverNeighbour(r: Random, spec: SemverSpec): SemverSpec {
  const next: SemverSpec = { core: [...spec.core], prerelease: [...spec.prerelease], build: r.chance(0.5) ? [...spec.build] : ['other'] };
  const i = r.int(0, 2);
  switch (r.int(0, 4)) {
    case 0:
      next.core[i] = Math.max(0, Math.min(SAFE, next.core[i]! + r.pick([1, -1])));
      break;
    case 1:
      next.prerelease.push(r.pick([0, 1, 'a', 'alpha', '1a']));
      break;
    case 2:
      next.prerelease.pop();
      break;
    case 3:
      if (next.prerelease.length) next.prerelease[r.int(0, next.prerelease.length - 1)] = r.pick([0, 2, 11, 'beta', 'B', 'rc']);
      break;
    default:
  }
  return next;
}

const SEMVER_PIECES = [
  (r: Random) => r.pick(['.', '-', '+', 'v', '..', '.0', '01', ' ']),
  (r: Random) => r.pick(['-alpha', '-0', '-01', '.1', '+build', '-rc.1']),
];

const SEMVER_EDGE_PAIRS: Pair[] = [
  ['1.0.0-alpha', '1.0.0-alpha.1'],
  ['1.0.0-alpha.beta', '1.0.0-beta'],
  ['1.0.0-beta.2', '1.0.0-beta.11'],
  ['1.0.0-rc.1', '1.0.0'],
  ['1.0.0-1', '1.0.0-a'],
  ['1.0.0-A', '1.0.0-a'],
  ['1.0.0--', '1.0.0-0'],
  ['1.2.3+build', '1.2.3+other'],
  ['v1.2.3', '1.2.3'],
  ['v0.0.0-20191109021931-daa7c04131f5', 'v0.0.1'],
  ['v1.2.4-0.20191109021931-daa7c04131f5', 'v1.2.3'],
  ['v1.2.3-pre.0.20191109021931-daa7c04131f5', 'v1.2.3-pre'],
  ['v2.0.0+incompatible', 'v2.0.0'],
  ['1.2', '1.2.0'],
  ['01.2.3', '1.2.3'],
  ['1.2.3-01', '1.2.3-1'],
  ['1.2.3-', '1.2.3'],
  ['1.2.3-a..b', '1.2.3-a'],
  ['=1.2.3', '1.2.3'],
  ['V1.2.3', '1.2.3'],
];

describe('SemVer versions', () => {
  it('order thousands of generated pairs as npm semver does', () => {
    const r = new Random(0x5e3);
    const pairs: Pair[] = [...SEMVER_EDGE_PAIRS];
    while (pairs.length < 20_000) {
      const spec = semverSpec(r);
      const a = semverText(r, spec);
      const kind = r.int(0, 9);
      const b = kind === 0 ? semverText(r, semverSpec(r)) : kind === 1 ? mutate(r, a, SEMVER_PIECES, '0123456789.-+av') : semverText(r, semverNeighbour(r, spec));
      pairs.push([a, b]);
    }
    // Outside npm's reach: numbers past 2^53, whitespace (npm trims it; we refuse it) and OSV's `0`.
    const inReach = (v: string) => v !== '0' && !/\s/.test(v) && [...v.matchAll(/[0-9]+/g)].every(([d]) => Number(d) <= SAFE);
    const comparable = pairs.filter(([a, b]) => inReach(a) && inReach(b));
    expect(comparable.length).toBeGreaterThan(19_000);
    const verdicts = comparable.map(([a, b]): Verdict => (semver.valid(a) && semver.valid(b) ? opOf(semver.compare(a, b)) : 'invalid'));
    expectAgreement('npm semver', 'semver', comparable, verdicts);
  });

  it('compare numbers past 2^53 exactly, where npm semver cannot', () => {
    const big = '123456789012345678901234567890';
    expect(compareVersions('semver', `${big}.0.0`, `${big}.0.1`)).toBe(-1);
    expect(compareVersions('semver', `1.0.0-${big}1`, `1.0.0-${big}0`)).toBe(1);
    expect(compareVersions('semver', `1.0.0-${big}`, `1.0.0-${'9'.repeat(29)}`)).toBe(1);
  });
});

// --- all schemes ---------------------------------------------------------------------

function apkVersion(r: Random): string {
  let v = String(r.int(0, 20));
  for (let n = r.int(0, 3); n > 0; n--) v += `.${versionNumber(r).slice(0, 8)}`;
  if (r.chance(0.2)) v += r.pick(['a', 'b', 'p', 'z']);
  for (let n = r.chance(0.3) ? r.int(1, 2) : 0; n > 0; n--) v += `_${r.pick(['alpha', 'beta', 'pre', 'rc', 'cvs', 'svn', 'git', 'hg', 'p'])}${r.chance(0.6) ? versionNumber(r).slice(0, 8) : ''}`;
  if (r.chance(0.8)) v += `-r${r.int(0, 12)}`;
  return v;
}

const GENERATORS: Record<VersionScheme, (r: Random) => string> = {
  dpkg: dpkgVersion,
  apk: apkVersion,
  rpm: rpmVersion,
  semver: (r) => semverText(r, semverSpec(r)),
  pep440: pep440Version,
};

describe('every comparator', () => {
  // A comparator that is not a total order cannot be sorted by, and would make range checks
  // depend on the order events are visited in. Sorting exposes any intransitive triple.
  it.each(Object.keys(GENERATORS) as VersionScheme[])('%s: is a total order on generated valid versions, and on invalid ones', (scheme) => {
    const r = new Random(0x7077);
    const versions: string[] = [];
    for (let i = 0; i < 300; i++) {
      const v = GENERATORS[scheme](r);
      versions.push(v, mutate(r, v, [(r) => r.pick(['.', '0', '1', 'a', '~', '-', '_', '+'])], '01.a~-_+'));
    }
    // apk-tools' own answers for invalid versions carry no ordering promise (see apk.ts).
    const ordered = versions.filter((v) => scheme !== 'apk' || isValidVersion(scheme, v)).sort((a, b) => compareVersions(scheme, a, b));
    const wrong: string[] = [];
    for (let i = 0; i < ordered.length; i++) {
      for (let j = i + 1; j < ordered.length; j++) {
        const ij = compareVersions(scheme, ordered[i]!, ordered[j]!);
        if (ij > 0 || ij !== -compareVersions(scheme, ordered[j]!, ordered[i]!)) wrong.push(`${ordered[i]} vs ${ordered[j]}`);
      }
    }
    expect(wrong.slice(0, 50)).toEqual([]);
  });
});
