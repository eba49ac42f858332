import type { Kysely, Transaction } from 'kysely';
import type { GcReader, GcRun, GcRunJob, GcRunPatch, GcStatus, GcStore, GcTransaction, GcType, ManifestGraph } from '../../core/gc.js';
import type { Digest } from '../../oci/digest.js';
import { isPostgres } from './dialect.js';
import { KyselySharedBlobClaims, sharedClaimHeld } from './kysely-blob-claims.js';
import { enqueueJobIn } from './kysely-job-store.js';
import { KyselyMetaStore } from './kysely-meta-store.js';
import type { MetaStore } from './meta-store.js';
import type { Database, GcRunsTable } from './schema.js';
import { runTransaction } from './transaction.js';

const FINISHED: GcStatus[] = ['failed', 'succeeded', 'cancelled'];

/** The garbage collector's queries, over the same database as KyselyMetaStore. */
class KyselyGcReader implements GcReader {
  constructor(protected readonly db: Kysely<Database>) {}

  async repositories(registryId: number): Promise<{ id: number; name: string }[]> {
    const rows = await this.db.selectFrom('repositories').select(['id', 'name']).where('registry_id', '=', registryId).orderBy('name').execute();
    return rows.map((r) => ({ id: Number(r.id), name: r.name }));
  }

  async manifestGraph(repositoryId: number): Promise<ManifestGraph> {
    const manifests = await this.db
      .selectFrom('manifests')
      .select(['id', 'digest', 'size', 'subject_digest', 'created_at'])
      .where('repository_id', '=', repositoryId)
      .execute();
    const tagged = await this.db.selectFrom('tags').select('manifest_id').distinct().where('repository_id', '=', repositoryId).execute();
    const children = await this.db
      .selectFrom('manifest_references as mr')
      .innerJoin('manifests as m', 'm.id', 'mr.manifest_id')
      .select(['mr.manifest_id', 'mr.digest'])
      .where('m.repository_id', '=', repositoryId)
      .where('mr.kind', '=', 'manifest')
      .execute();
    return {
      manifests: manifests.map((m) => ({
        id: Number(m.id),
        digest: m.digest as Digest,
        size: Number(m.size),
        subjectDigest: m.subject_digest as Digest | null,
        createdAt: Number(m.created_at),
      })),
      taggedIds: tagged.map((t) => Number(t.manifest_id)),
      children: children.map((c) => ({ parentId: Number(c.manifest_id), digest: c.digest as Digest })),
    };
  }

  async oldLinks(repositoryId: number, createdBefore: number): Promise<{ digest: Digest; createdAt: number }[]> {
    const rows = await this.db
      .selectFrom('repository_blobs')
      .select(['digest', 'created_at'])
      .where('repository_id', '=', repositoryId)
      .where('created_at', '<=', createdBefore)
      .execute();
    return rows.map((r) => ({ digest: r.digest as Digest, createdAt: Number(r.created_at) }));
  }

  async referencesIn(repositoryId: number): Promise<{ manifestId: number; digest: Digest }[]> {
    const rows = await this.db
      .selectFrom('manifest_references as mr')
      .innerJoin('manifests as m', 'm.id', 'mr.manifest_id')
      .select(['mr.manifest_id', 'mr.digest'])
      .where('m.repository_id', '=', repositoryId)
      .execute();
    return rows.map((r) => ({ manifestId: Number(r.manifest_id), digest: r.digest as Digest }));
  }

  async isReferencedIn(repositoryId: number, digest: Digest): Promise<boolean> {
    const row = await this.db
      .selectFrom('manifest_references as mr')
      .innerJoin('manifests as m', 'm.id', 'mr.manifest_id')
      .select('mr.manifest_id')
      .where('mr.digest', '=', digest)
      .where('m.repository_id', '=', repositoryId)
      .limit(1)
      .executeTakeFirst();
    return row !== undefined;
  }

  async linkCreatedAt(repositoryId: number, digest: Digest): Promise<number | undefined> {
    const row = await this.db.selectFrom('repository_blobs').select('created_at').where('repository_id', '=', repositoryId).where('digest', '=', digest).executeTakeFirst();
    return row ? Number(row.created_at) : undefined;
  }

  async registryBlob(registryId: number, digest: Digest): Promise<{ size: number; refs: number } | undefined> {
    const row = await this.db.selectFrom('registry_blobs').select(['size', 'refs']).where('registry_id', '=', registryId).where('digest', '=', digest).executeTakeFirst();
    return row ? { size: Number(row.size), refs: Number(row.refs) } : undefined;
  }

  async blobState(digest: Digest): Promise<{ row?: { size: number; createdAt: number }; linked: boolean; referenced: boolean }> {
    const row = await this.db.selectFrom('blobs').select(['size', 'created_at']).where('digest', '=', digest).executeTakeFirst();
    const link = await this.db.selectFrom('repository_blobs').select('repository_id').where('digest', '=', digest).limit(1).executeTakeFirst();
    const reference = await this.db.selectFrom('manifest_references').select('manifest_id').where('digest', '=', digest).limit(1).executeTakeFirst();
    return {
      row: row ? { size: Number(row.size), createdAt: Number(row.created_at) } : undefined,
      linked: link !== undefined,
      referenced: reference !== undefined,
    };
  }

