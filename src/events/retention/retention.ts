/**
 * Retention: saved policies, dry runs, and runs that delete what a policy
 * expires. A run is a durable job (`retention.run`), queued by a policy's cron
 * schedule or on request, and carried out by whichever node's worker claims it.
 *
 * A run plans each repository right before deleting from it, with the same
 * evaluation a dry run shows (evaluate.ts), and deletes the plan's manifests in
 * its order through core's manifest deletion, as a client's DELETE would:
 * immutable tags refuse it, webhooks hear of it. Just before each deletion it
 * checks the manifest is still as planned (same tags, named by nothing that
 * stays); one that changed stays, and so does everything that belonged to it.
 * Every deletion is recorded with the run and audited. Deleting manifests frees
 * no bytes by itself: the run then starts an online garbage collection of the
 * registry's unreferenced blobs.
 *
 * Scheduling: saving a policy queues its next run at the time its cron names,
 * under a dedupe key of the policy, its revision and that time, so nodes that
 * schedule the same run queue one job. A scheduled job first queues the run
 * after it, then runs; a job of an older revision (the policy was saved again
 * or deleted) does nothing.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import type { AuditEntry } from '../../auth/audit-log.js';
import type { Job, JobStore } from '../../jobs/job-store.js';
import { JobInterrupted, type JobContext, type JobHandler } from '../../jobs/worker.js';
import { RegistryError } from '../../oci/errors.js';
import type { RepoName } from '../../oci/name.js';
import { nextRun, parseCron } from './cron.js';
import { evaluate, summarize, type Decision, type PlanSummary, type RepositoryPlan } from './evaluate.js';
import { FINISHED_RUN_STATUSES, type RetentionRun, type RetentionStore, type RunDeletion, type StoredPolicy } from './retention-store.js';
import { governingPolicy, pathInRegistry, type RetentionPolicy, type SavedPolicy } from './rules.js';

export const RETENTION_JOB = 'retention.run';
/** Nodes that may take a run up before it is failed. */
const RUN_ATTEMPTS = 3;
export const MAX_POLICIES_PER_REGISTRY = 50;

export interface RegistryRef {
  id: number;
  name: string;
}

export interface RetentionLogger {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

export interface RetentionDeps {
  store: RetentionStore;
  /** Deletes a manifest by digest as a client's DELETE does (core's Manifests.delete). */
  deleteManifest(repository: RepoName, digest: string, actor: { name: string }): Promise<void>;
  /** Starts a garbage collection of the registry's unreferenced blobs; its run id, or undefined when none started. */
  startGc?(registry: RegistryRef): Promise<string | undefined>;
  jobs: Pick<JobStore, 'enqueue'>;
  /** Something was queued: the worker should poll now. */
  wake(): void;
  /** Records an audit event as the system. */
  audit(entry: AuditEntry): Promise<void>;
  /** Tags retention must never delete (immutable tags). Default: none. */
  isProtected?: (repository: RepoName, tag: string) => boolean | Promise<boolean>;
  /** Untagged manifests younger than this are kept (an index or tag naming them may be on its way). */
  graceMs: number;
  logger?: RetentionLogger;
  now?: () => number;
}

/** What a policy would do to a registry now. */
export interface RetentionPreview {
  policyId: string | null;
  registry: string;
  evaluatedAt: number;
  /** One per repository the policy governs. */
  repositories: RepositoryPlan[];
  summary: PlanSummary & { repositories: number; bytesFreed: number };
}

interface RetentionJobPayload {
  registryId: number;
  registry: string;
  policyId: string;
  /** A requested run. */
  runId?: string;
  /** A scheduled run: the policy revision it was scheduled for, and when. */
  revision?: number;
  scheduledAt?: number;
}

interface Tally {
  imagesDeleted: number;
  manifestsDeleted: number;
  bytesFreed: number;
  skipped: number;
}

export class Retention {
  private readonly now: () => number;
  private readonly log: RetentionLogger;

  constructor(private readonly deps: RetentionDeps) {
    this.now = deps.now ?? Date.now;
    this.log = deps.logger ?? { info: () => undefined, warn: () => undefined, error: () => undefined };
  }

