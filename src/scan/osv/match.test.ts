import { beforeAll, describe, expect, it } from 'vitest';
import type { InstalledPackage, VersionScheme } from '../inventory.js';
import { zipEntries } from './import.js';
import { lookupKey, matchCoordinates, matchPackage, matchPackages, osvGoVersion, rangeVerdict, representativeOrder } from './match.js';
import { parseOsvRecord, type OsvAffected, type OsvEvent, type OsvRecord } from './record.js';
import { sharedTestdata } from '../../../test/support/shared-testdata.js';

const TESTDATA = sharedTestdata('osv') + '/';

async function loadZip(name: string): Promise<OsvRecord[]> {
  const records: OsvRecord[] = [];
  for await (const entry of zipEntries(`${TESTDATA}${name}`, 1 << 24)) {
    if (!('text' in entry)) throw new Error(`${entry.name}: ${entry.problem}`);
    const parsed = parseOsvRecord(JSON.parse(entry.text));
    if (!parsed.ok) throw new Error(`${entry.name}: ${parsed.reason}`);
    records.push(parsed.record);
  }
  return records;
}

function pkg(ecosystem: string, name: string, version: string, extra: Partial<InstalledPackage> = {}): InstalledPackage {
  const scheme: Record<string, VersionScheme> = { Debian: 'dpkg', Ubuntu: 'dpkg', Alpine: 'apk', PyPI: 'pep440' };
  return { ecosystem, versionScheme: scheme[ecosystem.split(':')[0]!] ?? 'semver', name, version, location: 'x', layerDigest: 'sha256:00', ...extra };
}

let nextId = 1;
function record(affected: OsvAffected[], fields: Partial<OsvRecord> = {}): OsvRecord {
  return { id: `TEST-${nextId++}`, modified: '2024-01-01T00:00:00Z', affected, ...fields };
}

function affected(ecosystem: string, name: string, events: OsvEvent[], fields: Partial<OsvAffected> = {}): OsvAffected {
  const type = ['npm', 'Go', 'crates.io'].includes(ecosystem) ? 'SEMVER' : 'ECOSYSTEM';
  return { package: { ecosystem, name }, ranges: [{ type, events }], ...fields };
}

const ids = (matches: { id: string }[]) => matches.map((m) => m.id);

