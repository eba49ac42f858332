/**
 * Shapes of the repository, manifest and vulnerability answers of /api/v2 the
 * registry pages read. Fields marked optional are recent additions that an older
 * server leaves out; the pages fall back when they are missing.
 */
import type { SeveritySummary } from '../components/severity';
import type { Paged } from './types';

/** `worst_severity`: the worst finding of a repository's completed scans; `none`: nothing found; null: never scanned. */
export type WorstSeverity = 'critical' | 'high' | 'medium' | 'low' | 'unknown' | 'none';

export interface ManifestSummary {
  digest: string;
  compressed_size_bytes: number;
  size_bytes: number;
  updated_at: string;
  tags: string[];
}

export interface RepositoryItem {
  registry_name: string;
  /** The path inside the registry (`tools/debian`). */
  name: string;
  tag_count: number;
  manifest_count: number;
  latest_manifest: ManifestSummary | null;
  size_bytes?: number;
  updated_at?: string | null;
  worst_severity?: WorstSeverity | null;
}

export interface RepositoryList extends Paged {
  repositories: RepositoryItem[];
}

/** Where a manifest's scan stands. */
export type ScanStatus = 'queued' | 'scanning' | 'complete' | 'failed' | 'unsupported' | 'not scanned';

/** The `vulnerabilities` member of tag and manifest rows; null when never scanned. */
export interface ScanSummary {
  status: ScanStatus;
  summary: SeveritySummary | null;
}

export interface Platform {
  digest: string;
  os: string | null;
  architecture: string | null;
  variant: string | null;
}

/** What tag and manifest rows both say about a manifest: its kind, platforms, subject and last pull. */
export interface ManifestDetail {
  media_type?: string;
  /** Null for container images. */
  artifact_type?: string | null;
  /** An index's platforms; empty otherwise. */
  platforms?: Platform[];
  /** What a referrer (signature, SBOM, attestation) refers to. */
  subject_digest?: string | null;
  pulled_at?: string | null;
}

/** A tag, with the details of the manifest it names. */
export interface TagItem extends ManifestDetail {
  tag: string;
  manifest_digest: string;
  compressed_size_bytes: number;
  size_bytes: number;
  updated_at: string;
  vulnerabilities: ScanSummary | null;
}

export interface TagList extends Paged {
  tags: TagItem[];
}

export interface ManifestItem extends ManifestSummary, ManifestDetail {
  vulnerabilities: ScanSummary | null;
}

export interface ManifestList extends Paged {
  manifests: ManifestItem[];
}

export interface Finding {
  id: string;
  aliases: string[];
  /** Upper case, as the scanner writes it: CRITICAL, HIGH, MEDIUM, LOW, UNKNOWN. */
  severity: string;
  score?: number;
  vector?: string;
  summary?: string;
  package: { ecosystem: string; name: string; version: string; source_name?: string; source_version?: string; location: string; layer_digest: string };
  fixed_version?: string;
}

export interface VulnerabilityReport {
  digest: string;
  status: ScanStatus;
  kind: 'image' | 'index' | null;
  scanned_at: string | null;
  vulndb_generation: number;
  error: string | null;
  os: { id: string; version_id: string; pretty_name: string; ecosystem: string } | null;
  package_count: number;
  summary: SeveritySummary | null;
  findings: Finding[];
  platforms?: { digest: string; platform: string | null; status: ScanStatus; summary: SeveritySummary | null }[];
  notes: string[];
}
