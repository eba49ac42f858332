import type { LayerInventory } from './layers/layer-inventory.js';
import type { Finding, ImageScan, ScanStatus, SeveritySummary } from './report.js';

/** A registry's pull policy on vulnerable images (Harbor's "prevent vulnerable images from running"). */
export interface ScanPolicy {
  /** Pulls of images with a finding at or above this severity are refused; null: none are. */
  blockSeverity: 'CRITICAL' | 'HIGH' | 'MEDIUM' | 'LOW' | null;
  /** Vulnerability ids (or any of their aliases) never counted against the policy. */
  allowlist: string[];
  /** Refuse pulls of images whose scan has not completed (queued, scanning, failed); unsupported artifacts are always allowed. */
  blockUnscanned: boolean;
}

export const NO_POLICY: ScanPolicy = { blockSeverity: null, allowlist: [], blockUnscanned: false };

/** Scan results, layer inventories and pull policies in the metadata store. */
export interface ScanStore {
  /** A layer's inventory, when one of `format` is stored. */
  getLayer(digest: string, format: number): Promise<LayerInventory | undefined>;
  putLayer(inventory: LayerInventory, at: number): Promise<void>;

  /**
   * Marks a manifest's scan queued. A scan that is complete or unsupported is left
   * as it is unless `force` (a rescan); returns whether a scan is now due.
   */
  markQueued(digest: string, at: number, force: boolean): Promise<boolean>;
  setStatus(digest: string, status: ScanStatus, at: number, error?: string): Promise<void>;
  saveScan(scan: ImageScan): Promise<void>;
  /** Replaces a complete scan's findings after the database changed (its inventory stays). */
  saveFindings(digest: string, findings: Finding[], summary: SeveritySummary, generation: number): Promise<void>;
  get(digest: string): Promise<ImageScan | undefined>;
  /** Status and summary of many manifests at once (listings); missing ones are not in the map. */
  summaries(digests: readonly string[]): Promise<Map<string, { status: ScanStatus; summary: SeveritySummary | null }>>;
  /** Complete image scans matched at a generation older than `generation`, by digest after `after`. */
  staleScans(generation: number, after: string, limit: number): Promise<ImageScan[]>;

  getPolicy(registryId: number): Promise<ScanPolicy>;
  setPolicy(registryId: number, policy: ScanPolicy, at: number): Promise<void>;
}
