import { beforeAll, describe, expect, it } from 'vitest';
import { zipEntries } from './import.js';
import { parseOsvRecord, type OsvRecord } from './record.js';
import { cvssScore, levelForLabel, levelForScore, severityOf } from './severity.js';
import { sharedTestdata } from '../../../test/support/shared-testdata.js';

/** osv.dev exports kept beside the project (never copied into it). */
const CRATES_ZIP = sharedTestdata('osv', 'crates.io.zip');
const NPM_ZIP = sharedTestdata('osv', 'npm-sample.zip');

async function readZip(path: string): Promise<Map<string, OsvRecord>> {
  const records = new Map<string, OsvRecord>();
  for await (const entry of zipEntries(path, 1 << 24)) {
    if (!('text' in entry)) throw new Error(`${entry.name}: ${entry.problem}`);
    const parsed = parseOsvRecord(JSON.parse(entry.text));
    if (!parsed.ok) throw new Error(`${entry.name}: ${parsed.reason}`);
    records.set(parsed.record.id, parsed.record);
  }
  return records;
}

const record = (fields: Partial<OsvRecord>): OsvRecord => ({ id: 'TEST-1', modified: '2024-01-01T00:00:00Z', ...fields });

describe('cvssScore', () => {
  // Scores checked against the CVSS v2, v3.0, v3.1 and v4.0 specifications' formulas and FIRST's calculators.
  it.each([
    ['CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H', '3.1', 9.8],
    ['CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:C/C:H/I:H/A:H', '3.1', 10],
    ['CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:H', '3.1', 7.5],
    ['CVSS:3.1/AV:N/AC:H/PR:N/UI:N/S:U/C:H/I:H/A:H', '3.1', 8.1],
    ['CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:C/C:L/I:L/A:N', '3.1', 6.1],
    ['CVSS:3.1/AV:L/AC:L/PR:L/UI:N/S:U/C:N/I:N/A:H', '3.1', 5.5],
    ['CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:L/I:N/A:N', '3.1', 5.3],
    ['CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:N', '3.1', 0],
    // Temporal metrics do not change the base score.
    ['CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H/E:U/RL:O', '3.1', 9.8],
    ['CVSS:3.0/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H', '3.0', 9.8],
    ['CVSS:3.0/AV:N/AC:H/PR:N/UI:N/S:U/C:L/I:L/A:N', '3.0', 4.8],
    ['CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N', '4.0', 9.3],
    ['CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:H/SI:H/SA:H', '4.0', 10],
    ['CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:N/VI:N/VA:H/SC:N/SI:N/SA:N', '4.0', 8.7],
    ['CVSS:4.0/AV:N/AC:L/AT:P/PR:N/UI:N/VC:N/VI:N/VA:H/SC:N/SI:N/SA:N', '4.0', 8.2],
    ['CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:N/VI:N/VA:L/SC:N/SI:N/SA:N', '4.0', 6.9],
    ['CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:N/VI:N/VA:N/SC:N/SI:N/SA:N', '4.0', 0],
    ['AV:N/AC:L/Au:N/C:P/I:P/A:P', '2.0', 7.5],
    ['AV:N/AC:M/Au:N/C:N/I:P/A:N', '2.0', 4.3],
    ['(AV:N/AC:L/Au:N/C:C/I:C/A:C)', '2.0', 10],
  ])('%s scores %s', (vector, version, score) => {
    expect(cvssScore(vector)).toEqual({ version, vector, score });
  });

  it.each([
    ['missing a base metric', 'CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H'],
    ['an unknown metric', 'CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H/ZZ:Q'],
    ['an unknown value', 'CVSS:3.1/AV:Q/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H'],
    ['a v3 vector labelled v4', 'CVSS:4.0/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H'],
    ['an unknown version', 'CVSS:5.0/AV:N'],
    ['not a vector', 'garbage'],
    ['empty', ''],
  ])('is undefined for %s', (_, vector) => {
    expect(cvssScore(vector)).toBeUndefined();
  });
});

describe('levels', () => {
  it.each([
    [10, 'CRITICAL'],
    [9.0, 'CRITICAL'],
    [8.9, 'HIGH'],
    [7.0, 'HIGH'],
    [6.9, 'MEDIUM'],
    [4.0, 'MEDIUM'],
    [3.9, 'LOW'],
    [0.1, 'LOW'],
    [0, 'LOW'],
  ] as const)('score %s is %s', (score, level) => {
    expect(levelForScore(score)).toBe(level);
  });

  it('CVSS v2 knows no CRITICAL', () => {
    expect(levelForScore(10, '2.0')).toBe('HIGH');
  });

  it.each([
    ['CRITICAL', 'CRITICAL'],
    ['HIGH', 'HIGH'],
    ['Important', 'HIGH'],
    ['MODERATE', 'MEDIUM'],
    ['medium', 'MEDIUM'],
    ['LOW', 'LOW'],
    ['negligible', 'LOW'],
    ['unimportant', 'LOW'],
    ['untriaged', 'UNKNOWN'],
    ['', 'UNKNOWN'],
  ] as const)('label %s is %s', (label, level) => {
    expect(levelForLabel(label)).toBe(level);
  });
});

