/** A table and the tables its foreign keys point at. */
export interface TableDependencies {
  name: string;
  references: string[];
}

/**
 * Orders tables so that every table comes after the tables it references:
 * copying in this order never inserts a row before the row it points at.
 * Ties keep the input order; a self-reference is ignored (rows in key order
 * satisfy it); a cycle between tables cannot be ordered and throws.
 */
export function orderByForeignKeys(tables: TableDependencies[]): string[] {
  const known = new Set(tables.map((t) => t.name));
  const pending = new Map(tables.map((t) => [t.name, new Set(t.references.filter((r) => r !== t.name && known.has(r)))]));
  const ordered: string[] = [];
  while (pending.size > 0) {
    const ready = [...pending].find(([, needs]) => [...needs].every((n) => !pending.has(n)));
    if (!ready) throw new Error(`tables reference each other in a cycle, so they cannot be copied in order: ${[...pending.keys()].join(', ')}`);
    ordered.push(ready[0]);
    pending.delete(ready[0]);
  }
  return ordered;
}
