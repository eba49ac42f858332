import type { Logger } from 'pino';
import type { AuditLog } from '../auth/audit-log.js';
import type { Registry } from '../core/registry.js';
import type { JobStore } from '../jobs/job-store.js';
import type { JobWorker } from '../jobs/worker.js';
import type { RepoName } from '../oci/name.js';
import type { BlobStore } from '../storage/blob/blob-store.js';
import { defaultDetectors } from './detect/index.js';
import type { VulnDbStore } from './osv/vulndb-store.js';
import { PullPolicy } from './pull-policy.js';
import { REMATCH_JOB, SCAN_JOB, Scanner, type ScanJobPayload } from './scanner.js';
import type { ScanStore } from './scan-store.js';
import { refreshVulnDb, VULNDB_REFRESH_JOB } from './vulndb-refresh.js';

export interface ScanningOptions {
  onPush: boolean;
  vulndb: { sources: string[]; refreshInterval: number };
}

export interface ScanningParts {
  registry: Registry;
  blobStore: BlobStore;
  scans: ScanStore;
  vulndb: VulnDbStore;
  jobs: JobStore;
  worker: JobWorker;
  audit: AuditLog;
  /** The id of a registry by name (pull policies are per registry). */
  registryId(name: string): Promise<number | undefined>;
  logger: Logger;
}

/**
 * Part of the composition root: the scanner on this node's job worker, scans
 * queued on push, the pull policy on manifest GETs, and the scheduled refresh
 * of configured vulnerability sources.
 */
export async function startScanning(options: ScanningOptions, parts: ScanningParts): Promise<{ scanner: Scanner; pullPolicy: PullPolicy }> {
  const { registry, worker, jobs, logger } = parts;
  const enqueue = async (kind: string, payload: unknown, dedupeKey: string, runAt?: number) => {
    await jobs.enqueue(kind, payload, { dedupeKey, ...(runAt !== undefined ? { runAt } : {}) });
    worker.wake();
  };
  const scanner = new Scanner({
    scans: parts.scans,
    vulndb: parts.vulndb,
    detectors: defaultDetectors,
    findManifest: (repository, digest) => registry.meta.findManifest(repository as RepoName, { digest: digest as never }),
    readBlob: (digest) => parts.blobStore.read(digest as never),
    enqueue: (kind, payload, key) => enqueue(kind, payload, key),
    audit: (entry) => parts.audit.record({ system: true }, undefined, entry),
    logger,
  });
  worker.handle(SCAN_JOB, {
    run: (job) => scanner.scan(job.payload as ScanJobPayload),
    exhausted: (job, error) => scanner.failed(job.payload as ScanJobPayload, error),
    // A scan waits on nothing but this node: retry soon.
    retry: { baseMs: 500, maxMs: 60_000 },
  });
  worker.handle(REMATCH_JOB, { run: async (_job, context) => void (await scanner.rematch(context.signal)) });
  if (options.onPush) {
    registry.manifests.onPushed(async ({ repository, digest }) => {
      // The push is stored: a failure to queue its scan is logged, not a failed push (a rescan can queue it).
      await scanner.queue(repository, digest).catch((err: unknown) => logger.error({ err, repository, digest }, 'could not queue the scan of a pushed manifest'));
    });
  }
  const { sources, refreshInterval } = options.vulndb;
  /** One refresh per interval slot, whichever node or restart asks for it. */
  const refreshKey = (at: number) => `${VULNDB_REFRESH_JOB}@${Math.floor(at / refreshInterval)}`;
  if (sources.length > 0) {
    worker.handle(VULNDB_REFRESH_JOB, {
      run: (_job, context) =>
        refreshVulnDb(
          {
            store: parts.vulndb,
            sources,
            intervalMs: refreshInterval,
            // Keyed by the interval slot it falls in: the running job's own key would hand back the running job.
            schedule: (runAt) => enqueue(VULNDB_REFRESH_JOB, {}, refreshKey(runAt), runAt),
            changed: () => scanner.queueRematch(),
            logger,
          },
          context.signal,
        ),
    });
    // Due now unless a refresh is already queued (by this node before a restart, or by another node).
    await enqueue(VULNDB_REFRESH_JOB, {}, refreshKey(Date.now()));
  }
  const pullPolicy = new PullPolicy({ scans: parts.scans, outcome: (digest) => scanner.findingsOf(digest), registryId: parts.registryId });
  registry.scanning = { scanner, pullPolicy, vulndb: parts.vulndb };
  return { scanner, pullPolicy };
}
