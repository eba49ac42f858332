/**
 * Python distributions installed anywhere in the image (site-packages,
 * dist-packages, virtualenvs): the core metadata file each installer leaves
 * beside the package.
 *
 * - `<name>-<version>.dist-info/METADATA` (pip, wheels)
 * - `<name>.egg-info/PKG-INFO` and `<name>.egg-info` as a single file (setuptools, Debian's python3-* packages)
 * - `<name>.egg/EGG-INFO/PKG-INFO` (easy_install eggs)
 *
 * All are RFC 822-style headers followed by a blank line and the long
 * description, which can be megabytes of README: only the headers are read.
 */
import type { Readable } from 'node:stream';
import type { DetectedPackage, Detector, DetectorResult, LayerFile } from './detector.js';

/** The header block of a metadata file; the body after it is never kept. */
export const MAX_HEADER_BYTES = 1024 * 1024;

const METADATA_PATH = /(?:^|\/)(?:[^/]+\.dist-info\/METADATA|[^/]+\.egg-info\/PKG-INFO|[^/]+\.egg-info|[^/]+\.egg\/EGG-INFO\/PKG-INFO)$/;

export const pythonDetector: Detector = {
  name: 'python',

  wants(file: LayerFile): boolean {
    return METADATA_PATH.test(file.path);
  },

  async detect(file: LayerFile, content: Readable): Promise<DetectorResult> {
    const headers = parseHeaders(await readHeaderBlock(content));
    const name = headers.get('name')?.[0]?.trim();
    const version = headers.get('version')?.[0]?.trim();
    if (!name || !version) throw new Error('Python package metadata has no Name or Version header');
    const pkg: DetectedPackage = { ecosystem: 'PyPI', versionScheme: 'pep440', name, version, location: file.path };
    const licenses = declaredLicenses(headers);
    if (licenses.length > 0) pkg.licenses = licenses;
    return { packages: [pkg] };
  },
};

/**
 * The bytes up to the first empty line (or the whole file when there is
 * none). Lines of only spaces are not empty: they continue a folded header.
 */
async function readHeaderBlock(content: Readable): Promise<string> {
  const chunks: Buffer[] = [];
  let total = 0;
  let scanFrom = 0;
  for await (const chunk of content) {
    chunks.push(chunk as Buffer);
    total += (chunk as Buffer).length;
    const text = Buffer.concat(chunks, total);
    const end = blankLineAt(text, scanFrom);
    if (end >= 0 || total > MAX_HEADER_BYTES) content.destroy();
    if (end > MAX_HEADER_BYTES || (end < 0 && total > MAX_HEADER_BYTES)) {
      throw new Error(`Python package metadata headers are larger than ${MAX_HEADER_BYTES} bytes`);
    }
    if (end >= 0) return text.subarray(0, end).toString('utf8');
    // A blank line split across chunks starts at most 2 bytes back ("\n" + "\r").
    scanFrom = Math.max(0, total - 2);
    chunks.splice(0, chunks.length, text);
  }
  return Buffer.concat(chunks, total).toString('utf8');
}

/** Offset of the newline that ends the header block, or -1. */
function blankLineAt(text: Buffer, from: number): number {
  for (let i = text.indexOf(0x0a, from); i >= 0; i = text.indexOf(0x0a, i + 1)) {
    if (text[i + 1] === 0x0a) return i;
    if (text[i + 1] === 0x0d && text[i + 2] === 0x0a) return i;
  }
  return -1;
}

/** Header name (lower case) → its values in file order; folded lines are joined with "\n". */
export function parseHeaders(block: string): Map<string, string[]> {
  const headers = new Map<string, string[]>();
  let last: { values: string[]; index: number } | undefined;
  for (const rawLine of block.split('\n')) {
    const line = rawLine.endsWith('\r') ? rawLine.slice(0, -1) : rawLine;
    if (/^[ \t]/.test(line)) {
      if (last) last.values[last.index] += `\n${line.trim()}`;
      continue;
    }
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    const key = line.slice(0, colon).trim().toLowerCase();
    const values = headers.get(key) ?? [];
    values.push(line.slice(colon + 1).trim());
    headers.set(key, values);
    last = { values, index: values.length - 1 };
  }
  return headers;
}

/**
 * `License-Expression` (SPDX, metadata 2.4) when present; else a one-line
 * `License`; else the names in `License ::` classifiers. A multi-line
 * `License` is the license's full text, not its name, so it is left out.
 */
function declaredLicenses(headers: Map<string, string[]>): string[] {
  const expression = headers.get('license-expression')?.[0];
  if (expression) return [expression];
  const license = headers.get('license')?.[0];
  if (license && !license.includes('\n') && license.toUpperCase() !== 'UNKNOWN') return [license];
  return (headers.get('classifier') ?? [])
    .filter((c) => c.startsWith('License ::'))
    .map((c) => c.split('::').pop()!.trim())
    .filter((name) => name !== '' && name !== 'OSI Approved');
}