describe('severityOf', () => {
  it('takes the latest CVSS version present, keeping every score', () => {
    const s = severityOf(
      record({
        severity: [
          { type: 'CVSS_V3', score: 'CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H' },
          { type: 'CVSS_V4', score: 'CVSS:4.0/AV:N/AC:L/AT:P/PR:N/UI:N/VC:N/VI:N/VA:H/SC:N/SI:N/SA:N' },
          { type: 'CVSS_V2', score: 'AV:N/AC:L/Au:N/C:C/I:C/A:C' },
        ],
      }),
    );
    expect(s).toMatchObject({ level: 'HIGH', source: 'cvss', cvss: { version: '4.0', score: 8.2 } });
    expect(s.scores.map((x) => x.version)).toEqual(['3.1', '4.0', '2.0']);
  });

  it('prefers v3.1 to v3.0 and v3 to v2; of one version the highest score', () => {
    const v3 = severityOf(record({ severity: [{ type: 'CVSS_V3', score: 'CVSS:3.0/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H' }, { type: 'CVSS_V3', score: 'CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:H' }] }));
    expect(v3.cvss).toMatchObject({ version: '3.1', score: 7.5 });
    const v2 = severityOf(record({ severity: [{ type: 'CVSS_V2', score: 'AV:N/AC:L/Au:N/C:C/I:C/A:C' }, { type: 'CVSS_V3', score: 'CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:L/I:N/A:N' }] }));
    expect(v2).toMatchObject({ level: 'MEDIUM', cvss: { version: '3.1', score: 5.3 } });
    const two = severityOf(record({ severity: [{ type: 'CVSS_V3', score: 'CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:L/I:N/A:N' }, { type: 'CVSS_V3', score: 'CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H' }] }));
    expect(two.cvss?.score).toBe(9.8);
  });

  it("uses the matched affected entries' severity in place of the record's", () => {
    const affected = [{ package: { ecosystem: 'npm', name: 'a' }, severity: [{ type: 'CVSS_V3', score: 'CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:L/I:N/A:N' }] }];
    const r = record({ severity: [{ type: 'CVSS_V3', score: 'CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H' }], affected });
    expect(severityOf(r, affected).level).toBe('MEDIUM');
    expect(severityOf(r).level).toBe('CRITICAL');
  });

  it("without a usable vector, takes a database's rating: the entry's own, then the record's", () => {
    expect(severityOf(record({ database_specific: { severity: 'MODERATE' } }))).toMatchObject({ level: 'MEDIUM', source: 'label', label: 'MODERATE' });
    expect(severityOf(record({ ecosystem_specific: { severity: 'HIGH' } })).level).toBe('HIGH');
    const affected = [{ package: { ecosystem: 'Debian:12', name: 'a' }, ecosystem_specific: { severity: 'low' } }];
    expect(severityOf(record({ database_specific: { severity: 'CRITICAL' }, affected }), affected).level).toBe('LOW');
    expect(severityOf(record({ severity: [{ type: 'Ubuntu', score: 'medium' }] }))).toMatchObject({ level: 'MEDIUM', source: 'label' });
    expect(severityOf(record({ severity: [{ type: 'CVSS_V3', score: 'broken' }], database_specific: { severity: 'HIGH' } })).level).toBe('HIGH');
  });

  it('is UNKNOWN with neither (and ignores ratings it cannot read)', () => {
    expect(severityOf(record({}))).toEqual({ level: 'UNKNOWN', source: 'none', scores: [] });
    expect(severityOf(record({ database_specific: { severity: 'whatever' } })).level).toBe('UNKNOWN');
    expect(severityOf(record({ database_specific: 'HIGH' })).level).toBe('UNKNOWN');
  });

  describe('on real crates.io and GitHub records', () => {
    let crates: Map<string, OsvRecord>;
    let npm: Map<string, OsvRecord>;
    beforeAll(async () => {
      crates = await readZip(CRATES_ZIP);
      npm = await readZip(NPM_ZIP);
    });

    it.each([
      ['RUSTSEC-2019-0014', '3.1', 9.8, 'CRITICAL'],
      ['RUSTSEC-2019-0003', '3.1', 7.5, 'HIGH'],
      ['RUSTSEC-2020-0017', '3.1', 8.1, 'HIGH'],
      ['RUSTSEC-2017-0004', '3.0', 9.8, 'CRITICAL'],
      ['RUSTSEC-2016-0002', '3.0', 4.8, 'MEDIUM'],
      ['RUSTSEC-2026-0037', '4.0', 8.7, 'HIGH'],
      ['RUSTSEC-2026-0025', '4.0', 8.2, 'HIGH'],
      ['RUSTSEC-2026-0178', '4.0', 6.9, 'MEDIUM'],
      ['RUSTSEC-2026-0023', '4.0', 0, 'LOW'],
    ])('%s: CVSS %s %s, %s', (id, version, score, level) => {
      const r = crates.get(id)!;
      expect(severityOf(r, r.affected ?? [])).toMatchObject({ level, source: 'cvss', cvss: { version, score } });
    });

    it('every vector in the crates.io database can be scored; records without one are UNKNOWN', () => {
      let scored = 0;
      for (const r of crates.values()) {
        const vectors = (r.severity ?? []).filter((s) => s.type.startsWith('CVSS_'));
        const s = severityOf(r, r.affected ?? []);
        expect(s.scores).toHaveLength(vectors.length);
        if (vectors.length > 0) scored++;
        else expect(s.level).toBe('UNKNOWN');
      }
      expect(scored).toBe(417);
    });

    it("GitHub's MODERATE rating is MEDIUM when the record has no vector", () => {
      const r = npm.get('GHSA-c2qf-rxjj-qqgw')!;
      expect(r.database_specific).toMatchObject({ severity: 'MODERATE' });
      expect(severityOf({ ...r, severity: [] })).toMatchObject({ level: 'MEDIUM', source: 'label' });
      expect(severityOf(r).source).toBe('cvss');
    });
  });
});
