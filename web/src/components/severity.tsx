/** Vulnerability severities, worst first, as the API names them. */
export const SEVERITIES = ['critical', 'high', 'medium', 'low', 'unknown'] as const;
export type Severity = (typeof SEVERITIES)[number];

export interface SeveritySummary {
  critical: number;
  high: number;
  medium: number;
  low: number;
  unknown: number;
  total: number;
}

const LABEL: Record<Severity | 'none', string> = { critical: 'Critical', high: 'High', medium: 'Medium', low: 'Low', unknown: 'Unknown', none: 'None' };

export function severityLabel(severity: string): string {
  return LABEL[severity.toLowerCase() as Severity] ?? severity;
}

/** A coloured label; the colour is never the only cue (the word is always there). */
export function SeverityBadge({ severity }: { severity: string }) {
  const key = severity.toLowerCase();
  return <span className={`badge severity-${key}`}>{severityLabel(key)}</span>;
}

/** "2 Critical · 5 High …", or "No known vulnerabilities". */
export function SeverityCounts({ summary }: { summary: SeveritySummary }) {
  if (summary.total === 0) return <span className="muted">No known vulnerabilities</span>;
  return (
    <span className="severity-counts">
      {SEVERITIES.filter((s) => summary[s] > 0).map((s) => (
        <span key={s} className={`badge severity-${s}`}>
          {summary[s]} {LABEL[s]}
        </span>
      ))}
    </span>
  );
}

/** The worst severity present in a summary, or 'none'. */
export function worstOf(summary: SeveritySummary): Severity | 'none' {
  return SEVERITIES.find((s) => summary[s] > 0) ?? 'none';
}
