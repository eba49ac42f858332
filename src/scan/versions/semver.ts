/**
 * Semantic Versioning 2.0.0, as npm, crates.io and Go modules use it.
 *
 * - `MAJOR.MINOR.PATCH[-prerelease][+build]`, optionally prefixed with `v`
 *   (Go writes `v1.2.3`; npm accepts it too). Go pseudo-versions such as
 *   `v0.0.0-20191109021931-daa7c04131f5` are ordinary pre-releases.
 * - Numbers may be arbitrarily long: they compare as digit strings.
 * - Build metadata is ignored (`1.2.3+a` equals `1.2.3+b`, Go's `+incompatible` too).
 * - Strict: no leading zeros, no missing components (`1.2`), no coercion.
 *   Such strings are invalid, not guessed at: a lenient reading of a garbled
 *   version could place it on the wrong side of a fix.
 * - `0`, OSV's `introduced: "0"`, is valid and sorts below every version.
 */

export interface SemverVersion {
  major: string;
  minor: string;
  patch: string;
  /** Empty for a release. */
  prerelease: readonly string[];
  build: readonly string[];
}

/** OSV's "since the beginning" marker: below every version, including `0.0.0-0`. */
export const SEMVER_ZERO = '0';

const NUMBER = /^(?:0|[1-9][0-9]*)$/;
const DIGITS = /^[0-9]+$/;
const IDENTIFIER = /^[0-9A-Za-z-]+$/;

/** Parses a SemVer 2.0.0 version (with an optional `v`), or returns undefined; `0` is not a SemVer version. */
export function parseSemverVersion(version: string): SemverVersion | undefined {
  const text = version.startsWith('v') ? version.slice(1) : version;
  const plus = text.indexOf('+');
  const head = plus < 0 ? text : text.slice(0, plus);
  const build = plus < 0 ? [] : text.slice(plus + 1).split('.');
  const hyphen = head.indexOf('-');
  const core = (hyphen < 0 ? head : head.slice(0, hyphen)).split('.');
  const prerelease = hyphen < 0 ? [] : head.slice(hyphen + 1).split('.');

  const [major, minor, patch] = core;
  if (core.length !== 3 || !core.every((n) => NUMBER.test(n))) return undefined;
  if (!prerelease.every((id) => IDENTIFIER.test(id) && (!DIGITS.test(id) || NUMBER.test(id)))) return undefined;
  if (!build.every((id) => IDENTIFIER.test(id))) return undefined;
  return { major: major!, minor: minor!, patch: patch!, prerelease, build };
}

export function isValidSemverVersion(version: string): boolean {
  return version === SEMVER_ZERO || parseSemverVersion(version) !== undefined;
}

/**
 * Negative, zero or positive as `a` sorts before, equal to or after `b`.
 * Invalid versions sort before `0` and every valid version, and among
 * themselves by their text (UTF-16 code units), so the order stays total;
 * callers should check isValidSemverVersion first.
 */
export function compareSemverVersions(a: string, b: string): number {
  const ra = rank(a);
  const rb = rank(b);
  if (ra !== rb) return ra < rb ? -1 : 1;
  if (ra === INVALID) return a < b ? -1 : a > b ? 1 : 0;
  if (ra === ZERO) return 0;
  return compareParsedSemverVersions(parseSemverVersion(a)!, parseSemverVersion(b)!);
}

// Where a string stands before its contents are compared.
const INVALID = 0;
const ZERO = 1;
const VERSION = 2;

function rank(version: string): number {
  if (version === SEMVER_ZERO) return ZERO;
  return parseSemverVersion(version) ? VERSION : INVALID;
}

export function compareParsedSemverVersions(a: SemverVersion, b: SemverVersion): number {
  return (
    compareNumbers(a.major, b.major) ||
    compareNumbers(a.minor, b.minor) ||
    compareNumbers(a.patch, b.patch) ||
    comparePrereleases(a.prerelease, b.prerelease)
  );
}

/** Numbers without leading zeros: the longer is larger, else the digits decide. */
function compareNumbers(a: string, b: string): number {
  if (a.length !== b.length) return a.length < b.length ? -1 : 1;
  return a < b ? -1 : a > b ? 1 : 0;
}

function comparePrereleases(a: readonly string[], b: readonly string[]): number {
  // A release sorts after all of its pre-releases.
  if (a.length === 0 || b.length === 0) return a.length === b.length ? 0 : a.length === 0 ? 1 : -1;
  for (let i = 0; i < Math.min(a.length, b.length); i++) {
    const diff = compareIdentifiers(a[i]!, b[i]!);
    if (diff) return diff;
  }
  return a.length === b.length ? 0 : a.length < b.length ? -1 : 1;
}

/** Numeric identifiers compare numerically and sort before alphanumeric ones, which compare in ASCII order. */
function compareIdentifiers(a: string, b: string): number {
  const numA = DIGITS.test(a);
  const numB = DIGITS.test(b);
  if (numA && numB) return compareNumbers(a, b);
  if (numA || numB) return numA ? -1 : 1;
  return a < b ? -1 : a > b ? 1 : 0;
}
