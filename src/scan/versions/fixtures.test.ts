/**
 * The comparators against the shared version-order fixtures: files of
 * `a < b`, `a = b`, `a > b` lines produced by (or checked against) each
 * ecosystem's own tool. Every line is checked in both directions.
 *
 * The fixtures live beside the project (../shared/testdata/version-order),
 * not in it. Without them the suite fails in CI and is skipped elsewhere.
 */
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { compareVersions, isValidVersion, type VersionScheme } from './index.js';
import { sharedTestdata } from '../../../test/support/shared-testdata.js';

const FIXTURE_DIR = sharedTestdata('version-order') + '/';
const haveFixtures = existsSync(FIXTURE_DIR);
const requireFixtures = process.env.CI === 'true';
if (!haveFixtures && !requireFixtures) console.warn(`version comparators: skipping the fixture tests, ${FIXTURE_DIR} does not exist`);

type Op = '<' | '=' | '>';

interface FixtureLine {
  line: number;
  text: string;
  a: string;
  op: Op;
  b: string;
}

/** Lines `a OP b`; blank lines and comments (`#`, and `//` which the PyPI and SemVer files also use) are skipped. */
function readFixture(name: string): FixtureLine[] {
  const path = FIXTURE_DIR + name;
  if (!existsSync(path)) throw new Error(`version-order fixture ${path} is missing`);
  const lines: FixtureLine[] = [];
  readFileSync(path, 'utf8')
    .split('\n')
    .forEach((raw, index) => {
      const text = raw.trim();
      if (text === '' || text.startsWith('#') || text.startsWith('//')) return;
      const match = /^(\S+) ([<=>]) (\S+)$/.exec(text);
      if (!match) throw new Error(`${name}:${index + 1}: not a comparison: ${JSON.stringify(raw)}`);
      lines.push({ line: index + 1, text, a: match[1]!, op: match[2] as Op, b: match[3]! });
    });
  return lines;
}

const opOf = (n: number): Op => (n < 0 ? '<' : n > 0 ? '>' : '=');
const REVERSED: Record<Op, Op> = { '<': '>', '=': '=', '>': '<' };

/**
 * alpine-versions.txt records apk-tools 3 (Alpine edge) on a few malformed
 * versions, some marked in the file ("on latest apk these are X but on 3.x
 * they're Y"), some not. We follow apk-tools 2.x, which the Alpine 3.x releases
 * run; these are its answers. Its rule for two versions equal so far where one
 * goes on differently: the one whose next token comes earlier in
 * invalid < number < letter < suffix < revision < end is newer (a pre-release
 * suffix aside).
 */
const APK_2X_ANSWERS = new Map<string, { op: Op; why: string }>([
  ['1-r-0 < 1-r0', { op: '>', why: 'both have revision 0 ("-r" then no digits reads as 0); then "-0" is an invalid token against the end (file comment: ">" on 3.x)' }],
  ['1-r-1 < 1-r0', { op: '>', why: 'as 1-r-0 (file comment: ">" on 3.x)' }],
  ['0.r1 < 0r2', { op: '>', why: '"." (a number, empty here) against the letter r; apk-tools 3 instead refuses a "." without digits' }],
  ['0.8.21.r2 < 0.8.21r2', { op: '>', why: 'as 0.r1: "." against a letter' }],
  ['1.2.0A < 1.2.0d', { op: '>', why: 'the invalid token "A" against the letter d (file comment: ">" on 3.x)' }],
  ['1.2.0D < 1.2.0d', { op: '>', why: 'the invalid token "D" against the letter d (file comment: ">" on 3.x)' }],
  ['1 > 1-ruff', { op: '<', why: 'the end against a revision ("-r", then no digits) (file comment: "<" on 3.x)' }],
  ['1-ruff2 = 1--ruff1', { op: '<', why: 'a revision ("-r") against the invalid token "--"; apk-tools 3 finds both invalid at that point (=)' }],
]);

