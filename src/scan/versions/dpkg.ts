/**
 * Debian package versions, `[epoch:]upstream[-revision]`, ordered exactly as
 * `dpkg --compare-versions` orders them (dpkg's parseversion + verrevcmp).
 *
 * - A missing epoch is 0; a missing revision is "", which compares equal to "0".
 * - In upstream and revision, non-digit runs compare character by character
 *   with `~` before everything (even the end of the string), then the end,
 *   then letters, then every other character; digit runs compare as numbers
 *   of any length (as digit strings, so nothing overflows).
 */

export interface DpkgVersion {
  epoch: number;
  upstream: string;
  /** `""` when the version has no hyphen. */
  revision: string;
}

const INT_MAX = 2 ** 31 - 1;
const PRINTABLE_ASCII = /^[\x21-\x7e]+$/;
// strtol's view of the text before the colon: an optional sign, then digits.
const EPOCH = /^[+-]?([0-9]+)$/;

/**
 * Splits a version the way dpkg does, or returns undefined where dpkg reports
 * an error (empty, bad epoch, nothing after the colon, empty upstream or
 * revision). Versions dpkg only warns about (not starting with a digit,
 * unusual characters such as `_`) are accepted, because dpkg still compares
 * them. Deliberately stricter than dpkg in one way: only printable ASCII is
 * accepted (dpkg would rank bytes above 0x7f by the platform's `char`
 * signedness, and no Debian version contains them).
 */
export function parseDpkgVersion(version: string): DpkgVersion | undefined {
  // dpkg trims blanks around the version and refuses embedded ones.
  const text = version.replace(/^[ \t]+|[ \t]+$/g, '');
  if (!PRINTABLE_ASCII.test(text)) return undefined;

  let epoch = 0;
  let rest = text;
  const colon = text.indexOf(':');
  if (colon >= 0) {
    const match = EPOCH.exec(text.slice(0, colon));
    if (!match) return undefined;
    const value = Number(match[1]);
    if (value > INT_MAX || (text.startsWith('-') && value !== 0)) return undefined;
    epoch = value;
    rest = text.slice(colon + 1);
    if (rest === '') return undefined;
  }

  const hyphen = rest.lastIndexOf('-');
  const upstream = hyphen < 0 ? rest : rest.slice(0, hyphen);
  const revision = hyphen < 0 ? '' : rest.slice(hyphen + 1);
  if (upstream === '' || (hyphen >= 0 && revision === '')) return undefined;
  return { epoch, upstream, revision };
}

export function isValidDpkgVersion(version: string): boolean {
  return parseDpkgVersion(version) !== undefined;
}

/**
 * Negative, zero or positive as `a` sorts before, equal to or after `b`.
 * Versions that do not parse (see parseDpkgVersion) sort before every valid
 * version, and among themselves by their text (UTF-16 code units), so the
 * order stays total; callers should check isValidDpkgVersion first.
 */
export function compareDpkgVersions(a: string, b: string): number {
  const va = parseDpkgVersion(a);
  const vb = parseDpkgVersion(b);
  if (va && vb) return compareParsedDpkgVersions(va, vb);
  if (va || vb) return va ? 1 : -1;
  return a < b ? -1 : a > b ? 1 : 0;
}

export function compareParsedDpkgVersions(a: DpkgVersion, b: DpkgVersion): number {
  if (a.epoch !== b.epoch) return a.epoch < b.epoch ? -1 : 1;
  return Math.sign(verrevcmp(a.upstream, b.upstream)) || Math.sign(verrevcmp(a.revision, b.revision));
}

const isDigit = (s: string, i: number): boolean => {
  const c = s.charCodeAt(i);
  return c >= 0x30 && c <= 0x39;
};

const isLetter = (c: number): boolean => (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a);

/** dpkg's weight of the character at `i` in a non-digit run; the end of the string weighs 0. */
function order(s: string, i: number): number {
  if (i >= s.length || isDigit(s, i)) return 0;
  const c = s.charCodeAt(i);
  if (isLetter(c)) return c;
  if (c === 0x7e /* ~ */) return -1;
  return c + 256;
}

function verrevcmp(a: string, b: string): number {
  let i = 0;
  let j = 0;
  while (i < a.length || j < b.length) {
    while ((i < a.length && !isDigit(a, i)) || (j < b.length && !isDigit(b, j))) {
      const diff = order(a, i) - order(b, j);
      if (diff !== 0) return diff;
      i++;
      j++;
    }
    while (a[i] === '0') i++;
    while (b[j] === '0') j++;
    // Equal-length digit runs: the first differing digit decides; otherwise the longer run is larger.
    let firstDiff = 0;
    while (isDigit(a, i) && isDigit(b, j)) {
      if (!firstDiff) firstDiff = a.charCodeAt(i) - b.charCodeAt(j);
      i++;
      j++;
    }
    if (isDigit(a, i)) return 1;
    if (isDigit(b, j)) return -1;
    if (firstDiff) return firstDiff;
  }
  return 0;
}
