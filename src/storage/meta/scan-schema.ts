/** Table types of the vulnerability scans (migration 007). Times are epoch milliseconds; JSON columns are text. */

export interface ScanLayersTable {
  layer_digest: string;
  /** LAYER_INVENTORY_FORMAT of the stored inventory: another format is inventoried again. */
  format: number;
  inventory: string;
  created_at: number;
}

export interface ImageScansTable {
  manifest_digest: string;
  status: string;
  kind: string;
  inventory: string | null;
  findings: string | null;
  summary: string | null;
  children: string | null;
  vulndb_generation: number;
  error: string | null;
  queued_at: number;
  started_at: number | null;
  completed_at: number | null;
}

export interface ScanPoliciesTable {
  registry_id: number;
  block_severity: string | null;
  /** JSON array of vulnerability ids. */
  allowlist: string;
  /** 0/1. */
  block_unscanned: number;
  updated_at: number;
}

export interface ScanTables {
  scan_layers: ScanLayersTable;
  image_scans: ImageScansTable;
  scan_policies: ScanPoliciesTable;
}