describe('rangeVerdict: the OSV evaluation of one range', () => {
  const semver = (version: string, events: OsvEvent[]) => rangeVerdict('semver', version, { events });

  it('introduced 0 alone: every version, no fix', () => {
    expect(semver('0.0.1', [{ introduced: '0' }])).toEqual({ affected: true });
    expect(semver('99.0.0', [{ introduced: '0' }])).toEqual({ affected: true });
  });

  it('introduced 0 then fixed: everything before the fix', () => {
    const events = [{ introduced: '0' }, { fixed: '1.0.2' }];
    expect(semver('1.0.1', events)).toEqual({ affected: true, fixed: '1.0.2' });
    expect(semver('1.0.2-rc.1', events)).toEqual({ affected: true, fixed: '1.0.2' });
    expect(semver('1.0.2', events)).toEqual({ affected: false });
    expect(semver('2.0.0', events)).toEqual({ affected: false });
  });

  it('several introduced/fixed pairs, in any order: each interval, with its own fix', () => {
    const events = [{ introduced: '1.0.0' }, { fixed: '1.0.2' }, { introduced: '3.0.0' }, { fixed: '3.2.5' }];
    const shuffled = [events[3]!, events[0]!, events[2]!, events[1]!];
    for (const e of [events, shuffled]) {
      expect(semver('0.9.0', e)).toEqual({ affected: false });
      expect(semver('1.0.0', e)).toEqual({ affected: true, fixed: '1.0.2' });
      expect(semver('1.0.2', e)).toEqual({ affected: false });
      expect(semver('2.5.0', e)).toEqual({ affected: false });
      expect(semver('3.0.0', e)).toEqual({ affected: true, fixed: '3.2.5' });
      expect(semver('3.2.4', e)).toEqual({ affected: true, fixed: '3.2.5' });
      expect(semver('3.2.5', e)).toEqual({ affected: false });
    }
  });

  it('last_affected: up to and including it, no fix known', () => {
    const events = [{ introduced: '0' }, { last_affected: '2.1.214' }];
    expect(semver('2.1.214', events)).toEqual({ affected: true });
    expect(semver('2.1.215', events)).toEqual({ affected: false });
  });

  it('limit bounds the range from above; "*" is no bound', () => {
    const events = [{ introduced: '1.0.0' }, { limit: '2.0.0' }];
    expect(semver('0.5.0', events)).toEqual({ affected: false });
    expect(semver('1.5.0', events)).toEqual({ affected: true });
    expect(semver('2.0.0', events)).toEqual({ affected: false });
    expect(semver('3.0.0', [{ introduced: '1.0.0' }, { limit: '*' }])).toEqual({ affected: true });
    expect(semver('1.3.0', [{ introduced: '0' }, { fixed: '1.5.0' }, { limit: '1.2.0' }])).toEqual({ affected: false });
    expect(semver('1.3.0', [{ introduced: '0' }, { fixed: '1.5.0' }, { limit: '1.2.0' }, { limit: '1.4.0' }])).toEqual({ affected: true, fixed: '1.5.0' });
  });

  it('an installed version the scheme cannot read is in no range; unreadable events are left out', () => {
    expect(semver('(devel)', [{ introduced: '0' }])).toEqual({ affected: false });
    expect(semver('', [{ introduced: '0' }])).toEqual({ affected: false });
    expect(semver('1.5.0', [{ introduced: '0' }, { fixed: 'not-a-version' }, { fixed: '2.0.0' }])).toEqual({ affected: true, fixed: '2.0.0' });
  });

  it('dpkg: epochs, revisions and security updates', () => {
    const events = [{ introduced: '0' }, { fixed: '2.38.1-5+deb12u1' }];
    expect(rangeVerdict('dpkg', '2.38.1-5', { events })).toEqual({ affected: true, fixed: '2.38.1-5+deb12u1' });
    expect(rangeVerdict('dpkg', '2.38.1-5+deb12u1', { events })).toEqual({ affected: false });
    expect(rangeVerdict('dpkg', '2.38.1-5+b1', { events })).toEqual({ affected: true, fixed: '2.38.1-5+deb12u1' });
    expect(rangeVerdict('dpkg', '1:1.0-1', { events })).toEqual({ affected: false }); // an epoch sorts above every version without one
  });

  it('apk and PEP 440 order as their tools do', () => {
    expect(rangeVerdict('apk', '3.1.4-r0', { events: [{ introduced: '0' }, { fixed: '3.1.4-r1' }] })).toEqual({ affected: true, fixed: '3.1.4-r1' });
    expect(rangeVerdict('apk', '3.1.4-r1', { events: [{ introduced: '0' }, { fixed: '3.1.4-r1' }] })).toEqual({ affected: false });
    const pep = [{ introduced: '0' }, { fixed: '2.0' }];
    expect(rangeVerdict('pep440', '2.0rc1', { events: pep })).toEqual({ affected: true, fixed: '2.0' });
    expect(rangeVerdict('pep440', '1.0.post1', { events: pep })).toEqual({ affected: true, fixed: '2.0' });
    expect(rangeVerdict('pep440', '2.0.0', { events: pep })).toEqual({ affected: false });
  });
});

describe('osvGoVersion', () => {
  it.each([
    ['v1.2.3', '1.2.3'],
    ['v0.0.0-20191109021931-daa7c04131f5', '0.0.0-20191109021931-daa7c04131f5'],
    ['v2.0.0+incompatible', '2.0.0+incompatible'],
    ['go1.21.5', '1.21.5'],
    ['go1.21', '1.21.0'],
    ['go1.21rc2', '1.21.0-rc.2'],
    ['go1.9beta1', '1.9.0-beta.1'],
    ['go1.22.1 X:boringcrypto', '1.22.1'],
    ['(devel)', '(devel)'],
  ])('%s → %s', (installed, osv) => {
    expect(osvGoVersion(installed)).toBe(osv);
  });
});

