import Sqlite from 'better-sqlite3';
import { Kysely, Migrator, SqliteDialect } from 'kysely';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { KyselyAccessStore } from '../kysely-access-store.js';
import { KyselyGcStore } from '../kysely-gc-store.js';
import { KyselyMetaStore } from '../kysely-meta-store.js';
import { KyselyUsageStore } from '../kysely-usage-store.js';
import { KyselyRepositoryQueries } from '../kysely-repository-queries.js';
import { migrationProvider } from '../migrations/index.js';
import type { Database } from '../schema.js';
import { withStatementCache } from './statement-cache.js';

export interface SqliteOptions {
  path: string;
  /** FULL fsyncs the WAL on every commit: an acknowledged push survives power loss, not only a crash. */
  synchronous?: 'FULL' | 'NORMAL';
}

export interface SqliteStores {
  meta: KyselyMetaStore;
  access: KyselyAccessStore;
  /** Read queries for the management API's repository listings. */
  repositoryQueries: KyselyRepositoryQueries;
  /** Tiers, quotas, transfer and storage history of registries. */
  usage: KyselyUsageStore;
  /** Garbage collection's queries and run history. */
  gc: KyselyGcStore;
  close(): Promise<void>;
}

/** Opens the embedded metadata store (WAL mode) and brings its schema up to date. */
export async function openSqliteMetaStore(options: SqliteOptions): Promise<KyselyMetaStore> {
  return (await openSqliteStores(options)).meta;
}

/** The registry's and access control's stores over one embedded SQLite database. */
export async function openSqliteStores(options: SqliteOptions): Promise<SqliteStores> {
  mkdirSync(dirname(options.path), { recursive: true });
  const database = new Sqlite(options.path);
  database.pragma('journal_mode = WAL');
  database.pragma(`synchronous = ${options.synchronous ?? 'FULL'}`);
  database.pragma('foreign_keys = ON');
  database.pragma('busy_timeout = 5000');
  const db = new Kysely<Database>({ dialect: new SqliteDialect({ database: withStatementCache(database) }) });
  const { error, results } = await new Migrator({ db, provider: migrationProvider }).migrateToLatest();
  if (error) {
    await db.destroy();
    const failed = results?.find((r) => r.status === 'Error')?.migrationName ?? 'unknown';
    throw new Error(`metadata migration ${failed} failed: ${(error as Error).message}`);
  }
  const meta = new KyselyMetaStore(db);
  return { meta, access: new KyselyAccessStore(db), repositoryQueries: new KyselyRepositoryQueries(db), usage: new KyselyUsageStore(db), gc: new KyselyGcStore(db), close: () => meta.close() };
}
