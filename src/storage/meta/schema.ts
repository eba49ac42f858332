import type { Generated } from 'kysely';

/** Table types for the kysely query layer. Times are epoch milliseconds. */
export interface RegistriesTable {
  id: Generated<number>;
  name: string;
  created_at: number;
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

export interface Database {
  registries: RegistriesTable;
  repositories: RepositoriesTable;
  blobs: BlobsTable;
  repository_blobs: RepositoryBlobsTable;
  uploads: UploadsTable;
  manifests: ManifestsTable;
  manifest_references: ManifestReferencesTable;
  tags: TagsTable;
}
