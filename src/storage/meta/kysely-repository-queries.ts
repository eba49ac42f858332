import { sql, type Kysely } from 'kysely';
import type { RepositoryQueries, RepositoryRef, RepositoryRow, ManifestRow, Slice, TagRow } from '../../core/repository-listing.js';
import type { Digest } from '../../oci/digest.js';
import type { RepoName } from '../../oci/name.js';
import { KyselyMetaStore } from './kysely-meta-store.js';
import type { MetaStore } from './meta-store.js';
import type { Database } from './schema.js';
import { runTransaction } from './transaction.js';

/** `in (…)` lists stay well under every dialect's parameter limit. */
const CHUNK = 500;

/**
 * The management API's repository listings over the same database as the
 * MetaStore, in portable SQL. Pages are small (at most 200 rows), so each
 * page costs a handful of indexed queries, not one per row.
 */
export class KyselyRepositoryQueries implements RepositoryQueries {
  constructor(private readonly db: Kysely<Database>) {}

  async repositoriesOf(registry: string): Promise<RepositoryRef[]> {
    const rows = await this.db
      .selectFrom('repositories as r')
      .innerJoin('registries as g', 'g.id', 'r.registry_id')
      .select(['r.id', 'r.name'])
      .where('g.name', '=', registry)
      .orderBy('r.name')
      .execute();
    return rows.map((r) => ({ id: Number(r.id), name: r.name as RepoName }));
  }

  async summarize(repositories: RepositoryRef[]): Promise<RepositoryRow[]> {
    if (repositories.length === 0) return [];
    const ids = repositories.map((r) => r.id);
    const count = async (table: 'tags' | 'manifests') => {
      const rows = await this.db
        .selectFrom(table)
        .select(['repository_id', (eb) => eb.fn.countAll<number>().as('n')])
        .where('repository_id', 'in', ids)
        .groupBy('repository_id')
        .execute();
      return new Map(rows.map((r) => [Number(r.repository_id), Number(r.n)]));
    };
    const [tagCounts, manifestCounts] = [await count('tags'), await count('manifests')];

    // The latest manifest is either the newest pushed or the one tagged most recently: fetch both, keep the later.
    const newest = await this.db
      .selectFrom('manifests')
      .select((eb) => eb.fn.max('id').as('id'))
      .where('repository_id', 'in', ids)
      .groupBy('repository_id')
      .execute();
    const retagged = await this.db
      .selectFrom('tags as t')
      .innerJoin(
        (eb) =>
          eb.selectFrom('tags').select(['repository_id', (e) => e.fn.max('updated_at').as('at')]).where('repository_id', 'in', ids).groupBy('repository_id').as('x'),
        (join) => join.onRef('x.repository_id', '=', 't.repository_id').onRef('x.at', '=', 't.updated_at'),
      )
      .select('t.manifest_id as id')
      .execute();
    const candidates = await this.manifestRows([...new Set([...newest, ...retagged].map((r) => Number(r.id)))]);
    const latest = new Map<number, ManifestRow & { repositoryId: number }>();
    for (const m of candidates) {
      const held = latest.get(m.repositoryId);
      if (!held || m.updatedAt > held.updatedAt || (m.updatedAt === held.updatedAt && m.id > held.id)) latest.set(m.repositoryId, m);
    }
    return repositories.map((r) => {
      const m = latest.get(r.id);
      const row: RepositoryRow = { ...r, tagCount: tagCounts.get(r.id) ?? 0, manifestCount: manifestCounts.get(r.id) ?? 0 };
      if (m) {
        const { repositoryId: _, ...manifest } = m;
        row.latest = manifest;
      }
      return row;
    });
  }

  async tags(repositoryId: number, limit: number, offset: number): Promise<Slice<TagRow>> {
    const total = await this.db
      .selectFrom('tags')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('repository_id', '=', repositoryId)
      .executeTakeFirstOrThrow();
    const rows = await this.db
      .selectFrom('tags')
      .select(['name', 'updated_at', 'manifest_id'])
      .where('repository_id', '=', repositoryId)
      .orderBy('updated_at', 'desc')
      .orderBy('name')
      .limit(limit)
      .offset(offset)
      .execute();
    const manifests = new Map((await this.manifestRows([...new Set(rows.map((r) => Number(r.manifest_id)))])).map((m) => [m.id, m]));
    const items: TagRow[] = [];
    for (const r of rows) {
      const manifest = manifests.get(Number(r.manifest_id));
      if (manifest) items.push({ tag: r.name, updatedAt: Number(r.updated_at), manifest });
    }
    return { total: Number(total.n), items };
  }

