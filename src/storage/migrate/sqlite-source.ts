import Sqlite from 'better-sqlite3';
import { Kysely, SqliteDialect } from 'kysely';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';

/** kysely's bookkeeping: each database runs its own migrations, so these are never copied. */
export const MIGRATION_TABLES: ReadonlySet<string> = new Set(['kysely_migration', 'kysely_migration_lock']);

/** A row as both drivers return it: numbers, strings, Buffers (bytes) and nulls by column name. */
export type Row = Record<string, unknown>;

/** What copying a table needs to know about it. */
export interface TableShape {
  name: string;
  /** In declaration order. */
  columns: string[];
  /** The primary key's columns, in key order: rows are matched and paged by it. Empty for a table without one. */
  primaryKey: string[];
  /** Tables its foreign keys point at. */
  references: string[];
}

/** A SQLite database file: kysely over it (for migrations) and the driver underneath (for the copy's plain reads). */
export interface SqliteFile {
  db: Kysely<any>;
  raw: Sqlite.Database;
  close(): Promise<void>;
}

/**
 * Opens the embedded metadata file. Read-only (dry runs) it must exist and is
 * never written; writable it is set up as the server sets it up (WAL, FULL
 * sync, foreign keys), so a migration applied here is what `berth serve` would apply.
 */
export function openSqliteFile(path: string, options: { readonly: boolean }): SqliteFile {
  let raw: Sqlite.Database;
  if (options.readonly) {
    raw = new Sqlite(path, { readonly: true, fileMustExist: true });
  } else {
    mkdirSync(dirname(path), { recursive: true });
    raw = new Sqlite(path);
    raw.pragma('journal_mode = WAL');
    raw.pragma('synchronous = FULL');
    raw.pragma('foreign_keys = ON');
  }
  raw.pragma('busy_timeout = 5000');
  const db = new Kysely<any>({ dialect: new SqliteDialect({ database: raw }) });
  return { db, raw, close: () => db.destroy() };
}

const quote = (name: string) => `"${name.replace(/"/g, '""')}"`;

/** Reads tables of the source database, a batch at a time, in primary-key order. */
export class SqliteSource {
  private readonly statements = new Map<string, Sqlite.Statement>();

  constructor(readonly raw: Sqlite.Database) {}

  /** Every table but SQLite's own and the migration bookkeeping, with its columns, key and references. */
  tables(): TableShape[] {
    const names = this.raw
      .prepare(`select name from sqlite_master where type = 'table' and name not like 'sqlite\\_%' escape '\\' order by name`)
      .pluck()
      .all() as string[];
    return names
      .filter((name) => !MIGRATION_TABLES.has(name))
      .map((name) => {
        const info = this.raw.pragma(`table_info(${quote(name)})`) as { name: string; pk: number }[];
        const foreign = this.raw.pragma(`foreign_key_list(${quote(name)})`) as { table: string }[];
        return {
          name,
          columns: info.map((c) => c.name),
          primaryKey: info.filter((c) => c.pk > 0).sort((a, b) => a.pk - b.pk).map((c) => c.name),
          references: [...new Set(foreign.map((f) => f.table))],
        };
      });
  }

  /** The highest id SQLite ever handed out per AUTOINCREMENT table (deleted rows' ids included). */
  autoIncrementHighWater(): Map<string, number> {
    const exists = this.raw.prepare(`select 1 from sqlite_master where type = 'table' and name = 'sqlite_sequence'`).get();
    if (!exists) return new Map();
    const rows = this.raw.prepare('select name, seq from sqlite_sequence').all() as { name: string; seq: number }[];
    return new Map(rows.map((r) => [r.name, Number(r.seq)]));
  }

  count(table: TableShape): number {
    return Number(this.statement(`select count(*) from ${quote(table.name)}`).pluck().get());
  }

  /**
   * The next rows after the key `after` (from the start when undefined), at most
   * `maxRows` of them and stopping once `maxBytes` are gathered (at least one row),
   * so big manifest bodies never pile up in memory. Rows are paged by their
   * primary key, or by SQLite's rowid in a table without one (see pagingKeyOf).
   */
  batch(table: TableShape, after: unknown[] | undefined, limits: { maxRows: number; maxBytes: number }): Row[] {
    const key = pagingKey(table).map((c) => (c === ROWID ? c : quote(c)));
    const where = after === undefined ? '' : `where (${key.join(', ')}) > (${key.map(() => '?').join(', ')})`;
    const columns = [...table.columns.map(quote), ...(table.primaryKey.length === 0 ? [ROWID] : [])];
    const statement = this.statement(`select ${columns.join(', ')} from ${quote(table.name)} ${where} order by ${key.join(', ')} limit ${limits.maxRows}`);
    const rows: Row[] = [];
    let bytes = 0;
    for (const row of statement.iterate(...(after ?? [])) as IterableIterator<Row>) {
      rows.push(row);
      bytes += rowBytes(row);
      if (bytes >= limits.maxBytes) break; // leaving the loop closes the iterator
    }
    return rows;
  }

  /** Every row of `blobs`: the digests the metadata says the blob store holds. */
  blobRows(): IterableIterator<{ digest: string; size: number }> {
    return this.raw.prepare('select digest, size from blobs').iterate() as IterableIterator<{ digest: string; size: number }>;
  }

  /** Every row of a table without a primary key (only small tables have none: throttle state). */
  all(table: TableShape): Row[] {
    return this.statement(`select ${table.columns.map(quote).join(', ')} from ${quote(table.name)}`).all() as Row[];
  }

  /** The row with this primary key, or undefined. */
  find(table: TableShape, key: unknown[]): Row | undefined {
    const statement = this.statement(
      `select ${table.columns.map(quote).join(', ')} from ${quote(table.name)} where ${table.primaryKey.map((c) => `${quote(c)} = ?`).join(' and ')}`,
    );
    return statement.get(...key) as Row | undefined;
  }

  private statement(text: string): Sqlite.Statement {
    let statement = this.statements.get(text);
    if (!statement) {
      statement = this.raw.prepare(text);
      this.statements.set(text, statement);
    }
    return statement;
  }
}

/** Roughly what a row costs in memory and on the wire. */
export function rowBytes(row: Row): number {
  let bytes = 0;
  for (const value of Object.values(row)) {
    if (typeof value === 'string') bytes += value.length;
    else if (Buffer.isBuffer(value)) bytes += value.length;
    else bytes += 8;
  }
  return bytes;
}

/** The primary key's values of a row, in key order. */
export function keyOf(table: TableShape, row: Row): unknown[] {
  return table.primaryKey.map((c) => row[c]);
}

/** A table without a primary key still has SQLite's rowid (WITHOUT ROWID tables need a key), selected under this name. */
const ROWID = 'rowid';

function pagingKey(table: TableShape): string[] {
  return table.primaryKey.length > 0 ? table.primaryKey : [ROWID];
}

/** Where the next source batch starts after `row`: its primary key, or its rowid. */
export function pagingKeyOf(table: TableShape, row: Row): unknown[] {
  return pagingKey(table).map((c) => row[c]);
}