  async unlinkedBlobs(createdBefore: number, after: string, limit: number): Promise<Digest[]> {
    const rows = await this.db
      .selectFrom('blobs as b')
      .select('b.digest')
      .where('b.created_at', '<=', createdBefore)
      .where('b.digest', '>', after)
      .where((eb) => eb.not(eb.exists(eb.selectFrom('repository_blobs as rb').select('rb.digest').whereRef('rb.digest', '=', 'b.digest'))))
      .where((eb) => eb.not(eb.exists(eb.selectFrom('manifest_references as mr').select('mr.digest').whereRef('mr.digest', '=', 'b.digest'))))
      .orderBy('b.digest')
      .limit(limit)
      .execute();
    return rows.map((r) => r.digest as Digest);
  }

  async knownBlobs(digests: Digest[]): Promise<Set<string>> {
    if (digests.length === 0) return new Set();
    const rows = await this.db.selectFrom('blobs').select('digest').where('digest', 'in', digests).execute();
    return new Set(rows.map((r) => r.digest));
  }

  async openSessions(uploadIds: string[]): Promise<Set<string>> {
    if (uploadIds.length === 0) return new Set();
    const rows = await this.db.selectFrom('uploads').select('id').where('id', 'in', uploadIds).execute();
    return new Set(rows.map((r) => r.id));
  }

  async idleSessions(updatedBefore: number, limit: number): Promise<string[]> {
    const rows = await this.db.selectFrom('uploads').select('id').where('updated_at', '<', updatedBefore).limit(limit).execute();
    return rows.map((r) => r.id);
  }

  async sessionUpdatedAt(uploadId: string): Promise<number | undefined> {
    const row = await this.db.selectFrom('uploads').select('updated_at').where('id', '=', uploadId).executeTakeFirst();
    return row ? Number(row.updated_at) : undefined;
  }
}

class KyselyGcTransaction extends KyselyGcReader implements GcTransaction {
  /** The registry's own store in this transaction: its unlinks and deletes keep storage accounting right. */
  readonly meta: MetaStore;

  constructor(trx: Transaction<Database>) {
    super(trx);
    this.meta = new KyselyMetaStore(trx, async () => {});
  }

  async deleteBlobRow(digest: Digest): Promise<void> {
    await this.db.deleteFrom('blobs').where('digest', '=', digest).execute();
  }

  async deleteSession(uploadId: string): Promise<boolean> {
    const res = await this.db.deleteFrom('uploads').where('id', '=', uploadId).executeTakeFirst();
    return Number(res.numDeletedRows) > 0;
  }

  sharedClaimHeld(digest: Digest, now: number): Promise<boolean> {
    return sharedClaimHeld(this.db, digest, now);
  }
}

export class KyselyGcStore extends KyselyGcReader implements GcStore {
  /** SQLite is one process's (the data-directory lock); PostgreSQL may be shared by any number of nodes. */
  readonly sharedByNodes: boolean = isPostgres(this.db);
  readonly sharedClaims = this.sharedByNodes ? new KyselySharedBlobClaims(this.db) : undefined;

  transaction<T>(work: (tx: GcTransaction) => Promise<T>): Promise<T> {
    return runTransaction(this.db, (trx) => work(new KyselyGcTransaction(trx)));
  }

  createRun(run: GcRun, job?: GcRunJob): Promise<{ run: GcRun } | { active: GcRun }> {
    // Check and insert in one transaction: two starts cannot both find the registry idle. The job commits with the run.
    return runTransaction(this.db, async (trx) => {
      const active = await activeRunIn(trx, run.registryId);
      if (active) return { active };
      const queued = job ? (await enqueueJobIn(trx, job.kind, job.payload, { maxAttempts: job.maxAttempts }, run.createdAt)).job : undefined;
      const created = queued ? { ...run, jobId: queued.id } : run;
      await trx.insertInto('gc_runs').values(toRow(created)).execute();
      return { run: created };
    });
  }

  async getRun(id: string): Promise<GcRun | undefined> {
    const row = await this.db.selectFrom('gc_runs').selectAll().where('id', '=', id).executeTakeFirst();
    return row ? toRun(row) : undefined;
  }

  activeRun(registryId: number): Promise<GcRun | undefined> {
    return activeRunIn(this.db, registryId);
  }

  async listRuns(registryId: number, limit: number, offset: number): Promise<{ runs: GcRun[]; total: number }> {
    const rows = await this.db
      .selectFrom('gc_runs')
      .selectAll()
      .where('registry_id', '=', registryId)
      .orderBy('created_at', 'desc')
      .orderBy('id', 'desc')
      .limit(limit)
      .offset(offset)
      .execute();
    const count = await this.db.selectFrom('gc_runs').select((eb) => eb.fn.countAll().as('n')).where('registry_id', '=', registryId).executeTakeFirstOrThrow();
    return { runs: rows.map(toRun), total: Number(count.n) };
  }