interface Fixture {
  file: string;
  scheme: VersionScheme;
  /** Lines whose expected result is not the file's, with the reason. */
  answers?: Map<string, { op: Op; why: string }>;
}

const FIXTURES: Fixture[] = [
  { file: 'debian-versions.txt', scheme: 'dpkg' },
  { file: 'debian-versions-generated.txt', scheme: 'dpkg' },
  { file: 'alpine-versions.txt', scheme: 'apk', answers: APK_2X_ANSWERS },
  { file: 'alpine-versions-generated.txt', scheme: 'apk' },
  { file: 'redhat-versions.txt', scheme: 'rpm' },
  { file: 'pypi-versions.txt', scheme: 'pep440' },
  { file: 'pypi-versions-generated.txt', scheme: 'pep440' },
  { file: 'semver-versions.txt', scheme: 'semver' },
];

describe.skipIf(!haveFixtures && !requireFixtures)('version-order fixtures', () => {
  it('covers every fixture file', () => {
    const files = readdirSync(FIXTURE_DIR).filter((f) => f.endsWith('.txt'));
    expect(files.sort()).toEqual(FIXTURES.map((f) => f.file).sort());
  });

  for (const { file, scheme, answers = new Map() } of FIXTURES) {
    it(`${file}: every line holds both ways (${scheme})`, () => {
      const lines = readFixture(file);
      const wrong: string[] = [];
      for (const { line, text, a, op: fileOp, b } of lines) {
        const forward = compareVersions(scheme, a, b);
        const backward = compareVersions(scheme, b, a);
        if (opOf(backward) !== REVERSED[opOf(forward)]) wrong.push(`${file}:${line}: ${text}: not antisymmetric (${opOf(forward)} one way, ${opOf(backward)} the other)`);

        // Outside apk (which compares malformed versions the way apk-tools does), a version
        // the ecosystem's tool rejects only has our documented fallback order: it sorts
        // before every valid version. Lines between two such versions state an order we
        // deliberately do not have (PyPI: packaging < 22's LegacyVersion order; SemVer:
        // versions without exactly three components); skip those.
        const invalid = [a, b].filter((v) => !isValidVersion(scheme, v)).length;
        if (scheme !== 'apk' && invalid === 2) continue;

        const expected = answers.get(text)?.op ?? fileOp;
        if (opOf(forward) !== expected) wrong.push(`${file}:${line}: ${text}: got ${a} ${opOf(forward)} ${b}, expected ${expected}`);
      }
      expect(wrong).toEqual([]);
      for (const text of answers.keys()) expect(lines.map((l) => l.text), `${file} no longer has the line "${text}"`).toContain(text);
    });
  }

  it('generated distro fixtures hold only versions their tools accept', () => {
    for (const { file, scheme } of FIXTURES.filter((f) => f.file.endsWith('-generated.txt') && f.scheme !== 'pep440')) {
      const invalid = readFixture(file).flatMap(({ a, b }) => [a, b].filter((v) => !isValidVersion(scheme, v)));
      expect(invalid, file).toEqual([]);
    }
  });

  it('PyPI lines with a version packaging 22+ rejects rank it below the PEP 440 versions, like the old LegacyVersion', () => {
    // These lines date from packaging < 22, which still parsed "0.1-bulbasaur" or "trunk" as a
    // LegacyVersion sorting before every PEP 440 version. packaging 22+ rejects them; our fallback
    // keeps that one rule (checked line by line above) and orders them among themselves by text.
    const lines = [...readFixture('pypi-versions.txt'), ...readFixture('pypi-versions-generated.txt')];
    const mixed = lines.filter(({ a, b }) => isValidVersion('pep440', a) !== isValidVersion('pep440', b));
    expect(mixed.length).toBeGreaterThan(0);
    for (const { text, a, op } of mixed) expect(op, text).toBe(isValidVersion('pep440', a) ? '>' : '<');
  });
});