  /** Runs this node's share of the runs: its worker takes runs queued on any node. */
  attach(worker: { handle(kind: string, handler: JobHandler): unknown }): void {
    worker.handle(RETENTION_JOB, {
      run: (job, context) => this.runJob(job, context),
      exhausted: (job, error) => this.abandon(job, error),
      retry: { baseMs: 5_000, maxMs: 10 * 60_000 },
    });
  }

  // ---------- policies ----------

  policies(registryId: number): Promise<StoredPolicy[]> {
    return this.deps.store.listPolicies(registryId);
  }

  policy(registryId: number, id: string): Promise<StoredPolicy | undefined> {
    return this.deps.store.getPolicy(registryId, id);
  }

  /** Saves a policy (its id given, or made up) and schedules its next run; throws RetentionLimit past the per-registry limit. */
  async save(registry: RegistryRef, input: RetentionPolicy): Promise<{ stored: StoredPolicy; created: boolean }> {
    const policy: SavedPolicy = { ...input, id: input.id ?? `policy-${randomBytes(4).toString('hex')}` };
    const existing = await this.deps.store.listPolicies(registry.id);
    if (!existing.some((p) => p.policy.id === policy.id) && existing.length >= MAX_POLICIES_PER_REGISTRY) {
      throw new RetentionLimit(`registry ${registry.name} already has ${existing.length} retention policies, the most it may have`);
    }
    const result = await this.deps.store.putPolicy(registry.id, policy, this.now());
    await this.schedule(result.stored, this.now());
    return result;
  }

  remove(registryId: number, id: string): Promise<boolean> {
    return this.deps.store.deletePolicy(registryId, id);
  }

  /** When the policy next runs on its schedule (null when disabled). */
  nextRunAt(stored: StoredPolicy): number | null {
    if (!stored.policy.enabled) return null;
    return nextRun(parseCron(stored.policy.schedule), this.now()) ?? null;
  }

  /** Queues the next scheduled run of every enabled policy (at start; nodes starting together queue each run once). */
  async scheduleAll(): Promise<void> {
    for (const stored of await this.deps.store.listPolicies()) {
      await this.schedule(stored, this.now()).catch((err: unknown) => this.log.error({ err, registry: stored.registry, policy: stored.policy.id }, 'retention: could not schedule a policy'));
    }
  }

  private async schedule(stored: StoredPolicy, after: number): Promise<void> {
    if (!stored.policy.enabled) return;
    const runAt = nextRun(parseCron(stored.policy.schedule), after);
    if (runAt === undefined) return;
    const { registryId, revision } = stored;
    const payload: RetentionJobPayload = { registryId, registry: stored.registry, policyId: stored.policy.id, revision, scheduledAt: runAt };
    await this.deps.jobs.enqueue(RETENTION_JOB, payload, { runAt, dedupeKey: `retention:${registryId}:${stored.policy.id}:${revision}:${runAt}`, maxAttempts: RUN_ATTEMPTS });
  }

  // ---------- dry runs ----------

  /** What `policy` would delete from the registry now, and why, as if saved (replacing a saved policy of the same id). */
  async preview(registry: RegistryRef, policy: RetentionPolicy | SavedPolicy): Promise<RetentionPreview> {
    const now = this.now();
    const repositories: RepositoryPlan[] = [];
    for (const repo of await this.governed(registry, policy)) repositories.push(await this.plan(repo, policy, now));
    const going = repositories.flatMap((p) => p.decisions.filter((d) => d.action === 'expire'));
    const bytesFreed = await this.estimateFreed(registry.id, going, new Set(going.map((d) => d.id)));
    return { policyId: policy.id ?? null, registry: registry.name, evaluatedAt: now, repositories, summary: { ...summarize(repositories), repositories: repositories.length, bytesFreed } };
  }

  /** The repositories `policy` governs (the most specific policy naming each one, this one counted as saved). */
  private async governed(registry: RegistryRef, policy: RetentionPolicy | SavedPolicy): Promise<{ id: number; name: string }[]> {
    const id = policy.id ?? '';
    const candidates = [...(await this.deps.store.listPolicies(registry.id)).map((p) => p.policy).filter((p) => p.id !== id), { ...policy, id }];
    return (await this.deps.store.repositories(registry.id)).filter((repo) => governingPolicy(candidates, pathInRegistry(repo.name))?.id === id);
  }