  async manifests(repositoryId: number, limit: number, offset: number): Promise<Slice<ManifestRow>> {
    const total = await this.db
      .selectFrom('manifests')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('repository_id', '=', repositoryId)
      .executeTakeFirstOrThrow();
    // A manifest's time is its push or its latest tagging, whichever is later (portable: no GREATEST in SQLite).
    const taggedAt = sql<number>`coalesce((select max(t.updated_at) from tags t where t.manifest_id = m.id), 0)`;
    const ids = await this.db
      .selectFrom('manifests as m')
      .select('m.id')
      .where('m.repository_id', '=', repositoryId)
      .orderBy(sql`case when ${taggedAt} > m.created_at then ${taggedAt} else m.created_at end`, 'desc')
      .orderBy('m.id', 'desc')
      .limit(limit)
      .offset(offset)
      .execute();
    const rows = new Map((await this.manifestRows(ids.map((r) => Number(r.id)))).map((m) => [m.id, m]));
    return { total: Number(total.n), items: ids.map((r) => rows.get(Number(r.id))).filter((m): m is NonNullable<typeof m> => m !== undefined) };
  }

  async manifestsByDigest(repositoryId: number, digests: Digest[]): Promise<ManifestRow[]> {
    const ids: number[] = [];
    for (let i = 0; i < digests.length; i += CHUNK) {
      const rows = await this.db
        .selectFrom('manifests')
        .select('id')
        .where('repository_id', '=', repositoryId)
        .where('digest', 'in', digests.slice(i, i + CHUNK))
        .execute();
      ids.push(...rows.map((r) => Number(r.id)));
    }
    return this.manifestRows(ids);
  }

  async deleteRepository(repositoryId: number, within?: (tx: MetaStore, removed: { manifests: number; blobs: number }) => Promise<void>): Promise<{ manifests: number; blobs: number; uploads: string[] }> {
    return runTransaction(this.db, async (trx) => {
      // Through the MetaStore's own deletes, so the registry's storage figure and history move as for single deletes.
      const meta = new KyselyMetaStore(trx, async () => {});
      const manifests = await trx.selectFrom('manifests').select('digest').where('repository_id', '=', repositoryId).execute();
      for (const m of manifests) await meta.deleteManifest(repositoryId, m.digest as Digest);
      const blobs = await trx.selectFrom('repository_blobs').select('digest').where('repository_id', '=', repositoryId).execute();
      for (const b of blobs) await meta.unlinkBlob(repositoryId, b.digest as Digest);
      const uploads = await trx.selectFrom('uploads').select('id').where('repository_id', '=', repositoryId).execute();
      await trx.deleteFrom('uploads').where('repository_id', '=', repositoryId).execute();
      await trx.deleteFrom('tags').where('repository_id', '=', repositoryId).execute();
      await trx.deleteFrom('repositories').where('id', '=', repositoryId).execute();
      if (within) await within(meta, { manifests: manifests.length, blobs: blobs.length });
      return { manifests: manifests.length, blobs: blobs.length, uploads: uploads.map((u) => u.id) };
    });
  }

  /** Manifests by id, with their tags and time of last change. */
  private async manifestRows(ids: number[]): Promise<(ManifestRow & { repositoryId: number })[]> {
    const out: (ManifestRow & { repositoryId: number })[] = [];
    for (let i = 0; i < ids.length; i += CHUNK) {
      const chunk = ids.slice(i, i + CHUNK);
      const rows = await this.db
        .selectFrom('manifests')
        .select(['id', 'repository_id', 'digest', 'media_type', 'size', 'body', 'created_at'])
        .where('id', 'in', chunk)
        .execute();
      const tags = await this.db.selectFrom('tags').select(['manifest_id', 'name', 'updated_at']).where('manifest_id', 'in', chunk).orderBy('name').execute();
      for (const r of rows) {
        const own = tags.filter((t) => Number(t.manifest_id) === Number(r.id));
        out.push({
          id: Number(r.id),
          repositoryId: Number(r.repository_id),
          digest: r.digest as Digest,
          mediaType: r.media_type,
          size: Number(r.size),
          body: r.body,
          updatedAt: Math.max(Number(r.created_at), ...own.map((t) => Number(t.updated_at))),
          tags: own.map((t) => t.name),
        });
      }
    }
    return out;
  }
}
