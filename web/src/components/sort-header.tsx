import type { ReactNode } from 'react';

export type SortDirection = 'ascending' | 'descending';

/**
 * A column header that sorts the table: a button inside the `<th>`, with the
 * current order on `aria-sort` (read out by screen readers) and as an arrow.
 */
export function SortHeader({ label, direction, onSort, className }: { label: ReactNode; direction: SortDirection | undefined; onSort: () => void; className?: string }) {
  return (
    <th scope="col" className={className} aria-sort={direction ?? 'none'}>
      <button type="button" className="sort" onClick={onSort}>
        {label}
        <span className="sort-arrow" aria-hidden="true">
          {direction === 'ascending' ? '▲' : direction === 'descending' ? '▼' : '↕'}
        </span>
      </button>
    </th>
  );
}
