import { describe, expect, it } from 'vitest';
import { ecosystemBase, ecosystemKey, normalizePackageName, packageKey } from './ecosystem.js';

describe('ecosystems', () => {
  it.each([
    ['Debian:12', 'Debian'],
    ['Alpine:v3.19', 'Alpine'],
    ['Ubuntu:Pro:18.04:LTS', 'Ubuntu'],
    ['Red Hat:rhel_aus:8.4::appstream', 'Red Hat'],
    ['crates.io', 'crates.io'],
    ['Go', 'Go'],
  ])('the base of %s is %s', (ecosystem, base) => {
    expect(ecosystemBase(ecosystem)).toBe(base);
  });

  it('compares with the release suffix: releases never meet, and plain Debian is an ecosystem of its own', () => {
    expect(ecosystemKey('Debian:12')).toBe('Debian:12');
    expect(ecosystemKey('Debian:12')).not.toBe(ecosystemKey('Debian:11'));
    expect(ecosystemKey('Debian')).not.toBe(ecosystemKey('Debian:12'));
    expect(ecosystemKey('Alpine:v3.19')).not.toBe(ecosystemKey('Alpine:v3.18'));
  });

  it("Ubuntu's :LTS marker is dropped, Ubuntu Pro stays apart", () => {
    expect(ecosystemKey('Ubuntu:22.04:LTS')).toBe('Ubuntu:22.04');
    expect(ecosystemKey('Ubuntu:22.04')).toBe('Ubuntu:22.04');
    expect(ecosystemKey('Ubuntu:23.10')).toBe('Ubuntu:23.10');
    expect(ecosystemKey('Ubuntu:Pro:18.04:LTS')).toBe('Ubuntu:Pro:18.04');
    expect(ecosystemKey('Ubuntu:Pro:18.04:LTS')).not.toBe(ecosystemKey('Ubuntu:18.04:LTS'));
  });

  it('PyPI names are compared after PEP 503 normalisation; other names as written', () => {
    expect(normalizePackageName('PyPI', 'Jinja2')).toBe('jinja2');
    expect(normalizePackageName('PyPI', 'zope.interface')).toBe('zope-interface');
    expect(normalizePackageName('PyPI', 'jw.util')).toBe('jw-util');
    expect(normalizePackageName('PyPI', 'Foo__Bar-.baz')).toBe('foo-bar-baz');
    expect(normalizePackageName('Go', 'github.com/BurntSushi/toml')).toBe('github.com/BurntSushi/toml');
    expect(normalizePackageName('npm', '@Scope/Pkg')).toBe('@Scope/Pkg');
    expect(normalizePackageName('crates.io', 'serde_json')).toBe('serde_json');
    expect(normalizePackageName('Debian:12', 'util-linux')).toBe('util-linux');
  });

  it('a package key carries both', () => {
    expect(packageKey('PyPI', 'PyYAML')).toEqual({ ecosystem: 'PyPI', name: 'pyyaml' });
    expect(packageKey('Ubuntu:22.04:LTS', 'openssl')).toEqual({ ecosystem: 'Ubuntu:22.04', name: 'openssl' });
  });
});