describe('matchPackage', () => {
  it('distro packages match on their source package, in their own release only', () => {
    const deb12 = record([affected('Debian:12', 'util-linux', [{ introduced: '0' }, { fixed: '2.38.1-5+deb12u1' }])], { id: 'DEBIAN-CVE-2024-28085' });
    const deb11 = record([affected('Debian:11', 'util-linux', [{ introduced: '0' }, { fixed: '2.36.1-8+deb11u2' }])], { id: 'DEBIAN-CVE-2024-28085-11' });
    const plain = record([affected('Debian', 'util-linux', [{ introduced: '0' }])]);
    const byBinary = record([affected('Debian:12', 'bsdutils', [{ introduced: '0' }])]);
    const bsdutils = pkg('Debian:12', 'bsdutils', '1:2.38.1-5+b1', { source: { name: 'util-linux', version: '2.38.1-5' } });
    expect(lookupKey(bsdutils)).toEqual({ ecosystem: 'Debian:12', name: 'util-linux' });
    const found = matchPackage(bsdutils, [deb12, deb11, plain, byBinary]);
    expect(ids(found)).toEqual(['DEBIAN-CVE-2024-28085']);
    expect(found[0]).toMatchObject({ fixedVersion: '2.38.1-5+deb12u1', aliases: [] });
    expect(matchPackage(pkg('Debian:12', 'bsdutils', '2.38.1-5+deb12u1', { source: { name: 'util-linux', version: '2.38.1-5+deb12u1' } }), [deb12])).toEqual([]);
    // No source recorded: the binary is its own source.
    expect(ids(matchPackage(pkg('Debian:12', 'util-linux', '2.38.1-5'), [deb12]))).toEqual(['DEBIAN-CVE-2024-28085']);
    expect(ids(matchPackage(pkg('Debian', 'util-linux', '2.38.1-5'), [deb12, plain]))).toEqual([plain.id]);
  });

  it('Alpine: source package (origin) and release branch', () => {
    const v319 = record([affected('Alpine:v3.19', 'openssl', [{ introduced: '0' }, { fixed: '3.1.4-r1' }])], { id: 'ALPINE-CVE-2023-5678' });
    const v318 = record([affected('Alpine:v3.18', 'openssl', [{ introduced: '0' }, { fixed: '3.1.4-r3' }])]);
    const libcrypto = pkg('Alpine:v3.19', 'libcrypto3', '3.1.4-r0', { source: { name: 'openssl', version: '3.1.4-r0' } });
    expect(matchPackage(libcrypto, [v319, v318])).toMatchObject([{ id: 'ALPINE-CVE-2023-5678', fixedVersion: '3.1.4-r1' }]);
  });

  it("Ubuntu records carry :LTS, os-release does not: they still meet; Ubuntu Pro's do not", () => {
    const lts = record([affected('Ubuntu:22.04:LTS', 'openssl', [{ introduced: '0' }, { fixed: '3.0.2-0ubuntu1.15' }])]);
    const pro = record([affected('Ubuntu:Pro:22.04:LTS', 'openssl', [{ introduced: '0' }])]);
    expect(ids(matchPackage(pkg('Ubuntu:22.04', 'openssl', '3.0.2-0ubuntu1.10'), [lts, pro]))).toEqual([lts.id]);
  });

  it('PyPI names match after normalisation, either side', () => {
    const r = record([affected('PyPI', 'jw.util', [{ introduced: '0' }, { fixed: '2.0' }])]);
    expect(ids(matchPackage(pkg('PyPI', 'JW_Util', '1.0'), [r]))).toEqual([r.id]);
    expect(lookupKey(pkg('PyPI', 'JW_Util', '1.0'))).toEqual({ ecosystem: 'PyPI', name: 'jw-util' });
    expect(matchPackage(pkg('npm', 'jw.util', '1.0.0'), [r])).toEqual([]);
  });

  it('names are exact elsewhere', () => {
    const r = record([affected('Go', 'github.com/BurntSushi/toml', [{ introduced: '0' }])]);
    expect(matchPackage(pkg('Go', 'github.com/burntsushi/toml', 'v1.0.0'), [r])).toEqual([]);
    expect(matchPackage(pkg('Go', 'github.com/BurntSushi/toml', 'v1.0.0'), [r])).toHaveLength(1);
  });

  it('explicit versions match exactly or as equal versions; GIT ranges are not evaluated', () => {
    const r = record([
      {
        package: { ecosystem: 'PyPI', name: 'lib' },
        ranges: [{ type: 'GIT', repo: 'https://example.com/lib', events: [{ introduced: '0' }, { fixed: 'abc123' }] }],
        versions: ['1.1', '1.2'],
      },
    ]);
    expect(ids(matchPackage(pkg('PyPI', 'lib', '1.2'), [r]))).toEqual([r.id]);
    expect(ids(matchPackage(pkg('PyPI', 'lib', '1.2.0'), [r]))).toEqual([r.id]);
    expect(matchPackage(pkg('PyPI', 'lib', '1.3'), [r])).toEqual([]);
    expect(matchPackage(pkg('PyPI', 'lib', '1.2'), [r])[0]?.fixedVersion).toBeUndefined();
  });

  it('ecosystems without a comparator never match by range, only by explicit versions', () => {
    const r = record([affected('Maven', 'org.example:lib', [{ introduced: '0' }, { fixed: '2.0' }], { versions: ['1.0'] })]);
    expect(ids(matchPackage(pkg('Maven', 'org.example:lib', '1.0'), [r]))).toEqual([r.id]);
    expect(matchPackage(pkg('Maven', 'org.example:lib', '1.5'), [r])).toEqual([]);
  });

  it('withdrawn records affect nothing', () => {
    const r = record([affected('npm', 'a', [{ introduced: '0' }])], { withdrawn: '2024-02-01T00:00:00Z' });
    expect(matchPackage(pkg('npm', 'a', '1.0.0'), [r])).toEqual([]);
  });

  it('a package without an ecosystem matches nothing', () => {
    const p = pkg('', 'openssl', '3.0.0');
    expect(matchCoordinates(p)).toBeUndefined();
    expect(lookupKey(p)).toBeUndefined();
    expect(matchPackage(p, [record([affected('Debian:12', 'openssl', [{ introduced: '0' }])])])).toEqual([]);
  });

  it('several affected entries of one record for the package: one record, each entry kept, the highest fix', () => {
    const r = record([
      affected('npm', 'a', [{ introduced: '0' }, { fixed: '1.2.0' }]),
      affected('npm', 'other', [{ introduced: '0' }]),
      affected('npm', 'a', [{ introduced: '1.0.0' }, { fixed: '1.3.0' }]),
    ]);
    const [m] = matchPackage(pkg('npm', 'a', '1.1.0'), [r, r]);
    expect(m?.records).toHaveLength(1);
    expect(m?.records[0]?.affected).toHaveLength(2);
    expect(m?.fixedVersion).toBe('1.3.0');
  });

  it('records naming one vulnerability are reported once, under the representative id, with every other id as an alias', () => {
    const ghsa = record([affected('PyPI', 'lib', [{ introduced: '0' }, { fixed: '1.2.5' }])], {
      id: 'GHSA-xxxx-yyyy-zzzz',
      aliases: ['CVE-2021-1234'],
      severity: [{ type: 'CVSS_V3', score: 'CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:H' }],
    });
    const pysec = record([affected('PyPI', 'lib', [{ introduced: '0' }, { fixed: '1.2.4' }])], { id: 'PYSEC-2021-7', aliases: ['CVE-2021-1234', 'GHSA-xxxx-yyyy-zzzz'] });
    const other = record([affected('PyPI', 'lib', [{ introduced: '0' }])], { id: 'PYSEC-2022-1', aliases: ['CVE-2022-1'], related: ['CVE-2021-1234'] });
    const found = matchPackage(pkg('PyPI', 'lib', '1.0'), [ghsa, other, pysec]);
    expect(found).toHaveLength(2);
    const merged = found.find((m) => m.id === 'PYSEC-2021-7')!;
    expect(merged.aliases).toEqual(['CVE-2021-1234', 'GHSA-xxxx-yyyy-zzzz']);
    expect(merged.records.map((m) => m.record.id)).toEqual(['PYSEC-2021-7', 'GHSA-xxxx-yyyy-zzzz']);
    // Every record's fix: upgrading to the highest satisfies both.
    expect(merged.fixedVersion).toBe('1.2.5');
    // The representative has no vector; the GitHub record's decides.
    expect(merged.severity).toMatchObject({ level: 'HIGH', source: 'cvss' });
    // Most severe first.
    expect(ids(found)).toEqual(['PYSEC-2021-7', 'PYSEC-2022-1']);
  });

  it('aliases merge transitively, and a CVE-based id represents the group', () => {
    const dsa = record([affected('Debian:12', 'curl', [{ introduced: '0' }, { fixed: '7.88.1-10+deb12u5' }])], { id: 'DSA-5587-1', aliases: ['DEBIAN-CVE-2023-46218'] });
    const cve = record([affected('Debian:12', 'curl', [{ introduced: '0' }, { fixed: '7.88.1-10+deb12u5' }])], { id: 'DEBIAN-CVE-2023-46218', aliases: ['CVE-2023-46218'] });
    const third = record([affected('Debian:12', 'curl', [{ introduced: '0' }, { fixed: '7.88.1-10+deb12u5' }])], { id: 'DLA-1-1', aliases: ['CVE-2023-46218'] });
    const found = matchPackage(pkg('Debian:12', 'libcurl4', '7.88.1-10+deb12u4', { source: { name: 'curl', version: '7.88.1-10+deb12u4' } }), [dsa, third, cve]);
    expect(found).toHaveLength(1);
    expect(found[0]).toMatchObject({ id: 'DEBIAN-CVE-2023-46218', aliases: ['CVE-2023-46218', 'DLA-1-1', 'DSA-5587-1'], fixedVersion: '7.88.1-10+deb12u5' });
  });

  it('representative order: CVE-based ids, then the ecosystem’s own database, then GitHub; ties by id', () => {
    const sorted = ['GHSA-aaaa-bbbb-cccc', 'PYSEC-2021-7', 'CVE-2021-1', 'UBUNTU-CVE-2021-2', 'GO-2021-0001', 'DSA-1-1'].sort(representativeOrder);
    expect(sorted).toEqual(['CVE-2021-1', 'UBUNTU-CVE-2021-2', 'DSA-1-1', 'GO-2021-0001', 'PYSEC-2021-7', 'GHSA-aaaa-bbbb-cccc']);
  });

  it("Go: modules' and the standard library's versions in OSV notation, fixes back in Go's", () => {
    const mod = record([affected('Go', 'example.com/mod', [{ introduced: '0' }, { fixed: '1.2.4' }])]);
    expect(matchPackage(pkg('Go', 'example.com/mod', 'v1.2.3'), [mod])[0]?.fixedVersion).toBe('v1.2.4');
    expect(matchPackage(pkg('Go', 'example.com/mod', 'v1.2.4'), [mod])).toEqual([]);
    const std = record([affected('Go', 'stdlib', [{ introduced: '0' }, { fixed: '1.21.6' }])]);
    expect(matchPackage(pkg('Go', 'stdlib', 'go1.21.5'), [std])[0]?.fixedVersion).toBe('go1.21.6');
    expect(matchPackage(pkg('Go', 'stdlib', 'go1.21rc2'), [std])).toHaveLength(1);
    expect(matchPackage(pkg('Go', 'stdlib', 'go1.21.6'), [std])).toEqual([]);
  });
});

