import type { Digest } from '../../oci/digest.js';
import type { RepoName } from '../../oci/name.js';

export interface RepositoryRecord {
  id: number;
  name: RepoName;
  registry: string;
}

export interface UploadRecord {
  id: string;
  repositoryId: number;
  /** Bytes acknowledged so far (the offset the next chunk must start at). */
  size: number;
  createdAt: number;
}

export interface ManifestRecord {
  id: number;
  digest: Digest;
  mediaType: string;
  size: number;
  body: Buffer;
  artifactType: string | null;
  subjectDigest: Digest | null;
}

export interface ReferrerRecord {
  digest: Digest;
  mediaType: string;
  size: number;
  artifactType: string | null;
  annotations: Record<string, string> | null;
}

export interface NewManifest {
  repositoryId: number;
  digest: Digest;
  mediaType: string;
  size: number;
  body: Buffer;
  artifactType?: string;
  subjectDigest?: Digest;
  annotations?: Record<string, string>;
  /** Blobs (config, layers) and child manifests it references. */
  blobDigests: Digest[];
  childDigests: Digest[];
}

/** An event for subscribers (webhooks), kept by `recordEvent` with the change that caused it. */
export interface OutboxEvent {
  /** Unique (a UUID): receivers deduplicate by it. */
  id: string;
  /** `push`, `tag.deleted`, … (src/events/event-types.ts). */
  type: string;
  registry: string;
  /** The repository it concerns; null for registry-wide events. */
  repository: string | null;
  /** Epoch ms. */
  occurredAt: number;
  /** Stored as JSON. */
  data: Record<string, unknown>;
}

/**
 * The metadata port, shaped by what core needs. Every method runs in the
 * current transaction when called on the store handed to `transaction`.
 */
export interface MetaStore {
  /**
   * Runs `work` as one transaction, as if no other writer overlapped it. On a
   * shared database (PostgreSQL) a conflicting transaction runs `work` again
   * from the start, so it should only use `tx` (or be safe to repeat).
   */
  transaction<T>(work: (tx: MetaStore) => Promise<T>): Promise<T>;

  getRepository(name: RepoName): Promise<RepositoryRecord | undefined>;
  /** Returns the repository, creating it (and its registry) when missing. */
  ensureRepository(name: RepoName, registry: string): Promise<RepositoryRecord>;
  /** Repository names in lexical order, after `last`. */
  listRepositories(limit: number, last?: string): Promise<string[]>;

  /** Records that a committed blob is part of a repository. */
  linkBlob(repositoryId: number, digest: Digest, size: number): Promise<void>;
  /** The blob's size if it is linked to the repository. */
  getRepositoryBlob(repositoryId: number, digest: Digest): Promise<{ size: number } | undefined>;
  /** The blob's size if any repository holds it. */
  getBlob(digest: Digest): Promise<{ size: number } | undefined>;
  /** Sizes of those of `digests` linked to the repository. */
  getRepositoryBlobs(repositoryId: number, digests: Digest[]): Promise<Map<string, number>>;
  unlinkBlob(repositoryId: number, digest: Digest): Promise<boolean>;

  createUpload(upload: UploadRecord): Promise<void>;
  getUpload(id: string): Promise<UploadRecord | undefined>;
  setUploadSize(id: string, size: number): Promise<void>;
  deleteUpload(id: string): Promise<void>;

  /** The hot read path: one query from repository name and tag or digest to the manifest. */
  findManifest(name: RepoName, reference: { tag: string } | { digest: Digest }): Promise<ManifestRecord | undefined>;
  /** The hot read path for blob HEAD/GET: one query from repository name and digest to the blob's size. */
  findRepositoryBlob(name: RepoName, digest: Digest): Promise<{ size: number } | undefined>;
  getManifestByDigest(repositoryId: number, digest: Digest): Promise<ManifestRecord | undefined>;
  getManifestByTag(repositoryId: number, tag: string): Promise<ManifestRecord | undefined>;
  /** Sizes of those of `digests` stored as manifests in the repository. */
  getRepositoryManifests(repositoryId: number, digests: Digest[]): Promise<Map<string, number>>;
  /** Inserts the manifest (no-op when the same digest is stored) and returns its id. */
  putManifest(manifest: NewManifest): Promise<number>;
  deleteManifest(repositoryId: number, digest: Digest): Promise<boolean>;

  setTag(repositoryId: number, tag: string, manifestId: number): Promise<void>;
  deleteTag(repositoryId: number, tag: string): Promise<boolean>;
  /** The tags naming a manifest in the repository, in lexical order. */
  tagsOfManifest(repositoryId: number, digest: Digest): Promise<string[]>;
  /** Tags in lexical order, after `last`. */
  listTags(repositoryId: number, limit: number, last?: string): Promise<string[]>;

  listReferrers(repositoryId: number, subject: Digest, artifactType?: string): Promise<ReferrerRecord[]>;

  /** Bytes a registry stores: its distinct blobs once each, plus its manifests (0 for an unknown registry). */
  registryStorage(registry: string): Promise<number>;

  /**
   * Keeps an event in the outbox, in the current transaction: it is kept exactly
   * when the change that caused it commits. False (nothing kept) when no enabled
   * webhook of the event's registry subscribes to its type.
   */
  recordEvent(event: OutboxEvent): Promise<boolean>;

  ping(): Promise<void>;
  close(): Promise<void>;
}
