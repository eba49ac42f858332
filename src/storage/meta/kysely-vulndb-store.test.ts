import { describe, expect, it } from 'vitest';
import { META_BACKENDS, withStores } from '../../../test/support/meta-stores.js';
import { importOsvZip, prepareRecord } from '../../scan/osv/import.js';
import { parseOsvRecord, type OsvRecord } from '../../scan/osv/record.js';
import type { PreparedRecord } from '../../scan/osv/vulndb-store.js';
import { sharedTestdata } from '../../../test/support/shared-testdata.js';

const TESTDATA = sharedTestdata('osv') + '/';

function prepared(value: Record<string, unknown>): PreparedRecord {
  const parsed = parseOsvRecord({ modified: '2024-01-01T00:00:00Z', ...value });
  if (!parsed.ok) throw new Error(parsed.reason);
  return prepareRecord(parsed.record, parsed.record);
}

const range = (fixed: string) => [{ type: 'ECOSYSTEM', events: [{ introduced: '0' }, { fixed }] }];

const curl12 = prepared({
  id: 'DEBIAN-CVE-2023-46218',
  affected: [
    { package: { ecosystem: 'Debian:12', name: 'curl' }, ranges: range('7.88.1-10+deb12u5') },
    { package: { ecosystem: 'Debian:11', name: 'curl' }, ranges: range('7.74.0-1.3+deb11u11') },
  ],
});
const pyyaml = prepared({ id: 'PYSEC-2020-96', aliases: ['CVE-2020-14343'], affected: [{ package: { ecosystem: 'PyPI', name: 'PyYAML' }, ranges: range('5.4') }] });
const withdrawn = prepared({ id: 'GHSA-dead-beef-0000', withdrawn: '2024-02-01T00:00:00Z', affected: [{ package: { ecosystem: 'PyPI', name: 'pyyaml' }, ranges: range('6.0') }] });

const ids = (records: OsvRecord[]) => records.map((r) => r.id).sort();

