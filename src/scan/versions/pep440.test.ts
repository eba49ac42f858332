import { describe, expect, it } from 'vitest';
import { comparePep440Versions, isValidPep440Version, parsePep440Version } from './pep440.js';

// The order and the validity of real-world versions are checked against
// Python's packaging (reference-tools.test.ts) and the PyPI fixtures
// (fixtures.test.ts); here: what a version normalises to, and the fallbacks.
describe('parsePep440Version', () => {
  it('normalises the spellings packaging accepts', () => {
    expect(parsePep440Version('v1!2.0-post3.dev4+Ab.01')).toEqual({
      epoch: '1',
      release: ['2', '0'],
      pre: undefined,
      post: '3',
      dev: '4',
      local: [
        { numeric: false, value: 'ab' },
        { numeric: true, value: '1' },
      ],
    });
    expect(parsePep440Version(' 1.0RC1\n')?.pre).toEqual({ label: 'rc', number: '1' });
    expect(parsePep440Version('1.0-preview')?.pre).toEqual({ label: 'rc', number: '0' });
    expect(parsePep440Version('1.0-1')?.post).toBe('1');
    expect(parsePep440Version('1.0.r')?.post).toBe('0');
    expect(parsePep440Version('01.002')?.release).toEqual(['1', '2']);
  });

  it('refuses what packaging 22+ refuses', () => {
    for (const bad of ['', 'trunk', '0.1-bulbasaur', '1.0+', '1.0.x', '1.0-', '1.0 .1', '1.0a1a2']) expect(isValidPep440Version(bad), bad).toBe(false);
  });

  it('refuses the non-ASCII letters packaging lets through its case-insensitive regex', () => {
    for (const bad of ['1.0.po\u017ft1', '1.0+\u212a', '1.0prev\u0130ew']) expect(isValidPep440Version(bad), bad).toBe(false);
  });
});

describe('comparePep440Versions', () => {
  it('sorts invalid versions before every valid one, and among themselves by text', () => {
    expect(comparePep440Versions('trunk', '0.dev0')).toBe(-1);
    expect(comparePep440Versions('0', '0.1-bulbasaur')).toBe(1);
    expect(comparePep440Versions('0.1-bulbasaur', '0.1-charmander')).toBe(-1);
    expect(comparePep440Versions('trunk', 'trunk')).toBe(0);
  });
});
