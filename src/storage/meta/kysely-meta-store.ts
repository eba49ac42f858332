import { CompiledQuery, sql, type Compilable, type Kysely, type Transaction } from 'kysely';
import { isDeepStrictEqual } from 'node:util';
import type { Digest } from '../../oci/digest.js';
import type { RepoName } from '../../oci/name.js';
import type {
  ManifestRecord,
  MetaStore,
  NewManifest,
  OutboxEvent,
  ReferrerRecord,
  RepositoryRecord,
  UploadRecord,
} from './meta-store.js';
import { recordEventIn } from './kysely-webhook-store.js';
import type { Database } from './schema.js';
import { runTransaction } from './transaction.js';

/**
 * Runs a write that costs nothing if a power cut undoes it, such as an upload session's start or progress: the
 * staged bytes it counts are not synced before the commit either, and a session found shorter
 * than its record is dropped. The embedded SQLite store runs it without the WAL fsync every
 * other commit waits for (on the event loop: 5–30 ms per chunk of a chunked push while the disk
 * flushes blob data); elsewhere it is an ordinary write.
 */
export type ProgressWrite = <T>(write: (db: Kysely<Database>) => Promise<T>) => Promise<T>;

/**
 * MetaStore over kysely, written once in portable SQL so every dialect
 * (SQLite by default, PostgreSQL) shares it. Dialect-specific setup lives beside it.
 */
