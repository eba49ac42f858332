import type { Kysely } from 'kysely';
import { columnTypes } from './dialect.js';

/**
 * Vulnerability scans: each layer's inventory (kept by layer digest, so a base
 * layer shared by many images is read once), each manifest's scan (by manifest
 * digest: identical content scans identically in every repository), and each
 * registry's pull policy on vulnerable images.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  const t = columnTypes(db);
  await db.schema
    .createTable('scan_layers')
    .addColumn('layer_digest', t.text, (c) => c.primaryKey())
    .addColumn('format', 'integer', (c) => c.notNull())
    .addColumn('inventory', t.text, (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .execute();

  await db.schema
    .createTable('image_scans')
    .addColumn('manifest_digest', t.text, (c) => c.primaryKey())
    .addColumn('status', t.text, (c) => c.notNull())
    .addColumn('kind', t.text, (c) => c.notNull())
    .addColumn('inventory', t.text)
    .addColumn('findings', t.text)
    .addColumn('summary', t.text)
    .addColumn('children', t.text)
    .addColumn('vulndb_generation', 'bigint', (c) => c.notNull().defaultTo(0))
    .addColumn('error', t.text)
    .addColumn('queued_at', 'bigint', (c) => c.notNull())
    .addColumn('started_at', 'bigint')
    .addColumn('completed_at', 'bigint')
    .execute();
  // Re-matching after a database change walks complete scans of an older generation.
  await db.schema.createIndex('image_scans_generation').on('image_scans').columns(['status', 'vulndb_generation', 'manifest_digest']).execute();

  await db.schema
    .createTable('scan_policies')
    .addColumn('registry_id', t.id, (c) => c.primaryKey().references('registries.id').onDelete('cascade'))
    .addColumn('block_severity', t.text)
    .addColumn('allowlist', t.text, (c) => c.notNull())
    .addColumn('block_unscanned', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  for (const table of ['scan_policies', 'image_scans', 'scan_layers']) await db.schema.dropTable(table).execute();
}
