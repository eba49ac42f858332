import { sql, type Kysely } from 'kysely';
import type { RepositoryQueries, RepositoryRef, RepositoryRow, RepositoryStats, ManifestRow, Slice, TagRow } from '../../core/repository-listing.js';
import type { Digest } from '../../oci/digest.js';
import type { RepoName } from '../../oci/name.js';
import type { SeveritySummary } from '../../scan/report.js';
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

  async manifests(repositoryId: number, limit: number, offset: number, tagged?: boolean): Promise<Slice<ManifestRow>> {
    const own = this.db.selectFrom('manifests as m').where('m.repository_id', '=', repositoryId);
    const filtered =
      tagged === undefined
        ? own
        : own.where(({ exists, not, selectFrom }) => {
            const hasTag = exists(selectFrom('tags as t').select('t.name').whereRef('t.manifest_id', '=', 'm.id'));
            return tagged ? hasTag : not(hasTag);
          });
    const total = await filtered.select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
    // A manifest's time is its push or its latest tagging, whichever is later (portable: no GREATEST in SQLite).
    const taggedAt = sql<number>`coalesce((select max(t.updated_at) from tags t where t.manifest_id = m.id), 0)`;
    const ids = await filtered
      .select('m.id')
      .orderBy(sql`case when ${taggedAt} > m.created_at then ${taggedAt} else m.created_at end`, 'desc')
      .orderBy('m.id', 'desc')
      .limit(limit)
      .offset(offset)
      .execute();
    const rows = new Map((await this.manifestRows(ids.map((r) => Number(r.id)))).map((m) => [m.id, m]));
    return { total: Number(total.n), items: ids.map((r) => rows.get(Number(r.id))).filter((m): m is NonNullable<typeof m> => m !== undefined) };
  }

  async stats(repositoryIds: number[]): Promise<Map<number, RepositoryStats>> {
    const out = new Map<number, RepositoryStats>();
    const of = (id: number) => {
      let s = out.get(id);
      if (!s) out.set(id, (s = { sizeBytes: 0, pushedAt: null, tagCount: 0 }));
      return s;
    };
    const later = (a: number | null, b: number) => (a === null || b > a ? b : a);
    for (let i = 0; i < repositoryIds.length; i += CHUNK) {
      const chunk = repositoryIds.slice(i, i + CHUNK);
      const manifests = await this.db
        .selectFrom('manifests')
        .select(['repository_id', (eb) => eb.fn.sum<number>('size').as('bytes'), (eb) => eb.fn.max('created_at').as('at')])
        .where('repository_id', 'in', chunk)
        .groupBy('repository_id')
        .execute();
      // Each blob once per repository, however many of its manifests reference it.
      const blobs = await this.db
        .selectFrom((eb) =>
          eb
            .selectFrom('manifest_references as r')
            .innerJoin('manifests as m', 'm.id', 'r.manifest_id')
            .select(['m.repository_id', 'r.digest'])
            .distinct()
            .where('r.kind', '=', 'blob')
            .where('m.repository_id', 'in', chunk)
            .as('d'),
        )
        .innerJoin('blobs as b', 'b.digest', 'd.digest')
        .select(['d.repository_id', (eb) => eb.fn.sum<number>('b.size').as('bytes')])
        .groupBy('d.repository_id')
        .execute();
      const tags = await this.db
        .selectFrom('tags')
        .select(['repository_id', (eb) => eb.fn.countAll<number>().as('n'), (eb) => eb.fn.max('updated_at').as('at')])
        .where('repository_id', 'in', chunk)
        .groupBy('repository_id')
        .execute();
      for (const r of manifests) {
        const s = of(Number(r.repository_id));
        s.sizeBytes += Number(r.bytes);
        s.pushedAt = later(s.pushedAt, Number(r.at));
      }
      for (const r of blobs) of(Number(r.repository_id)).sizeBytes += Number(r.bytes);
      for (const r of tags) {
        const s = of(Number(r.repository_id));
        s.tagCount = Number(r.n);
        s.pushedAt = later(s.pushedAt, Number(r.at));
      }
    }
    return out;
  }

  async scanSummaries(repositoryIds: number[]): Promise<Map<number, SeveritySummary[]>> {
    const out = new Map<number, SeveritySummary[]>();
    for (let i = 0; i < repositoryIds.length; i += CHUNK) {
      // Only image scans carry a summary (an index's scan adds up its platforms', which are manifests of the repository too).
      const rows = await this.db
        .selectFrom('manifests as m')
        .innerJoin('image_scans as s', 's.manifest_digest', 'm.digest')
        .select(['m.repository_id', 's.summary'])
        .distinct()
        .where('m.repository_id', 'in', repositoryIds.slice(i, i + CHUNK))
        .where('s.status', '=', 'complete')
        .where('s.summary', 'is not', null)
        .execute();
      for (const r of rows) {
        const id = Number(r.repository_id);
        out.set(id, [...(out.get(id) ?? []), JSON.parse(r.summary!) as SeveritySummary]);
      }
    }
    return out;
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

  /** Manifests by id, with their tags, time of last change and last recorded pull. */
  private async manifestRows(ids: number[]): Promise<(ManifestRow & { repositoryId: number })[]> {
    const out: (ManifestRow & { repositoryId: number })[] = [];
    for (let i = 0; i < ids.length; i += CHUNK) {
      const chunk = ids.slice(i, i + CHUNK);
      const rows = await this.db
        .selectFrom('manifests as m')
        .leftJoin('manifest_pulls as p', 'p.manifest_id', 'm.id')
        .select(['m.id', 'm.repository_id', 'm.digest', 'm.media_type', 'm.artifact_type', 'm.subject_digest', 'm.size', 'm.body', 'm.created_at', 'p.pulled_at'])
        .where('m.id', 'in', chunk)
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
          artifactType: r.artifact_type,
          subjectDigest: r.subject_digest as Digest | null,
          pulledAt: r.pulled_at === null ? null : Number(r.pulled_at),
        });
      }
    }
    return out;
  }
}
