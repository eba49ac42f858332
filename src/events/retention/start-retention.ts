import type { AuditLog } from '../../auth/audit-log.js';
import type { Registry } from '../../core/registry.js';
import { immutableRuleFor, type ImmutableTagRule } from '../../core/immutable-tags.js';
import type { JobStore } from '../../jobs/job-store.js';
import type { JobWorker } from '../../jobs/worker.js';
import type { RepoName } from '../../oci/name.js';
import { PullTimes } from './pull-times.js';
import { Retention, type RetentionLogger } from './retention.js';
import type { RetentionStore } from './retention-store.js';

export interface RetentionParts {
  registry: Registry;
  store: RetentionStore;
  jobs: JobStore;
  worker: JobWorker;
  audit: AuditLog;
  /** Untagged manifests younger than this are kept (the GC grace period). */
  graceMs: number;
  /** Tags retention must never delete (immutable tags). Default: none. */
  isProtected?: (repository: RepoName, tag: string) => boolean | Promise<boolean>;
  logger: RetentionLogger;
  /** How often pull times are written (default 5 s). */
  pullFlushMs?: number;
}

/**
 * Part of the composition root: pull times recorded from manifest GETs, the
 * retention service on this node's job worker, and the next scheduled run of
 * every policy queued. Stop `pullTimes` before the stores close.
 */
export async function startRetention(parts: RetentionParts): Promise<{ retention: Retention; pullTimes: PullTimes }> {
  const { registry, worker, logger } = parts;
  const pullTimes = new PullTimes(parts.store, { flushIntervalMs: parts.pullFlushMs ?? 5000, onError: (err) => logger.warn({ err }, 'could not record manifest pull times; retrying') });
  pullTimes.start();
  registry.manifests.onPulled((_repository, manifest) => pullTimes.record(manifest.id));
  const retention = new Retention({
    store: parts.store,
    deleteManifest: (repository, digest, actor) => registry.manifests.delete(repository, digest, actor),
    startGc: async (target) => {
      const result = await registry.gc?.start(target, 'unreferenced blobs only', false);
      if (result && 'active' in result) logger.info({ registry: target.name, gc: result.active.id }, 'retention: a garbage collection is already running; blobs freed by this run go at the next one');
      return result && 'run' in result ? result.run.id : undefined;
    },
    jobs: parts.jobs,
    wake: () => worker.wake(),
    audit: (entry) => parts.audit.record({ system: true }, undefined, entry),
    isProtected: parts.isProtected ?? immutableTagsOf(registry),
    graceMs: parts.graceMs,
    logger,
  });
  retention.attach(worker);
  registry.retention = retention;
  await retention.scheduleAll();
  return { retention, pullTimes };
}

/**
 * Tags covered by the registry's immutable-tag rules are protected: retention never
 * plans to delete what core would refuse. Rules are read once per repository and run.
 */
function immutableTagsOf(registry: Registry): ((repository: RepoName, tag: string) => Promise<boolean>) | undefined {
  const immutable = registry.immutableTags;
  if (!immutable) return undefined;
  let cached: { repository: string; at: number; rules: Promise<ImmutableTagRule[]> } | undefined;
  return async (repository, tag) => {
    if (!cached || cached.repository !== repository || Date.now() - cached.at > 1000) cached = { repository, at: Date.now(), rules: immutable.rulesFor(repository) };
    return immutableRuleFor(await cached.rules, repository, tag) !== undefined;
  };
}
