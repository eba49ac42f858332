import type { DetectedOs, InstalledPackage, Inventory } from '../inventory.js';
import type { DetectedPackage } from '../detect/detector.js';
import { OS_RELEASE_PATHS } from '../detect/os-release.js';
import type { LayerFileInventory, LayerInventory } from './layer-inventory.js';

/** One layer's copy of a file, in a run of copies that replaced one another with no deletion between. */
interface FileVersion {
  layer: number;
  file: LayerFileInventory;
  /** Keys of its packages, built when first asked for. */
  keys?: Set<string>;
}

/**
 * The image as its layers stack up (bottom → top): a higher layer's file
 * replaces the lower copy; whiteouts and opaque directories delete lower
 * files. Of what survives: the OS from os-release (`/etc` before `/usr/lib`,
 * then the topmost), every package, with distro packages placed in the OS's
 * ecosystem, and each package attributed to the lowest layer from which the
 * same package (location, name, version) is present without a break.
 */
export function mergeLayerInventories(layers: readonly LayerInventory[]): Inventory {
  const runs = new Map<string, FileVersion[]>();
  const notes: string[] = [];
  layers.forEach((layer, index) => {
    // Deletions apply to lower layers only, so before this layer's own files are added.
    for (const dir of layer.opaqueDirs) deleteUnder(runs, dir, false);
    for (const path of layer.whiteouts) deleteUnder(runs, path, true);
    for (const file of layer.files) {
      const run = runs.get(file.path) ?? [];
      run.push({ layer: index, file });
      runs.set(file.path, run);
    }
    notes.push(...layer.notes);
  });

  const surviving = [...runs.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, run]) => run);
  const os = topmostOs(surviving);
  const packages: InstalledPackage[] = [];
  for (const run of surviving) {
    const top = run[run.length - 1]!;
    for (const finding of top.file.findings) {
      for (const pkg of finding.packages ?? []) {
        packages.push(installed(pkg, os, layers[introducedIn(run, pkg)]!.digest));
      }
      notes.push(...(finding.notes ?? []));
    }
  }
  const unmatchable = packages.filter((p) => p.ecosystem === '').length;
  if (unmatchable > 0) notes.push(unmatchableNote(os, unmatchable));
  return { os, packages, notes: [...new Set(notes)] };
}

/** Removes `path` (when `self`) and everything under it; `''` is the root. */
function deleteUnder(runs: Map<string, FileVersion[]>, path: string, self: boolean): void {
  if (path === '') {
    runs.clear();
    return;
  }
  const prefix = `${path}/`;
  for (const key of runs.keys()) {
    if ((self && key === path) || key.startsWith(prefix)) runs.delete(key);
  }
}

function topmostOs(surviving: FileVersion[][]): DetectedOs | null {
  let best: { os: DetectedOs; rank: number; layer: number } | undefined;
  for (const run of surviving) {
    const top = run[run.length - 1]!;
    const os = top.file.findings.find((f) => f.os)?.os;
    if (!os) continue;
    const listed = OS_RELEASE_PATHS.indexOf(top.file.path);
    const rank = listed < 0 ? OS_RELEASE_PATHS.length : listed;
    if (!best || rank < best.rank || (rank === best.rank && top.layer > best.layer)) best = { os, rank, layer: top.layer };
  }
  return best?.os ?? null;
}

/** Index of the lowest layer in the run from which the package is in every copy up to the top. */
function introducedIn(run: FileVersion[], pkg: DetectedPackage): number {
  const key = packageKey(pkg);
  let lowest = run.length - 1;
  while (lowest > 0 && keysOf(run[lowest - 1]!).has(key)) lowest--;
  return run[lowest]!.layer;
}

function keysOf(version: FileVersion): Set<string> {
  version.keys ??= new Set(version.file.findings.flatMap((f) => (f.packages ?? []).map(packageKey)));
  return version.keys;
}

function packageKey(pkg: DetectedPackage): string {
  return `${pkg.location}\0${pkg.name}\0${pkg.version}`;
}

function installed(pkg: DetectedPackage, os: DetectedOs | null, layerDigest: string): InstalledPackage {
  const { ecosystem, ...rest } = pkg;
  return { ecosystem: ecosystem ?? os?.ecosystem ?? '', ...rest, layerDigest };
}

function unmatchableNote(os: DetectedOs | null, count: number): string {
  const what = `${count} distribution package${count === 1 ? '' : 's'}`;
  if (!os) return `no os-release names the distribution: ${what} listed without an ecosystem, not checked for vulnerabilities`;
  return `${os.prettyName} has no OSV ecosystem Berth matches: ${what} listed, not checked for vulnerabilities`;
}
