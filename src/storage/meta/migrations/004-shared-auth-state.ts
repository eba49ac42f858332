import { type Kysely } from 'kysely';
import { columnTypes } from './dialect.js';

/**
 * Access control's state shared by every node: the token-signing keys (until
 * now files in `<data>/keys`, imported once at start) and failed logins for
 * the throttle (until now counted in each process's memory).
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  const t = columnTypes(db);
  await db.schema
    .createTable('signing_keys')
    .addColumn('kid', t.text, (c) => c.primaryKey())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('retired_at', 'bigint')
    .addColumn('private_jwk', t.text, (c) => c.notNull())
    .execute();

  await db.schema
    .createTable('login_failures')
    .addColumn('key', t.text, (c) => c.notNull())
    .addColumn('at', 'bigint', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('login_failures_key_at').on('login_failures').columns(['key', 'at']).execute();
  // Pruning looks for old failures whatever their key.
  await db.schema.createIndex('login_failures_at').on('login_failures').column('at').execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  for (const t of ['login_failures', 'signing_keys']) await db.schema.dropTable(t).execute();
}
