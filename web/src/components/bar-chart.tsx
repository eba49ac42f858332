/**
 * Horizontal bars with their labels and values written out: readable without
 * colour, and the numbers are text (screen readers read them as a list).
 */
export interface Bar {
  label: string;
  value: number;
  /** A CSS class for the bar's colour, e.g. `severity-high`. */
  tone?: string;
}

export function BarChart({ bars, format = (v) => v.toLocaleString('en-US'), title }: { bars: Bar[]; format?: (value: number) => string; title: string }) {
  const max = Math.max(1, ...bars.map((b) => b.value));
  return (
    <figure className="bar-chart">
      <figcaption>{title}</figcaption>
      <ul>
        {bars.map((bar) => (
          <li key={bar.label}>
            <span className="bar-label">{bar.label}</span>
            <span className="bar-track" aria-hidden="true">
              <span className={`bar-fill ${bar.tone ?? ''}`} style={{ width: `${(bar.value / max) * 100}%` }} />
            </span>
            <span className="bar-value">{format(bar.value)}</span>
          </li>
        ))}
      </ul>
    </figure>
  );
}
