import { describe, expect, it } from 'vitest';
import { isValidTag, parseRepoName, registryOf } from './name.js';

describe('repository names', () => {
  it('accepts the spec grammar', () => {
    for (const ok of ['a', 'library/alpine', 'team-a/app.api/v2', 'a__b/c--d', 'x'.repeat(255)]) expect(parseRepoName(ok)).toBe(ok);
  });

  it('refuses anything that could escape a path or break the grammar', () => {
    for (const bad of ['', '..', 'a/../b', '/a', 'a/', 'A', 'a//b', 'a/.b', '%2e%2e', 'a b', 'a\\b', '-a', 'a-', 'x'.repeat(256)]) {
      expect(() => parseRepoName(bad), bad).toThrowError(/invalid repository name/);
    }
  });

  it('puts one-component names in the library registry', () => {
    expect(registryOf(parseRepoName('alpine'))).toBe('library');
    expect(registryOf(parseRepoName('team/app/api'))).toBe('team');
  });
});

describe('tags', () => {
  it('follows the spec grammar', () => {
    expect(isValidTag('v1.2.3-rc_1')).toBe(true);
    expect(isValidTag('_x')).toBe(true);
    expect(isValidTag('x'.repeat(128))).toBe(true);
    expect(isValidTag('x'.repeat(129))).toBe(false);
    expect(isValidTag('.hidden')).toBe(false);
    expect(isValidTag('-x')).toBe(false);
    expect(isValidTag('a:b')).toBe(false);
  });
});
