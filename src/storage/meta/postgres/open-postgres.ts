import type { Kysely } from 'kysely';
import type { Database } from '../schema.js';
import { storesOver, type MetaStores } from '../stores.js';
import { migrateUnderLock, pendingUnder } from './migrate.js';
import { openPostgresDatabase, type PostgresOptions } from './pool.js';

export type { PostgresOptions } from './pool.js';

/**
 * The stores over a PostgreSQL database shared by any number of nodes. The
 * schema is brought up to date first, once however many nodes start at once.
 */
export async function openPostgresStores(options: PostgresOptions): Promise<MetaStores> {
  const db = openPostgresDatabase(options);
  try {
    await migrateUnderLock(db, options.schema);
  } catch (err) {
    await db.destroy();
    throw err;
  }
  return storesOver(db);
}

/** Names of the migrations the database still needs, in order; runs nothing (`berth migrate --dry-run`). */
export function pendingPostgresMigrations(options: PostgresOptions): Promise<string[]> {
  return withDatabase(options, (db) => pendingUnder(db, options.schema));
}

/** Applies pending migrations under the advisory lock and returns the names applied (`berth migrate`). */
export function migratePostgres(options: PostgresOptions): Promise<string[]> {
  return withDatabase(options, (db) => migrateUnderLock(db, options.schema));
}

async function withDatabase<T>(options: PostgresOptions, work: (db: Kysely<Database>) => Promise<T>): Promise<T> {
  const db = openPostgresDatabase({ ...options, poolSize: 1 });
  try {
    return await work(db);
  } finally {
    await db.destroy();
  }
}
