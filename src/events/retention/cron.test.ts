import { describe, expect, it } from 'vitest';
import { nextRun, parseCron } from './cron.js';

const at = (iso: string) => Date.parse(iso);
const next = (expression: string, after: string) => new Date(nextRun(parseCron(expression), at(after))!).toISOString();

describe('parseCron', () => {
  it('reads numbers, ranges, steps, lists, names and shorthands', () => {
    const s = parseCron('*/15 9-17 1,15 jan-mar mon-fri');
    expect([...s.minutes]).toEqual([0, 15, 30, 45]);
    expect([...s.hours]).toEqual([9, 10, 11, 12, 13, 14, 15, 16, 17]);
    expect([...s.days]).toEqual([1, 15]);
    expect([...s.months]).toEqual([1, 2, 3]);
    expect([...s.weekdays]).toEqual([1, 2, 3, 4, 5]);
    expect([...parseCron('0 0 * * 7').weekdays]).toEqual([0]);
    expect([...parseCron('5/20 * * * *').minutes]).toEqual([5, 25, 45]);
    expect([...parseCron('10-30/10 * * * *').minutes]).toEqual([10, 20, 30]);
    expect(parseCron('@daily').minutes).toEqual(parseCron('0 0 * * *').minutes);
    expect([...parseCron('@weekly').weekdays]).toEqual([0]);
  });

  it('refuses what is not a schedule, saying why', () => {
    expect(() => parseCron('* * * *')).toThrow(/5 fields/);
    expect(() => parseCron('60 * * * *')).toThrow(/bad minute field "60": 60 is not a minute \(0-59\)/);
    expect(() => parseCron('* 24 * * *')).toThrow(/hour/);
    expect(() => parseCron('* * 0 * *')).toThrow(/day of month/);
    expect(() => parseCron('* * * 13 *')).toThrow(/month/);
    expect(() => parseCron('* * * * 8')).toThrow(/day of week/);
    expect(() => parseCron('*/0 * * * *')).toThrow(/step/);
    expect(() => parseCron('30-10 * * * *')).toThrow(/backwards/);
    expect(() => parseCron('1,,2 * * * *')).toThrow(/minute/);
    expect(() => parseCron('@often')).toThrow(/shorthand/);
    expect(() => parseCron('0 0 30 feb *')).toThrow(/never runs/);
  });
});

describe('nextRun', () => {
  it('is strictly after the given time, at a whole minute, in UTC', () => {
    expect(next('0 0 * * *', '2025-03-04T00:00:00Z')).toBe('2025-03-05T00:00:00.000Z');
    expect(next('0 0 * * *', '2025-03-04T23:59:59.999Z')).toBe('2025-03-05T00:00:00.000Z');
    expect(next('* * * * *', '2025-03-04T10:20:30Z')).toBe('2025-03-04T10:21:00.000Z');
    expect(next('30 3 * * *', '2025-03-04T03:29:00Z')).toBe('2025-03-04T03:30:00.000Z');
  });

  it('crosses hours, days, months and years', () => {
    expect(next('15 */6 * * *', '2025-03-04T18:16:00Z')).toBe('2025-03-05T00:15:00.000Z');
    expect(next('0 12 31 * *', '2025-04-01T00:00:00Z')).toBe('2025-05-31T12:00:00.000Z');
    expect(next('0 0 1 1 *', '2025-06-01T00:00:00Z')).toBe('2026-01-01T00:00:00.000Z');
    expect(next('0 0 29 2 *', '2025-03-01T00:00:00Z')).toBe('2028-02-29T00:00:00.000Z');
  });

  it('matches either day field when both are restricted, as Vixie cron', () => {
    // The 13th, or any Friday: from Monday 2025-06-02, Friday the 6th comes first.
    expect(next('0 0 13 * fri', '2025-06-02T00:00:00Z')).toBe('2025-06-06T00:00:00.000Z');
    expect(next('0 0 13 * fri', '2025-06-10T00:00:00Z')).toBe('2025-06-13T00:00:00.000Z');
    // Only the weekday restricted: Mondays.
    expect(next('0 9 * * mon', '2025-06-03T00:00:00Z')).toBe('2025-06-09T09:00:00.000Z');
  });
});