  private async plan(repo: { id: number; name: string }, policy: RetentionPolicy, now: number): Promise<RepositoryPlan> {
    const manifests = await this.deps.store.manifestFacts(repo.id);
    const isProtected = await this.protectedTags(repo.name as RepoName, manifests.flatMap((m) => m.tags));
    return evaluate({ repository: repo.name, manifests, rules: policy.rules, keep: policy.keep, now, graceCutoff: now - this.deps.graceMs, isProtected: (_r, tag) => isProtected.has(tag) });
  }

  private async protectedTags(repository: RepoName, tags: string[]): Promise<Set<string>> {
    const check = this.deps.isProtected;
    const out = new Set<string>();
    if (!check) return out;
    for (const tag of tags) if (await check(repository, tag)) out.add(tag);
    return out;
  }

  /** Bytes freed once GC has run: the manifests' sizes and the blobs no manifest of the registry outside `except` references. */
  private async estimateFreed(registryId: number, manifests: readonly Pick<Decision, 'id'>[], except: ReadonlySet<number>): Promise<number> {
    if (manifests.length === 0) return 0;
    const footprints = await this.deps.store.footprints(manifests.map((m) => m.id));
    return this.freedBy([...footprints.values()], registryId, except);
  }

  private async freedBy(footprints: { size: number; blobs: { digest: string; size: number }[] }[], registryId: number, except: ReadonlySet<number>): Promise<number> {
    const blobs = new Map<string, number>();
    for (const f of footprints) for (const b of f.blobs) blobs.set(b.digest, b.size);
    const inUse = await this.deps.store.blobsInUse(registryId, [...blobs.keys()], except);
    let bytes = footprints.reduce((sum, f) => sum + f.size, 0);
    for (const [digest, size] of blobs) if (!inUse.has(digest)) bytes += size;
    return bytes;
  }

  // ---------- runs ----------

  /** Queues a run of a saved policy now; undefined when there is no such policy. */
  async requestRun(registry: RegistryRef, policyId: string, requestedBy: string): Promise<{ run: RetentionRun } | { active: RetentionRun } | undefined> {
    if (!(await this.deps.store.getPolicy(registry.id, policyId))) return undefined;
    const id = randomUUID();
    const payload: RetentionJobPayload = { registryId: registry.id, registry: registry.name, policyId, runId: id };
    const result = await this.deps.store.createRun(newRun(id, registry.id, policyId, 'manual', requestedBy, this.now()), { kind: RETENTION_JOB, payload, maxAttempts: RUN_ATTEMPTS });
    if ('run' in result) this.deps.wake();
    return result;
  }

  runs(registryId: number, policyId: string, limit: number, offset: number): Promise<{ runs: RetentionRun[]; total: number }> {
    return this.deps.store.listRuns(registryId, policyId, limit, offset);
  }

  run(id: string): Promise<RetentionRun | undefined> {
    return this.deps.store.getRun(id);
  }

  deletions(runId: string, limit: number, offset: number): Promise<{ deletions: RunDeletion[]; total: number }> {
    return this.deps.store.deletions(runId, limit, offset);
  }

  private async runJob(job: Job, context: JobContext): Promise<void> {
    const p = job.payload as RetentionJobPayload;
    let run: RetentionRun | undefined;
    if (p.runId !== undefined) {
      run = await this.deps.store.getRun(p.runId);
    } else {
      const stored = await this.deps.store.getPolicy(p.registryId, p.policyId);
      // Saved again (another revision is scheduled), disabled or deleted since: nothing to do.
      if (!stored || stored.revision !== p.revision || !stored.policy.enabled) return;
      await this.schedule(stored, Math.max(this.now(), p.scheduledAt ?? 0));
      run = await this.deps.store.runOfJob(job.id); // taken up again after its node stopped
      if (!run) {
        const created = await this.deps.store.createRun({ ...newRun(randomUUID(), p.registryId, p.policyId, 'schedule', null, this.now()), jobId: job.id });
        if ('active' in created) {
          this.log.info({ registry: p.registry, policy: p.policyId, active: created.active.id }, 'retention: a run of the policy is already under way; the scheduled one is skipped');
          return;
        }
        run = created.run;
      }
    }
    if (!run || FINISHED_RUN_STATUSES.includes(run.status)) return;
    await this.execute(run, { id: p.registryId, name: p.registry }, context);
  }

