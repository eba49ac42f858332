/**
 * PostgreSQL for the store tests: the server at BERTH_TEST_POSTGRES_URL (default
 * the local one), a fresh schema per fixture, dropped when the fixture ends.
 * Unreachable, the PostgreSQL tests skip locally; with CI=true they run and fail.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { openPostgresStores, type PostgresOptions } from '../../src/storage/meta/postgres/open-postgres.js';
import type { MetaStores } from '../../src/storage/meta/stores.js';

export const POSTGRES_URL = process.env.BERTH_TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

async function probe(): Promise<string | undefined> {
  const client = new pg.Client({ connectionString: POSTGRES_URL, connectionTimeoutMillis: 3000 });
  try {
    await client.connect();
    await client.query('select 1');
    return undefined;
  } catch (err) {
    return (err as Error).message || String(err);
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** Why PostgreSQL cannot be used, or undefined when it answers. */
export const postgresUnavailable = await probe();
/** Skip only off CI: in CI a missing PostgreSQL is a failure, never a silent skip. */
export const skipPostgres = postgresUnavailable !== undefined && process.env.CI !== 'true';
if (skipPostgres) console.warn(`PostgreSQL tests skipped: ${POSTGRES_URL} is unreachable (${postgresUnavailable})`);

function assertReachable(): void {
  if (postgresUnavailable !== undefined) throw new Error(`PostgreSQL at ${POSTGRES_URL} is unreachable: ${postgresUnavailable}`);
}

/** A schema name no other test uses. */
export function uniqueSchema(): string {
  return `berth_test_${randomBytes(6).toString('hex')}`;
}

/** Runs `statement` on a connection of its own (outside any store's pool). */
export async function adminQuery<R extends pg.QueryResultRow = pg.QueryResultRow>(statement: string, values: unknown[] = []): Promise<R[]> {
  const client = new pg.Client({ connectionString: POSTGRES_URL });
  await client.connect();
  try {
    return (await client.query<R>(statement, values)).rows;
  } finally {
    await client.end();
  }
}

export function dropSchema(schema: string): Promise<unknown> {
  return adminQuery(`drop schema if exists ${schema} cascade`);
}

export interface PostgresStoresFixture {
  stores: MetaStores;
  schema: string;
  cleanup(): Promise<void>;
}

/** Every store over a freshly migrated schema of its own. */
export async function postgresStores(options: Partial<PostgresOptions> = {}): Promise<PostgresStoresFixture> {
  assertReachable();
  const schema = options.schema ?? uniqueSchema();
  const stores = await openPostgresStores({ url: POSTGRES_URL, ...options, schema });
  return {
    stores,
    schema,
    cleanup: async () => {
      await stores.close();
      await dropSchema(schema);
    },
  };
}