  async updateRun(id: string, patch: GcRunPatch, when?: 'unfinished' | 'progress', owner?: string): Promise<void> {
    let q = this.db
      .updateTable('gc_runs')
      .set({
        status: patch.status,
        manifests_deleted: patch.manifestsDeleted,
        blobs_deleted: patch.blobsDeleted,
        freed_bytes: patch.freedBytes,
        error: patch.error,
        updated_at: patch.updatedAt,
        node: patch.node,
      })
      .where('id', '=', id);
    if (when) q = q.where('status', 'not in', when === 'progress' ? [...FINISHED, 'cancelling'] : FINISHED);
    if (owner !== undefined) q = q.where('node', '=', owner);
    await q.execute();
  }

  requestCancel(id: string, at: number): Promise<void> {
    return runTransaction(this.db, async (trx) => {
      const run = await trx.selectFrom('gc_runs').select(['status', 'job_id']).where('id', '=', id).executeTakeFirst();
      if (!run || FINISHED.includes(run.status as GcStatus)) return;
      const job = run.job_id === null ? undefined : await trx.selectFrom('jobs').select('status').where('id', '=', run.job_id).executeTakeFirst();
      if (job?.status === 'running') {
        await trx.updateTable('gc_runs').set({ status: 'cancelling', updated_at: at }).where('id', '=', id).execute();
        return;
      }
      // No node has taken it up (or none ever will): it is over now, and its job with it.
      if (job?.status === 'queued') await trx.updateTable('jobs').set({ status: 'done', updated_at: at }).where('id', '=', run.job_id!).execute();
      await trx.updateTable('gc_runs').set({ status: 'cancelled', updated_at: at }).where('id', '=', id).execute();
    });
  }

  failUnfinishedRuns(error: string, at: number): Promise<number> {
    return runTransaction(this.db, async (trx) => {
      await trx
        .updateTable('jobs')
        .set({ status: 'failed', last_error: error, lease_owner: null, lease_expires_at: null, updated_at: at })
        .where('status', 'in', ['queued', 'running'])
        .where('id', 'in', (eb) => eb.selectFrom('gc_runs').select('job_id').where('status', 'not in', FINISHED).where('job_id', 'is not', null))
        .execute();
      const res = await trx.updateTable('gc_runs').set({ status: 'failed', error, updated_at: at }).where('status', 'not in', FINISHED).executeTakeFirst();
      return Number(res.numUpdatedRows);
    });
  }

  async failRunsWithoutJob(error: string, at: number): Promise<number> {
    const res = await this.db
      .updateTable('gc_runs')
      .set({ status: 'failed', error, updated_at: at })
      .where('status', 'not in', FINISHED)
      .where((eb) =>
        eb.or([
          eb('job_id', 'is', null),
          eb.not(eb.exists(eb.selectFrom('jobs').select('jobs.id').whereRef('jobs.id', '=', 'gc_runs.job_id').where('jobs.status', 'in', ['queued', 'running']))),
        ]),
      )
      .executeTakeFirst();
    return Number(res.numUpdatedRows);
  }
}

async function activeRunIn(db: Kysely<Database>, registryId: number): Promise<GcRun | undefined> {
  const row = await db
    .selectFrom('gc_runs')
    .selectAll()
    .where('registry_id', '=', registryId)
    .where('status', 'not in', FINISHED)
    .orderBy('created_at', 'desc')
    .executeTakeFirst();
  return row ? toRun(row) : undefined;
}

function toRow(run: GcRun) {
  return {
    id: run.id,
    registry_id: run.registryId,
    type: run.type,
    status: run.status,
    dry_run: run.dryRun ? 1 : 0,
    created_at: run.createdAt,
    updated_at: run.updatedAt,
    manifests_deleted: run.manifestsDeleted,
    blobs_deleted: run.blobsDeleted,
    freed_bytes: run.freedBytes,
    error: run.error,
    job_id: run.jobId ?? null,
    node: run.node ?? null,
  };
}

function toRun(row: { [K in keyof GcRunsTable]: unknown }): GcRun {
  return {
    id: String(row.id),
    registryId: Number(row.registry_id),
    type: row.type as GcType,
    status: row.status as GcStatus,
    dryRun: Number(row.dry_run) === 1,
    createdAt: Number(row.created_at),
    updatedAt: Number(row.updated_at),
    manifestsDeleted: Number(row.manifests_deleted),
    blobsDeleted: Number(row.blobs_deleted),
    freedBytes: Number(row.freed_bytes),
    error: row.error === null ? null : String(row.error),
    ...(row.job_id === null || row.job_id === undefined ? {} : { jobId: Number(row.job_id) }),
    ...(row.node === null || row.node === undefined ? {} : { node: String(row.node) }),
  };
}
