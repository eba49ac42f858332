import type { Readable } from 'node:stream';
import type { DetectedOs, InstalledPackage } from '../inventory.js';

/** A regular file in a layer, as the layer walker sees it. */
export interface LayerFile {
  /** Normalised path inside the image: no leading `/` or `./`, no `..`, `/`-separated. */
  path: string;
  size: number;
  /** Unix permission bits (0o755 …). */
  mode: number;
}

/** A package as a detector reports it; the walker adds `layerDigest`, and the OS ecosystem for distro packages. */
export type DetectedPackage = Omit<InstalledPackage, 'layerDigest' | 'ecosystem'> & {
  /** Set for language ecosystems (`npm`, `PyPI`, `Go`, `crates.io`); left out for distro packages, which take the image OS's. */
  ecosystem?: string;
};

export interface DetectorResult {
  packages?: DetectedPackage[];
  os?: DetectedOs;
  notes?: string[];
}

/**
 * Finds packages (or the OS) in the files of a layer. The walker asks `wants`
 * for every regular file of every layer and streams only the wanted ones
 * through `detect`, so a scan reads each layer once and holds only what
 * detectors keep. A detector must bound what it buffers (`readCapped`).
 */
export interface Detector {
  readonly name: string;
  wants(file: LayerFile): boolean;
  /** Must consume or destroy `content`. Throwing marks only this file as unreadable (a note), not the scan. */
  detect(file: LayerFile, content: Readable): Promise<DetectorResult>;
}

/** Reads a stream whole up to `maxBytes`; larger content is an error (the file is skipped with a note). */
export async function readCapped(content: Readable, maxBytes: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of content) {
    total += (chunk as Buffer).length;
    if (total > maxBytes) {
      content.destroy();
      throw new Error(`file is larger than the ${maxBytes} bytes this detector reads`);
    }
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks, total);
}
