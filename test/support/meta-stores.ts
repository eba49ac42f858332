/**
 * The metadata stores on every backend, for tests that must hold on each:
 * SQLite in a temporary directory, and PostgreSQL in a fresh schema (skipped
 * locally when PostgreSQL is unreachable, failing with CI=true; see postgres.ts).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openSqliteStores } from '../../src/storage/meta/sqlite/open-sqlite.js';
import type { MetaStores } from '../../src/storage/meta/stores.js';
import { postgresStores, skipPostgres } from './postgres.js';

export interface MetaStoresFixture {
  stores: MetaStores;
  cleanup(): Promise<void>;
}

export interface MetaBackend {
  name: 'sqlite' | 'postgres';
  skip: boolean;
  open(): Promise<MetaStoresFixture>;
}

export async function sqliteStores(): Promise<MetaStoresFixture> {
  const dir = await mkdtemp(join(tmpdir(), 'berth-sqlite-'));
  const stores = await openSqliteStores({ path: join(dir, 'metadata.db'), synchronous: 'NORMAL' });
  return {
    stores,
    cleanup: async () => {
      await stores.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

export const META_BACKENDS: MetaBackend[] = [
  { name: 'sqlite', skip: false, open: sqliteStores },
  { name: 'postgres', skip: skipPostgres, open: () => postgresStores({ poolSize: 4 }) },
];

/** Runs `test` with the stores of a fixture, cleaned up afterwards. */
export function withStores(backend: MetaBackend, test: (stores: MetaStores) => Promise<void>): () => Promise<void> {
  return async () => {
    const f = await backend.open();
    try {
      await test(f.stores);
    } finally {
      await f.cleanup();
    }
  };
}