for (const backend of META_BACKENDS) {
  describe.skipIf(backend.skip)(`KyselyVulnDbStore: ${backend.name}`, () => {
    it('starts empty, at generation 0', withStores(backend, async ({ vulndb }) => {
      expect(await vulndb.status()).toEqual({ generation: 0, changedAt: null, records: 0, withdrawn: 0, ecosystems: [], sources: [] });
      expect(await vulndb.recordsForPackage('PyPI', 'pyyaml')).toEqual([]);
    }));

    it('stores records whole and finds each under every package it names, by release or in any', withStores(backend, async ({ vulndb }) => {
      const result = await vulndb.putRecords([curl12, pyyaml, withdrawn], 'test');
      expect(result).toEqual({ imported: 3, updated: 0, unchanged: 0, stale: [], generation: 1 });
      expect(await vulndb.record('PYSEC-2020-96')).toEqual(JSON.parse(pyyaml.body));
      expect(ids(await vulndb.recordsForPackage('Debian:12', 'curl'))).toEqual(['DEBIAN-CVE-2023-46218']);
      expect(ids(await vulndb.recordsForPackage('Debian:11', 'curl'))).toEqual(['DEBIAN-CVE-2023-46218']);
      expect(await vulndb.recordsForPackage('Debian:10', 'curl')).toEqual([]);
      expect(await vulndb.recordsForPackage('Debian', 'curl')).toEqual([]);
      expect(ids(await vulndb.recordsForPackage('Debian', 'curl', { anyRelease: true }))).toEqual(['DEBIAN-CVE-2023-46218']);
      // Names are normalised on both sides; withdrawn records are stored but never candidates.
      expect(ids(await vulndb.recordsForPackage('PyPI', 'PyYAML'))).toEqual(['PYSEC-2020-96']);
      expect(ids(await vulndb.recordsForPackage('PyPI', 'py_yaml'))).toEqual([]);
      expect((await vulndb.record('GHSA-dead-beef-0000'))?.withdrawn).toBe('2024-02-01T00:00:00Z');
      expect(
        ids(
          await vulndb.recordsForPackages([
            { ecosystem: 'Debian:12', name: 'curl' },
            { ecosystem: 'Debian:11', name: 'curl' },
            { ecosystem: 'PyPI', name: 'pyyaml' },
            { ecosystem: 'npm', name: 'nothing' },
          ]),
        ),
      ).toEqual(['DEBIAN-CVE-2023-46218', 'PYSEC-2020-96']);
      const status = await vulndb.status();
      expect(status).toMatchObject({ generation: 1, records: 3, withdrawn: 1, ecosystems: [{ ecosystem: 'PyPI', records: 2 }, { ecosystem: 'Debian', records: 1 }] });
      expect(status.changedAt).toBeGreaterThan(Date.now() - 60_000);
    }));

    it('unchanged records change nothing; a changed one replaces the old with its index rows; an older one is left out', withStores(backend, async ({ vulndb }) => {
      await vulndb.putRecords([curl12, pyyaml], 'test');
      expect(await vulndb.putRecords([curl12, pyyaml], 'test')).toEqual({ imported: 0, updated: 0, unchanged: 2, stale: [], generation: 1 });

      // The same `modified` with other content (the Go database's modified is the zero time): still an update.
      const moved = prepared({ id: 'DEBIAN-CVE-2023-46218', affected: [{ package: { ecosystem: 'Debian:12', name: 'curl' }, ranges: range('7.88.1-10+deb12u6') }] });
      expect(await vulndb.putRecords([moved], 'test')).toEqual({ imported: 0, updated: 1, unchanged: 0, stale: [], generation: 2 });
      expect(await vulndb.recordsForPackage('Debian:11', 'curl')).toEqual([]);
      expect(await vulndb.recordsForPackage('Debian:12', 'curl')).toEqual([JSON.parse(moved.body)]);

      const older = prepared({ id: 'PYSEC-2020-96', modified: '2023-01-01T00:00:00Z', affected: [] });
      const newer = prepared({ id: 'PYSEC-2020-96', modified: '2024-06-01T00:00:00Z', affected: [{ package: { ecosystem: 'PyPI', name: 'pyyaml' }, ranges: range('5.4.1') }] });
      expect(await vulndb.putRecords([older], 'test')).toEqual({ imported: 0, updated: 0, unchanged: 0, stale: ['PYSEC-2020-96'], generation: 2 });
      expect(await vulndb.record('PYSEC-2020-96')).toEqual(JSON.parse(pyyaml.body));
      expect(await vulndb.putRecords([newer], 'test')).toMatchObject({ updated: 1, generation: 3 });
      expect((await vulndb.record('PYSEC-2020-96'))?.modified).toBe('2024-06-01T00:00:00Z');
    }));

    it('a batch that fails writes nothing: no record without its index rows, no generation', withStores(backend, async ({ vulndb }) => {
      await vulndb.putRecords([pyyaml], 'test');
      // The same id twice: the second insert violates the primary key after the first row is written.
      const batch = [curl12, prepared({ id: 'GO-2024-0001', affected: [{ package: { ecosystem: 'Go', name: 'example.com/a' } }] }), curl12];
      await expect(vulndb.putRecords(batch, 'test')).rejects.toThrow();
      expect(await vulndb.record('DEBIAN-CVE-2023-46218')).toBeUndefined();
      expect(await vulndb.record('GO-2024-0001')).toBeUndefined();
      expect(await vulndb.recordsForPackage('Go', 'example.com/a')).toEqual([]);
      expect(await vulndb.status()).toMatchObject({ generation: 1, records: 1 });
    }));

    it('sources: one row each, replaced by the next import', withStores(backend, async ({ vulndb }) => {
      await vulndb.recordSource({ name: 'Go.zip', importedAt: 1000, records: 10, latestModified: null });
      await vulndb.recordSource({ name: 'PyPI.zip', importedAt: 2000, records: 20, latestModified: '2024-01-01T00:00:00Z' });
      await vulndb.recordSource({ name: 'Go.zip', importedAt: 3000, records: 11, latestModified: '0001-01-01T00:00:00Z' });
      expect((await vulndb.status()).sources).toEqual([
        { name: 'Go.zip', importedAt: 3000, records: 11, latestModified: '0001-01-01T00:00:00Z' },
        { name: 'PyPI.zip', importedAt: 2000, records: 20, latestModified: '2024-01-01T00:00:00Z' },
      ]);
    }));

    it('imports at once from two writers: both land, the generation counts both', withStores(backend, async ({ vulndb }) => {
      const many = (prefix: string) =>
        Array.from({ length: 40 }, (_, i) => prepared({ id: `${prefix}-${i}`, affected: [{ package: { ecosystem: 'npm', name: `pkg-${i % 7}` }, ranges: range('1.0.0') }] }));
      const results = await Promise.all([vulndb.putRecords(many('GHSA-a'), 'a'), vulndb.putRecords(many('GHSA-b'), 'b')]);
      expect(results.map((r) => r.imported)).toEqual([40, 40]);
      expect(await vulndb.status()).toMatchObject({ generation: 2, records: 80 });
      expect(await vulndb.recordsForPackage('npm', 'pkg-3')).toHaveLength(12);
    }));

    it('imports the real crates.io database and finds a record under its crate', withStores(backend, async ({ vulndb }) => {
      const report = await importOsvZip(vulndb, `${TESTDATA}crates.io.zip`);
      expect(report).toMatchObject({ source: 'crates.io.zip', records: 1206, imported: 1206, withdrawn: 13, skipped: 0 });
      expect(ids(await vulndb.recordsForPackage('crates.io', 'matrix-sdk-base'))).toEqual(expect.arrayContaining(['RUSTSEC-2025-0000', 'RUSTSEC-2025-0065']));
      expect(await vulndb.status()).toMatchObject({ records: 1206, withdrawn: 13, ecosystems: [{ ecosystem: 'crates.io', records: 1206 }], sources: [{ name: 'crates.io.zip', records: 1206 }] });
      const again = await importOsvZip(vulndb, `${TESTDATA}crates.io.zip`);
      expect(again).toMatchObject({ imported: 0, updated: 0, unchanged: 1206, generation: report.generation });
    }));
  });
}
