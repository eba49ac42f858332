import { describe, expect, it } from 'vitest';
import { compareRpmVersions, isValidRpmVersion, parseRpmVersion } from './rpm.js';

// The order itself is checked against rpm (reference-tools.test.ts) and the
// Red Hat fixture (fixtures.test.ts); here: how an EVR splits, and what is valid.
describe('parseRpmVersion', () => {
  it('splits epoch, version and release as rpm does', () => {
    expect(parseRpmVersion('1:2.0-3.el9')).toEqual({ epoch: '1', version: '2.0', release: '3.el9' });
    expect(parseRpmVersion('2.0')).toEqual({ epoch: undefined, version: '2.0', release: undefined });
    expect(parseRpmVersion('2.0-')).toEqual({ epoch: undefined, version: '2.0', release: '' });
    // Only leading digits before a colon are an epoch; an empty one is 0.
    expect(parseRpmVersion('a:1-2')).toEqual({ epoch: undefined, version: 'a:1', release: '2' });
    expect(parseRpmVersion(':1')).toEqual({ epoch: '0', version: '1', release: undefined });
    // The release starts at the last hyphen.
    expect(parseRpmVersion('1.2-3-4')).toEqual({ epoch: undefined, version: '1.2-3', release: '4' });
  });

  it('refuses empty strings, whitespace and control characters', () => {
    for (const bad of ['', ' ', '1.0 1', '1.0\t', '1.0\n', '1\u0000']) expect(isValidRpmVersion(bad), JSON.stringify(bad)).toBe(false);
    for (const ok of ['1', '~', '1.1.α', '1.module+el9.4.0+23026+aaa2e3cb.2.noarch.rpm-nginx:1']) expect(isValidRpmVersion(ok), ok).toBe(true);
  });
});

describe('compareRpmVersions', () => {
  it('sorts invalid versions before every valid one, and among themselves by text', () => {
    expect(compareRpmVersions('', '~')).toBe(-1);
    expect(compareRpmVersions('0', '1 0')).toBe(1);
    expect(compareRpmVersions(' ', '1 0')).toBe(-1);
    expect(compareRpmVersions('1 0', '1 0')).toBe(0);
  });
});
