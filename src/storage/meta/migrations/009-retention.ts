import type { Kysely } from 'kysely';
import { columnTypes } from './dialect.js';

/**
 * Retention (src/events/retention/): each registry's policies (the document
 * as JSON), their runs and what each run deleted, and the last pull of each
 * manifest. Pull times live in a table of their own, not a column of
 * `manifests`: recording a pull then never rewrites a manifest's row (and
 * body), and a manifest's deletion takes its pull time with it.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  const t = columnTypes(db);
  await db.schema
    .createTable('retention_policies')
    .addColumn('registry_id', t.id, (c) => c.notNull().references('registries.id').onDelete('cascade'))
    .addColumn('id', t.text, (c) => c.notNull())
    .addColumn('document', t.text, (c) => c.notNull())
    .addColumn('revision', 'integer', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .addPrimaryKeyConstraint('retention_policies_pk', ['registry_id', 'id'])
    .execute();

  await db.schema
    .createTable('retention_runs')
    .addColumn('id', t.text, (c) => c.primaryKey())
    .addColumn('registry_id', t.id, (c) => c.notNull().references('registries.id').onDelete('cascade'))
    .addColumn('policy_id', t.text, (c) => c.notNull())
    .addColumn('trigger', t.text, (c) => c.notNull())
    .addColumn('status', t.text, (c) => c.notNull())
    .addColumn('requested_by', t.text)
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('started_at', 'bigint')
    .addColumn('finished_at', 'bigint')
    .addColumn('repositories', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('images_deleted', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('manifests_deleted', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('bytes_freed', 'bigint', (c) => c.notNull().defaultTo(0))
    .addColumn('skipped', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('error', t.text)
    .addColumn('job_id', t.id)
    .addColumn('node', t.text)
    .addColumn('gc_run_id', t.text)
    .execute();
  await db.schema.createIndex('retention_runs_policy').on('retention_runs').columns(['registry_id', 'policy_id', 'created_at']).execute();
  await db.schema.createIndex('retention_runs_job').on('retention_runs').column('job_id').execute();

  await db.schema
    .createTable('retention_deletions')
    .addColumn('run_id', t.text, (c) => c.notNull().references('retention_runs.id').onDelete('cascade'))
    .addColumn('seq', 'integer', (c) => c.notNull())
    .addColumn('repository', t.text, (c) => c.notNull())
    .addColumn('digest', t.text, (c) => c.notNull())
    .addColumn('role', t.text, (c) => c.notNull())
    /** JSON array. */
    .addColumn('tags', t.text, (c) => c.notNull())
    .addColumn('size', 'bigint', (c) => c.notNull())
    .addColumn('rule_priority', 'integer')
    .addColumn('reason', t.text, (c) => c.notNull())
    .addColumn('outcome', t.text, (c) => c.notNull())
    .addPrimaryKeyConstraint('retention_deletions_pk', ['run_id', 'seq'])
    .execute();

  await db.schema
    .createTable('manifest_pulls')
    .addColumn('manifest_id', t.id, (c) => c.primaryKey().references('manifests.id').onDelete('cascade'))
    .addColumn('pulled_at', 'bigint', (c) => c.notNull())
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  for (const table of ['manifest_pulls', 'retention_deletions', 'retention_runs', 'retention_policies']) await db.schema.dropTable(table).execute();
}
