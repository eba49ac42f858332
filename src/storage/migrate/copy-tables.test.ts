import { describe, expect, it } from 'vitest';
import { sameValue } from './copy-tables.js';

describe('sameValue (a SQLite value against the PostgreSQL copy of it)', () => {
  it('matches numbers whichever way the driver returns them, bytes by content, and nulls', () => {
    expect(sameValue(5, 5)).toBe(true);
    expect(sameValue(5, 5n)).toBe(true);
    expect(sameValue(1700000000000, '1700000000000')).toBe(true);
    expect(sameValue(Buffer.from('ab'), Buffer.from('ab'))).toBe(true);
    expect(sameValue(null, undefined)).toBe(true);
    expect(sameValue('acme', 'acme')).toBe(true);
  });

  it('tells different values apart', () => {
    expect(sameValue(5, 6)).toBe(false);
    expect(sameValue('acme', 'other')).toBe(false);
    expect(sameValue(Buffer.from('ab'), Buffer.from('ac'))).toBe(false);
    expect(sameValue(Buffer.from('ab'), 'ab')).toBe(false);
    expect(sameValue(null, 0)).toBe(false);
    expect(sameValue('', null)).toBe(false);
  });
});
