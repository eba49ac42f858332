import { sql, type Kysely } from 'kysely';
import { migrateToLatest, pendingMigrations } from '../migrations/run.js';

/** Fixed key of the advisory lock every Berth node takes to migrate ("berth" in ASCII). */
export const MIGRATION_LOCK_KEY = 0x6265727468n;

/** The schema migrations write to: the one asked for, else the connection's current one. */
async function targetSchema(db: Kysely<any>, schema: string | undefined): Promise<string> {
  if (schema !== undefined) return schema;
  const row = (await sql<{ schema: string | null }>`select current_schema() as schema`.execute(db)).rows[0];
  return row?.schema ?? 'public';
}

/**
 * Applies pending migrations while holding a session advisory lock on one
 * dedicated connection, so nodes starting together migrate once: the others
 * wait, then find nothing pending. Returns the migrations this call applied.
 */
export async function migrateUnderLock(db: Kysely<any>, schema: string | undefined): Promise<string[]> {
  return db.connection().execute(async (conn) => {
    // No statement timeout while waiting for another node's migration, or running a long one.
    await sql`set statement_timeout = 0`.execute(conn);
    await sql`select pg_advisory_lock(${sql.lit(MIGRATION_LOCK_KEY)})`.execute(conn);
    const release = async () => {
      await sql`select pg_advisory_unlock(${sql.lit(MIGRATION_LOCK_KEY)})`.execute(conn);
      await sql`reset statement_timeout`.execute(conn);
    };
    let applied: string[];
    try {
      const target = await targetSchema(conn, schema);
      await ensureSchema(conn, target);
      // Named explicitly: kysely otherwise finds its bookkeeping table in any schema of the database.
      applied = await migrateToLatest(conn, { schema: target });
    } catch (err) {
      // The migration's error is the one to report; a connection that cannot unlock is gone, and its lock with it.
      await release().catch(() => undefined);
      throw err;
    }
    await release();
    return applied;
  });
}

/** Creates the schema when missing; an existing one needs no CREATE privilege on the database. */
async function ensureSchema(db: Kysely<any>, schema: string): Promise<void> {
  const found = await sql`select 1 from pg_namespace where nspname = ${schema}`.execute(db);
  if (found.rows.length === 0) await sql`create schema ${sql.id(schema)}`.execute(db);
}

/** Pending migrations of the schema, without running them or taking the lock. */
export async function pendingUnder(db: Kysely<any>, schema: string | undefined): Promise<string[]> {
  const target = await targetSchema(db, schema);
  return pendingMigrations(db, { schema: target });
}
