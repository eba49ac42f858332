import { type Kysely } from 'kysely';
import { columnTypes } from './dialect.js';

/** Identities, grants, tokens and the audit log. */
export async function up(db: Kysely<unknown>): Promise<void> {
  const t = columnTypes(db);
  await db.schema.alterTable('registries').addColumn('public', 'integer', (c) => c.notNull().defaultTo(0)).execute();

  await db.schema
    .createTable('users')
    .addColumn('id', t.id, t.autoIncrementKey)
    .addColumn('username', t.text, (c) => c.notNull().unique())
    .addColumn('password_hash', t.text, (c) => c.notNull())
    .addColumn('disabled', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('server_admin', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('can_create_registries', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .execute();

  await db.schema
    .createTable('teams')
    .addColumn('id', t.id, t.autoIncrementKey)
    .addColumn('name', t.text, (c) => c.notNull().unique())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .execute();

  await db.schema
    .createTable('team_members')
    .addColumn('team_id', t.id, (c) => c.notNull().references('teams.id').onDelete('cascade'))
    .addColumn('user_id', t.id, (c) => c.notNull().references('users.id').onDelete('cascade'))
    .addPrimaryKeyConstraint('team_members_pk', ['team_id', 'user_id'])
    .execute();

  await db.schema
    .createTable('robots')
    .addColumn('id', t.id, t.autoIncrementKey)
    .addColumn('registry_id', t.id, (c) => c.notNull().references('registries.id').onDelete('cascade'))
    .addColumn('name', t.text, (c) => c.notNull())
    .addColumn('disabled', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addUniqueConstraint('robots_registry_name', ['registry_id', 'name'])
    .execute();

  await db.schema
    .createTable('grants')
    .addColumn('id', t.id, t.autoIncrementKey)
    .addColumn('registry_id', t.id, (c) => c.notNull().references('registries.id').onDelete('cascade'))
    .addColumn('subject_kind', t.text, (c) => c.notNull())
    .addColumn('subject_id', t.id, (c) => c.notNull())
    .addColumn('role', t.text, (c) => c.notNull())
    .addColumn('repository_pattern', t.text)
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('grants_subject').on('grants').columns(['subject_kind', 'subject_id']).execute();

  await db.schema
    .createTable('tokens')
    .addColumn('id', t.text, (c) => c.primaryKey())
    .addColumn('kind', t.text, (c) => c.notNull())
    .addColumn('owner_kind', t.text, (c) => c.notNull())
    .addColumn('owner_id', t.id, (c) => c.notNull())
    .addColumn('name', t.text, (c) => c.notNull())
    .addColumn('secret_hash', t.text, (c) => c.notNull())
    .addColumn('scopes', t.text)
    .addColumn('expires_at', 'bigint')
    .addColumn('last_used_at', 'bigint')
    .addColumn('revoked_at', 'bigint')
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('tokens_owner').on('tokens').columns(['owner_kind', 'owner_id']).execute();

  await db.schema
    .createTable('audit_events')
    .addColumn('id', t.id, t.autoIncrementKey)
    .addColumn('at', 'bigint', (c) => c.notNull())
    .addColumn('actor', t.text, (c) => c.notNull())
    .addColumn('actor_kind', t.text, (c) => c.notNull())
    .addColumn('source', t.text)
    .addColumn('action', t.text, (c) => c.notNull())
    .addColumn('registry', t.text)
    .addColumn('resource', t.text)
    .addColumn('outcome', t.text, (c) => c.notNull())
    .addColumn('reason', t.text)
    .addColumn('detail', t.text)
    .execute();
  await db.schema.createIndex('audit_events_at').on('audit_events').column('at').execute();
  await db.schema.createIndex('audit_events_actor').on('audit_events').columns(['actor', 'at']).execute();
  await db.schema.createIndex('audit_events_registry').on('audit_events').columns(['registry', 'at']).execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  for (const t of ['audit_events', 'tokens', 'grants', 'robots', 'team_members', 'teams', 'users']) {
    await db.schema.dropTable(t).execute();
  }
  await db.schema.alterTable('registries').dropColumn('public').execute();
}