  private async abandon(job: Job, error: string): Promise<void> {
    const p = job.payload as RetentionJobPayload;
    const run = p.runId !== undefined ? await this.deps.store.getRun(p.runId) : await this.deps.store.runOfJob(job.id);
    if (!run || FINISHED_RUN_STATUSES.includes(run.status)) return;
    await this.finish(run, { id: p.registryId, name: p.registry }, { status: 'failed', error }, run);
  }

  private async execute(run: RetentionRun, registry: RegistryRef, context: JobContext): Promise<void> {
    const stored = await this.deps.store.getPolicy(run.registryId, run.policyId);
    if (!stored) {
      await this.finish(run, registry, { status: 'failed', error: `the policy ${run.policyId} was deleted before the run started` }, run);
      return;
    }
    const started = this.now();
    await this.deps.store.updateRun(run.id, { status: 'running', startedAt: run.startedAt ?? started, node: context.workerId, error: null });
    // Taken up again after a node stopped: counts go on from what was already deleted (and recorded).
    const tally: Tally = { imagesDeleted: run.imagesDeleted, manifestsDeleted: run.manifestsDeleted, bytesFreed: run.bytesFreed, skipped: run.skipped };
    const deletedBefore = tally.manifestsDeleted;
    const repositories = await this.governed(registry, stored.policy);
    await this.deps.store.updateRun(run.id, { repositories: repositories.length });
    try {
      for (const repo of repositories) {
        await checkpoint(context.signal);
        await this.retain(run, registry, repo, stored.policy, tally, context.signal);
      }
    } catch (err) {
      if (err instanceof JobInterrupted || context.signal.aborted) throw err;
      // Recorded on the run; the job is retried (the run planned afresh), or given up on (`abandon`).
      await this.deps.store.updateRun(run.id, { ...tally, error: (err as Error).message });
      this.log.warn({ err, run: run.id, registry: registry.name, policy: run.policyId }, 'retention: run failed');
      throw err;
    }
    let gcRunId: string | null = null;
    if (tally.manifestsDeleted > deletedBefore && this.deps.startGc) {
      gcRunId = (await this.deps.startGc(registry).catch((err: unknown) => void this.log.warn({ err, registry: registry.name }, 'retention: could not start garbage collection'))) ?? null;
    }
    await this.finish(run, registry, { status: 'succeeded', error: null, gcRunId, ...tally }, { ...run, ...tally });
    this.log.info({ run: run.id, registry: registry.name, policy: run.policyId, trigger: run.trigger, ...tally, gcRun: gcRunId, durationMs: this.now() - started }, 'retention: run finished');
  }

  private async finish(run: RetentionRun, registry: RegistryRef, patch: { status: 'succeeded' | 'failed'; error: string | null; gcRunId?: string | null } & Partial<Tally>, counts: Tally): Promise<void> {
    await this.deps.store.updateRun(run.id, { ...patch, finishedAt: this.now() });
    await this.deps.audit({
      action: 'retention.run',
      outcome: patch.status === 'succeeded' ? 'success' : 'failure',
      registry: registry.name,
      resource: run.id,
      ...(patch.error ? { reason: patch.error } : {}),
      detail: { policy: run.policyId, trigger: run.trigger, images_deleted: counts.imagesDeleted, manifests_deleted: counts.manifestsDeleted, bytes_freed: counts.bytesFreed, skipped: counts.skipped, gc_run: patch.gcRunId ?? null },
    });
  }

