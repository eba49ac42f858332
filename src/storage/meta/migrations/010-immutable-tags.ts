import type { Kysely } from 'kysely';
import { columnTypes } from './dialect.js';

/** Immutable-tag rules: per registry, tags matching a glob (in repositories matching a glob) can never move or be deleted. */
export async function up(db: Kysely<unknown>): Promise<void> {
  const t = columnTypes(db);
  await db.schema
    .createTable('immutable_tag_rules')
    .addColumn('id', t.id, t.autoIncrementKey)
    .addColumn('registry_id', t.id, (c) => c.notNull().references('registries.id').onDelete('cascade'))
    .addColumn('repository_pattern', t.text, (c) => c.notNull())
    .addColumn('tag_pattern', t.text, (c) => c.notNull())
    .addColumn('created_by', t.text, (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('immutable_tag_rules_registry').on('immutable_tag_rules').column('registry_id').execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('immutable_tag_rules').execute();
}
