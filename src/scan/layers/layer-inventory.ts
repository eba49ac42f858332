import type { Readable } from 'node:stream';
import type { DetectedOs } from '../inventory.js';
import type { DetectedPackage } from '../detect/detector.js';

/**
 * What one layer holds for the detectors, read once and kept by layer digest:
 * a base layer shared by many images is inventoried once, and each image's
 * inventory is a merge of its layers' (mergeLayerInventories). Plain JSON.
 */
export interface LayerInventory {
  /** LAYER_INVENTORY_FORMAT when written; a stored inventory of another format is read again. */
  format: number;
  digest: string;
  /** Every file a detector wanted, by path (sorted), even those where nothing was found: they hide lower layers' copies. */
  files: LayerFileInventory[];
  /** Paths this layer deletes from lower layers (`.wh.<name>`): the file, or the whole directory. Sorted. */
  whiteouts: string[];
  /** Directories whose lower-layer contents this layer hides (`.wh..wh..opq`); `''` is the root. Sorted. */
  opaqueDirs: string[];
  /** About the layer as a whole (entries skipped as unsafe …). */
  notes: string[];
}

export interface LayerFileInventory {
  /** Normalised path (no leading `/` or `./`). */
  path: string;
  /** One per detector that wanted the file, in detector order. Empty for a wanted path that is a symlink or device here. */
  findings: FileFinding[];
}

/** A detector's result for one file; empty fields are left out. */
export interface FileFinding {
  detector: string;
  packages?: DetectedPackage[];
  os?: DetectedOs;
  notes?: string[];
}

export const LAYER_INVENTORY_FORMAT = 1;

/** A layer blob as stored: its digest, and its bytes (compressed or not) on demand. */
export interface LayerSource {
  digest: string;
  open(): Promise<Readable>;
}
