import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { DetectedOs, InstalledPackage, Inventory } from '../inventory.js';
import { encodePurlComponent, formatPurl, imagePurl, packagePurl, type PurlParts } from './purl.js';

const inventories = JSON.parse(readFileSync(new URL('../../../test/fixtures/sbom/inventories.json', import.meta.url), 'utf8')) as Record<
  'debian' | 'alpine' | 'rocky',
  Inventory
>;

describe('encodePurlComponent', () => {
  it.each([
    ['1:2.38.1-5+deb12u3', '1:2.38.1-5%2Bdeb12u3'], // the colon must not be encoded, `+` must
    ['@angular', '%40angular'],
    ['a/b', 'a%2Fb'],
    ['a b', 'a%20b'],
    ["x!*'()", 'x%21%2A%27%28%29'], // what encodeURIComponent would leave alone
    ['A-z_0.9~', 'A-z_0.9~'],
    ['é', '%C3%A9'],
  ])('%s → %s', (input, expected) => {
    expect(encodePurlComponent(input)).toBe(expected);
  });
});

describe('formatPurl', () => {
  // Build cases from the purl-spec test suite and type definitions, in canonical form.
  it.each<[PurlParts, string]>([
    [{ type: 'deb', namespace: 'debian', name: 'attr', version: '1:2.4.47-2+b1', qualifiers: { arch: 'amd64' } }, 'pkg:deb/debian/attr@1:2.4.47-2%2Bb1?arch=amd64'],
    [{ type: 'deb', namespace: 'debian', name: 'curl', version: '7.50.3-1', qualifiers: { arch: 'i386', distro: 'jessie' } }, 'pkg:deb/debian/curl@7.50.3-1?arch=i386&distro=jessie'],
    [{ type: 'npm', namespace: '@angular', name: 'animation', version: '12.3.1' }, 'pkg:npm/%40angular/animation@12.3.1'],
    [{ type: 'maven', namespace: 'org.apache.xmlgraphics', name: 'batik-anim', version: '1.9.1', qualifiers: { packaging: 'sources' } }, 'pkg:maven/org.apache.xmlgraphics/batik-anim@1.9.1?packaging=sources'],
    [{ type: 'golang', namespace: 'google.golang.org', name: 'genproto', subpath: '/googleapis/api/annotations/' }, 'pkg:golang/google.golang.org/genproto#googleapis/api/annotations'],
    [{ type: 'golang', namespace: 'github.com/gorilla', name: 'context', version: '234fd47e07d1004f0aed9c', subpath: 'api' }, 'pkg:golang/github.com/gorilla/context@234fd47e07d1004f0aed9c#api'],
    [
      { type: 'oci', name: 'debian', version: 'sha256:244fd47e07d10', qualifiers: { repository_url: 'docker.io/library/debian', arch: 'amd64', tag: 'latest' } },
      'pkg:oci/debian@sha256:244fd47e07d10?arch=amd64&repository_url=docker.io%2Flibrary%2Fdebian&tag=latest',
    ],
    [{ type: 'rpm', namespace: 'fedora', name: 'curl', version: '7.50.3-1.fc25', qualifiers: { arch: 'i386', distro: 'fedora-25' } }, 'pkg:rpm/fedora/curl@7.50.3-1.fc25?arch=i386&distro=fedora-25'],
    [{ type: 'PyPI', name: 'django', version: '1.11.1' }, 'pkg:pypi/django@1.11.1'],
  ])('%j', (parts, expected) => {
    expect(formatPurl(parts)).toBe(expected);
  });

  it('sorts qualifiers by lower-cased key and leaves out empty ones', () => {
    expect(formatPurl({ type: 'generic', name: 'x', qualifiers: { Zeta: '1', alpha: '', beta: undefined, arch: 'arm64' } })).toBe('pkg:generic/x?arch=arm64&zeta=1');
  });
});

describe('imagePurl', () => {
  it('names the image by its last repository segment and keeps where it lives in repository_url', () => {
    const digest = `sha256:${'ab'.repeat(32)}`;
    expect(imagePurl({ registry: 'registry.example.com:5000', repository: 'Team/App', digest, reference: 'v1.2' })).toBe(
      `pkg:oci/app@${digest}?repository_url=registry.example.com:5000%2FTeam%2FApp&tag=v1.2`,
    );
    // A digest reference is not a tag.
    expect(imagePurl({ registry: 'r.test', repository: 'app', digest, reference: digest })).toBe(`pkg:oci/app@${digest}?repository_url=r.test%2Fapp`);
  });
});

