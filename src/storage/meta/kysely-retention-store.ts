import { sql, type Kysely, type Selectable } from 'kysely';
import type { ManifestFacts, ManifestRole } from '../../events/retention/evaluate.js';
import type {
  ManifestDependents,
  ManifestFootprint,
  RetentionRun,
  RetentionStore,
  RunDeletion,
  RunJob,
  RunPatch,
  RunStatus,
  RunTrigger,
  StoredPolicy,
} from '../../events/retention/retention-store.js';
import type { SavedPolicy } from '../../events/retention/rules.js';
import { enqueueJobIn } from './kysely-job-store.js';
import type { RetentionRunsTable } from './retention-schema.js';
import type { Database } from './schema.js';
import { runTransaction } from './transaction.js';

/** `in (…)` lists stay well under every dialect's parameter limit. */
const CHUNK = 500;
/** Rows of retention_deletions per insert (11 parameters a row). */
const DELETION_BATCH = 200;
const ACTIVE: RunStatus[] = ['queued', 'running'];

function chunks<T>(items: readonly T[], size = CHUNK): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

/** Retention's policies, runs and pull times, and the repository facts it evaluates, in portable SQL. */
export class KyselyRetentionStore implements RetentionStore {
  constructor(private readonly db: Kysely<Database>) {}

  async listPolicies(registryId?: number): Promise<StoredPolicy[]> {
    let q = this.db
      .selectFrom('retention_policies as p')
      .innerJoin('registries as g', 'g.id', 'p.registry_id')
      .select(['p.registry_id', 'p.id', 'p.document', 'p.revision', 'p.created_at', 'p.updated_at', 'g.name as registry'])
      .orderBy('p.registry_id')
      .orderBy('p.id');
    if (registryId !== undefined) q = q.where('p.registry_id', '=', registryId);
    return (await q.execute()).map(toPolicy);
  }

  async getPolicy(registryId: number, id: string): Promise<StoredPolicy | undefined> {
    const row = await this.db
      .selectFrom('retention_policies as p')
      .innerJoin('registries as g', 'g.id', 'p.registry_id')
      .select(['p.registry_id', 'p.id', 'p.document', 'p.revision', 'p.created_at', 'p.updated_at', 'g.name as registry'])
      .where('p.registry_id', '=', registryId)
      .where('p.id', '=', id)
      .executeTakeFirst();
    return row ? toPolicy(row) : undefined;
  }

  async putPolicy(registryId: number, policy: SavedPolicy, at: number): Promise<{ stored: StoredPolicy; created: boolean }> {
    const created = await runTransaction(this.db, async (trx) => {
      const existing = await trx.selectFrom('retention_policies').select('revision').where('registry_id', '=', registryId).where('id', '=', policy.id).executeTakeFirst();
      const document = JSON.stringify(policy);
      if (existing) {
        await trx
          .updateTable('retention_policies')
          .set({ document, revision: Number(existing.revision) + 1, updated_at: at })
          .where('registry_id', '=', registryId)
          .where('id', '=', policy.id)
          .execute();
        return false;
      }
      await trx.insertInto('retention_policies').values({ registry_id: registryId, id: policy.id, document, revision: 1, created_at: at, updated_at: at }).execute();
      return true;
    });
    return { stored: (await this.getPolicy(registryId, policy.id))!, created };
  }

  async deletePolicy(registryId: number, id: string): Promise<boolean> {
    const res = await this.db.deleteFrom('retention_policies').where('registry_id', '=', registryId).where('id', '=', id).executeTakeFirst();
    return Number(res.numDeletedRows) > 0;
  }

  async repositories(registryId: number): Promise<{ id: number; name: string }[]> {
    const rows = await this.db.selectFrom('repositories').select(['id', 'name']).where('registry_id', '=', registryId).orderBy('name').execute();
    return rows.map((r) => ({ id: Number(r.id), name: r.name }));
  }

