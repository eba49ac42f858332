import { describe, expect, it } from 'vitest';
import { compareDpkgVersions, isValidDpkgVersion, parseDpkgVersion } from './dpkg.js';

// How these versions order against each other is checked against dpkg itself
// (reference-tools.test.ts) and the Debian fixtures (fixtures.test.ts); here:
// how a version splits, what is valid, and the order of invalid versions.
describe('parseDpkgVersion', () => {
  it('splits epoch, upstream and revision as dpkg does', () => {
    expect(parseDpkgVersion('1:2.38.1-5+deb12u3')).toEqual({ epoch: 1, upstream: '2.38.1', revision: '5+deb12u3' });
    expect(parseDpkgVersion('2.38.1')).toEqual({ epoch: 0, upstream: '2.38.1', revision: '' });
    // The revision starts at the last hyphen; colons after the epoch's belong to upstream.
    expect(parseDpkgVersion('1:2:3-4-5')).toEqual({ epoch: 1, upstream: '2:3-4', revision: '5' });
    expect(parseDpkgVersion('007:1')).toEqual({ epoch: 7, upstream: '1', revision: '' });
    // dpkg trims blanks around the version.
    expect(parseDpkgVersion(' 1.0-1\t')).toEqual({ epoch: 0, upstream: '1.0', revision: '1' });
  });

  it('refuses what dpkg refuses', () => {
    for (const bad of ['', ' ', ':1', 'a:1', '1.0-a:b', '1:', '1.0-', '-1', '1:-1', '2147483648:1', '-1:1', '1.0 1']) {
      expect(parseDpkgVersion(bad), bad).toBeUndefined();
    }
  });

  it('accepts what dpkg only warns about, since dpkg still compares it', () => {
    for (const odd of ['abc', '1_0', '1.0-a_b', '+1:2', '2147483647:1']) expect(isValidDpkgVersion(odd), odd).toBe(true);
  });

  it('refuses characters outside printable ASCII, whose order in dpkg depends on the platform', () => {
    for (const bad of ['1.0é', '1.0\n', '1.0\u0000', '1\u00a0.0']) expect(isValidDpkgVersion(bad), JSON.stringify(bad)).toBe(false);
  });
});

describe('compareDpkgVersions', () => {
  it('sorts invalid versions before every valid one, and among themselves by text', () => {
    expect(compareDpkgVersions('a:1', '0')).toBe(-1);
    expect(compareDpkgVersions('0~~~', '1.0-')).toBe(1);
    expect(compareDpkgVersions('1.0-', 'a:1')).toBe(-1);
    expect(compareDpkgVersions('a:1', 'a:1')).toBe(0);
  });
});
