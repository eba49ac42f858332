import { useEffect, useId, useRef, useState } from 'react';

/**
 * A line over time, drawn in SVG at the width it is given (it follows its
 * container). The picture is one image with a summary for screen readers; the
 * figures themselves are in a visually hidden table below it.
 */
export interface LinePoint {
  /** What the point is (a date); written under the axis and in the table. */
  label: string;
  value: number;
}

const HEIGHT = 220;
const PAD = { top: 14, right: 16, bottom: 30, left: 72 };

/** 1, 2, 2.5, 5 × 10^n at or above `value`: a round top for the axis. */
function niceCeiling(value: number): number {
  if (value <= 0) return 1;
  const magnitude = 10 ** Math.floor(Math.log10(value));
  for (const step of [1, 2, 2.5, 5, 10]) if (step * magnitude >= value) return step * magnitude;
  return 10 * magnitude;
}

/** Ticks for byte figures land on round binary amounts when the format is binary; otherwise on round decimals. */
function axisTop(max: number, binary: boolean): number {
  if (!binary || max < 1024) return niceCeiling(max);
  const unit = 1024 ** Math.floor(Math.log(max) / Math.log(1024));
  return niceCeiling(max / unit) * unit;
}

export function LineChart({
  points,
  title,
  format = (v) => v.toLocaleString('en-US'),
  valueLabel = 'Value',
  pointLabel = 'Date',
  binary = false,
  summary,
}: {
  points: LinePoint[];
  title: string;
  format?: (value: number) => string;
  /** Column headings of the data table. */
  valueLabel?: string;
  pointLabel?: string;
  /** Round the axis to powers of 1024 (byte figures). */
  binary?: boolean;
  /** What the image says to screen readers; by default first, last and highest point. */
  summary?: string;
}) {
  const ref = useRef<HTMLDivElement>(null);
  const [width, setWidth] = useState(640);
  const captionId = useId();
  useEffect(() => {
    const element = ref.current;
    if (!element || typeof ResizeObserver === 'undefined') return;
    const observer = new ResizeObserver((entries) => {
      const next = Math.floor(entries[0]?.contentRect.width ?? 0);
      if (next > 0) setWidth(next);
    });
    observer.observe(element);
    return () => observer.disconnect();
  }, []);

  if (points.length === 0) {
    return (
      <figure className="line-chart">
        <figcaption>{title}</figcaption>
        <p className="muted">No figures yet.</p>
      </figure>
    );
  }

  const values = points.map((p) => p.value);
  const max = Math.max(...values);
  const top = axisTop(max, binary);
  const innerW = Math.max(40, width - PAD.left - PAD.right);
  const innerH = HEIGHT - PAD.top - PAD.bottom;
  const x = (i: number) => PAD.left + (points.length === 1 ? innerW / 2 : (i / (points.length - 1)) * innerW);
  const y = (v: number) => PAD.top + innerH - (v / top) * innerH;
  const line = points.map((p, i) => `${i === 0 ? 'M' : 'L'}${x(i).toFixed(1)},${y(p.value).toFixed(1)}`).join(' ');
  const area = `${line} L${x(points.length - 1).toFixed(1)},${(PAD.top + innerH).toFixed(1)} L${x(0).toFixed(1)},${(PAD.top + innerH).toFixed(1)} Z`;
  const ticks = [0, 0.25, 0.5, 0.75, 1].map((f) => f * top);
  // First and last labels always; one in the middle when there is room.
  const labelled = new Set([0, points.length - 1]);
  if (points.length > 2 && innerW > 320) labelled.add(Math.floor((points.length - 1) / 2));
  const first = points[0]!;
  const last = points[points.length - 1]!;
  const peak = points.reduce((a, b) => (b.value > a.value ? b : a));
  const said =
    summary ??
    (points.length === 1
      ? `${title}: ${format(first.value)} on ${first.label}.`
      : `${title}: ${format(first.value)} on ${first.label}, ${format(last.value)} on ${last.label}; highest ${format(peak.value)} on ${peak.label}.`);

  return (
    <figure className="line-chart" aria-labelledby={captionId}>
      <figcaption id={captionId}>{title}</figcaption>
      <div ref={ref} className="line-chart-frame">
        <svg role="img" aria-label={said} width={width} height={HEIGHT} viewBox={`0 0 ${width} ${HEIGHT}`}>
          {ticks.map((t) => (
            <g key={t}>
              <line className="grid" x1={PAD.left} x2={PAD.left + innerW} y1={y(t)} y2={y(t)} />
              <text className="axis" x={PAD.left - 8} y={y(t)} textAnchor="end" dominantBaseline="middle">
                {format(t)}
              </text>
            </g>
          ))}
          <path className="area" d={area} />
          <path className="line" d={line} />
          {points.length <= 62 &&
            points.map((p, i) => <circle key={i} className={i === points.length - 1 ? 'dot last' : 'dot'} cx={x(i)} cy={y(p.value)} r={i === points.length - 1 ? 4 : 2.5} />)}
          {[...labelled].map((i) => (
            <text key={i} className="axis" x={x(i)} y={HEIGHT - 8} textAnchor={points.length === 1 ? 'middle' : i === 0 ? 'start' : i === points.length - 1 ? 'end' : 'middle'}>
              {points[i]!.label}
            </text>
          ))}
        </svg>
      </div>
      <table className="visually-hidden">
        <caption>{title}</caption>
        <thead>
          <tr>
            <th scope="col">{pointLabel}</th>
            <th scope="col">{valueLabel}</th>
          </tr>
        </thead>
        <tbody>
          {points.map((p, i) => (
            <tr key={i}>
              <td>{p.label}</td>
              <td>{format(p.value)}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </figure>
  );
}
