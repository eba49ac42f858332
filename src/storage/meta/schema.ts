import type { ScanTables } from './scan-schema.js';
import type { WebhookTables } from './webhook-schema.js';
import type { ImmutableTagTables } from './immutable-tag-schema.js';
import type { RetentionTables } from './retention-schema.js';
import type { Generated } from 'kysely';

/** Table types for the kysely query layer. Times are epoch milliseconds. */
export interface RegistriesTable {
  id: Generated<number>;
  name: string;
  created_at: number;
  /** 1: anonymous pull allowed. */
  public: Generated<number>;
  region: Generated<string>;
  tier_slug: Generated<string>;
  tier_updated_at: number | null;
  /** Distinct blobs of the registry counted once, plus its manifests; kept in step by every link, unlink, put and delete. */
  storage_bytes: Generated<number>;
  storage_updated_at: number | null;
}

export interface RegistryBlobsTable {
  registry_id: number;
  digest: string;
  size: number;
  /** How many of the registry's repositories link the blob. */
  refs: number;
}

export interface TransferUsageTable {
  registry_id: number;
  /** YYYY-MM, UTC */
  month: string;
  bytes: number;
}

export interface StorageHistoryTable {
  registry_id: number;
  /** YYYY-MM-DD, UTC */
  day: string;
  bytes: number;
}

export interface GcRunsTable {
  id: string;
  registry_id: number;
  type: string;
  status: string;
  dry_run: Generated<number>;
  created_at: number;
  updated_at: number;
  manifests_deleted: Generated<number>;
  blobs_deleted: Generated<number>;
  freed_bytes: Generated<number>;
  error: string | null;
  /** The job that runs it (null: a run recorded before the job queue). */
  job_id: number | null;
  /** The node (worker id) that last took it up. */
  node: string | null;
}

export interface UsersTable {
  id: Generated<number>;
  username: string;
  password_hash: string;
  disabled: Generated<number>;
  server_admin: Generated<number>;
  can_create_registries: Generated<number>;
  created_at: number;
  updated_at: number;
}

export interface TeamsTable {
  id: Generated<number>;
  name: string;
  created_at: number;
}

export interface TeamMembersTable {
  team_id: number;
  user_id: number;
}

export interface RobotsTable {
  id: Generated<number>;
  registry_id: number;
  name: string;
  disabled: Generated<number>;
  created_at: number;
}

export interface GrantsTable {
  id: Generated<number>;
  registry_id: number;
  /** 'user' | 'team' | 'robot' */
  subject_kind: string;
  subject_id: number;
  /** 'read-only' | 'read-write' | 'admin' */
  role: string;
  /** A glob over full repository names (`team-a/*`); null: the whole registry. */
  repository_pattern: string | null;
  created_at: number;
}

export interface TokensTable {
  /** Public identifier, part of the secret string. */
  id: string;
  /** 'pat' | 'robot' | 'refresh' | 'session' */
  kind: string;
  owner_kind: string;
  owner_id: number;
  name: string;
  /** sha256 of the secret part: secrets are 256-bit random, so a fast hash is enough. */
  secret_hash: string;
  /** JSON array of scopes; null: the owner's full authority. */
  scopes: string | null;
  expires_at: number | null;
  last_used_at: number | null;
  revoked_at: number | null;
  created_at: number;
}

export interface AuditEventsTable {
  id: Generated<number>;
  at: number;
  actor: string;
  actor_kind: string;
  source: string | null;
  action: string;
  registry: string | null;
  resource: string | null;
  outcome: string;
  reason: string | null;
  detail: string | null;
}

export interface RepositoriesTable {
  id: Generated<number>;
  registry_id: number;
  name: string;
  created_at: number;
}

export interface BlobsTable {
  digest: string;
  size: number;
  created_at: number;
}

export interface RepositoryBlobsTable {
  repository_id: number;
  digest: string;
  created_at: number;
}

export interface UploadsTable {
  id: string;
  repository_id: number;
  size: number;
  created_at: number;
  updated_at: number;
}

export interface ManifestsTable {
  id: Generated<number>;
  repository_id: number;
  digest: string;
  media_type: string;
  artifact_type: string | null;
  size: number;
  body: Buffer;
  subject_digest: string | null;
  annotations: string | null;
  created_at: number;
}

export interface ManifestReferencesTable {
  manifest_id: number;
  digest: string;
  /** 'blob' for config/layers, 'manifest' for index children. */
  kind: string;
}

export interface TagsTable {
  repository_id: number;
  name: string;
  manifest_id: number;
  updated_at: number;
}

export interface SigningKeysTable {
  kid: string;
  created_at: number;
  /** Null while the key signs. */
  retired_at: number | null;
  /** The private JWK as JSON text. */
  private_jwk: string;
}

export interface LoginFailuresTable {
  /** `u:<username>` or `s:<source address>` */
  key: string;
  at: number;
}

export interface JobsTable {
  id: Generated<number>;
  kind: string;
  /** JSON text. */
  payload: string;
  /** 'queued' | 'running' | 'done' | 'failed' */
  status: string;
  run_at: number;
  attempts: Generated<number>;
  max_attempts: number;
  lease_owner: string | null;
  lease_expires_at: number | null;
  last_error: string | null;
  /** Unique among queued and running jobs. */
  dedupe_key: string | null;
  created_at: number;
  updated_at: number;
}

export interface BlobClaimsTable {
  digest: string;
  /** '' for the digest's own row (a time claim, and the lock GC and pushes meet on); else an upload session's id. */
  claimant: string;
  expires_at: number;
}

export interface VulndbRecordsTable {
  /** The OSV id (`GHSA-…`, `GO-2024-1234`). */
  id: string;
  /** `modified` as the record writes it. */
  modified: string;
  withdrawn: string | null;
  /** sha256 of `body`. */
  content_hash: string;
  /** The record's JSON. */
  body: string;
  /** The source that last wrote it. */
  source: string;
  updated_at: number;
}

export interface VulndbPackagesTable {
  /** With the release suffix (`Debian:12`), as matching compares it. */
  ecosystem: string;
  /** Normalised as the ecosystem compares names. */
  package: string;
  record_id: string;
  /** Without the suffix (`Debian`). */
  ecosystem_base: string;
}

export interface VulndbSourcesTable {
  name: string;
  imported_at: number;
  record_count: number;
  latest_modified: string | null;
}

export interface VulndbStateTable {
  /** Always 1. */
  id: number;
  generation: number;
  changed_at: number | null;
}

export interface Database extends ScanTables, ImmutableTagTables, WebhookTables, RetentionTables {
  registries: RegistriesTable;
  repositories: RepositoriesTable;
  blobs: BlobsTable;
  repository_blobs: RepositoryBlobsTable;
  uploads: UploadsTable;
  manifests: ManifestsTable;
  manifest_references: ManifestReferencesTable;
  tags: TagsTable;
  users: UsersTable;
  teams: TeamsTable;
  team_members: TeamMembersTable;
  robots: RobotsTable;
  grants: GrantsTable;
  tokens: TokensTable;
  audit_events: AuditEventsTable;
  registry_blobs: RegistryBlobsTable;
  transfer_usage: TransferUsageTable;
  storage_history: StorageHistoryTable;
  gc_runs: GcRunsTable;
  signing_keys: SigningKeysTable;
  login_failures: LoginFailuresTable;
  jobs: JobsTable;
  blob_claims: BlobClaimsTable;
  vulndb_records: VulndbRecordsTable;
  vulndb_packages: VulndbPackagesTable;
  vulndb_sources: VulndbSourcesTable;
  vulndb_state: VulndbStateTable;
}
