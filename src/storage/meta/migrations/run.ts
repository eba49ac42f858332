import { Migrator, type Kysely } from 'kysely';
import { migrationProvider } from './index.js';

/** Where kysely keeps its migration bookkeeping: PostgreSQL needs the schema named (see postgres/migrate.ts). */
export interface MigrationTables {
  schema?: string;
}

function migrator(db: Kysely<any>, tables: MigrationTables): Migrator {
  return new Migrator({ db, provider: migrationProvider, migrationTableSchema: tables.schema });
}

/** Names of the migrations not yet applied, in order; changes nothing. */
export async function pendingMigrations(db: Kysely<any>, tables: MigrationTables = {}): Promise<string[]> {
  return (await migrator(db, tables).getMigrations()).filter((m) => m.executedAt === undefined).map((m) => m.name);
}

/** Applies every pending migration and returns their names; a failure names the migration and leaves the database as it was. */
export async function migrateToLatest(db: Kysely<any>, tables: MigrationTables = {}): Promise<string[]> {
  const { error, results } = await migrator(db, tables).migrateToLatest();
  if (error) {
    const failed = results?.find((r) => r.status === 'Error')?.migrationName ?? 'unknown';
    throw new Error(`metadata migration ${failed} failed: ${(error as Error).message}`, { cause: error });
  }
  return (results ?? []).filter((r) => r.status === 'Success').map((r) => r.migrationName);
}