  async manifestFacts(repositoryId: number): Promise<ManifestFacts[]> {
    const rows = await this.db
      .selectFrom('manifests as m')
      .leftJoin('manifest_pulls as p', 'p.manifest_id', 'm.id')
      .select(['m.id', 'm.digest', 'm.media_type', 'm.size', 'm.subject_digest', 'm.created_at', 'p.pulled_at'])
      .where('m.repository_id', '=', repositoryId)
      .orderBy('m.id')
      .execute();
    const tags = await this.db.selectFrom('tags').select(['manifest_id', 'name']).where('repository_id', '=', repositoryId).orderBy('name').execute();
    const children = await this.db
      .selectFrom('manifest_references as mr')
      .innerJoin('manifests as m', 'm.id', 'mr.manifest_id')
      .select(['mr.manifest_id', 'mr.digest'])
      .where('m.repository_id', '=', repositoryId)
      .where('mr.kind', '=', 'manifest')
      .execute();
    const tagsOf = new Map<number, string[]>();
    for (const t of tags) tagsOf.set(Number(t.manifest_id), [...(tagsOf.get(Number(t.manifest_id)) ?? []), t.name]);
    const childrenOf = new Map<number, string[]>();
    for (const c of children) childrenOf.set(Number(c.manifest_id), [...(childrenOf.get(Number(c.manifest_id)) ?? []), c.digest]);
    return rows.map((r) => ({
      id: Number(r.id),
      digest: r.digest,
      mediaType: r.media_type,
      size: Number(r.size),
      pushedAt: Number(r.created_at),
      pulledAt: r.pulled_at === null ? null : Number(r.pulled_at),
      tags: tagsOf.get(Number(r.id)) ?? [],
      subject: r.subject_digest,
      children: childrenOf.get(Number(r.id)) ?? [],
    }));
  }

  async dependents(repositoryId: number, digest: string): Promise<ManifestDependents> {
    const tags = await this.db
      .selectFrom('tags as t')
      .innerJoin('manifests as m', 'm.id', 't.manifest_id')
      .select('t.name')
      .where('m.repository_id', '=', repositoryId)
      .where('m.digest', '=', digest)
      .execute();
    const parents = await this.db
      .selectFrom('manifest_references as mr')
      .innerJoin('manifests as m', 'm.id', 'mr.manifest_id')
      .select('m.digest')
      .where('m.repository_id', '=', repositoryId)
      .where('mr.kind', '=', 'manifest')
      .where('mr.digest', '=', digest)
      .execute();
    const referrers = await this.db.selectFrom('manifests').select('digest').where('repository_id', '=', repositoryId).where('subject_digest', '=', digest).execute();
    return { tags: tags.map((t) => t.name).sort(), referencedBy: [...parents, ...referrers].map((r) => r.digest) };
  }

  async footprints(manifestIds: readonly number[]): Promise<Map<number, ManifestFootprint>> {
    const out = new Map<number, ManifestFootprint>();
    for (const ids of chunks([...new Set(manifestIds)])) {
      const rows = await this.db.selectFrom('manifests').select(['id', 'size']).where('id', 'in', ids).execute();
      for (const r of rows) out.set(Number(r.id), { size: Number(r.size), blobs: [] });
      const refs = await this.db
        .selectFrom('manifest_references as mr')
        .innerJoin('blobs as b', 'b.digest', 'mr.digest')
        .select(['mr.manifest_id', 'mr.digest', 'b.size'])
        .where('mr.kind', '=', 'blob')
        .where('mr.manifest_id', 'in', ids)
        .execute();
      for (const r of refs) out.get(Number(r.manifest_id))?.blobs.push({ digest: r.digest, size: Number(r.size) });
    }
    return out;
  }

  async blobsInUse(registryId: number, digests: readonly string[], except: ReadonlySet<number>): Promise<Set<string>> {
    const used = new Set<string>();
    for (const batch of chunks([...new Set(digests)])) {
      const rows = await this.db
        .selectFrom('manifest_references as mr')
        .innerJoin('manifests as m', 'm.id', 'mr.manifest_id')
        .innerJoin('repositories as r', 'r.id', 'm.repository_id')
        .select(['mr.digest', 'mr.manifest_id'])
        .where('r.registry_id', '=', registryId)
        .where('mr.digest', 'in', batch)
        .execute();
      for (const r of rows) if (!except.has(Number(r.manifest_id))) used.add(r.digest);
    }
    return used;
  }

