import type Sqlite from 'better-sqlite3';
import type { SqliteDatabase } from 'kysely';

/** Enough for every query shape Berth issues; `IN (…)` lists of many lengths can exceed it, so it resets rather than grows. */
const MAX_STATEMENTS = 512;

/**
 * Hands kysely's SQLite driver a database whose `prepare` reuses compiled
 * statements. The driver prepares on every query, which cost more than the
 * query itself on the manifest and blob read paths (profiled: ~14% of CPU).
 */
export function withStatementCache(database: Sqlite.Database): SqliteDatabase {
  const statements = new Map<string, Sqlite.Statement>();
  return {
    prepare(sql: string) {
      let statement = statements.get(sql);
      if (!statement) {
        if (statements.size >= MAX_STATEMENTS) statements.clear();
        statement = database.prepare(sql);
        statements.set(sql, statement);
      }
      return statement as never;
    },
    close() {
      statements.clear();
      database.close();
    },
  };
}
