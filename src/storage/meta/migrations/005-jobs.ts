import { sql, type Kysely } from 'kysely';
import { columnTypes } from './dialect.js';

/**
 * The durable job queue every node's worker takes work from (src/jobs/), the
 * claims pushes record so that garbage collection on any node keeps bytes a
 * push on another node is about to link, and, on gc_runs, the job that runs
 * each garbage-collection run and the node running it.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  const t = columnTypes(db);
  await db.schema
    .createTable('jobs')
    .addColumn('id', t.id, t.autoIncrementKey)
    .addColumn('kind', t.text, (c) => c.notNull())
    .addColumn('payload', t.text, (c) => c.notNull())
    .addColumn('status', t.text, (c) => c.notNull())
    .addColumn('run_at', 'bigint', (c) => c.notNull())
    .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('max_attempts', 'integer', (c) => c.notNull())
    .addColumn('lease_owner', t.text)
    .addColumn('lease_expires_at', 'bigint')
    .addColumn('last_error', t.text)
    .addColumn('dedupe_key', t.text)
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .execute();
  // Claiming looks for queued jobs that are due, and for running ones whose lease has expired.
  await db.schema.createIndex('jobs_due').on('jobs').columns(['status', 'run_at']).execute();
  await db.schema.createIndex('jobs_leases').on('jobs').columns(['status', 'lease_expires_at']).execute();
  // One active job per dedupe key: a partial unique index, which SQLite and PostgreSQL both have.
  await db.schema
    .createIndex('jobs_active_dedupe')
    .on('jobs')
    .column('dedupe_key')
    .unique()
    .where(sql.ref('status'), 'in', ['queued', 'running'])
    .execute();
  // Pruning finished jobs.
  await db.schema.createIndex('jobs_finished').on('jobs').columns(['status', 'updated_at']).execute();

  await db.schema
    .createTable('blob_claims')
    .addColumn('digest', t.text, (c) => c.notNull())
    /** '' for the digest's own row (the lock GC and pushes meet on, with a time claim); else an upload session's id. */
    .addColumn('claimant', t.text, (c) => c.notNull())
    .addColumn('expires_at', 'bigint', (c) => c.notNull())
    .addPrimaryKeyConstraint('blob_claims_pk', ['digest', 'claimant'])
    .execute();
  await db.schema.createIndex('blob_claims_expiry').on('blob_claims').column('expires_at').execute();

  await db.schema.alterTable('gc_runs').addColumn('job_id', t.id).execute();
  await db.schema.alterTable('gc_runs').addColumn('node', t.text).execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  for (const c of ['node', 'job_id']) await db.schema.alterTable('gc_runs').dropColumn(c).execute();
  for (const t of ['blob_claims', 'jobs']) await db.schema.dropTable(t).execute();
}
