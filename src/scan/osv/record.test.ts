import { describe, expect, it } from 'vitest';
import { isWithdrawn, parseOsvRecord } from './record.js';

const minimal = { id: 'GHSA-aaaa-bbbb-cccc', modified: '2024-01-02T03:04:05Z' };

describe('parseOsvRecord', () => {
  it('accepts the smallest record the schema allows: id and modified', () => {
    expect(parseOsvRecord(minimal)).toEqual({ ok: true, record: minimal });
  });

  it('keeps fields it does not know, at every level', () => {
    const value = {
      ...minimal,
      schema_version: '1.7.0',
      upstream: ['CVE-2024-1'],
      future_field: { x: 1 },
      affected: [
        {
          package: { ecosystem: 'npm', name: 'left-pad', purl: 'pkg:npm/left-pad', extra: true },
          ranges: [{ type: 'SEMVER', events: [{ introduced: '0' }, { fixed: '1.0.1' }], database_specific: { source: 'x' } }],
          ecosystem_specific: 'not an object: still accepted',
          newer: [1, 2],
        },
      ],
    };
    const parsed = parseOsvRecord(value);
    expect(parsed.ok).toBe(true);
    expect(parsed.ok && parsed.record).toEqual(value);
  });

  it('tolerates null where a field is optional', () => {
    const parsed = parseOsvRecord({ ...minimal, aliases: null, severity: null, withdrawn: null, affected: [{ package: { ecosystem: 'Go', name: 'x' }, ranges: null, versions: null }] });
    expect(parsed.ok).toBe(true);
    expect(parsed.ok && isWithdrawn(parsed.record)).toBe(false);
  });

  it('accepts affected entries without a package (GIT-only ranges of a repository)', () => {
    const parsed = parseOsvRecord({ ...minimal, affected: [{ ranges: [{ type: 'GIT', repo: 'https://example.com/r.git', events: [{ introduced: 'abc' }] }] }] });
    expect(parsed.ok).toBe(true);
  });

  it.each([
    ['no id', { modified: minimal.modified }, /id/],
    ['empty id', { ...minimal, id: '' }, /id/],
    ['no modified', { id: 'X-1' }, /modified/],
    ['modified not a time', { ...minimal, modified: 'yesterday' }, /modified: must be an RFC 3339 time stamp/],
    ['affected not a list', { ...minimal, affected: {} }, /affected/],
    ['package without a name', { ...minimal, affected: [{ package: { ecosystem: 'npm' } }] }, /affected\.0\.package\.name/],
    ['event value not a string', { ...minimal, affected: [{ package: { ecosystem: 'npm', name: 'a' }, ranges: [{ type: 'SEMVER', events: [{ fixed: 1 }] }] }] }, /events\.0\.fixed/],
    ['a NUL in a package name', { ...minimal, affected: [{ package: { ecosystem: 'npm', name: 'a\u0000b' } }] }, /NUL/],
    ['not an object', 'GHSA-1', /not an OSV record/],
  ])('rejects %s, saying where', (_, value, reason) => {
    const parsed = parseOsvRecord(value);
    expect(parsed.ok).toBe(false);
    expect(!parsed.ok && parsed.reason).toMatch(reason);
  });

  it('a record with a withdrawn time is withdrawn', () => {
    const parsed = parseOsvRecord({ ...minimal, withdrawn: '2024-02-01T00:00:00Z' });
    expect(parsed.ok && isWithdrawn(parsed.record)).toBe(true);
  });
});