describe('matchPackages', () => {
  it('matches each package against the records under its own key; packages without findings are left out', () => {
    const a = record([affected('npm', 'a', [{ introduced: '0' }]), affected('npm', 'b', [{ introduced: '0' }, { fixed: '2.0.0' }])]);
    const c = record([affected('PyPI', 'c', [{ introduced: '0' }])]);
    const packages = [pkg('npm', 'a', '1.0.0'), pkg('npm', 'b', '2.0.0'), pkg('npm', 'b', '1.0.0'), pkg('PyPI', 'C', '1'), pkg('npm', 'zzz', '1.0.0')];
    const results = matchPackages(packages, [a, c]);
    expect(results.map((r) => [r.package.name, r.package.version, ids(r.vulnerabilities)])).toEqual([
      ['a', '1.0.0', [a.id]],
      ['b', '1.0.0', [a.id]],
      ['C', '1', [c.id]],
    ]);
  });
});

describe('on the real Go, PyPI and crates.io databases', () => {
  let all: OsvRecord[];
  beforeAll(async () => {
    all = [...(await loadZip('Go.zip')), ...(await loadZip('PyPI.zip')), ...(await loadZip('crates.io.zip')), ...(await loadZip('npm-sample.zip'))];
  }, 120_000);

  const find = (p: InstalledPackage) => matchPackages([p], all)[0]?.vulnerabilities ?? [];

  it('a Go module', () => {
    const found = find(pkg('Go', 'github.com/gofiber/fiber/v2', 'v2.49.0'));
    const csrf = found.find((m) => m.id === 'GO-2023-2115');
    expect(csrf).toMatchObject({ aliases: ['CVE-2023-45128', 'GHSA-94w9-97p3-p368'], fixedVersion: 'v2.50.0', severity: { level: 'UNKNOWN' } });
    expect(find(pkg('Go', 'github.com/gofiber/fiber/v2', 'v2.50.0')).map((m) => m.id)).not.toContain('GO-2023-2115');
  });

  it('the Go standard library, with two introduced/fixed intervals', () => {
    const at = (version: string) => find(pkg('Go', 'stdlib', version)).find((m) => m.id === 'GO-2022-0515');
    expect(at('go1.17.11')?.fixedVersion).toBe('go1.17.12');
    expect(at('go1.17.12')).toBeUndefined();
    expect(at('go1.18rc1')?.fixedVersion).toBe('go1.18.4');
    expect(at('go1.18.3')?.fixedVersion).toBe('go1.18.4');
    expect(at('go1.18.4')).toBeUndefined();
    expect(find(pkg('Go', 'stdlib', 'go1.18.3')).length).toBeGreaterThan(10);
  });

  it('PyPI: normalised names, ranges, last_affected with its versions list', () => {
    const jinja = find(pkg('PyPI', 'Jinja2', '2.10'));
    expect(jinja.map((m) => [m.id, m.fixedVersion])).toEqual(expect.arrayContaining([['PYSEC-2019-217', '2.10.1'], ['PYSEC-2021-66', '2.11.3']]));
    expect(jinja.map((m) => m.id)).not.toContain('PYSEC-2019-220'); // fixed in 2.8.1
    expect(jinja.find((m) => m.id === 'PYSEC-2021-66')?.aliases).toEqual(['CVE-2020-28493', 'GHSA-g3rq-g295-4j3m', 'SNYK-PYTHON-JINJA2-1012994']);
    expect(find(pkg('PyPI', 'py', '1.11.0')).map((m) => m.id)).toContain('PYSEC-2022-42969');
    expect(find(pkg('PyPI', 'py', '1.11.1')).map((m) => m.id)).not.toContain('PYSEC-2022-42969');
    expect(find(pkg('PyPI', 'gratient', '0.5')).map((m) => m.id)).toEqual(['PYSEC-2024-1']); // a versions list, no range
  });

  it('crates.io: duplicate records of one advisory are one finding; withdrawn advisories none', () => {
    const found = find(pkg('crates.io', 'matrix-sdk-base', '0.14.0'));
    const dup = found.find((m) => m.aliases.includes('CVE-2025-59047'));
    expect(dup).toMatchObject({ id: 'RUSTSEC-2025-0000', aliases: ['CVE-2025-59047', 'GHSA-qhj8-q5r6-8q6j', 'RUSTSEC-2025-0065'], fixedVersion: '0.14.1' });
    expect(found.filter((m) => m.aliases.includes('CVE-2025-59047') || m.id === 'RUSTSEC-2025-0065')).toHaveLength(1);
    expect(find(pkg('crates.io', 'matrix-sdk-base', '0.14.1')).find((m) => m.aliases.includes('CVE-2025-59047'))).toBeUndefined();
    expect(find(pkg('crates.io', 'dirs', '1.0.0')).map((m) => m.id)).not.toContain('RUSTSEC-2020-0053');
  });

  it('npm: one GitHub record naming two packages matches each', () => {
    expect(find(pkg('npm', 'lodash', '4.17.20')).map((m) => m.id)).toContain('GHSA-35jh-r3h4-6jhm');
    expect(find(pkg('npm', 'lodash-es', '4.17.20')).map((m) => m.id)).toContain('GHSA-35jh-r3h4-6jhm');
    expect(find(pkg('npm', 'lodash', '4.17.21')).map((m) => m.id)).not.toContain('GHSA-35jh-r3h4-6jhm');
  });
});
