import type { PostgresTarget } from './postgres-target.js';
import { keyOf, MIGRATION_TABLES, pagingKeyOf, type Row, type SqliteSource, type TableShape } from './sqlite-source.js';
import { orderByForeignKeys } from './table-order.js';

/** Rows read from the source per batch, unless they reach BATCH_BYTES first (manifest bodies). */
const BATCH_ROWS = 1000;
const BATCH_BYTES = 8 * 1024 * 1024;
/** How many rows of another installation the refusal names. */
const FOREIGN_ROWS_SHOWN = 5;

export interface TableCopy {
  name: string;
  sourceRows: number;
  /** Rows the target held before this run (an earlier, interrupted run's). */
  targetRowsBefore: number;
  /** Rows this run inserted. */
  inserted: number;
  /** Rows the target holds at the end; undefined in a dry run. */
  targetRowsAfter?: number;
}

export interface SequenceRestart {
  table: string;
  column: string;
  next: number;
}

/** Thrown when the copy must not go ahead; the message says why and what to do. */
export class MigrateStorageError extends Error {
  override name = 'MigrateStorageError';
}

/**
 * The source's tables in foreign-key order. With the target's tables (after its
 * migrations) both schemas must match table for table and column for column: the
 * same Berth version migrated both, so a difference means the target is not Berth's.
 */
export function planTables(source: SqliteSource, target: Map<string, Set<string>> | undefined): TableShape[] {
  const tables = source.tables();
  const byName = new Map(tables.map((t) => [t.name, t]));
  if (target) {
    const problems: string[] = [];
    for (const table of tables) {
      const columns = target.get(table.name);
      if (!columns) problems.push(`table ${table.name} is missing`);
      else {
        const missing = table.columns.filter((c) => !columns.has(c));
        const extra = [...columns].filter((c) => !table.columns.includes(c));
        if (missing.length > 0 || extra.length > 0) problems.push(`table ${table.name} differs (missing: ${missing.join(', ') || '-'}; extra: ${extra.join(', ') || '-'})`);
      }
    }
    for (const name of target.keys()) if (!byName.has(name) && !MIGRATION_TABLES.has(name)) problems.push(`table ${name} is not in the source`);
    if (problems.length > 0) {
      throw new MigrateStorageError(`the target schema does not match the source's after migrating both:\n  ${problems.join('\n  ')}`);
    }
  }
  return orderByForeignKeys(tables).map((name) => byName.get(name)!);
}

/**
 * The "same installation" rule: the target may hold only rows that are exact
 * copies of source rows (matched by primary key, every column equal), which is
 * all an earlier run of this copy can have left. Anything else (a row the source
 * lacks, or one whose values differ) is another installation's data, or was
 * written after a copy by a server on the target, and merging would mix the two.
 * A table without a primary key is copied in one transaction, so its target copy
 * is empty or whole: it must be empty or hold the same rows (as a multiset).
 * Returns up to a few offending rows, described; none means the copy may go ahead.
 */
export async function findForeignRows(source: SqliteSource, target: PostgresTarget, tables: TableShape[]): Promise<string[]> {
  const found: string[] = [];
  for (const table of tables) {
    if (table.primaryKey.length === 0) {
      found.push(...(await foreignKeylessRows(source, target, table)));
      if (found.length >= FOREIGN_ROWS_SHOWN) return found.slice(0, FOREIGN_ROWS_SHOWN);
      continue;
    }
    let after: unknown[] | undefined;
    for (;;) {
      const rows = await target.batch(table, after, BATCH_ROWS);
      if (rows.length === 0) break;
      for (const row of rows) {
        const key = keyOf(table, row);
        const original = source.find(table, key);
        const difference = original ? firstDifference(table, row, original) : 'not in the source';
        if (difference !== undefined) found.push(`${table.name} (${describeKey(table, key)}): ${difference}`);
        if (found.length >= FOREIGN_ROWS_SHOWN) return found;
      }
      after = keyOf(table, rows.at(-1)!);
    }
  }
  return found;
}

async function foreignKeylessRows(source: SqliteSource, target: PostgresTarget, table: TableShape): Promise<string[]> {
  if ((await target.count(table.name)) === 0) return [];
  const remaining = new Map<string, number>();
  for (const row of source.all(table)) {
    const text = canonical(table, row);
    remaining.set(text, (remaining.get(text) ?? 0) + 1);
  }
  const found: string[] = [];
  for (const row of await target.all(table)) {
    const text = canonical(table, row);
    const left = remaining.get(text) ?? 0;
    if (left > 0) remaining.set(text, left - 1);
    else found.push(`${table.name} (no key; ${text}): not in the source`);
  }
  const missing = [...remaining.values()].reduce((sum, n) => sum + n, 0);
  // Only part of the rows: not what this copy leaves (it writes such a table whole, in one transaction).
  if (found.length === 0 && missing > 0) found.push(`${table.name}: ${missing} of the source's rows are missing from a non-empty copy`);
  return found;
}

