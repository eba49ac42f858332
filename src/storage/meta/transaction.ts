import type { Kysely, Transaction } from 'kysely';
import { isPostgres } from './dialect.js';
import { serializableTransaction } from './postgres/serializable.js';

/**
 * The one way the stores open a transaction. SQLite already runs them one at a
 * time; PostgreSQL runs them SERIALIZABLE and retries conflicts, so `work` must
 * touch only the database or be safe to repeat.
 */
export function runTransaction<DB, T>(db: Kysely<DB>, work: (trx: Transaction<DB>) => Promise<T>): Promise<T> {
  return isPostgres(db) ? serializableTransaction(db, work) : db.transaction().execute(work);
}
