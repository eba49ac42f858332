import { existsSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { lockDataDir } from '../data-dir-lock.js';
import { migrationProvider } from '../meta/migrations/index.js';
import { migrateToLatest, pendingMigrations } from '../meta/migrations/run.js';
import { migratePostgres, pendingPostgresMigrations, type PostgresOptions } from '../meta/postgres/open-postgres.js';
import { openSqliteFile } from './sqlite-source.js';

/** The metadata store `berth migrate` works on: the embedded file, or a PostgreSQL schema. */
export type MetadataSchemaTarget = { kind: 'sqlite'; path: string } | { kind: 'postgres'; options: PostgresOptions };

/** Names of the migrations the store still needs, in order; changes nothing (no file is created, no lock taken). */
export async function pendingSchemaMigrations(target: MetadataSchemaTarget): Promise<string[]> {
  if (target.kind === 'postgres') return pendingPostgresMigrations(target.options);
  if (!existsSync(target.path)) return Object.keys(await migrationProvider.getMigrations()).sort();
  const file = openSqliteFile(target.path, { readonly: true });
  try {
    return await pendingMigrations(file.db);
  } finally {
    await file.close();
  }
}

/**
 * Applies every pending migration and returns their names. PostgreSQL: under the
 * advisory lock every node takes to migrate. SQLite: under the data-directory
 * lock, so it refuses while a server uses the file.
 */
export async function applySchemaMigrations(target: MetadataSchemaTarget): Promise<string[]> {
  if (target.kind === 'postgres') return migratePostgres(target.options);
  mkdirSync(dirname(target.path), { recursive: true }); // a new installation: as `berth serve` would create it
  const unlock = await lockDataDir(dirname(target.path));
  try {
    const file = openSqliteFile(target.path, { readonly: false });
    try {
      return await migrateToLatest(file.db);
    } finally {
      await file.close();
    }
  } finally {
    await unlock();
  }
}