/**
 * Copies every table in order, inserting only rows the target lacks. A table
 * whose target count already equals the source's is complete (the target holds
 * only source rows, as findForeignRows checked) and is not read again. A table
 * without a primary key cannot skip rows it already has, so it is copied whole
 * in one transaction: an interruption leaves it empty, never half there.
 */
export async function copyTables(
  source: SqliteSource,
  target: PostgresTarget,
  tables: TableShape[],
  options: { signal?: AbortSignal; log(line: string): void },
): Promise<TableCopy[]> {
  const copies: TableCopy[] = [];
  for (const table of tables) {
    const sourceRows = source.count(table);
    const targetRowsBefore = await target.count(table.name);
    let inserted = 0;
    if (targetRowsBefore !== sourceRows) {
      const copyAll = async () => {
        let after: unknown[] | undefined;
        for (;;) {
          options.signal?.throwIfAborted();
          const rows = source.batch(table, after, { maxRows: BATCH_ROWS, maxBytes: BATCH_BYTES });
          if (rows.length === 0) break;
          inserted += await target.insert(table, rows);
          after = pagingKeyOf(table, rows.at(-1)!);
        }
      };
      if (table.primaryKey.length > 0) await copyAll();
      else if (targetRowsBefore === 0) await target.atomically(copyAll);
      else throw new MigrateStorageError(`table ${table.name} (no primary key) holds ${targetRowsBefore} rows in the target, ${sourceRows} in the source`);
    }
    const copy = { name: table.name, sourceRows, targetRowsBefore, inserted, targetRowsAfter: await target.count(table.name) };
    options.log(`table ${table.name}: ${sourceRows} row${sourceRows === 1 ? '' : 's'}, ${inserted} copied now${targetRowsBefore > 0 ? `, ${targetRowsBefore} already there` : ''}`);
    copies.push(copy);
  }
  return copies;
}

/**
 * Restarts every identity sequence after the highest id in use, or after the
 * highest SQLite ever handed out (AUTOINCREMENT never reuses a deleted row's id,
 * and neither should the copy: a stale reference must not find a new row).
 */
export async function restartSequences(source: SqliteSource, target: PostgresTarget, tables: TableShape[]): Promise<SequenceRestart[]> {
  const copied = new Set(tables.map((t) => t.name));
  const highWater = source.autoIncrementHighWater();
  const restarts: SequenceRestart[] = [];
  for (const { table, column } of await target.identityColumns()) {
    if (!copied.has(table)) continue;
    const next = Math.max(await target.max(table, column), highWater.get(table) ?? 0) + 1;
    await target.restartIdentity(table, column, next);
    restarts.push({ table, column, next });
  }
  return restarts;
}

function describeKey(table: TableShape, key: unknown[]): string {
  return table.primaryKey.map((c, i) => `${c}=${show(key[i])}`).join(', ');
}

function firstDifference(table: TableShape, target: Row, source: Row): string | undefined {
  const column = table.columns.find((c) => !sameValue(target[c], source[c]));
  return column === undefined ? undefined : `${column} is ${show(target[column])} in the target, ${show(source[column])} in the source`;
}

/** Equality across the two drivers: numbers may come back as bigint or numeric strings, bytes as Buffers. */
export function sameValue(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (a === null || a === undefined || b === null || b === undefined) return (a ?? null) === (b ?? null);
  if (Buffer.isBuffer(a) || Buffer.isBuffer(b)) return Buffer.isBuffer(a) && Buffer.isBuffer(b) && a.equals(b);
  const numeric = (v: unknown) => typeof v === 'number' || typeof v === 'bigint';
  if (numeric(a) || numeric(b)) return String(a) === String(b);
  return false;
}

/** A row as text that is equal for equal rows from either driver. */
function canonical(table: TableShape, row: Row): string {
  return JSON.stringify(table.columns.map((c) => {
    const v = row[c];
    if (Buffer.isBuffer(v)) return `bytes:${v.toString('hex')}`;
    if (typeof v === 'number' || typeof v === 'bigint') return `number:${String(v)}`;
    return v ?? null;
  }));
}

function show(value: unknown): string {
  if (Buffer.isBuffer(value)) return `${value.length} bytes`;
  const text = typeof value === 'string' ? JSON.stringify(value) : String(value);
  return text.length > 60 ? `${text.slice(0, 60)}…` : text;
}
