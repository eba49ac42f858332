/**
 * Python package versions (PEP 440), parsed and ordered as `packaging.version.Version`
 * (packaging 22+, which has no "legacy" versions: anything PEP 440 does not
 * describe is invalid).
 *
 * - `[N!]N(.N)*[{a|b|rc}N][.postN][.devN][+local]`, with the normalisations
 *   packaging accepts: any case, a leading `v`, surrounding whitespace,
 *   `-`/`_`/`.` separators or none, `alpha`/`beta`/`c`/`pre`/`preview` for
 *   `a`/`b`/`rc`, `rev`/`r` and `-N` for post-releases, implicit zero numbers
 *   (`1.0rc` is `1.0rc0`). So `1.0RC1 == 1.0rc1`, `1.0-1 == 1.0.post1`.
 * - Order: epoch, release (trailing zeros ignored: `1.0 == 1`), then
 *   `.devN < aN < bN < rcN < (release) < .postN`, dev releases of each before it,
 *   and a local version after the same version without one.
 *
 * Two deliberate differences in what is accepted, both far outside real
 * releases: packaging's case-insensitive regex also lets four non-ASCII letters
 * stand in for ASCII ones (`ſ` for `s`, `K` for `k`, `ı`/`İ` for `i`), which we
 * refuse; and CPython refuses numbers over 4300 digits, which we compare.
 */

export interface Pep440Version {
  /** Numbers are digit strings without leading zeros. */
  epoch: string;
  release: readonly string[];
  pre: { label: 'a' | 'b' | 'rc'; number: string } | undefined;
  post: string | undefined;
  dev: string | undefined;
  /** Numeric parts as numbers-in-strings, the others lower-cased. */
  local: readonly LocalPart[] | undefined;
}

export interface LocalPart {
  numeric: boolean;
  value: string;
}

// Python's `\s` for str patterns.
const WHITESPACE = '[\\t-\\r\\x1c-\\x20\\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000]';
// packaging's VERSION_PATTERN, alternatives in the same order so the same groups capture.
const VERSION = new RegExp(
  `^${WHITESPACE}*v?` +
    '(?:(?<epoch>[0-9]+)!)?' +
    '(?<release>[0-9]+(?:\\.[0-9]+)*)' +
    '(?:[-_.]?(?<preLabel>a|b|c|rc|alpha|beta|pre|preview)[-_.]?(?<preNumber>[0-9]+)?)?' +
    '(?:-(?<implicitPostNumber>[0-9]+)|[-_.]?(?<postLabel>post|rev|r)[-_.]?(?<postNumber>[0-9]+)?)?' +
    '(?:[-_.]?(?<devLabel>dev)[-_.]?(?<devNumber>[0-9]+)?)?' +
    '(?:\\+(?<local>[a-z0-9]+(?:[-_.][a-z0-9]+)*))?' +
    `${WHITESPACE}*$`,
  // Without the `u` flag, case-insensitive matching never maps non-ASCII letters onto ASCII ones.
  'i',
);

const PRE_LABELS: Record<string, 'a' | 'b' | 'rc'> = { a: 'a', alpha: 'a', b: 'b', beta: 'b', c: 'rc', rc: 'rc', pre: 'rc', preview: 'rc' };

const normalizeNumber = (digits: string): string => digits.replace(/^0+(?=.)/, '');

export function parsePep440Version(version: string): Pep440Version | undefined {
  const groups = VERSION.exec(version)?.groups;
  if (!groups) return undefined;
  const { epoch, release, preLabel, preNumber, implicitPostNumber, postLabel, postNumber, devLabel, devNumber, local } = groups;
  return {
    epoch: normalizeNumber(epoch ?? '0'),
    release: release!.split('.').map(normalizeNumber),
    pre: preLabel ? { label: PRE_LABELS[preLabel.toLowerCase()]!, number: normalizeNumber(preNumber ?? '0') } : undefined,
    post: implicitPostNumber !== undefined || postLabel ? normalizeNumber(implicitPostNumber ?? postNumber ?? '0') : undefined,
    dev: devLabel ? normalizeNumber(devNumber ?? '0') : undefined,
    local: local?.split(/[-_.]/).map((part) => (/^[0-9]+$/.test(part) ? { numeric: true, value: normalizeNumber(part) } : { numeric: false, value: part.toLowerCase() })),
  };
}

