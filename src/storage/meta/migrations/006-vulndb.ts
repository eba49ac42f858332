import { sql, type Kysely } from 'kysely';
import { columnTypes } from './dialect.js';

/**
 * The vulnerability database (src/scan/osv/): OSV records kept whole, the
 * packages each one names (a record naming several packages is found under
 * each), the sources imported, and one row holding the database's generation.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  const t = columnTypes(db);
  await db.schema
    .createTable('vulndb_records')
    .addColumn('id', t.text, (c) => c.primaryKey())
    .addColumn('modified', t.text, (c) => c.notNull())
    .addColumn('withdrawn', t.text)
    .addColumn('content_hash', t.text, (c) => c.notNull())
    /** The record's JSON, as imported. */
    .addColumn('body', t.text, (c) => c.notNull())
    /** The source that last wrote it. */
    .addColumn('source', t.text, (c) => c.notNull())
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .execute();

  await db.schema
    .createTable('vulndb_packages')
    /** With the release suffix (`Debian:12`): matching never crosses releases. */
    .addColumn('ecosystem', t.text, (c) => c.notNull())
    /** Normalised as the ecosystem compares names (PyPI: PEP 503). */
    .addColumn('package', t.text, (c) => c.notNull())
    .addColumn('record_id', t.text, (c) => c.notNull())
    /** Without the suffix (`Debian`), for lookups in every release and counts per ecosystem. */
    .addColumn('ecosystem_base', t.text, (c) => c.notNull())
    .addPrimaryKeyConstraint('vulndb_packages_pk', ['ecosystem', 'package', 'record_id'])
    .execute();
  await db.schema.createIndex('vulndb_packages_base').on('vulndb_packages').columns(['ecosystem_base', 'package']).execute();
  // Replacing a record removes its rows.
  await db.schema.createIndex('vulndb_packages_record').on('vulndb_packages').column('record_id').execute();

  await db.schema
    .createTable('vulndb_sources')
    .addColumn('name', t.text, (c) => c.primaryKey())
    .addColumn('imported_at', 'bigint', (c) => c.notNull())
    .addColumn('record_count', 'integer', (c) => c.notNull())
    .addColumn('latest_modified', t.text)
    .execute();

  // One row: imports bump it in the transaction that changes records, so it never lags them.
  await db.schema
    .createTable('vulndb_state')
    .addColumn('id', 'integer', (c) => c.primaryKey())
    .addColumn('generation', 'bigint', (c) => c.notNull())
    .addColumn('changed_at', 'bigint')
    .execute();
  await sql`insert into vulndb_state (id, generation, changed_at) values (1, 0, null)`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  for (const t of ['vulndb_state', 'vulndb_sources', 'vulndb_packages', 'vulndb_records']) await db.schema.dropTable(t).execute();
}
