import { describe, expect, it } from 'vitest';
import { compareVersions, isValidVersion, versionSchemeForEcosystem } from './index.js';

describe('versionSchemeForEcosystem', () => {
  it('maps OSV ecosystem names, with or without a release suffix', () => {
    const expected: [string, string][] = [
      ['Debian', 'dpkg'],
      ['Debian:12', 'dpkg'],
      ['Ubuntu:22.04:LTS', 'dpkg'],
      ['Ubuntu:Pro:18.04:LTS', 'dpkg'],
      ['Alpine:v3.19', 'apk'],
      ['Red Hat', 'rpm'],
      ['Red Hat:enterprise_linux:9::appstream', 'rpm'],
      ['Rocky Linux:9', 'rpm'],
      ['AlmaLinux:9', 'rpm'],
      ['openSUSE:Leap 15.5', 'rpm'],
      ['SUSE:Linux Enterprise Server 15 SP5', 'rpm'],
      ['npm', 'semver'],
      ['Go', 'semver'],
      ['crates.io', 'semver'],
      ['PyPI', 'pep440'],
    ];
    for (const [ecosystem, scheme] of expected) expect(versionSchemeForEcosystem(ecosystem), ecosystem).toBe(scheme);
  });

  it('knows no other ecosystem, and no other spelling', () => {
    for (const other of ['Maven', 'RubyGems', 'Packagist', 'NuGet', 'debian', 'pypi', 'Go:1.21', '', ':12', 'constructor', 'toString']) {
      expect(versionSchemeForEcosystem(other), other).toBe(other === 'Go:1.21' ? 'semver' : undefined);
    }
  });
});

describe('compareVersions', () => {
  it('dispatches to the scheme and answers -1, 0 or 1', () => {
    expect(compareVersions('dpkg', '1.0~rc1', '1.0')).toBe(-1);
    expect(compareVersions('dpkg', '1.0a', '1.0+')).toBe(-1);
    expect(compareVersions('apk', '1.2_rc1', '1.2')).toBe(-1);
    expect(compareVersions('rpm', '1.0^git1', '1.0')).toBe(1);
    expect(compareVersions('semver', 'v1.2.3', '1.2.3+build')).toBe(0);
    expect(compareVersions('pep440', '1.0RC1', '1.0rc1')).toBe(0);
  });

  it('reports validity per scheme', () => {
    expect(isValidVersion('dpkg', '1.0-')).toBe(false);
    expect(isValidVersion('apk', '1.2_blah')).toBe(false);
    expect(isValidVersion('rpm', '')).toBe(false);
    expect(isValidVersion('semver', '1.2')).toBe(false);
    expect(isValidVersion('pep440', 'trunk')).toBe(false);
    expect(isValidVersion('semver', '0')).toBe(true);
  });
});
