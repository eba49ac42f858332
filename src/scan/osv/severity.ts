import { createRequire } from 'node:module';
import type { OsvAffected, OsvRecord, OsvSeverity } from './record.js';

type Calculator = typeof import('ae-cvss-calculator');
let calculator: Calculator | undefined;
/**
 * The CVSS calculator (one CommonJS bundle, ~4.5 MiB in memory), loaded on the
 * first vector scored rather than at start: a server that never imports vulnerability
 * data never needs it.
 */
function cvss(): Calculator {
  return (calculator ??= createRequire(import.meta.url)('ae-cvss-calculator') as Calculator);
}

/**
 * How bad a vulnerability is, in the buckets reports sort and filter by.
 * CVSS 0.0 ("None") is reported as LOW: the record still says the package is
 * affected, and hiding it would make a finding disappear from reports.
 */
export type SeverityLevel = 'CRITICAL' | 'HIGH' | 'MEDIUM' | 'LOW' | 'UNKNOWN';

/** Most severe first. */
export const SEVERITY_LEVELS: readonly SeverityLevel[] = ['CRITICAL', 'HIGH', 'MEDIUM', 'LOW', 'UNKNOWN'];

export type CvssVersion = '2.0' | '3.0' | '3.1' | '4.0';

export interface CvssScore {
  version: CvssVersion;
  vector: string;
  /**
   * The score of the vector as published: the base score for v2 and v3 (temporal
   * and environmental metrics ignored), and for v4 the score of all the metrics
   * the vector carries (CVSS-B, or CVSS-BT… when threat metrics are given).
   */
  score: number;
}

export interface Severity {
  level: SeverityLevel;
  /** Where the level comes from: a CVSS vector, a database's own rating, or nothing. */
  source: 'cvss' | 'label' | 'none';
  /** The score the level comes from (source `cvss`). */
  cvss?: CvssScore;
  /** The rating as the database wrote it (source `label`: `MODERATE`, `medium`, …). */
  label?: string;
  /** Every CVSS vector of the record that could be scored, for reports that show them all. */
  scores: CvssScore[];
}

/** Later versions first: a database that took the trouble to score v4 (or v3.1) meant that one. */
const VERSION_PREFERENCE: readonly CvssVersion[] = ['4.0', '3.1', '3.0', '2.0'];

/** `a` before `b` when `a` is more severe; for sorting findings. */
export function compareSeverity(a: SeverityLevel, b: SeverityLevel): number {
  return SEVERITY_LEVELS.indexOf(a) - SEVERITY_LEVELS.indexOf(b);
}

/** CVSS v3/v4 qualitative rating (v3.1 spec §5), with 0.0 reported as LOW. */
export function levelForScore(score: number, version: CvssVersion = '3.1'): SeverityLevel {
  if (Number.isNaN(score)) return 'UNKNOWN';
  // CVSS v2 has no Critical: NVD rates 7.0–10.0 High.
  if (score >= 9.0 && version !== '2.0') return 'CRITICAL';
  if (score >= 7.0) return 'HIGH';
  if (score >= 4.0) return 'MEDIUM';
  return 'LOW';
}

/**
 * A database's own rating as a level: GitHub's LOW/MODERATE/HIGH/CRITICAL, Ubuntu's
 * priorities (negligible … critical), Debian's urgencies, Red Hat's Important.
 */
export function levelForLabel(label: string): SeverityLevel {
  switch (label.trim().toLowerCase()) {
    case 'critical':
      return 'CRITICAL';
    case 'high':
    case 'important':
      return 'HIGH';
    case 'moderate':
    case 'medium':
      return 'MEDIUM';
    case 'low':
    case 'negligible':
    case 'unimportant':
    case 'minor':
    case 'none':
      return 'LOW';
    default:
      return 'UNKNOWN';
  }
}