  createRun(run: RetentionRun, job?: RunJob): Promise<{ run: RetentionRun } | { active: RetentionRun }> {
    // Check and insert in one transaction: two requests cannot both find the policy idle. The job commits with the run.
    return runTransaction(this.db, async (trx) => {
      const active = await trx
        .selectFrom('retention_runs')
        .selectAll()
        .where('registry_id', '=', run.registryId)
        .where('policy_id', '=', run.policyId)
        .where('status', 'in', ACTIVE)
        .orderBy('created_at')
        .executeTakeFirst();
      if (active) return { active: toRun(active) };
      const queued = job ? (await enqueueJobIn(trx, job.kind, job.payload, { maxAttempts: job.maxAttempts }, run.createdAt)).job : undefined;
      const created = queued ? { ...run, jobId: queued.id } : run;
      await trx.insertInto('retention_runs').values(toRow(created)).execute();
      return { run: created };
    });
  }

  async getRun(id: string): Promise<RetentionRun | undefined> {
    const row = await this.db.selectFrom('retention_runs').selectAll().where('id', '=', id).executeTakeFirst();
    return row ? toRun(row) : undefined;
  }

  async runOfJob(jobId: number): Promise<RetentionRun | undefined> {
    const row = await this.db.selectFrom('retention_runs').selectAll().where('job_id', '=', jobId).executeTakeFirst();
    return row ? toRun(row) : undefined;
  }

  async listRuns(registryId: number, policyId: string, limit: number, offset: number): Promise<{ runs: RetentionRun[]; total: number }> {
    const base = this.db.selectFrom('retention_runs').where('registry_id', '=', registryId).where('policy_id', '=', policyId);
    const rows = await base.selectAll().orderBy('created_at', 'desc').orderBy('id', 'desc').limit(limit).offset(offset).execute();
    const count = await base.select((eb) => eb.fn.countAll().as('n')).executeTakeFirstOrThrow();
    return { runs: rows.map(toRun), total: Number(count.n) };
  }

  async updateRun(id: string, patch: RunPatch): Promise<void> {
    const set: Partial<RetentionRunsTable> = {};
    if (patch.status !== undefined) set.status = patch.status;
    if (patch.startedAt !== undefined) set.started_at = patch.startedAt;
    if (patch.finishedAt !== undefined) set.finished_at = patch.finishedAt;
    if (patch.repositories !== undefined) set.repositories = patch.repositories;
    if (patch.imagesDeleted !== undefined) set.images_deleted = patch.imagesDeleted;
    if (patch.manifestsDeleted !== undefined) set.manifests_deleted = patch.manifestsDeleted;
    if (patch.bytesFreed !== undefined) set.bytes_freed = patch.bytesFreed;
    if (patch.skipped !== undefined) set.skipped = patch.skipped;
    if (patch.error !== undefined) set.error = patch.error === null ? null : patch.error.slice(0, 4000);
    if (patch.node !== undefined) set.node = patch.node;
    if (patch.gcRunId !== undefined) set.gc_run_id = patch.gcRunId;
    if (Object.keys(set).length === 0) return;
    await this.db.updateTable('retention_runs').set(set).where('id', '=', id).execute();
  }

  async addDeletions(runId: string, deletions: readonly RunDeletion[]): Promise<void> {
    if (deletions.length === 0) return;
    await runTransaction(this.db, async (trx) => {
      const last = await trx.selectFrom('retention_deletions').select((eb) => eb.fn.max('seq').as('seq')).where('run_id', '=', runId).executeTakeFirst();
      let seq = last?.seq === null || last?.seq === undefined ? 0 : Number(last.seq);
      for (const batch of chunks(deletions, DELETION_BATCH)) {
        await trx
          .insertInto('retention_deletions')
          .values(
            batch.map((d) => ({
              run_id: runId,
              seq: ++seq,
              repository: d.repository,
              digest: d.digest,
              role: d.role,
              tags: JSON.stringify(d.tags),
              size: d.size,
              rule_priority: d.rulePriority,
              reason: d.reason.slice(0, 2000),
              outcome: d.outcome,
            })),
          )
          .execute();
      }
    });
  }

