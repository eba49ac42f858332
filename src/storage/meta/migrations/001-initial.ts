import { type Kysely } from 'kysely';
import { columnTypes } from './dialect.js';

/** The registry's first schema: registries, repositories, blobs, uploads, manifests, tags. */
export async function up(db: Kysely<unknown>): Promise<void> {
  const t = columnTypes(db);
  await db.schema
    .createTable('registries')
    .addColumn('id', t.id, t.autoIncrementKey)
    .addColumn('name', t.text, (c) => c.notNull().unique())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .execute();

  await db.schema
    .createTable('repositories')
    .addColumn('id', t.id, t.autoIncrementKey)
    .addColumn('registry_id', t.id, (c) => c.notNull().references('registries.id'))
    .addColumn('name', t.text, (c) => c.notNull().unique())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .execute();

  await db.schema
    .createTable('blobs')
    .addColumn('digest', t.text, (c) => c.primaryKey())
    .addColumn('size', 'bigint', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .execute();

  await db.schema
    .createTable('repository_blobs')
    .addColumn('repository_id', t.id, (c) => c.notNull().references('repositories.id').onDelete('cascade'))
    .addColumn('digest', t.text, (c) => c.notNull().references('blobs.digest'))
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addPrimaryKeyConstraint('repository_blobs_pk', ['repository_id', 'digest'])
    .execute();
  await db.schema.createIndex('repository_blobs_digest').on('repository_blobs').column('digest').execute();

  await db.schema
    .createTable('uploads')
    .addColumn('id', t.text, (c) => c.primaryKey())
    .addColumn('repository_id', t.id, (c) => c.notNull().references('repositories.id').onDelete('cascade'))
    .addColumn('size', 'bigint', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .execute();

  await db.schema
    .createTable('manifests')
    .addColumn('id', t.id, t.autoIncrementKey)
    .addColumn('repository_id', t.id, (c) => c.notNull().references('repositories.id').onDelete('cascade'))
    .addColumn('digest', t.text, (c) => c.notNull())
    .addColumn('media_type', t.text, (c) => c.notNull())
    .addColumn('artifact_type', t.text)
    .addColumn('size', 'bigint', (c) => c.notNull())
    .addColumn('body', t.bytes, (c) => c.notNull())
    .addColumn('subject_digest', t.text)
    .addColumn('annotations', t.text)
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addUniqueConstraint('manifests_repository_digest', ['repository_id', 'digest'])
    .execute();
  await db.schema.createIndex('manifests_subject').on('manifests').columns(['repository_id', 'subject_digest']).execute();

  await db.schema
    .createTable('manifest_references')
    .addColumn('manifest_id', t.id, (c) => c.notNull().references('manifests.id').onDelete('cascade'))
    .addColumn('digest', t.text, (c) => c.notNull())
    .addColumn('kind', t.text, (c) => c.notNull())
    .addPrimaryKeyConstraint('manifest_references_pk', ['manifest_id', 'kind', 'digest'])
    .execute();
  await db.schema.createIndex('manifest_references_digest').on('manifest_references').column('digest').execute();

  await db.schema
    .createTable('tags')
    .addColumn('repository_id', t.id, (c) => c.notNull().references('repositories.id').onDelete('cascade'))
    .addColumn('name', t.text, (c) => c.notNull())
    .addColumn('manifest_id', t.id, (c) => c.notNull().references('manifests.id').onDelete('cascade'))
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .addPrimaryKeyConstraint('tags_pk', ['repository_id', 'name'])
    .execute();
  await db.schema.createIndex('tags_manifest').on('tags').column('manifest_id').execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  for (const t of ['tags', 'manifest_references', 'manifests', 'uploads', 'repository_blobs', 'blobs', 'repositories', 'registries']) {
    await db.schema.dropTable(t).execute();
  }
}