describe('packagePurl', () => {
  const purlsOf = (inventory: Inventory) => Object.fromEntries(inventory.packages.map((p) => [`${p.name} ${p.location}`, packagePurl(p, inventory.os)]));

  it('writes Debian packages with epoch, arch, distro and the source package as upstream', () => {
    const purls = purlsOf(inventories.debian);
    // bsdutils carries an epoch its source util-linux does not, so the versions differ.
    expect(purls['bsdutils var/lib/dpkg/status']).toBe(
      'pkg:deb/debian/bsdutils@1:2.38.1-5%2Bdeb12u3?arch=amd64&distro=debian-12&upstream=util-linux%402.38.1-5%2Bdeb12u3',
    );
    expect(purls['libc6 var/lib/dpkg/status']).toBe('pkg:deb/debian/libc6@2.36-9%2Bdeb12u4?arch=amd64&distro=debian-12&upstream=glibc');
    // binNMU: the source's version differs from the binary's.
    expect(purls['libidn2-0 var/lib/dpkg/status']).toBe('pkg:deb/debian/libidn2-0@2.3.3-1%2Bb1?arch=amd64&distro=debian-12&upstream=libidn2%402.3.3-1');
    expect(purls['login var/lib/dpkg/status']).toBe('pkg:deb/debian/login@1:4.13%2Bdfsg1-1%2Bb1?arch=amd64&distro=debian-12&upstream=shadow%401:4.13%2Bdfsg1-1');
    // No source, or a source of the same name and version: no upstream.
    expect(purls['tzdata var/lib/dpkg/status']).toBe('pkg:deb/debian/tzdata@2024a-0%2Bdeb12u1?arch=all&distro=debian-12');
  });

  it('writes language packages', () => {
    const purls = purlsOf(inventories.debian);
    expect(purls['@babel/core usr/lib/node_modules/@babel/core/package.json']).toBe('pkg:npm/%40babel/core@7.23.2');
    expect(purls['lodash app/node_modules/lodash/package.json']).toBe('pkg:npm/lodash@4.17.21');
    expect(purls['Typing_Extensions usr/lib/python3/dist-packages/typing_extensions-4.8.0.dist-info/METADATA']).toBe('pkg:pypi/typing-extensions@4.8.0');
    expect(purls['zope.interface usr/lib/python3/dist-packages/zope.interface-6.1.dist-info/METADATA']).toBe('pkg:pypi/zope-interface@6.1');
    expect(purls['github.com/Azure/go-autorest/autorest usr/local/bin/ctr']).toBe('pkg:golang/github.com/Azure/go-autorest/autorest@v0.11.29');
    expect(purls['golang.org/x/net usr/local/bin/ctr']).toBe('pkg:golang/golang.org/x/net@v0.17.0');
    expect(purls['stdlib usr/local/bin/ctr']).toBe('pkg:golang/stdlib@1.21.5');
    expect(purls['serde usr/local/bin/rg']).toBe('pkg:cargo/serde@1.0.193');
  });

  it('writes Alpine packages with their origin as upstream when it differs', () => {
    const purls = purlsOf(inventories.alpine);
    expect(purls['musl lib/apk/db/installed']).toBe('pkg:apk/alpine/musl@1.2.4_git20230717-r4?arch=x86_64&distro=alpine-3.19.1');
    expect(purls['busybox-binsh lib/apk/db/installed']).toBe('pkg:apk/alpine/busybox-binsh@1.36.1-r15?arch=x86_64&distro=alpine-3.19.1&upstream=busybox');
  });

  it('writes rpm packages with the epoch as a qualifier, not in the version', () => {
    const purls = purlsOf(inventories.rocky);
    expect(purls['openssl-libs var/lib/rpm/rpmdb.sqlite']).toBe('pkg:rpm/rocky/openssl-libs@3.0.7-24.el9?arch=x86_64&distro=rocky-9.3&epoch=1&upstream=openssl');
    expect(purls['bash var/lib/rpm/rpmdb.sqlite']).toBe('pkg:rpm/rocky/bash@5.1.8-6.el9_1?arch=x86_64&distro=rocky-9.3');
  });

  it('leaves out Go versions that name no release', () => {
    const go = (name: string, version: string) => packagePurl({ ecosystem: 'Go', versionScheme: 'semver', name, version, location: 'app', layerDigest: 'sha256:00' }, null);
    expect(go('example.com/app', '(devel)')).toBe('pkg:golang/example.com/app');
    expect(go('stdlib', 'devel go1.23-abc123 Tue Jan 2 15:04:05 2024 +0000')).toBe('pkg:golang/stdlib');
    expect(go('stdlib', 'go1.22rc1')).toBe('pkg:golang/stdlib@1.22rc1');
  });

  const pkg = (overrides: Partial<InstalledPackage>): InstalledPackage => ({
    ecosystem: '',
    versionScheme: 'rpm',
    name: 'openssl',
    version: '0:3.0.7-27.el9',
    location: 'var/lib/rpm/rpmdb.sqlite',
    layerDigest: 'sha256:00',
    ...overrides,
  });
  const rhel: DetectedOs = { id: 'rhel', versionId: '9.3', prettyName: 'Red Hat Enterprise Linux 9.3 (Plow)', ecosystem: 'Red Hat' };

  it('spells the RHEL vendor redhat, drops a zero epoch and tolerates a missing arch', () => {
    expect(packagePurl(pkg({}), rhel)).toBe('pkg:rpm/redhat/openssl@3.0.7-27.el9?distro=rhel-9.3');
  });

  it('writes no purl for a distro package when the OS is unknown, nor for an ecosystem without a purl type', () => {
    expect(packagePurl(pkg({ versionScheme: 'dpkg' }), null)).toBeUndefined();
    expect(packagePurl(pkg({ versionScheme: 'semver', ecosystem: 'Hex' }), rhel)).toBeUndefined();
  });

  it('leaves the version out of the distro qualifier when the OS has none (Debian sid)', () => {
    const sid: DetectedOs = { id: 'debian', versionId: '', prettyName: 'Debian GNU/Linux trixie/sid', ecosystem: null };
    expect(packagePurl(pkg({ versionScheme: 'dpkg', name: 'bash', version: '5.2.21-2' }), sid)).toBe('pkg:deb/debian/bash@5.2.21-2?distro=debian');
  });
});
