import { sql, type Kysely, type RawBuilder } from 'kysely';
import type { Row, TableShape } from './sqlite-source.js';

/** Tables whose rows a fresh schema already holds, put there by the migrations themselves. */
const SEEDED_BY_MIGRATIONS: ReadonlySet<string> = new Set(['vulndb_state']);

/**
 * First key of the advisory lock a copy holds on its target ("migr" in ASCII);
 * the second is the schema's hash. Two copies into one schema would otherwise
 * each pass the installation check before the other wrote anything.
 */
const COPY_LOCK_KEY = 0x6d696772;
const PARAMETERS_PER_STATEMENT = 60_000; // PostgreSQL's limit is 65,535

const id = (name: string) => sql.id(name);
const ids = (names: string[]) => sql.join(names.map(id));

/**
 * The target of a copy: plain statements over one PostgreSQL connection (the
 * one holding the copy lock), with the schema already migrated.
 */
export class PostgresTarget {
  constructor(private readonly db: Kysely<any>) {}

  /** The schema the connection writes to (search_path). */
  async schema(): Promise<string> {
    // null when no schema of the search_path exists yet (a dry run before the first migration)
    return (await sql<{ schema: string | null }>`select current_schema() as schema`.execute(this.db)).rows[0]?.schema ?? 'public';
  }

  /**
   * Takes the copy lock for this schema, or answers false when another copy holds it.
   * Session-level: released by `unlockCopy` or when the connection ends (a killed copy).
   */
  async lockForCopy(): Promise<boolean> {
    const row = (await sql<{ locked: boolean }>`select pg_try_advisory_lock(${sql.lit(COPY_LOCK_KEY)}, hashtext(current_schema())) as locked`.execute(this.db)).rows[0];
    return row?.locked === true;
  }

  async unlockCopy(): Promise<void> {
    await sql`select pg_advisory_unlock(${sql.lit(COPY_LOCK_KEY)}, hashtext(current_schema()))`.execute(this.db);
  }

  /** Tables of the schema and their columns. */
  async tables(): Promise<Map<string, Set<string>>> {
    const rows = (
      await sql<{ table_name: string; column_name: string }>`select table_name, column_name from information_schema.columns where table_schema = current_schema()`.execute(this.db)
    ).rows;
    const tables = new Map<string, Set<string>>();
    for (const r of rows) {
      const columns = tables.get(r.table_name) ?? new Set<string>();
      columns.add(r.column_name);
      tables.set(r.table_name, columns);
    }
    return tables;
  }

  async count(table: string): Promise<number> {
    return Number((await sql<{ n: number }>`select count(*) as n from ${id(table)}`.execute(this.db)).rows[0]!.n);
  }

  /** Rows after the key `after`, in primary-key order (for the installation check). */
  async batch(table: TableShape, after: unknown[] | undefined, limit: number): Promise<Row[]> {
    const key = ids(table.primaryKey);
    const where = after === undefined ? sql`` : sql`where (${key}) > (${sql.join(after)})`;
    return (await sql<Row>`select ${ids(table.columns)} from ${id(table.name)} ${where} order by ${key} limit ${sql.lit(limit)}`.execute(this.db)).rows;
  }

  /** Every row of a table without a primary key (small ones: see copyTables). */
  async all(table: TableShape): Promise<Row[]> {
    return (await sql<Row>`select ${ids(table.columns)} from ${id(table.name)}`.execute(this.db)).rows;
  }

  /** Runs `work` in one transaction on this connection: all of it is kept, or none. */
  async atomically<T>(work: () => Promise<T>): Promise<T> {
    await sql`begin`.execute(this.db);
    try {
      const result = await work();
      await sql`commit`.execute(this.db);
      return result;
    } catch (err) {
      await sql`rollback`.execute(this.db).catch(() => undefined);
      throw err;
    }
  }

  /**
   * Inserts rows whose key is not there yet (`on conflict do nothing`), so a copy
   * cut short and run again adds exactly what is missing. Returns how many were new.
   */
  async insert(table: TableShape, rows: Row[]): Promise<number> {
    const perStatement = Math.max(1, Math.floor(PARAMETERS_PER_STATEMENT / table.columns.length));
    // Rows the migrations seed (the vulnerability database's state) are already there: the source's values replace them.
    const seeded = SEEDED_BY_MIGRATIONS.has(table.name) && table.primaryKey.length > 0;
    const others = table.columns.filter((c) => !table.primaryKey.includes(c));
    const onConflict = seeded && others.length > 0
      ? sql`on conflict (${ids(table.primaryKey)}) do update set ${sql.join(others.map((c) => sql`${id(c)} = excluded.${id(c)}`))}`
      : sql`on conflict do nothing`;
    let inserted = 0;
    for (let i = 0; i < rows.length; i += perStatement) {
      const values: RawBuilder<unknown>[] = rows.slice(i, i + perStatement).map((row) => sql`(${sql.join(table.columns.map((c) => row[c] ?? null))})`);
      const result = await sql`insert into ${id(table.name)} (${ids(table.columns)}) values ${sql.join(values)} ${onConflict}`.execute(this.db);
      inserted += Number(result.numAffectedRows ?? 0n);
    }
    return inserted;
  }

  /** Columns numbered by an identity sequence, per table. */
  async identityColumns(): Promise<{ table: string; column: string }[]> {
    const rows = (
      await sql<{ table_name: string; column_name: string }>`select table_name, column_name from information_schema.columns
        where table_schema = current_schema() and is_identity = 'YES' order by table_name`.execute(this.db)
    ).rows;
    return rows.map((r) => ({ table: r.table_name, column: r.column_name }));
  }

  async max(table: string, column: string): Promise<number> {
    return Number((await sql<{ m: number | null }>`select coalesce(max(${id(column)}), 0) as m from ${id(table)}`.execute(this.db)).rows[0]!.m);
  }

  /** Makes the identity sequence of `table.column` hand out `next` first. */
  async restartIdentity(table: string, column: string, next: number): Promise<void> {
    await sql`select setval(pg_get_serial_sequence(format('%I.%I', current_schema(), ${table}::text), ${column}::text), ${next}::bigint, false)`.execute(this.db);
  }

  /** Every row of `blobs` (digest, size), a page at a time. */
  async *blobRows(pageSize = 5000): AsyncIterable<{ digest: string; size: number }> {
    let after: string | undefined;
    for (;;) {
      const where = after === undefined ? sql`` : sql`where digest > ${after}`;
      const rows = (await sql<{ digest: string; size: number }>`select digest, size from blobs ${where} order by digest limit ${sql.lit(pageSize)}`.execute(this.db)).rows;
      if (rows.length === 0) return;
      for (const row of rows) yield { digest: row.digest, size: Number(row.size) };
      after = rows.at(-1)!.digest;
    }
  }
}
