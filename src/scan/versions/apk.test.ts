import { describe, expect, it } from 'vitest';
import { compareApkVersions, isValidApkVersion } from './apk.js';

// There is no apk-tools on Debian to compare with live: fixtures.test.ts checks
// the pairs apk-tools ordered. These pin the apk-tools 2.x choices (apk.ts) that
// no fixture line covers, each worked through its src/version.c tokenizer.
describe('isValidApkVersion', () => {
  it('accepts what apk-tools 2.x validates', () => {
    for (const ok of ['1.2.3', '1.2.3a_rc1_p2-r4', '0.1.0_alpha', '1_p', '6.6.2p1', '.1', 'a', `1.${'9'.repeat(17)}`]) {
      expect(isValidApkVersion(ok), ok).toBe(true);
    }
  });

  it('refuses what apk-tools 2.x refuses, and the empty string', () => {
    for (const bad of ['', '1.2_blah', '1.2_csv2', '1.0bc', '1-ruff', '1-r-1', '1.2.0A', '1 .2', '1.2é', `1.${'9'.repeat(18)}`]) {
      expect(isValidApkVersion(bad), bad).toBe(false);
    }
  });
});

describe('compareApkVersions', () => {
  it('weighs a later component with leading zeros by minus its zero count, as apk-tools 2.x does', () => {
    // 1.05 reads as 1, -1, 5 and 1.5 as 1, 5; 1.0 as 1, -1 and 1.00 as 1, -2.
    expect(compareApkVersions('1.05', '1.5')).toBe(-1);
    expect(compareApkVersions('1.001', '1.01')).toBe(-1);
    expect(compareApkVersions('1.0', '1.00')).toBe(1);
    // apk-tools 3 compares these as strings and answers the other way ("8.2.0015 < 8.2.002").
    expect(compareApkVersions('8.2.0015', '8.2.002')).toBe(1);
  });

  it('ranks what follows equal versions by the kind of token, as apk-tools 2.x does', () => {
    const ascending = ['1.2_rc1', '1.2', '1.2-r0', '1.2_p1', '1.2a', '1.2.0'];
    for (let i = 0; i + 1 < ascending.length; i++) expect(compareApkVersions(ascending[i]!, ascending[i + 1]!), ascending[i]).toBe(-1);
  });

  it('compares numbers of up to 17 digits exactly', () => {
    expect(compareApkVersions(`1.${'9'.repeat(17)}`, `1.${'9'.repeat(16)}8`)).toBe(1);
    expect(compareApkVersions('1.0.0_pre20191002222144-r0', '1.0.0_pre20210530193627-r0')).toBe(-1);
  });

  it('is antisymmetric on invalid versions too', () => {
    for (const [a, b] of [['1.2_blah', '1.2'], ['1-r-1', '1-r2'], ['1.0bc', '1.0']] as const) {
      expect(compareApkVersions(a, b)).toBe(-compareApkVersions(b, a));
    }
  });
});
