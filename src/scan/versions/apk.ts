/**
 * Alpine package versions, ordered exactly as apk-tools 2.x orders them, the
 * apk the Alpine 3.x releases ship (its src/version.c tokenizer, with the
 * 64-bit numbers of the later 2.x releases):
 * `number{.number}...{letter}{_suffix{number}}...{-rN}`.
 *
 * - Numbers compare numerically. A later component with leading zeros is
 *   weighed by the count of its zeros, negated, and its remaining digits
 *   become a component of their own: `1.05 < 1.5`, `1.001 < 1.01`, `1.0 > 1.00`.
 * - One lowercase letter after a number: `1.2 < 1.2a < 1.2b`.
 * - Suffixes `_alpha < _beta < _pre < _rc` < none < `_cvs < _svn < _git < _hg < _p`,
 *   each with an optional number.
 * - `-rN` revision last; a version without one sorts before it, even `-r0`.
 * - Equal so far and one goes on: the one whose next token comes earlier in
 *   invalid < number < letter < suffix < revision < end is newer, unless that
 *   token is a pre-release suffix: `1.2_rc1 < 1.2 < 1.2-r0 < 1.2_p1 < 1.2a < 1.2.0`.
 * - A number of 18 digits or more is invalid, as in apk-tools.
 *
 * apk-tools 3 (Alpine edge) changed some of this: leading zeros compare as
 * strings, and a malformed tail (`1-r-1`, `1.2.0A`, `1-ruff`) sorts the other
 * way. We follow 2.x because that is what the Alpine releases scanned here run.
 */

const INVALID = -1;
const DIGIT_OR_ZERO = 0;
const DIGIT = 1;
const LETTER = 2;
const SUFFIX = 3;
const SUFFIX_NO = 4;
const REVISION_NO = 5;
const END = 6;

const PRE_SUFFIXES = ['alpha', 'beta', 'pre', 'rc'];
const POST_SUFFIXES = ['cvs', 'svn', 'git', 'hg', 'p'];
const MAX_DIGITS = 17;

/** A position in a version string and the kind of token expected there. */
interface Tokenizer {
  text: string;
  pos: number;
  type: number;
}

const isDigit = (c: string | undefined): boolean => c !== undefined && c >= '0' && c <= '9';
const isLower = (c: string | undefined): boolean => c !== undefined && c >= 'a' && c <= 'z';
const remaining = (t: Tokenizer): number => t.text.length - t.pos;

/** apk-tools' next_token: decides the kind of the token at the cursor, consuming its separator. */
function nextToken(t: Tokenizer): void {
  const c = t.text[t.pos];
  let next = INVALID;
  if (remaining(t) === 0 || c === '\0') {
    next = END;
  } else if ((t.type === DIGIT || t.type === DIGIT_OR_ZERO) && isLower(c)) {
    next = LETTER;
  } else if (t.type === LETTER && isDigit(c)) {
    next = DIGIT;
  } else if (t.type === SUFFIX && isDigit(c)) {
    next = SUFFIX_NO;
  } else {
    if (c === '.') next = DIGIT_OR_ZERO;
    else if (c === '_') next = SUFFIX;
    else if (c === '-' && remaining(t) > 1 && t.text[t.pos + 1] === 'r') {
      next = REVISION_NO;
      t.pos++;
    }
    t.pos++;
  }
  // Tokens only move forward through the grammar, with these exceptions.
  const allowedBackwards =
    (next === DIGIT_OR_ZERO && t.type === DIGIT) || (next === SUFFIX && t.type === SUFFIX_NO) || (next === DIGIT && t.type === LETTER);
  if (next < t.type && !allowedBackwards) next = INVALID;
  t.type = next;
}

/** apk-tools' get_token: the value of the token at the cursor; advances to the next one. */
function getToken(t: Tokenizer): bigint {
  if (remaining(t) <= 0) {
    t.type = END;
    return 0n;
  }
  const start = t.pos;
  let length = 0;
  let value = 0n;
  let leadingZeros = false;

  if (t.type === DIGIT_OR_ZERO && t.text[start] === '0') {
    // A component with leading zeros weighs minus the count of its zeros; the rest is the next token.
    while (length < remaining(t) && t.text[start + length] === '0') length++;
    value = BigInt(-length);
    leadingZeros = true;
  } else if (t.type === DIGIT_OR_ZERO || t.type === DIGIT || t.type === SUFFIX_NO || t.type === REVISION_NO) {
    while (length < remaining(t) && isDigit(t.text[start + length])) {
      value = value * 10n + BigInt(t.text.charCodeAt(start + length) - 0x30);
      length++;
    }
    if (length > MAX_DIGITS) return invalid(t);
  } else if (t.type === LETTER) {
    value = BigInt(t.text.charCodeAt(start));
    length = 1;
  } else if (t.type === SUFFIX) {
    // Prefix matches, as apk-tools' strncmp: `_prerelease` reads as `_pre` followed by garbage.
    const pre = PRE_SUFFIXES.findIndex((s) => t.text.startsWith(s, start));
    const post = pre < 0 ? POST_SUFFIXES.findIndex((s) => t.text.startsWith(s, start)) : -1;
    if (pre >= 0) {
      value = BigInt(pre - PRE_SUFFIXES.length);
      length = PRE_SUFFIXES[pre]!.length;
    } else if (post >= 0) {
      value = BigInt(post);
      length = POST_SUFFIXES[post]!.length;
    } else {
      return invalid(t);
    }
  } else {
    return invalid(t);
  }

  t.pos += length;
  if (remaining(t) === 0) t.type = END;
  else if (leadingZeros) t.type = DIGIT;
  else nextToken(t);
  return value;
}

function invalid(t: Tokenizer): bigint {
  t.type = INVALID;
  return -1n;
}

/**
 * Whether apk-tools 2.x accepts the version (apk_version_validate), and it is
 * not empty. apk-tools also accepts a few odd shapes such as `.1` or `a`.
 */
export function isValidApkVersion(version: string): boolean {
  if (version === '') return false;
  const t: Tokenizer = { text: version, pos: 0, type: DIGIT };
  while (t.type !== END && t.type !== INVALID) getToken(t);
  return t.type === END;
}

/**
 * Negative, zero or positive as `a` sorts before, equal to or after `b`, as
 * `apk version -t a b` answers. Every string gets apk-tools' answer, invalid
 * ones included: apk compares them token by token up to the first bad token
 * (so `1.2_blah < 1.2`, `1.0 < 1.0bc`). That answer is deterministic but is
 * not guaranteed to be transitive across invalid versions; callers should
 * check isValidApkVersion first.
 */
export function compareApkVersions(a: string, b: string): number {
  const ta: Tokenizer = { text: a, pos: 0, type: DIGIT };
  const tb: Tokenizer = { text: b, pos: 0, type: DIGIT };
  let va = 0n;
  let vb = 0n;
  while (ta.type === tb.type && ta.type !== END && ta.type !== INVALID && va === vb) {
    va = getToken(ta);
    vb = getToken(tb);
  }
  if (va !== vb) return va < vb ? -1 : 1;
  if (ta.type === tb.type) return 0;

  // Equal so far and one goes on: it is newer, unless what follows is a pre-release suffix.
  if (ta.type === SUFFIX && getToken({ ...ta }) < 0n) return -1;
  if (tb.type === SUFFIX && getToken({ ...tb }) < 0n) return 1;
  if (ta.type > tb.type) return -1;
  if (tb.type > ta.type) return 1;
  return 0;
}