export function isValidPep440Version(version: string): boolean {
  return parsePep440Version(version) !== undefined;
}

/**
 * Negative, zero or positive as `a` sorts before, equal to or after `b`.
 * Invalid versions sort before every valid version (as packaging's old
 * LegacyVersion did), and among themselves by their text (UTF-16 code units),
 * so the order stays total; callers should check isValidPep440Version first.
 */
export function comparePep440Versions(a: string, b: string): number {
  const va = parsePep440Version(a);
  const vb = parsePep440Version(b);
  if (va && vb) return compareParsedPep440Versions(va, vb);
  if (va || vb) return va ? 1 : -1;
  return a < b ? -1 : a > b ? 1 : 0;
}

/** packaging's `_cmpkey`, compared field by field. */
export function compareParsedPep440Versions(a: Pep440Version, b: Pep440Version): number {
  return (
    compareNumbers(a.epoch, b.epoch) ||
    compareSequences(withoutTrailingZeros(a.release), withoutTrailingZeros(b.release), compareNumbers) ||
    comparePre(a, b) ||
    compareOptional(a.post, b.post, -1) ||
    compareOptional(a.dev, b.dev, 1) ||
    compareLocal(a.local, b.local)
  );
}

function compareNumbers(a: string, b: string): number {
  if (a.length !== b.length) return a.length < b.length ? -1 : 1;
  return a < b ? -1 : a > b ? 1 : 0;
}

function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Python tuple order: element by element, then the shorter first. */
function compareSequences<T>(a: readonly T[], b: readonly T[], compare: (x: T, y: T) => number): number {
  for (let i = 0; i < Math.min(a.length, b.length); i++) {
    const diff = compare(a[i]!, b[i]!);
    if (diff) return diff;
  }
  return a.length === b.length ? 0 : a.length < b.length ? -1 : 1;
}

function withoutTrailingZeros(release: readonly string[]): readonly string[] {
  let end = release.length;
  while (end > 0 && release[end - 1] === '0') end--;
  return release.slice(0, end);
}

function comparePre(a: Pep440Version, b: Pep440Version): number {
  const ra = preRank(a);
  const rb = preRank(b);
  if (ra !== rb) return ra < rb ? -1 : 1;
  if (ra !== 0) return 0;
  return compareStrings(a.pre!.label, b.pre!.label) || compareNumbers(a.pre!.number, b.pre!.number);
}

/** -1 sorts before every pre-release (a bare dev release: `1.0.dev0 < 1.0a0`), 1 after (no pre-release), 0 has one. */
function preRank(v: Pep440Version): number {
  if (v.pre) return 0;
  return v.post === undefined && v.dev !== undefined ? -1 : 1;
}

/** Compares optional numbers; a missing one sorts at `missing` (-1 before, 1 after every number). */
function compareOptional(a: string | undefined, b: string | undefined, missing: -1 | 1): number {
  if (a === undefined || b === undefined) return a === b ? 0 : a === undefined ? missing : -missing;
  return compareNumbers(a, b);
}

/** No local version sorts first; within one, numeric parts sort after alphanumeric ones. */
function compareLocal(a: readonly LocalPart[] | undefined, b: readonly LocalPart[] | undefined): number {
  if (a === undefined || b === undefined) return a === b ? 0 : a === undefined ? -1 : 1;
  return compareSequences(a, b, (x, y) => {
    if (x.numeric !== y.numeric) return x.numeric ? 1 : -1;
    return x.numeric ? compareNumbers(x.value, y.value) : compareStrings(x.value, y.value);
  });
}
