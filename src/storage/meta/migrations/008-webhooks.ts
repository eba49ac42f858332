import type { Kysely } from 'kysely';
import { columnTypes } from './dialect.js';

/**
 * Webhooks (src/events/): each registry's endpoints, the outbox of events
 * (written in the transaction of the change that caused them, then fanned out),
 * one delivery per event and endpoint with its log, and the storage threshold
 * each registry last reached (so a quota warning is sent once per crossing).
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  const t = columnTypes(db);
  await db.schema
    .createTable('webhook_endpoints')
    .addColumn('id', t.text, (c) => c.primaryKey())
    .addColumn('registry_id', t.id, (c) => c.notNull().references('registries.id').onDelete('cascade'))
    .addColumn('url', t.text, (c) => c.notNull())
    /** Kept as is: the server signs with it. Never returned after creation. */
    .addColumn('secret', t.text, (c) => c.notNull())
    /** JSON array of event types. */
    .addColumn('events', t.text, (c) => c.notNull())
    .addColumn('repository_filter', t.text)
    .addColumn('tag_filter', t.text)
    .addColumn('format', t.text, (c) => c.notNull())
    .addColumn('enabled', 'integer', (c) => c.notNull().defaultTo(1))
    .addColumn('disabled_reason', t.text)
    .addColumn('failing_since', 'bigint')
    .addColumn('created_by', t.text, (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('webhook_endpoints_registry').on('webhook_endpoints').column('registry_id').execute();

  await db.schema
    .createTable('webhook_events')
    /** Recording order: deliveries are created in it. */
    .addColumn('seq', t.id, t.autoIncrementKey)
    .addColumn('id', t.text, (c) => c.notNull().unique())
    .addColumn('registry_id', t.id, (c) => c.notNull().references('registries.id').onDelete('cascade'))
    .addColumn('type', t.text, (c) => c.notNull())
    .addColumn('repository', t.text)
    .addColumn('data', t.text, (c) => c.notNull())
    .addColumn('occurred_at', 'bigint', (c) => c.notNull())
    .addColumn('fanned_out', 'integer', (c) => c.notNull().defaultTo(0))
    .execute();
  await db.schema.createIndex('webhook_events_pending').on('webhook_events').columns(['fanned_out', 'seq']).execute();
  await db.schema.createIndex('webhook_events_registry').on('webhook_events').column('registry_id').execute();

  await db.schema
    .createTable('webhook_deliveries')
    .addColumn('id', t.id, t.autoIncrementKey)
    .addColumn('endpoint_id', t.text, (c) => c.notNull().references('webhook_endpoints.id').onDelete('cascade'))
    .addColumn('event_seq', t.id, (c) => c.notNull().references('webhook_events.seq').onDelete('cascade'))
    /** Deliveries of one endpoint and lane (the repository; '' for registry-wide events) go out one at a time, in id order. */
    .addColumn('lane', t.text, (c) => c.notNull())
    .addColumn('status', t.text, (c) => c.notNull())
    .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('first_attempt_at', 'bigint')
    .addColumn('next_attempt_at', 'bigint')
    .addColumn('response_status', 'integer')
    .addColumn('latency_ms', 'integer')
    .addColumn('response_excerpt', t.text)
    .addColumn('error', t.text)
    .addColumn('redelivery_of', t.id)
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .addColumn('completed_at', 'bigint')
    .execute();
  // The head of a lane: its oldest pending delivery.
  await db.schema.createIndex('webhook_deliveries_lane').on('webhook_deliveries').columns(['endpoint_id', 'lane', 'status', 'id']).execute();
  await db.schema.createIndex('webhook_deliveries_endpoint').on('webhook_deliveries').columns(['endpoint_id', 'id']).execute();
  await db.schema.createIndex('webhook_deliveries_event').on('webhook_deliveries').column('event_seq').execute();
  // Pruning the log.
  await db.schema.createIndex('webhook_deliveries_finished').on('webhook_deliveries').columns(['status', 'updated_at']).execute();

  await db.schema
    .createTable('webhook_quota_levels')
    .addColumn('registry_id', t.id, (c) => c.primaryKey().references('registries.id').onDelete('cascade'))
    /** The highest storage threshold (0, 80 or 100 %) reached since usage last fell below it. */
    .addColumn('level', 'integer', (c) => c.notNull())
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  for (const table of ['webhook_quota_levels', 'webhook_deliveries', 'webhook_events', 'webhook_endpoints']) await db.schema.dropTable(table).execute();
}
