import { describe, expect, it } from 'vitest';
import { compareSemverVersions, isValidSemverVersion, parseSemverVersion } from './semver.js';

// The order itself is checked against npm's semver (reference-tools.test.ts) and
// the SemVer fixture (fixtures.test.ts); here: what is valid, OSV's `0`, and the
// order of invalid versions.
describe('parseSemverVersion', () => {
  it('reads SemVer 2.0.0 with an optional v', () => {
    expect(parseSemverVersion('v1.2.3-rc.1+build.5')).toEqual({ major: '1', minor: '2', patch: '3', prerelease: ['rc', '1'], build: ['build', '5'] });
    expect(parseSemverVersion('v0.0.0-20191109021931-daa7c04131f5')?.prerelease).toEqual(['20191109021931-daa7c04131f5']);
    expect(parseSemverVersion('123456789012345678901234567890.0.0')?.major).toBe('123456789012345678901234567890');
  });

  it('refuses anything else, without coercing', () => {
    for (const bad of ['', '1', '1.2', 'v1.2', '1.2.3.4', '01.2.3', '1.2.3-01', '1.2.3-', '1.2.3+', '1.2.3-a..b', 'V1.2.3', '=1.2.3', ' 1.2.3', '1.2.3 ', 'v', '1.2.3-é']) {
      expect(parseSemverVersion(bad), bad).toBeUndefined();
    }
  });
});

describe("OSV's 0", () => {
  it('is valid and below every version', () => {
    expect(isValidSemverVersion('0')).toBe(true);
    for (const v of ['0.0.0-0', '0.0.0', 'v0.0.0-20191109021931-daa7c04131f5', '1.0.0']) {
      expect(compareSemverVersions('0', v), v).toBe(-1);
      expect(compareSemverVersions(v, '0'), v).toBe(1);
    }
    expect(compareSemverVersions('0', '0')).toBe(0);
  });
});

describe('compareSemverVersions', () => {
  it('sorts invalid versions before 0 and every valid one, and among themselves by text', () => {
    expect(compareSemverVersions('1.2', '0')).toBe(-1);
    expect(compareSemverVersions('0.0.0-0', '1.2')).toBe(1);
    expect(compareSemverVersions('1.10', '1.9')).toBe(-1);
    expect(compareSemverVersions('1.2', '1.2')).toBe(0);
  });
});
