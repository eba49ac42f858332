import { formatDateTime, formatRelative } from '../format';

/** A relative time ("5 minutes ago") with the exact time on hover and for machines. */
export function Time({ iso, never = 'never' }: { iso: string | null | undefined; never?: string }) {
  if (!iso) return <span className="muted">{never}</span>;
  return (
    <time dateTime={iso} title={formatDateTime(iso)}>
      {formatRelative(iso)}
    </time>
  );
}
