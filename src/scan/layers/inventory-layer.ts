import { pipeline } from 'node:stream/promises';
import tar, { type Header } from 'tar-stream';
import type { Detector, LayerFile } from '../detect/detector.js';
import { decompressor, sniffCompression } from './decompress.js';
import { detectFile } from './fan-out.js';
import { LAYER_INVENTORY_FORMAT, type FileFinding, type LayerFileInventory, type LayerInventory, type LayerSource } from './layer-inventory.js';

const WHITEOUT_PREFIX = '.wh.';
const OPAQUE_MARKER = '.wh..wh..opq';

/**
 * Reads a layer once, start to end, and keeps only what detectors find in the
 * files they want, plus the layer's whiteouts. Memory stays bounded by what
 * detectors hold, whatever the layer's size: unwanted files are drained as
 * they stream past. Rejects when the layer cannot be read whole (corrupt,
 * truncated, the store failed), so a partial inventory is never cached.
 *
 * Only wanted paths are recorded, so a lower layer's wanted file that a higher
 * layer replaces with one no detector wants (or with a directory) keeps its
 * findings in the merge. Detectors choose files by path, so that is rare.
 */
export async function inventoryLayer(layer: LayerSource, detectors: readonly Detector[]): Promise<LayerInventory> {
  const { compression, stream } = await sniffCompression(await layer.open());
  // Old v7 tars have no ustar magic; header checksums are still verified.
  const extract = tar.extract({ allowUnknownFormat: true } as Parameters<typeof tar.extract>[0]);
  const entries = extract[Symbol.asyncIterator]();
  const unpacker = decompressor(compression);
  const feeding = unpacker ? pipeline(stream, unpacker, extract) : pipeline(stream, extract);
  feeding.catch(() => {}); // a failing stage also fails `entries`, where it is caught

  const walker = new LayerWalker(detectors);
  try {
    for (let next = await entries.next(); !next.done; next = await entries.next()) await walker.take(next.value as TarEntry);
    await feeding;
  } catch (err) {
    // A failing stage (bad gzip, truncated tar) destroys the parser with its own error, which is the one caught here.
    stream.destroy();
    extract.destroy();
    throw err;
  }
  return walker.result(layer.digest);
}

/** A tar entry's header and content (streamx yields the Buffers the parser cut). */
type TarEntry = AsyncIterable<Buffer> & { header: Header };

/** The state of one walk: what each wanted file held, and the whiteouts seen. */
class LayerWalker {
  private readonly files = new Map<string, LayerFileInventory>();
  /** Sizes of the files read, for the hard links to them (whose own tar size is 0). */
  private readonly sizes = new Map<string, number>();
  private readonly whiteouts = new Set<string>();
  private readonly opaqueDirs = new Set<string>();
  /** Entries whose path climbs out of the image: counted, so a hostile layer cannot grow the notes. */
  private readonly unsafe = { count: 0, first: '' };

  constructor(private readonly detectors: readonly Detector[]) {}

  /** Handles one tar entry; always reads its content to the end, which the parser needs to go on. */
  async take(entry: TarEntry): Promise<void> {
    const { header } = entry;
    const path = normaliseLayerPath(header.name);
    if (path === undefined) {
      if (this.unsafe.count++ === 0) this.unsafe.first = header.name;
    } else if (path !== '' && this.recordWhiteout(path)) {
      // The marker itself is not a file of the image.
    } else if (header.type === 'file' || header.type === 'contiguous-file') {
      const file: LayerFile = { path, size: header.size ?? 0, mode: header.mode ?? 0 };
      const wanting = this.detectors.filter((d) => d.wants(file));
      if (wanting.length > 0) {
        this.files.set(path, { path, findings: await detectFile(file, entry, wanting) });
        this.sizes.set(path, file.size);
        return;
      }
    } else if (header.type === 'link') {
      this.hardLink(path, header);
    } else if (header.type !== 'directory' && path !== '') {
      // A symlink or device where a wanted file may have been: it hides that lower copy.
      const file: LayerFile = { path, size: 0, mode: header.mode ?? 0 };
      if (this.detectors.some((d) => d.wants(file))) this.files.set(path, { path, findings: [] });
    }
    await drain(entry);
  }

  /** True when `path` is a whiteout marker (`.wh.<name>`, `.wh..wh..opq`), which is then recorded for the merge. */
  private recordWhiteout(path: string): boolean {
    const slash = path.lastIndexOf('/');
    const dir = path.slice(0, slash + 1);
    const name = path.slice(slash + 1);
    if (!name.startsWith(WHITEOUT_PREFIX)) return false;
    const target = name.slice(WHITEOUT_PREFIX.length);
    if (name === OPAQUE_MARKER) this.opaqueDirs.add(dir.slice(0, -1));
    // Other `.wh..wh.` names are aufs bookkeeping (hard link directories), not deletions; `.wh.` alone names nothing.
    else if (target !== '' && !target.startsWith(WHITEOUT_PREFIX)) this.whiteouts.add(dir + target);
    return true;
  }

  /**
   * A hard link's tar entry has no content: it is its target's. When the target
   * was read in this layer, the link gets the findings of the detectors that
   * want it too, at its own location; otherwise it is noted, not read.
   */
  private hardLink(path: string, header: Header): void {
    const targetPath = normaliseLayerPath(header.linkname ?? '');
    const target = targetPath ? this.files.get(targetPath) : undefined;
    const file: LayerFile = { path, size: (targetPath && this.sizes.get(targetPath)) || 0, mode: header.mode ?? 0 };
    const wanting = this.detectors.filter((d) => d.wants(file));
    if (wanting.length === 0) return;
    const findings = wanting.map((detector): FileFinding => {
      const found = target?.findings.find((f) => f.detector === detector.name);
      if (found) return relocated(found, targetPath!, path);
      return { detector: detector.name, notes: [`${path} is a hard link to ${header.linkname}, whose content the ${detector.name} detector did not read in this layer: not inventoried`] };
    });
    this.files.set(path, { path, findings });
  }

  result(digest: string): LayerInventory {
    return {
      format: LAYER_INVENTORY_FORMAT,
      digest,
      files: [...this.files.values()].sort((a, b) => compare(a.path, b.path)),
      whiteouts: [...this.whiteouts].sort(compare),
      opaqueDirs: [...this.opaqueDirs].sort(compare),
      notes: this.unsafe.count === 0 ? [] : [`skipped ${this.unsafe.count} tar entr${this.unsafe.count === 1 ? 'y' : 'ies'} whose path leaves the image root (the first: ${JSON.stringify(this.unsafe.first)})`],
    };
  }
}

/** The target's findings, with packages found at the target's path moved to the link's. */
function relocated(found: FileFinding, from: string, to: string): FileFinding {
  if (!found.packages) return found;
  return { ...found, packages: found.packages.map((p) => (p.location === from ? { ...p, location: to } : p)) };
}

/**
 * `./usr//bin/` → `usr/bin`; `''` for the root itself; undefined when a `..`
 * segment could reach outside the image (such entries are skipped, never read).
 */
export function normaliseLayerPath(name: string): string | undefined {
  const parts: string[] = [];
  for (const part of name.split('/')) {
    if (part === '..') return undefined;
    if (part !== '' && part !== '.') parts.push(part);
  }
  return parts.join('/');
}

async function drain(entry: AsyncIterable<unknown>): Promise<void> {
  for await (const _ of entry) {
    // discard
  }
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
