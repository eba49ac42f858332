import type { SelectHTMLAttributes } from 'react';

export interface Option<V extends string> {
  value: V;
  label: string;
}

/**
 * A <select> over a fixed list of options, typed by their values. Goes in a
 * Field, which gives it its id and description.
 */
export function Select<V extends string>({ options, value, onChange, ...rest }: { options: readonly Option<V>[]; value: V; onChange: (value: V) => void } & Omit<SelectHTMLAttributes<HTMLSelectElement>, 'value' | 'onChange'>) {
  return (
    <select {...rest} value={value} onChange={(e) => onChange(e.target.value as V)}>
      {options.map((o) => (
        <option key={o.value} value={o.value}>
          {o.label}
        </option>
      ))}
    </select>
  );
}