  async deletions(runId: string, limit: number, offset: number): Promise<{ deletions: RunDeletion[]; total: number }> {
    const base = this.db.selectFrom('retention_deletions').where('run_id', '=', runId);
    const rows = await base.selectAll().orderBy('seq').limit(limit).offset(offset).execute();
    const count = await base.select((eb) => eb.fn.countAll().as('n')).executeTakeFirstOrThrow();
    return {
      deletions: rows.map((r) => ({
        repository: r.repository,
        digest: r.digest,
        role: r.role as ManifestRole,
        tags: JSON.parse(r.tags) as string[],
        size: Number(r.size),
        rulePriority: r.rule_priority === null ? null : Number(r.rule_priority),
        reason: r.reason,
        outcome: r.outcome as RunDeletion['outcome'],
      })),
      total: Number(count.n),
    };
  }

  async recordPulls(pulls: readonly { manifestId: number; at: number }[]): Promise<void> {
    if (pulls.length === 0) return;
    await runTransaction(this.db, async (trx) => {
      for (const { manifestId, at } of pulls) {
        // Through a select of the manifest: one deleted since its pull is skipped, not a foreign-key error.
        await trx
          .insertInto('manifest_pulls')
          .columns(['manifest_id', 'pulled_at'])
          .expression((eb) => eb.selectFrom('manifests').select(['id', sql<number>`cast(${at} as bigint)`.as('pulled_at')]).where('id', '=', manifestId))
          .onConflict((oc) =>
            oc
              .column('manifest_id')
              .doUpdateSet({ pulled_at: (eb) => eb.ref('excluded.pulled_at') })
              .where('manifest_pulls.pulled_at', '<', (eb) => eb.ref('excluded.pulled_at')),
          )
          .execute();
      }
    });
  }
}

function toPolicy(row: { registry_id: number; id: string; document: string; revision: number; created_at: number; updated_at: number; registry: string }): StoredPolicy {
  return {
    registryId: Number(row.registry_id),
    registry: row.registry,
    policy: { ...(JSON.parse(row.document) as SavedPolicy), id: row.id },
    revision: Number(row.revision),
    createdAt: Number(row.created_at),
    updatedAt: Number(row.updated_at),
  };
}

function toRow(run: RetentionRun): RetentionRunsTable {
  return {
    id: run.id,
    registry_id: run.registryId,
    policy_id: run.policyId,
    trigger: run.trigger,
    status: run.status,
    requested_by: run.requestedBy,
    created_at: run.createdAt,
    started_at: run.startedAt,
    finished_at: run.finishedAt,
    repositories: run.repositories,
    images_deleted: run.imagesDeleted,
    manifests_deleted: run.manifestsDeleted,
    bytes_freed: run.bytesFreed,
    skipped: run.skipped,
    error: run.error,
    job_id: run.jobId,
    node: run.node,
    gc_run_id: run.gcRunId,
  };
}

function toRun(row: Selectable<RetentionRunsTable>): RetentionRun {
  const n = (v: number | null) => (v === null ? null : Number(v));
  return {
    id: row.id,
    registryId: Number(row.registry_id),
    policyId: row.policy_id,
    trigger: row.trigger as RunTrigger,
    status: row.status as RunStatus,
    requestedBy: row.requested_by,
    createdAt: Number(row.created_at),
    startedAt: n(row.started_at),
    finishedAt: n(row.finished_at),
    repositories: Number(row.repositories),
    imagesDeleted: Number(row.images_deleted),
    manifestsDeleted: Number(row.manifests_deleted),
    bytesFreed: Number(row.bytes_freed),
    skipped: Number(row.skipped),
    error: row.error,
    jobId: n(row.job_id),
    node: row.node,
    gcRunId: row.gc_run_id,
  };
}