/** The score of a CVSS v2, v3.0, v3.1 or v4.0 vector; undefined when it is malformed or lacks a base metric. */
export function cvssScore(vector: string): CvssScore | undefined {
  const v = vector.trim();
  const version = cvssVersionOf(v);
  if (!version) return undefined;
  try {
    const calculator =
      version === '4.0' ? new (cvss().Cvss4P0)(v) : version === '3.1' ? new (cvss().Cvss3P1)(v) : version === '3.0' ? new (cvss().Cvss3P0)(v) : new (cvss().Cvss2)(v);
    if (!calculator.isBaseFullyDefined()) return undefined;
    const score = calculator.calculateScores().base;
    return typeof score === 'number' && Number.isFinite(score) ? { version, vector: v, score } : undefined;
  } catch {
    return undefined; // unknown metric or value
  }
}

function cvssVersionOf(vector: string): CvssVersion | undefined {
  if (vector.startsWith('CVSS:4.0/')) return '4.0';
  if (vector.startsWith('CVSS:3.1/')) return '3.1';
  if (vector.startsWith('CVSS:3.0/')) return '3.0';
  // v2 vectors carry no prefix (`AV:N/AC:L/Au:N/C:P/I:P/A:P`), sometimes in parentheses.
  if (/^\(?AV:[LAN]\/AC:[HML]\/Au:[MSN]\//.test(vector)) return '2.0';
  return undefined;
}

/**
 * The severity of `record` for a package, from the affected entries that
 * matched it (`affected`; their own `severity` replaces the record's, as the
 * schema says). In order:
 * 1. a CVSS vector: the latest CVSS version present (4.0, then 3.1, 3.0, 2.0),
 *    and of several of that version the highest score;
 * 2. a database's rating: the `Ubuntu` severity type, then `severity` in the
 *    matched entries' `ecosystem_specific` or `database_specific`, then in the
 *    record's `ecosystem_specific` or `database_specific` (GitHub's MODERATE is MEDIUM);
 * 3. UNKNOWN (the Go database, for one, rates nothing).
 */
export function severityOf(record: OsvRecord, affected: readonly OsvAffected[] = []): Severity {
  const entries = affected.flatMap((a) => a.severity ?? []);
  const published: OsvSeverity[] = entries.length > 0 ? entries : (record.severity ?? []);
  const scores = published.flatMap((s) => {
    const scored = isCvssType(s.type) ? cvssScore(s.score) : undefined;
    return scored ? [scored] : [];
  });
  const best = preferredScore(scores);
  if (best) return { level: levelForScore(best.score, best.version), source: 'cvss', cvss: best, scores };

  const labels = [
    ...published.filter((s) => s.type === 'Ubuntu').map((s) => s.score),
    ...affected.flatMap((a) => [severityField(a.ecosystem_specific), severityField(a.database_specific)]),
    severityField(record.ecosystem_specific),
    severityField(record.database_specific),
  ];
  for (const label of labels) {
    if (label === undefined) continue;
    const level = levelForLabel(label);
    if (level !== 'UNKNOWN') return { level, source: 'label', label, scores };
  }
  return { level: 'UNKNOWN', source: 'none', scores };
}

function isCvssType(type: string): boolean {
  return type === 'CVSS_V2' || type === 'CVSS_V3' || type === 'CVSS_V4';
}

function preferredScore(scores: readonly CvssScore[]): CvssScore | undefined {
  for (const version of VERSION_PREFERENCE) {
    const of = scores.filter((s) => s.version === version);
    if (of.length > 0) return of.reduce((a, b) => (b.score > a.score ? b : a));
  }
  return undefined;
}

/** `severity` of an `ecosystem_specific` / `database_specific` object, when it is a string. */
function severityField(blob: unknown): string | undefined {
  if (!blob || typeof blob !== 'object' || Array.isArray(blob)) return undefined;
  const value = (blob as Record<string, unknown>).severity;
  return typeof value === 'string' && value.trim() !== '' ? value : undefined;
}