  /** One repository: plan, then delete the plan's manifests in its order, each checked right before. */
  private async retain(run: RetentionRun, registry: RegistryRef, repo: { id: number; name: string }, policy: SavedPolicy, tally: Tally, signal: AbortSignal): Promise<void> {
    const plan = await this.plan(repo, policy, this.now());
    if (plan.deleteOrder.length === 0) return;
    const byDigest = new Map(plan.decisions.map((d) => [d.digest, d]));
    const going = new Set(plan.deleteOrder);
    const footprints = await this.deps.store.footprints(plan.deleteOrder.map((d) => byDigest.get(d)!.id));
    const stayed = new Set<string>();
    const records: RunDeletion[] = [];
    const audits: Promise<void>[] = [];
    const deleted: number[] = [];
    const actor = { name: `retention:${policy.id}` };
    try {
      for (const digest of plan.deleteOrder) {
        await checkpoint(signal);
        const d = byDigest.get(digest)!;
        let outcome: RunDeletion['outcome'];
        let reason = d.reason;
        const owner = d.after.find((o) => stayed.has(o));
        if (owner) {
          outcome = 'changed';
          reason = `${d.reason}; stays with ${owner.slice(0, 19)}, which stayed`;
        } else {
          const now = await this.deps.store.dependents(repo.id, digest);
          const namedBy = now.referencedBy.find((o) => !going.has(o));
          if (now.tags.join('\n') !== d.tags.join('\n') || namedBy) {
            outcome = 'changed';
            reason = `${d.reason}; changed since planned (${namedBy ? `now named by ${namedBy.slice(0, 19)}` : `tags now ${now.tags.join(', ') || 'none'}`})`;
          } else {
            outcome = await this.deps.deleteManifest(repo.name as RepoName, digest, actor).then(
              () => 'deleted' as const,
              (err: unknown) => {
                if (err instanceof RegistryError && (err.code === 'MANIFEST_UNKNOWN' || err.code === 'NAME_UNKNOWN')) return 'gone' as const;
                if (err instanceof RegistryError && err.code === 'DENIED') {
                  reason = `${d.reason}; refused: ${err.message}`;
                  return 'refused' as const;
                }
                throw err;
              },
            );
          }
        }
        if (outcome !== 'deleted' && outcome !== 'gone') stayed.add(digest);
        if (outcome === 'deleted') {
          deleted.push(d.id);
          tally.manifestsDeleted++;
          if (d.role === 'image') tally.imagesDeleted++;
        } else if (outcome !== 'gone') {
          tally.skipped++;
        }
        records.push({ repository: repo.name, digest, role: d.role, tags: d.tags, size: d.size, rulePriority: d.rulePriority, reason, outcome });
        audits.push(
          this.deps.audit({
            action: 'retention.delete',
            outcome: outcome === 'deleted' ? 'success' : 'failure',
            registry: registry.name,
            resource: `${repo.name}@${digest}`,
            ...(outcome === 'deleted' ? {} : { reason: `${outcome}: ${reason}` }),
            detail: { run: run.id, policy: policy.id, rule: d.rulePriority, role: d.role, tags: d.tags, why: d.reason },
          }),
        );
      }
    } finally {
      // Recorded however the loop ended: what was deleted stays deleted.
      // Bytes: what the deleted manifests held that nothing left in the registry references (they are gone: nothing to leave out).
      tally.bytesFreed += await this.freedBy(deleted.map((id) => footprints.get(id)!).filter(Boolean), registry.id, new Set());
      await this.deps.store.addDeletions(run.id, records);
      await this.deps.store.updateRun(run.id, { ...tally });
      await Promise.all(audits);
    }
  }
}

/** The per-registry policy limit was reached. */
export class RetentionLimit extends Error {}

function newRun(id: string, registryId: number, policyId: string, trigger: RetentionRun['trigger'], requestedBy: string | null, at: number): RetentionRun {
  return {
    id, registryId, policyId, trigger, status: trigger === 'manual' ? 'queued' : 'running', requestedBy, createdAt: at, startedAt: null, finishedAt: null,
    repositories: 0, imagesDeleted: 0, manifestsDeleted: 0, bytesFreed: 0, skipped: 0, error: null, jobId: null, node: null, gcRunId: null,
  };
}

/** Yields to the event loop (SQLite answers synchronously) and stops when the worker says so. */
async function checkpoint(signal: AbortSignal): Promise<void> {
  await new Promise<void>((resolve) => setImmediate(resolve));
  if (signal.aborted) throw signal.reason instanceof JobInterrupted ? signal.reason : new JobInterrupted('shutdown');
}
