import { sql, type Kysely } from 'kysely';
import { columnTypes } from './dialect.js';

/**
 * Registries as a product: tier and region, storage counted once per registry
 * (registry_blobs holds how many of the registry's repositories link each blob),
 * outbound transfer per month, daily storage history, and garbage-collection runs.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  const t = columnTypes(db);
  await db.schema.alterTable('registries').addColumn('region', t.text, (c) => c.notNull().defaultTo('local')).execute();
  await db.schema.alterTable('registries').addColumn('tier_slug', t.text, (c) => c.notNull().defaultTo('unlimited')).execute();
  await db.schema.alterTable('registries').addColumn('tier_updated_at', 'bigint').execute();
  await db.schema.alterTable('registries').addColumn('storage_bytes', 'bigint', (c) => c.notNull().defaultTo(0)).execute();
  await db.schema.alterTable('registries').addColumn('storage_updated_at', 'bigint').execute();

  await db.schema
    .createTable('registry_blobs')
    .addColumn('registry_id', t.id, (c) => c.notNull().references('registries.id').onDelete('cascade'))
    .addColumn('digest', t.text, (c) => c.notNull())
    .addColumn('size', 'bigint', (c) => c.notNull())
    .addColumn('refs', 'integer', (c) => c.notNull())
    .addPrimaryKeyConstraint('registry_blobs_pk', ['registry_id', 'digest'])
    .execute();

  // Bring existing data under the accounting: each registry's distinct blobs, plus its manifests.
  await sql`insert into registry_blobs (registry_id, digest, size, refs)
    select r.registry_id, rb.digest, b.size, count(*) from repository_blobs rb
    join repositories r on r.id = rb.repository_id join blobs b on b.digest = rb.digest
    group by r.registry_id, rb.digest, b.size`.execute(db);
  await sql`update registries set storage_bytes =
      coalesce((select sum(size) from registry_blobs where registry_blobs.registry_id = registries.id), 0)
    + coalesce((select sum(m.size) from manifests m join repositories r on r.id = m.repository_id where r.registry_id = registries.id), 0)`.execute(db);

  await db.schema
    .createTable('transfer_usage')
    .addColumn('registry_id', t.id, (c) => c.notNull().references('registries.id').onDelete('cascade'))
    .addColumn('month', t.text, (c) => c.notNull())
    .addColumn('bytes', 'bigint', (c) => c.notNull())
    .addPrimaryKeyConstraint('transfer_usage_pk', ['registry_id', 'month'])
    .execute();

  await db.schema
    .createTable('storage_history')
    .addColumn('registry_id', t.id, (c) => c.notNull().references('registries.id').onDelete('cascade'))
    .addColumn('day', t.text, (c) => c.notNull())
    .addColumn('bytes', 'bigint', (c) => c.notNull())
    .addPrimaryKeyConstraint('storage_history_pk', ['registry_id', 'day'])
    .execute();

  await db.schema
    .createTable('gc_runs')
    .addColumn('id', t.text, (c) => c.primaryKey())
    .addColumn('registry_id', t.id, (c) => c.notNull().references('registries.id').onDelete('cascade'))
    .addColumn('type', t.text, (c) => c.notNull())
    .addColumn('status', t.text, (c) => c.notNull())
    .addColumn('dry_run', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .addColumn('manifests_deleted', 'bigint', (c) => c.notNull().defaultTo(0))
    .addColumn('blobs_deleted', 'bigint', (c) => c.notNull().defaultTo(0))
    .addColumn('freed_bytes', 'bigint', (c) => c.notNull().defaultTo(0))
    .addColumn('error', t.text)
    .execute();
  await db.schema.createIndex('gc_runs_registry').on('gc_runs').columns(['registry_id', 'created_at']).execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  for (const t of ['gc_runs', 'storage_history', 'transfer_usage', 'registry_blobs']) await db.schema.dropTable(t).execute();
  for (const c of ['storage_updated_at', 'storage_bytes', 'tier_updated_at', 'tier_slug', 'region']) {
    await db.schema.alterTable('registries').dropColumn(c).execute();
  }
}
