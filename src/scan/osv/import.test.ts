import { copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { sqliteStores, type MetaStoresFixture } from '../../../test/support/meta-stores.js';
import { importOsvDirectory, importOsvJsonLines, importOsvPath, importOsvZip } from './import.js';
import { sharedTestdata } from '../../../test/support/shared-testdata.js';

const TESTDATA = sharedTestdata('osv') + '/';

const osv = (id: string, fields: Record<string, unknown> = {}) => ({
  id,
  modified: '2024-01-01T00:00:00Z',
  affected: [{ package: { ecosystem: 'npm', name: `pkg-of-${id}` }, ranges: [{ type: 'SEMVER', events: [{ introduced: '0' }] }] }],
  ...fields,
});
const lines = (...values: unknown[]) => Readable.from(values.map((v) => (typeof v === 'string' ? v : JSON.stringify(v)) + '\n'));

let fixture: MetaStoresFixture;
let dir: string;
beforeEach(async () => {
  fixture = await sqliteStores();
  dir = await mkdtemp(join(tmpdir(), 'berth-osv-'));
});
afterEach(async () => {
  await fixture.cleanup();
  await rm(dir, { recursive: true, force: true });
});

describe('importing OSV records', () => {
  it('the real Go, PyPI and crates.io exports (8,158 records) in well under 30 s, then again: all unchanged', async () => {
    const { vulndb } = fixture.stores;
    const started = performance.now();
    const reports = [];
    for (const name of ['Go.zip', 'PyPI.zip', 'crates.io.zip']) reports.push(await importOsvZip(vulndb, `${TESTDATA}${name}`));
    const seconds = (performance.now() - started) / 1000;
    console.log(`imported 8,158 OSV records in ${seconds.toFixed(1)} s`);
    expect(seconds).toBeLessThan(30);
    expect(reports.map((r) => [r.source, r.records, r.imported, r.withdrawn, r.skipped])).toEqual([
      ['Go.zip', 4291, 4291, 17, 0],
      ['PyPI.zip', 2661, 2661, 10, 0],
      ['crates.io.zip', 1206, 1206, 13, 0],
    ]);
    const generation = reports.at(-1)!.generation;
    const status = await vulndb.status();
    expect(status).toMatchObject({ generation, records: 8158, withdrawn: 40 });
    expect(status.ecosystems).toEqual([
      { ecosystem: 'Go', records: 4291 },
      { ecosystem: 'PyPI', records: 2661 },
      { ecosystem: 'crates.io', records: 1206 },
    ]);
    expect(status.sources.map((s) => [s.name, s.records, s.latestModified])).toEqual([
      ['Go.zip', 4291, '0001-01-01T00:00:00Z'],
      ['PyPI.zip', 2661, '2024-10-10T17:22:00.587279Z'],
      ['crates.io.zip', 1206, '2026-08-21T06:28:40Z'],
    ]);

    const again = await importOsvZip(vulndb, `${TESTDATA}PyPI.zip`);
    expect(again).toMatchObject({ records: 2661, imported: 0, updated: 0, unchanged: 2661, generation });
  }, 120_000);

  it('a record naming several packages is found under each', async () => {
    const { vulndb } = fixture.stores;
    const report = await importOsvZip(vulndb, `${TESTDATA}npm-sample.zip`);
    expect(report).toMatchObject({ source: 'npm-sample.zip', records: 5, imported: 5, skipped: 0 });
    expect((await vulndb.recordsForPackage('npm', 'lodash')).map((r) => r.id)).toContain('GHSA-35jh-r3h4-6jhm');
    expect((await vulndb.recordsForPackage('npm', 'lodash-es')).map((r) => r.id)).toContain('GHSA-35jh-r3h4-6jhm');
  });

  it('zip entries larger than the limit are skipped with the reason; a truncated zip is an error', async () => {
    const { vulndb } = fixture.stores;
    const report = await importOsvZip(vulndb, `${TESTDATA}npm-sample.zip`, { maxRecordBytes: 1600 });
    expect(report).toMatchObject({ records: 3, skipped: 2 });
    expect(report.problems).toEqual([
      { entry: 'GHSA-93q8-gq69-wqmw.json', reason: '1806 bytes: larger than the 1600 a record may be' },
      { entry: 'GHSA-c2qf-rxjj-qqgw.json', reason: '1765 bytes: larger than the 1600 a record may be' },
    ]);

    const whole = await readFile(`${TESTDATA}npm-sample.zip`);
    const broken = join(dir, 'broken.zip');
    await writeFile(broken, whole.subarray(0, whole.length / 2));
    await expect(importOsvZip(vulndb, broken)).rejects.toThrow();
  });

  it('a directory, recursively: .json files only, hidden directories left out, problems reported', async () => {
    const { vulndb } = fixture.stores;
    await mkdir(join(dir, 'advisories', '2024'), { recursive: true });
    await mkdir(join(dir, '.git'));
    await writeFile(join(dir, 'advisories', '2024', 'GHSA-1.json'), JSON.stringify(osv('GHSA-1')));
    await writeFile(join(dir, 'advisories', 'GHSA-2.json'), '\ufeff' + JSON.stringify(osv('GHSA-2', { withdrawn: '2024-02-01T00:00:00Z' })));
    await writeFile(join(dir, 'advisories', 'broken.json'), '{"id": ');
    await writeFile(join(dir, 'advisories', 'not-osv.json'), JSON.stringify({ hello: 'world' }));
    await writeFile(join(dir, 'README.md'), '# advisories');
    await writeFile(join(dir, '.git', 'GHSA-3.json'), JSON.stringify(osv('GHSA-3')));
    const report = await importOsvDirectory(vulndb, dir, { source: 'advisory-db' });
    expect(report).toMatchObject({ source: 'advisory-db', records: 2, imported: 2, withdrawn: 1, skipped: 2 });
    expect(report.problems).toEqual([
      { entry: join('advisories', 'broken.json'), reason: expect.stringMatching(/^not JSON: /) },
      { entry: join('advisories', 'not-osv.json'), reason: expect.stringMatching(/^not an OSV record: id: /) },
    ]);
    expect(await vulndb.record('GHSA-3')).toBeUndefined();
  });

  it('JSON lines: one record a line, blank lines ignored, problems by line number', async () => {
    const { vulndb } = fixture.stores;
    const report = await importOsvJsonLines(vulndb, lines(osv('GHSA-1'), '', osv('GHSA-2'), 'nonsense', { id: 'X' }), { source: 'feed.jsonl' });
    expect(report).toMatchObject({ records: 2, imported: 2, skipped: 2 });
    expect(report.problems.map((p) => p.entry)).toEqual(['line 4', 'line 5']);
    expect(report.problems[1]?.reason).toMatch(/modified/);
  });

  it('counts new, updated, unchanged and stale records', async () => {
    const { vulndb } = fixture.stores;
    await importOsvJsonLines(vulndb, lines(osv('A'), osv('B'), osv('C')), { source: 'feed' });
    const report = await importOsvJsonLines(
      vulndb,
      lines(
        osv('A'), // unchanged
        osv('B', { modified: '2024-05-01T00:00:00Z', summary: 'revised' }), // updated
        osv('C', { modified: '2023-01-01T00:00:00Z', summary: 'an old copy' }), // stale
        osv('D'), // new
      ),
      { source: 'feed' },
    );
    expect(report).toMatchObject({ records: 4, imported: 1, updated: 1, unchanged: 1, stale: 1, skipped: 0 });
    expect(report.problems).toEqual([{ entry: 'line 3', reason: 'C: the stored copy is newer than this one (modified 2023-01-01T00:00:00Z)' }]);
    expect((await vulndb.record('B'))?.summary).toBe('revised');
    expect((await vulndb.record('C'))?.summary).toBeUndefined();
  });

  it('only the first problems are listed; all are counted', async () => {
    const report = await importOsvJsonLines(fixture.stores.vulndb, lines(...Array.from({ length: 30 }, (_, i) => `not json ${i}`), osv('A')), { source: 'feed' });
    expect(report).toMatchObject({ records: 1, imported: 1, skipped: 30 });
    expect(report.problems).toHaveLength(20);
    expect(report.problems[19]?.entry).toBe('line 20');
    const three = await importOsvJsonLines(fixture.stores.vulndb, lines('x', 'y', 'z', 'w'), { source: 'feed', maxProblems: 3 });
    expect(three).toMatchObject({ skipped: 4, problems: [{ entry: 'line 1' }, { entry: 'line 2' }, { entry: 'line 3' }] });
  });

  it('the generation grows with each batch that changes something, and not otherwise', async () => {
    const { vulndb } = fixture.stores;
    const first = await importOsvJsonLines(vulndb, lines(...['A', 'B', 'C', 'D', 'E'].map((id) => osv(id))), { source: 'feed', batchSize: 2 });
    expect(first.generation).toBe(3);
    const second = await importOsvJsonLines(vulndb, lines(osv('A'), osv('B'), osv('C'), osv('D', { summary: 'x' }), osv('E')), { source: 'feed', batchSize: 2 });
    expect(second).toMatchObject({ unchanged: 4, updated: 1, generation: 4 });
    expect((await importOsvJsonLines(vulndb, lines(osv('A')), { source: 'feed' })).generation).toBe(4);
  });

  it('a record twice in one import: the later copy decides', async () => {
    const { vulndb } = fixture.stores;
    const report = await importOsvJsonLines(vulndb, lines(osv('A'), osv('A', { summary: 'second' })), { source: 'feed' });
    expect(report).toMatchObject({ records: 2, imported: 1, updated: 1 });
    expect((await vulndb.record('A'))?.summary).toBe('second');
  });

  it('an import that fails midway keeps the batches before it, every record whole, and records no source', async () => {
    const { vulndb } = fixture.stores;
    async function* failing() {
      for (const id of ['A', 'B', 'C', 'D', 'E']) yield JSON.stringify(osv(id)) + '\n';
      throw new Error('connection reset');
    }
    await expect(importOsvJsonLines(vulndb, Readable.from(failing()), { source: 'feed', batchSize: 2 })).rejects.toThrow('connection reset');
    const status = await vulndb.status();
    expect(status).toMatchObject({ records: 4, generation: 2, sources: [] });
    for (const id of ['A', 'B', 'C', 'D']) expect((await vulndb.recordsForPackage('npm', `pkg-of-${id}`)).map((r) => r.id)).toEqual([id]);
    expect(await vulndb.record('E')).toBeUndefined();
  });

  it('importOsvPath: a directory, a zip, or JSON lines', async () => {
    const { vulndb } = fixture.stores;
    await copyFile(`${TESTDATA}npm-sample.zip`, join(dir, 'npm.zip'));
    await writeFile(join(dir, 'feed.jsonl'), `${JSON.stringify(osv('A'))}\n`);
    await mkdir(join(dir, 'tree'));
    await writeFile(join(dir, 'tree', 'B.json'), JSON.stringify(osv('B')));
    expect(await importOsvPath(vulndb, join(dir, 'npm.zip'))).toMatchObject({ source: 'npm.zip', imported: 5 });
    expect(await importOsvPath(vulndb, join(dir, 'feed.jsonl'))).toMatchObject({ source: 'feed.jsonl', imported: 1 });
    expect(await importOsvPath(vulndb, join(dir, 'tree'))).toMatchObject({ source: 'tree', imported: 1 });
    expect((await vulndb.status()).sources.map((s) => s.name)).toEqual(['feed.jsonl', 'npm.zip', 'tree']);
  });
});
