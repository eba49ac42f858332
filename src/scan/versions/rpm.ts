/**
 * RPM versions, `[epoch:]version[-release]`, ordered as rpm 4.18 orders EVR
 * strings (rpmverParse + rpmverCmp, which `rpm.vercmp` in rpm's Lua uses), on
 * top of rpmvercmp's segment comparison:
 *
 * - The epoch is the run of digits before the first `:`, if the version starts
 *   with one ("a:1" has none); a missing or empty epoch is 0.
 * - The release is everything after the last `-`. A version without a release
 *   sorts before the same version with any release, even an empty one (`1 < 1-`).
 * - Segments are maximal runs of ASCII digits or ASCII letters; everything else
 *   separates them. Digit runs compare as numbers of any length, letter runs
 *   by byte, and a digit run is newer than a letter run. `~` sorts before
 *   everything, even the end of the string; `^` sorts after the end of the
 *   string but before anything else.
 */

export interface RpmEvr {
  /** Digits as written (`01` compares equal to `1`); undefined when absent, which compares as 0. */
  epoch: string | undefined;
  version: string;
  /** Undefined when the string has no `-`; `""` when it ends in one. */
  release: string | undefined;
}

// rpm compares any non-empty string; whitespace and control characters cannot
// come from an rpm header or an OSV record, so they mark input as unparseable.
const UNPARSEABLE = /[\s\x00-\x1f\x7f]/;

/** Splits an EVR exactly as rpm's parseEVR does; undefined for an empty string or one with whitespace or control characters. */
export function parseRpmVersion(evr: string): RpmEvr | undefined {
  if (evr === '' || UNPARSEABLE.test(evr)) return undefined;
  const leadingDigits = /^[0-9]*/.exec(evr)![0];
  const hasEpoch = evr[leadingDigits.length] === ':';
  const versionStart = hasEpoch ? leadingDigits.length + 1 : 0;
  const hyphen = evr.lastIndexOf('-');
  const versionEnd = hyphen >= versionStart ? hyphen : evr.length;
  return {
    epoch: hasEpoch ? leadingDigits || '0' : undefined,
    version: evr.slice(versionStart, versionEnd),
    release: hyphen >= versionStart ? evr.slice(hyphen + 1) : undefined,
  };
}

export function isValidRpmVersion(evr: string): boolean {
  return parseRpmVersion(evr) !== undefined;
}

/**
 * Negative, zero or positive as `a` sorts before, equal to or after `b`.
 * Unparseable versions (see parseRpmVersion) sort before every valid version,
 * and among themselves by their text (UTF-16 code units), so the order stays
 * total; callers should check isValidRpmVersion first.
 */
export function compareRpmVersions(a: string, b: string): number {
  const va = parseRpmVersion(a);
  const vb = parseRpmVersion(b);
  if (va && vb) return compareRpmEvrs(va, vb);
  if (va || vb) return va ? 1 : -1;
  return a < b ? -1 : a > b ? 1 : 0;
}

export function compareRpmEvrs(a: RpmEvr, b: RpmEvr): number {
  return (
    rpmvercmp(a.epoch ?? '0', b.epoch ?? '0') ||
    rpmvercmp(a.version, b.version) ||
    compareReleases(a.release, b.release)
  );
}

function compareReleases(a: string | undefined, b: string | undefined): number {
  if (a === undefined || b === undefined) return a === b ? 0 : a === undefined ? -1 : 1;
  return rpmvercmp(a, b);
}

const isDigit = (c: number): boolean => c >= 0x30 && c <= 0x39;
const isAlpha = (c: number): boolean => (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a);
const TILDE = 0x7e;
const CARET = 0x5e;
/** Past the end of the string: NaN, which no test above matches, like C's NUL. */
const at = (s: string, i: number): number => s.charCodeAt(i);

/** rpm's segment comparison of one version or release string: -1, 0 or 1. */
export function rpmvercmp(a: string, b: string): number {
  if (a === b) return 0;
  let i = 0;
  let j = 0;
  while (i < a.length || j < b.length) {
    while (i < a.length && !isSegmentStart(at(a, i))) i++;
    while (j < b.length && !isSegmentStart(at(b, j))) j++;

    // `~` sorts before everything, the end of the string included.
    if (at(a, i) === TILDE || at(b, j) === TILDE) {
      if (at(a, i) !== TILDE) return 1;
      if (at(b, j) !== TILDE) return -1;
      i++;
      j++;
      continue;
    }
    // `^` sorts after the end of the string but before any segment.
    if (at(a, i) === CARET || at(b, j) === CARET) {
      if (i >= a.length) return -1;
      if (j >= b.length) return 1;
      if (at(a, i) !== CARET) return 1;
      if (at(b, j) !== CARET) return -1;
      i++;
      j++;
      continue;
    }
    if (i >= a.length || j >= b.length) break;

    const numeric = isDigit(at(a, i));
    const inSegment = numeric ? isDigit : isAlpha;
    let endA = i;
    let endB = j;
    while (endA < a.length && inSegment(at(a, endA))) endA++;
    while (endB < b.length && inSegment(at(b, endB))) endB++;
    // Segments of different kinds: the numeric one is newer.
    if (endB === j) return numeric ? 1 : -1;

    let segA = a.slice(i, endA);
    let segB = b.slice(j, endB);
    if (numeric) {
      segA = segA.replace(/^0+/, '');
      segB = segB.replace(/^0+/, '');
      if (segA.length !== segB.length) return segA.length > segB.length ? 1 : -1;
    }
    if (segA !== segB) return segA < segB ? -1 : 1;
    i = endA;
    j = endB;
  }
  // All segments equal: whichever string has characters left is newer.
  if (i >= a.length && j >= b.length) return 0;
  return i >= a.length ? -1 : 1;
}

function isSegmentStart(c: number): boolean {
  return isDigit(c) || isAlpha(c) || c === TILDE || c === CARET;
}