export class KyselyMetaStore implements MetaStore {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly onClose: () => Promise<void> = async () => db.destroy(),
    /** SQL of the hot queries, compiled once per store (shared with its transactions). */
    private readonly compiled = new Map<string, string>(),
    private readonly progressWrite: ProgressWrite = (write) => write(db),
  ) {}

  async transaction<T>(work: (tx: MetaStore) => Promise<T>): Promise<T> {
    if (this.db.isTransaction) return work(this);
    return runTransaction(this.db, (trx: Transaction<Database>) => work(new KyselyMetaStore(trx, async () => {}, this.compiled)));
  }

  /**
   * Runs a query whose shape never changes, compiling it only the first time:
   * building and compiling with kysely costs more than SQLite's answer on the
   * read paths that serve every pull. `params` must be the query's parameters
   * in the order they appear; the first compile checks that. The text comes
   * from this store's own database, so it carries its dialect's placeholders
   * (`?` or `$1`); transactions share the cache of the store that opened them.
   */
  private async precompiled<R>(key: string, params: unknown[], build: () => Compilable<R>): Promise<R[]> {
    let text = this.compiled.get(key);
    if (text === undefined) {
      const query = build().compile();
      if (!isDeepStrictEqual([...query.parameters], params)) throw new Error(`precompiled query ${key}: parameter order differs`);
      text = query.sql;
      this.compiled.set(key, text);
    }
    return (await this.db.executeQuery<R>(CompiledQuery.raw(text, params))).rows;
  }

  async findManifest(name: RepoName, reference: { tag: string } | { digest: Digest }): Promise<ManifestRecord | undefined> {
    const columns = ['m.id', 'm.digest', 'm.media_type', 'm.size', 'm.body', 'm.artifact_type', 'm.subject_digest'] as const;
    const rows =
      'tag' in reference
        ? await this.precompiled('findManifestByTag', [name, reference.tag], () =>
            this.db
              .selectFrom('repositories as r')
              .innerJoin('tags as t', 't.repository_id', 'r.id')
              .innerJoin('manifests as m', 'm.id', 't.manifest_id')
              .select(columns)
              .where('r.name', '=', name)
              .where('t.name', '=', reference.tag),
          )
        : await this.precompiled('findManifestByDigest', [name, reference.digest], () =>
            this.db
              .selectFrom('repositories as r')
              .innerJoin('manifests as m', 'm.repository_id', 'r.id')
              .select(columns)
              .where('r.name', '=', name)
              .where('m.digest', '=', reference.digest),
          );
    return rows[0] ? toManifest(rows[0]) : undefined;
  }

  async findRepositoryBlob(name: RepoName, digest: Digest): Promise<{ size: number } | undefined> {
    const rows = await this.precompiled('findRepositoryBlob', [name, digest], () =>
      this.db
        .selectFrom('repositories as r')
        .innerJoin('repository_blobs as rb', 'rb.repository_id', 'r.id')
        .innerJoin('blobs as b', 'b.digest', 'rb.digest')
        .select('b.size')
        .where('r.name', '=', name)
        .where('rb.digest', '=', digest),
    );
    return rows[0] ? { size: Number(rows[0].size) } : undefined;
  }

  async getRepository(name: RepoName): Promise<RepositoryRecord | undefined> {
    const row = await this.db
      .selectFrom('repositories as r')
      .innerJoin('registries as g', 'g.id', 'r.registry_id')
      .select(['r.id', 'r.name', 'g.name as registry'])
      .where('r.name', '=', name)
      .executeTakeFirst();
    return row ? { id: Number(row.id), name: row.name as RepoName, registry: row.registry } : undefined;
  }

  async ensureRepository(name: RepoName, registry: string): Promise<RepositoryRecord> {
    const existing = await this.getRepository(name);
    if (existing) return existing;
    const now = Date.now();
    await this.db.insertInto('registries').values({ name: registry, created_at: now }).onConflict((oc) => oc.column('name').doNothing()).execute();
    const reg = await this.db.selectFrom('registries').select('id').where('name', '=', registry).executeTakeFirstOrThrow();
    await this.db
      .insertInto('repositories')
      .values({ registry_id: reg.id, name, created_at: now })
      .onConflict((oc) => oc.column('name').doNothing())
      .execute();
    const created = await this.getRepository(name);
    if (!created) throw new Error(`repository ${name} vanished after insert`);
    return created;
  }

  async listRepositories(limit: number, last?: string): Promise<string[]> {
    let q = this.db.selectFrom('repositories').select('name').orderBy('name').limit(limit);
    if (last !== undefined) q = q.where('name', '>', last);
    return (await q.execute()).map((r) => r.name);
  }

  async linkBlob(repositoryId: number, digest: Digest, size: number): Promise<void> {
    await this.transaction(async (tx) => (tx as KyselyMetaStore).linkBlobInTransaction(repositoryId, digest, size));
  }

  private async linkBlobInTransaction(repositoryId: number, digest: Digest, size: number): Promise<void> {
    const now = Date.now();
    await this.db.insertInto('blobs').values({ digest, size, created_at: now }).onConflict((oc) => oc.column('digest').doNothing()).execute();
    const linked = await this.db
      .insertInto('repository_blobs')
      .values({ repository_id: repositoryId, digest, created_at: now })
      .onConflict((oc) => oc.columns(['repository_id', 'digest']).doNothing())
      .executeTakeFirst();
    if (Number(linked.numInsertedOrUpdatedRows ?? 0n) === 0) return;
    // Storage counts a blob once per registry, however many of its repositories hold it.
    const registryId = await this.registryIdOf(repositoryId);
    // Insert first, ignoring a row that exists: a "missing" row another writer adds meanwhile is never a unique violation.
    const first = await this.db
      .insertInto('registry_blobs')
      .values({ registry_id: registryId, digest, size, refs: 1 })
      .onConflict((oc) => oc.columns(['registry_id', 'digest']).doNothing())
      .executeTakeFirst();
    if (Number(first.numInsertedOrUpdatedRows ?? 0n) > 0) {
      await this.adjustStorage(registryId, size);
      return;
    }
    await this.db
      .updateTable('registry_blobs')
      .set((eb) => ({ refs: eb('refs', '+', 1) }))
      .where('registry_id', '=', registryId)
      .where('digest', '=', digest)
      .execute();
  }

  private async registryIdOf(repositoryId: number): Promise<number> {
    const row = await this.db.selectFrom('repositories').select('registry_id').where('id', '=', repositoryId).executeTakeFirstOrThrow();
    return Number(row.registry_id);
  }

  /** Moves a registry's storage figure and today's point of its history, in the caller's transaction. */
  private async adjustStorage(registryId: number, delta: number): Promise<void> {
    if (delta === 0) return;
    const now = Date.now();
    await this.db
      .updateTable('registries')
      .set((eb) => ({ storage_bytes: eb('storage_bytes', '+', delta), storage_updated_at: now }))
      .where('id', '=', registryId)
      .execute();
    const row = await this.db.selectFrom('registries').select('storage_bytes').where('id', '=', registryId).executeTakeFirstOrThrow();
    const day = new Date(now).toISOString().slice(0, 10);
    await this.db
      .insertInto('storage_history')
      .values({ registry_id: registryId, day, bytes: Number(row.storage_bytes) })
      .onConflict((oc) => oc.columns(['registry_id', 'day']).doUpdateSet({ bytes: Number(row.storage_bytes) }))
      .execute();
  }

  async getRepositoryBlob(repositoryId: number, digest: Digest): Promise<{ size: number } | undefined> {
    const row = await this.db
      .selectFrom('repository_blobs as rb')
      .innerJoin('blobs as b', 'b.digest', 'rb.digest')
      .select('b.size')
      .where('rb.repository_id', '=', repositoryId)
      .where('rb.digest', '=', digest)
      .executeTakeFirst();
    return row ? { size: Number(row.size) } : undefined;
  }

  async getBlob(digest: Digest): Promise<{ size: number } | undefined> {
    const row = await this.db.selectFrom('blobs').select('size').where('digest', '=', digest).executeTakeFirst();
    return row ? { size: Number(row.size) } : undefined;
  }

  async getRepositoryBlobs(repositoryId: number, digests: Digest[]): Promise<Map<string, number>> {
    if (digests.length === 0) return new Map();
    const rows = await this.db
      .selectFrom('repository_blobs as rb')
      .innerJoin('blobs as b', 'b.digest', 'rb.digest')
      .select(['b.digest', 'b.size'])
      .where('rb.repository_id', '=', repositoryId)
      .where('rb.digest', 'in', digests)
      .execute();
    return new Map(rows.map((r) => [r.digest, Number(r.size)]));
  }

  async unlinkBlob(repositoryId: number, digest: Digest): Promise<boolean> {
    return this.transaction(async (tx) => (tx as KyselyMetaStore).unlinkBlobInTransaction(repositoryId, digest));
  }

  private async unlinkBlobInTransaction(repositoryId: number, digest: Digest): Promise<boolean> {
    const res = await this.db.deleteFrom('repository_blobs').where('repository_id', '=', repositoryId).where('digest', '=', digest).executeTakeFirst();
    if (Number(res.numDeletedRows) === 0) return false;
    const registryId = await this.registryIdOf(repositoryId);
    const row = await this.db.selectFrom('registry_blobs').select(['refs', 'size']).where('registry_id', '=', registryId).where('digest', '=', digest).executeTakeFirst();
    if (row && Number(row.refs) > 1) {
      await this.db.updateTable('registry_blobs').set({ refs: Number(row.refs) - 1 }).where('registry_id', '=', registryId).where('digest', '=', digest).execute();
    } else if (row) {
      await this.db.deleteFrom('registry_blobs').where('registry_id', '=', registryId).where('digest', '=', digest).execute();
      await this.adjustStorage(registryId, -Number(row.size));
    }
    return true;
  }

  /** A progress write: a session a power cut forgets is answered BLOB_UPLOAD_UNKNOWN and started again; GC sweeps its staging file. */
  async createUpload(upload: UploadRecord): Promise<void> {
    await this.progressWrite((db) =>
      db
        .insertInto('uploads')
        .values({ id: upload.id, repository_id: upload.repositoryId, size: upload.size, created_at: upload.createdAt, updated_at: upload.createdAt })
        .execute(),
    );
  }

  async getUpload(id: string): Promise<UploadRecord | undefined> {
    const row = await this.db.selectFrom('uploads').selectAll().where('id', '=', id).executeTakeFirst();
    return row ? { id: row.id, repositoryId: Number(row.repository_id), size: Number(row.size), createdAt: Number(row.created_at) } : undefined;
  }

  async setUploadSize(id: string, size: number): Promise<void> {
    await this.progressWrite((db) => db.updateTable('uploads').set({ size, updated_at: Date.now() }).where('id', '=', id).execute());
  }

  async deleteUpload(id: string): Promise<void> {
    await this.db.deleteFrom('uploads').where('id', '=', id).execute();
  }

  async getManifestByDigest(repositoryId: number, digest: Digest): Promise<ManifestRecord | undefined> {
    const row = await this.db
      .selectFrom('manifests')
      .select(['id', 'digest', 'media_type', 'size', 'body', 'artifact_type', 'subject_digest'])
      .where('repository_id', '=', repositoryId)
      .where('digest', '=', digest)
      .executeTakeFirst();
    return row ? toManifest(row) : undefined;
  }

  async getManifestByTag(repositoryId: number, tag: string): Promise<ManifestRecord | undefined> {
    const row = await this.db
      .selectFrom('tags as t')
      .innerJoin('manifests as m', 'm.id', 't.manifest_id')
      .select(['m.id', 'm.digest', 'm.media_type', 'm.size', 'm.body', 'm.artifact_type', 'm.subject_digest'])
      .where('t.repository_id', '=', repositoryId)
      .where('t.name', '=', tag)
      .executeTakeFirst();
    return row ? toManifest(row) : undefined;
  }

  async getRepositoryManifests(repositoryId: number, digests: Digest[]): Promise<Map<string, number>> {
    if (digests.length === 0) return new Map();
    const rows = await this.db
      .selectFrom('manifests')
      .select(['digest', 'size'])
      .where('repository_id', '=', repositoryId)
      .where('digest', 'in', digests)
      .execute();
    return new Map(rows.map((r) => [r.digest, Number(r.size)]));
  }

  async putManifest(m: NewManifest): Promise<number> {
    return this.transaction(async (tx) => (tx as KyselyMetaStore).putManifestInTransaction(m));
  }

  private async putManifestInTransaction(m: NewManifest): Promise<number> {
    const existing = await this.db
      .selectFrom('manifests')
      .select('id')
      .where('repository_id', '=', m.repositoryId)
      .where('digest', '=', m.digest)
      .executeTakeFirst();
    if (existing) return Number(existing.id);
    // ON CONFLICT: the same manifest stored meanwhile by a concurrent put is that put's row, not an error.
    const inserted = await this.db
      .insertInto('manifests')
      .values({
        repository_id: m.repositoryId,
        digest: m.digest,
        media_type: m.mediaType,
        artifact_type: m.artifactType ?? null,
        size: m.size,
        body: m.body,
        subject_digest: m.subjectDigest ?? null,
        annotations: m.annotations ? JSON.stringify(m.annotations) : null,
        created_at: Date.now(),
      })
      .onConflict((oc) => oc.columns(['repository_id', 'digest']).doNothing())
      .returning('id')
      .executeTakeFirst();
    if (!inserted) {
      const stored = await this.db.selectFrom('manifests').select('id').where('repository_id', '=', m.repositoryId).where('digest', '=', m.digest).executeTakeFirstOrThrow();
      return Number(stored.id);
    }
    const id = Number(inserted.id);
    const refs = [
      ...new Set(m.blobDigests.map((d) => `blob ${d}`)),
      ...new Set(m.childDigests.map((d) => `manifest ${d}`)),
    ].map((key) => {
      const [kind, digest] = key.split(' ') as [string, string];
      return { manifest_id: id, kind, digest };
    });
    if (refs.length > 0) await this.db.insertInto('manifest_references').values(refs).execute();
    await this.adjustStorage(await this.registryIdOf(m.repositoryId), m.size);
    return id;
  }

  async deleteManifest(repositoryId: number, digest: Digest): Promise<boolean> {
    return this.transaction(async (tx) => (tx as KyselyMetaStore).deleteManifestInTransaction(repositoryId, digest));
  }

  private async deleteManifestInTransaction(repositoryId: number, digest: Digest): Promise<boolean> {
    const row = await this.db
      .selectFrom('manifests')
      .select(['id', 'size'])
      .where('repository_id', '=', repositoryId)
      .where('digest', '=', digest)
      .executeTakeFirst();
    if (!row) return false;
    // Explicit child deletes keep this correct on dialects without ON DELETE CASCADE enforcement.
    await this.db.deleteFrom('tags').where('manifest_id', '=', row.id).execute();
    await this.db.deleteFrom('manifest_references').where('manifest_id', '=', row.id).execute();
    await this.db.deleteFrom('manifests').where('id', '=', row.id).execute();
    await this.adjustStorage(await this.registryIdOf(repositoryId), -Number(row.size));
    return true;
  }

  async setTag(repositoryId: number, tag: string, manifestId: number): Promise<void> {
    const now = Date.now();
    await this.db
      .insertInto('tags')
      .values({ repository_id: repositoryId, name: tag, manifest_id: manifestId, updated_at: now })
      .onConflict((oc) => oc.columns(['repository_id', 'name']).doUpdateSet({ manifest_id: manifestId, updated_at: now }))
      .execute();
  }

  async tagsOfManifest(repositoryId: number, digest: Digest): Promise<string[]> {
    const rows = await this.db
      .selectFrom('tags as t')
      .innerJoin('manifests as m', 'm.id', 't.manifest_id')
      .select('t.name')
      .where('t.repository_id', '=', repositoryId)
      .where('m.digest', '=', digest)
      .orderBy('t.name')
      .execute();
    return rows.map((r) => r.name);
  }

  async deleteTag(repositoryId: number, tag: string): Promise<boolean> {
    const res = await this.db.deleteFrom('tags').where('repository_id', '=', repositoryId).where('name', '=', tag).executeTakeFirst();
    return Number(res.numDeletedRows) > 0;
  }

  async listTags(repositoryId: number, limit: number, last?: string): Promise<string[]> {
    let q = this.db.selectFrom('tags').select('name').where('repository_id', '=', repositoryId).orderBy('name').limit(limit);
    if (last !== undefined) q = q.where('name', '>', last);
    return (await q.execute()).map((r) => r.name);
  }

  async listReferrers(repositoryId: number, subject: Digest, artifactType?: string): Promise<ReferrerRecord[]> {
    let q = this.db
      .selectFrom('manifests')
      .select(['digest', 'media_type', 'size', 'artifact_type', 'annotations'])
      .where('repository_id', '=', repositoryId)
      .where('subject_digest', '=', subject)
      .orderBy('created_at')
      .orderBy('digest');
    if (artifactType !== undefined) q = q.where('artifact_type', '=', artifactType);
    const rows = await q.execute();
    return rows.map((r) => ({
      digest: r.digest as Digest,
      mediaType: r.media_type,
      size: Number(r.size),
      artifactType: r.artifact_type,
      annotations: r.annotations ? (JSON.parse(r.annotations) as Record<string, string>) : null,
    }));
  }

  async registryStorage(registry: string): Promise<number> {
    const row = await this.db.selectFrom('registries').select('storage_bytes').where('name', '=', registry).executeTakeFirst();
    return row ? Number(row.storage_bytes) : 0;
  }

  async recordEvent(event: OutboxEvent): Promise<boolean> {
    return this.transaction(async (tx) => recordEventIn((tx as KyselyMetaStore).db, event, Date.now()));
  }

  async ping(): Promise<void> {
    await sql`select 1`.execute(this.db);
  }

  async close(): Promise<void> {
    await this.onClose();
  }
}

function toManifest(row: {
  id: number;
  digest: string;
  media_type: string;
  size: number;
  body: Buffer;
  artifact_type: string | null;
  subject_digest: string | null;
}): ManifestRecord {
  return {
    id: Number(row.id),
    digest: row.digest as Digest,
    mediaType: row.media_type,
    size: Number(row.size),
    body: row.body,
    artifactType: row.artifact_type,
    subjectDigest: row.subject_digest as Digest | null,
  };
}
