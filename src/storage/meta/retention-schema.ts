/** Table types of retention (migration 009). Times are epoch milliseconds; JSON columns are text. */

export interface RetentionPoliciesTable {
  registry_id: number;
  id: string;
  /** The policy document (src/events/retention/rules.ts) as JSON. */
  document: string;
  revision: number;
  created_at: number;
  updated_at: number;
}

export interface RetentionRunsTable {
  id: string;
  registry_id: number;
  policy_id: string;
  /** 'schedule' | 'manual' */
  trigger: string;
  /** 'queued' | 'running' | 'succeeded' | 'failed' */
  status: string;
  requested_by: string | null;
  created_at: number;
  started_at: number | null;
  finished_at: number | null;
  repositories: number;
  images_deleted: number;
  manifests_deleted: number;
  bytes_freed: number;
  skipped: number;
  error: string | null;
  job_id: number | null;
  node: string | null;
  gc_run_id: string | null;
}

export interface RetentionDeletionsTable {
  run_id: string;
  /** Order within the run. */
  seq: number;
  repository: string;
  digest: string;
  /** 'image' | 'child' | 'referrer' */
  role: string;
  /** JSON array of the tags it had. */
  tags: string;
  size: number;
  rule_priority: number | null;
  reason: string;
  /** 'deleted' | 'refused' | 'changed' | 'gone' */
  outcome: string;
}

export interface ManifestPullsTable {
  manifest_id: number;
  pulled_at: number;
}

export interface RetentionTables {
  retention_policies: RetentionPoliciesTable;
  retention_runs: RetentionRunsTable;
  retention_deletions: RetentionDeletionsTable;
  manifest_pulls: ManifestPullsTable;
}
