import { formatBytes } from '../format';

/** Storage used against a limit (none: unlimited). Turns amber at 80 % and red at 100 %. */
export function UsageBar({ used, limit, label }: { used: number; limit: number | null; label: string }) {
  if (limit === null || limit <= 0) {
    return (
      <div className="usage">
        <span>{formatBytes(used)}</span> <span className="muted">of unlimited</span>
      </div>
    );
  }
  const ratio = used / limit;
  const percent = Math.min(100, Math.round(ratio * 100));
  const level = ratio >= 1 ? 'full' : ratio >= 0.8 ? 'warn' : 'ok';
  return (
    <div className="usage">
      <div className={`bar bar-${level}`} role="meter" aria-label={label} aria-valuemin={0} aria-valuemax={limit} aria-valuenow={Math.min(used, limit)} aria-valuetext={`${formatBytes(used)} of ${formatBytes(limit)} (${percent} %)`}>
        <span style={{ width: `${percent}%` }} />
      </div>
      <span className="usage-text">
        {formatBytes(used)} of {formatBytes(limit)} ({percent} %)
      </span>
    </div>
  );
}
