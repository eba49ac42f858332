/**
 * The retention service's port on the metadata store: policies, runs and what
 * each run deleted, the repository facts evaluation reads, and manifests' pull
 * times. Implemented over kysely in src/storage/meta/kysely-retention-store.ts.
 */
import type { ManifestFacts, ManifestRole } from './evaluate.js';
import type { SavedPolicy } from './rules.js';

export interface StoredPolicy {
  registryId: number;
  /** The registry's name. */
  registry: string;
  policy: SavedPolicy;
  /** Counts saves: jobs scheduled for an older revision do nothing. */
  revision: number;
  createdAt: number;
  updatedAt: number;
}

export type RunStatus = 'queued' | 'running' | 'succeeded' | 'failed';
export const FINISHED_RUN_STATUSES: readonly RunStatus[] = ['succeeded', 'failed'];
export type RunTrigger = 'schedule' | 'manual';

export interface RetentionRun {
  id: string;
  registryId: number;
  policyId: string;
  trigger: RunTrigger;
  status: RunStatus;
  /** Who asked for a manual run (null: the schedule). */
  requestedBy: string | null;
  createdAt: number;
  startedAt: number | null;
  finishedAt: number | null;
  /** Repositories the policy governed. */
  repositories: number;
  imagesDeleted: number;
  /** Images and the children and referrers that went with them. */
  manifestsDeleted: number;
  /** The deleted manifests plus the blobs no remaining manifest of the registry references (freed once GC has run). */
  bytesFreed: number;
  /** Deletions refused (an immutable tag) or skipped (changed since planned). */
  skipped: number;
  error: string | null;
  /** The job carrying the run out. */
  jobId: number | null;
  /** The node that last took it up. */
  node: string | null;
  /** The garbage collection started after it, to free the blobs. */
  gcRunId: string | null;
}

export type RunPatch = Partial<Pick<RetentionRun, 'status' | 'startedAt' | 'finishedAt' | 'repositories' | 'imagesDeleted' | 'manifestsDeleted' | 'bytesFreed' | 'skipped' | 'error' | 'node' | 'gcRunId'>>;

/** One manifest a run deleted (or could not). */
export interface RunDeletion {
  repository: string;
  digest: string;
  role: ManifestRole;
  tags: string[];
  size: number;
  rulePriority: number | null;
  reason: string;
  /** 'deleted', or why not: 'refused' (immutable), 'changed' (tagged or referenced since planned), 'gone' (deleted meanwhile). */
  outcome: 'deleted' | 'refused' | 'changed' | 'gone';
}

/** The job a manual run is carried out by, queued with it. */
export interface RunJob {
  kind: string;
  payload: unknown;
  maxAttempts: number;
}

/** Who names a manifest now: its tags, and the manifests that list it or have it as subject. */
export interface ManifestDependents {
  tags: string[];
  /** Digests of manifests of the repository that list it (indexes) or name it as their subject. */
  referencedBy: string[];
}

export interface ManifestFootprint {
  size: number;
  blobs: { digest: string; size: number }[];
}

export interface PullTimeStore {
  /** Records the latest pull of each manifest; older times and manifests deleted meanwhile are ignored. One transaction. */
  recordPulls(pulls: readonly { manifestId: number; at: number }[]): Promise<void>;
}

export interface RetentionStore extends PullTimeStore {
  /** Every registry's policies (undefined), or one registry's, by id. */
  listPolicies(registryId?: number): Promise<StoredPolicy[]>;
  getPolicy(registryId: number, id: string): Promise<StoredPolicy | undefined>;
  /** Creates or replaces the policy (its revision counts up); `created` when it was new. */
  putPolicy(registryId: number, policy: SavedPolicy, at: number): Promise<{ stored: StoredPolicy; created: boolean }>;
  deletePolicy(registryId: number, id: string): Promise<boolean>;

  repositories(registryId: number): Promise<{ id: number; name: string }[]>;
  /** Every manifest of the repository, with its tags, children, subject and last pull. */
  manifestFacts(repositoryId: number): Promise<ManifestFacts[]>;
  /** What still names a manifest, checked right before deleting it. */
  dependents(repositoryId: number, digest: string): Promise<ManifestDependents>;
  /** What these manifests (by id) hold: their own size and the blobs they reference. */
  footprints(manifestIds: readonly number[]): Promise<Map<number, ManifestFootprint>>;
  /** Those of `digests` some manifest of the registry references, leaving out the manifests in `except`. */
  blobsInUse(registryId: number, digests: readonly string[], except: ReadonlySet<number>): Promise<Set<string>>;

  /**
   * Inserts the run unless the policy has an unfinished one (checked
   * atomically): then returns that one. With `job`, queues the job that
   * runs it in the same transaction and records its id on the run.
   */
  createRun(run: RetentionRun, job?: RunJob): Promise<{ run: RetentionRun } | { active: RetentionRun }>;
  getRun(id: string): Promise<RetentionRun | undefined>;
  runOfJob(jobId: number): Promise<RetentionRun | undefined>;
  /** Newest first. */
  listRuns(registryId: number, policyId: string, limit: number, offset: number): Promise<{ runs: RetentionRun[]; total: number }>;
  updateRun(id: string, patch: RunPatch): Promise<void>;
  addDeletions(runId: string, deletions: readonly RunDeletion[]): Promise<void>;
  /** In the order they were made. */
  deletions(runId: string, limit: number, offset: number): Promise<{ deletions: RunDeletion[]; total: number }>;
}
