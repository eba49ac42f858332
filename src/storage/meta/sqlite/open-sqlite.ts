import Sqlite from 'better-sqlite3';
import { Kysely, SqliteDialect, sql } from 'kysely';
import { chmodSync, closeSync, mkdirSync, openSync } from 'node:fs';
import { dirname } from 'node:path';
import type { KyselyMetaStore, ProgressWrite } from '../kysely-meta-store.js';
import { migrateToLatest } from '../migrations/run.js';
import type { Database } from '../schema.js';
import { storesOver, type MetaStores } from '../stores.js';
import { withStatementCache } from './statement-cache.js';

export interface SqliteOptions {
  path: string;
  /** FULL fsyncs the WAL on every commit: an acknowledged push survives power loss, not only a crash. */
  synchronous?: 'FULL' | 'NORMAL';
  /**
   * The page cache's size. better-sqlite3 builds SQLite with 16 MiB, which fills as the
   * metadata grows and stays resident; pages beyond it are read from the OS's file cache.
   */
  cacheMiB?: number;
}

/** What an option left out means (the config schema's defaults match). */
const DEFAULTS = { synchronous: 'FULL', cacheMiB: 4 } as const;

/** The stores over one SQLite database (kept as a name for existing callers). */
export type SqliteStores = MetaStores;

/** Opens the embedded metadata store (WAL mode) and brings its schema up to date. */
export async function openSqliteMetaStore(options: SqliteOptions): Promise<KyselyMetaStore> {
  return (await openSqliteStores(options)).meta;
}

/** The registry's and access control's stores over one embedded SQLite database. */
export async function openSqliteStores(options: SqliteOptions): Promise<MetaStores> {
  const database = openSqliteDatabase(options);
  const synchronous = options.synchronous ?? DEFAULTS.synchronous;
  const db = new Kysely<Database>({ dialect: new SqliteDialect({ database: withStatementCache(database) }) });
  try {
    await migrateToLatest(db);
  } catch (err) {
    await db.destroy();
    throw err;
  }
  return storesOver(db, synchronous === 'FULL' ? withoutWalSync(db, synchronous) : undefined);
}

/** The database file (created owner-only) with the connection settings every store relies on. */
export function openSqliteDatabase(options: SqliteOptions): Sqlite.Database {
  mkdirSync(dirname(options.path), { recursive: true, mode: 0o700 });
  // The metadata holds password hashes and token-signing keys: the owner's alone (the WAL and shm files take the same mode).
  closeSync(openSync(options.path, 'a', 0o600));
  chmodSync(options.path, 0o600);
  const database = new Sqlite(options.path);
  database.pragma('journal_mode = WAL');
  database.pragma(`synchronous = ${options.synchronous ?? DEFAULTS.synchronous}`);
  database.pragma('foreign_keys = ON');
  database.pragma('busy_timeout = 5000');
  // Negative: a size in KiB rather than in pages.
  database.pragma(`cache_size = ${-Math.round((options.cacheMiB ?? DEFAULTS.cacheMiB) * 1024)}`);
  return database;
}

/**
 * A ProgressWrite for SQLite: `synchronous` is a setting of the connection, so the write runs
 * holding kysely's one connection (nothing else can commit in between) with NORMAL, which in WAL
 * mode skips the fsync, then the setting is put back. The next synced commit makes it durable too.
 */
export function withoutWalSync(db: Kysely<Database>, level: 'FULL'): ProgressWrite {
  return (write) =>
    db.connection().execute(async (connection) => {
      await sql`pragma synchronous = NORMAL`.execute(connection);
      try {
        return await write(connection);
      } finally {
        await sql.raw(`pragma synchronous = ${level}`).execute(connection);
      }
    });
}
