/**
 * Five-field cron expressions (minute hour day-of-month month day-of-week),
 * in UTC, as crontab(5) reads them: `*`, numbers, ranges `a-b`, steps `*\/n`
 * and `a-b/n`, lists `a,b`, month and weekday names (`jan`, `mon`), 0 or 7 for
 * Sunday, and the shorthands @yearly @monthly @weekly @daily @hourly. When both
 * day fields are restricted, a day matches if either does (Vixie cron).
 *
 * Small enough to keep here rather than take a dependency for: parsing and
 * finding the next run are all a schedule needs.
 */

export interface CronSchedule {
  /** The expression as given. */
  readonly source: string;
  readonly minutes: ReadonlySet<number>;
  readonly hours: ReadonlySet<number>;
  readonly days: ReadonlySet<number>;
  readonly months: ReadonlySet<number>;
  /** 0 (Sunday) to 6. */
  readonly weekdays: ReadonlySet<number>;
  readonly daysRestricted: boolean;
  readonly weekdaysRestricted: boolean;
}

const SHORTHANDS: Record<string, string> = {
  '@yearly': '0 0 1 1 *',
  '@annually': '0 0 1 1 *',
  '@monthly': '0 0 1 * *',
  '@weekly': '0 0 * * 0',
  '@daily': '0 0 * * *',
  '@midnight': '0 0 * * *',
  '@hourly': '0 * * * *',
};
const MONTHS = ['jan', 'feb', 'mar', 'apr', 'may', 'jun', 'jul', 'aug', 'sep', 'oct', 'nov', 'dec'];
const WEEKDAYS = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'];

interface FieldSpec {
  name: string;
  min: number;
  max: number;
  names?: string[];
  /** What the first name stands for (1 for months, 0 for weekdays). */
  namesFrom?: number;
}

const FIELDS: FieldSpec[] = [
  { name: 'minute', min: 0, max: 59 },
  { name: 'hour', min: 0, max: 23 },
  { name: 'day of month', min: 1, max: 31 },
  { name: 'month', min: 1, max: 12, names: MONTHS, namesFrom: 1 },
  { name: 'day of week', min: 0, max: 7, names: WEEKDAYS, namesFrom: 0 },
];

/** Parses an expression; throws an Error saying what is wrong. */
export function parseCron(expression: string): CronSchedule {
  const text = expression.trim().toLowerCase();
  const expanded = SHORTHANDS[text] ?? text;
  if (expanded.startsWith('@')) throw new Error(`unknown cron shorthand ${expression}; use ${Object.keys(SHORTHANDS).join(', ')}`);
  const parts = expanded.split(/\s+/);
  if (parts.length !== 5) throw new Error(`a cron schedule has 5 fields (minute hour day-of-month month day-of-week), not ${parts.length}: "${expression}"`);
  const sets = parts.map((part, i) => parseField(part, FIELDS[i]!));
  const weekdays = new Set([...sets[4]!].map((d) => d % 7));
  const schedule: CronSchedule = {
    source: expression,
    minutes: sets[0]!,
    hours: sets[1]!,
    days: sets[2]!,
    months: sets[3]!,
    weekdays,
    daysRestricted: !parts[2]!.startsWith('*'),
    weekdaysRestricted: !parts[4]!.startsWith('*'),
  };
  // Every day of the year is tried over 28 years (the calendar's full cycle): a schedule that never fires is refused here.
  if (nextRun(schedule, Date.UTC(2000, 0, 1), 28) === undefined) throw new Error(`cron schedule "${expression}" never runs (no such date)`);
  return schedule;
}

function parseField(part: string, spec: FieldSpec): Set<number> {
  const out = new Set<number>();
  for (const item of part.split(',')) {
    const [range, stepText] = item.split('/') as [string, string | undefined];
    if (item.split('/').length > 2) throw fieldError(spec, item);
    const step = stepText === undefined ? 1 : Number(stepText);
    if (!Number.isInteger(step) || step < 1 || !/^\d+$/.test(stepText ?? '1')) throw fieldError(spec, item, 'the step must be a positive whole number');
    let from: number;
    let to: number;
    if (range === '*') {
      from = spec.min;
      to = spec.name === 'day of week' ? 6 : spec.max;
    } else if (range.includes('-')) {
      const [a, b] = range.split('-');
      if (range.split('-').length !== 2) throw fieldError(spec, item);
      from = value(a!, spec, item);
      to = value(b!, spec, item);
      if (to < from) throw fieldError(spec, item, `${a}-${b} runs backwards`);
    } else {
      from = value(range, spec, item);
      // `5/15` means from 5 to the end, every 15.
      to = stepText === undefined ? from : spec.max;
    }
    for (let v = from; v <= to; v += step) out.add(v);
  }
  return out;
}

function value(text: string, spec: FieldSpec, item: string): number {
  const named = spec.names?.indexOf(text) ?? -1;
  const n = named >= 0 ? named + spec.namesFrom! : /^\d+$/.test(text) ? Number(text) : NaN;
  if (!Number.isInteger(n) || n < spec.min || n > spec.max) throw fieldError(spec, item, `${text} is not a ${spec.name} (${spec.min}-${spec.max}${spec.names ? ` or ${spec.names[0]}-${spec.names.at(-1)}` : ''})`);
  return n;
}

function fieldError(spec: FieldSpec, item: string, why?: string): Error {
  return new Error(`bad ${spec.name} field "${item}"${why ? `: ${why}` : ''}`);
}

const MINUTE = 60_000;

function dayMatches(s: CronSchedule, d: Date): boolean {
  const dom = s.days.has(d.getUTCDate());
  const dow = s.weekdays.has(d.getUTCDay());
  if (s.daysRestricted && s.weekdaysRestricted) return dom || dow;
  if (s.daysRestricted) return dom;
  if (s.weekdaysRestricted) return dow;
  return true;
}

/**
 * The first minute the schedule fires strictly after `after` (epoch ms), or
 * undefined when none comes within `withinYears`. Skips whole months, days
 * and hours that cannot match, so a search costs a few hundred steps at most.
 */
export function nextRun(s: CronSchedule, after: number, withinYears = 5): number | undefined {
  const d = new Date(Math.floor(after / MINUTE) * MINUTE + MINUTE);
  const limit = Date.UTC(d.getUTCFullYear() + withinYears, d.getUTCMonth(), d.getUTCDate());
  while (d.getTime() <= limit) {
    if (!s.months.has(d.getUTCMonth() + 1)) {
      d.setUTCMonth(d.getUTCMonth() + 1, 1);
      d.setUTCHours(0, 0, 0, 0);
      continue;
    }
    if (!dayMatches(s, d)) {
      d.setUTCDate(d.getUTCDate() + 1);
      d.setUTCHours(0, 0, 0, 0);
      continue;
    }
    if (!s.hours.has(d.getUTCHours())) {
      d.setUTCHours(d.getUTCHours() + 1, 0, 0, 0);
      continue;
    }
    if (!s.minutes.has(d.getUTCMinutes())) {
      d.setUTCMinutes(d.getUTCMinutes() + 1, 0, 0);
      continue;
    }
    return d.getTime();
  }
  return undefined;
}
