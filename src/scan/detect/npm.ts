/**
 * npm packages: those installed in a `node_modules` tree (each package's own
 * package.json) and those an application's lock file pins
 * (`package-lock.json` / `npm-shrinkwrap.json`, lockfileVersion 1–3).
 *
 * Each is reported at its own location, so a package both locked and
 * installed appears twice (once per file): the inventory records where
 * things are, and whoever wants one row per (ecosystem, name, version)
 * merges them. Within one lock file a name@version is reported once.
 */
import type { Readable } from 'node:stream';
import { readCapped, type DetectedPackage, type Detector, type DetectorResult, type LayerFile } from './detector.js';

export const MAX_PACKAGE_JSON_BYTES = 1024 * 1024;
export const MAX_LOCK_FILE_BYTES = 64 * 1024 * 1024;

/**
 * A package root directly inside node_modules: `…node_modules/name/package.json`
 * or `…node_modules/@scope/name/package.json`, at any nesting depth (pnpm's
 * `.pnpm/x@1/node_modules/x` too). Names cannot start with `.` or `_`, which
 * leaves out `.bin`, `.cache` and friends. package.json files deeper inside a
 * package (`x/lib/package.json`, `x/test/fixtures/…`) are not package roots;
 * npm never publishes nested node_modules, so fixtures cannot masquerade as one.
 */
const INSTALLED_PACKAGE_JSON = /(?:^|\/)node_modules\/(?:@[^/]+\/)?[^/._@][^/]*\/package\.json$/;
/** An application's lock file; lock files shipped inside installed packages describe installs that node_modules already shows. */
const LOCK_FILE = /(?:^|\/)(?:package-lock|npm-shrinkwrap)\.json$/;
const INSIDE_NODE_MODULES = /(?:^|\/)node_modules\//;

export const npmDetector: Detector = {
  name: 'npm',

  wants(file: LayerFile): boolean {
    if (INSTALLED_PACKAGE_JSON.test(file.path)) return true;
    return LOCK_FILE.test(file.path) && !INSIDE_NODE_MODULES.test(file.path);
  },

  async detect(file: LayerFile, content: Readable): Promise<DetectorResult> {
    if (INSTALLED_PACKAGE_JSON.test(file.path)) {
      const manifest = parseJson(await readCapped(content, MAX_PACKAGE_JSON_BYTES), 'package.json');
      const pkg = installedPackage(manifest, file.path);
      return { packages: pkg ? [pkg] : [] };
    }
    const lock = parseJson(await readCapped(content, MAX_LOCK_FILE_BYTES), 'npm lock file');
    return { packages: lockedPackages(lock, file.path) };
  },
};

type Json = Record<string, unknown>;

function parseJson(bytes: Buffer, what: string): Json {
  const value: unknown = JSON.parse(bytes.toString('utf8'));
  if (!isObject(value)) throw new Error(`${what} is not a JSON object`);
  return value;
}

function isObject(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function nonEmptyString(value: unknown): string | undefined {
  return typeof value === 'string' && value.trim() !== '' ? value.trim() : undefined;
}

/** A package.json without both a name and a version is not something npm installed from a registry (nothing to report). */
function installedPackage(manifest: Json, location: string): DetectedPackage | undefined {
  const name = nonEmptyString(manifest.name);
  const version = nonEmptyString(manifest.version);
  if (!name || !version) return undefined;
  return npmPackage(name, version, location, licensesOf(manifest));
}

function npmPackage(name: string, version: string, location: string, licenses: string[]): DetectedPackage {
  const pkg: DetectedPackage = { ecosystem: 'npm', versionScheme: 'semver', name, version, location };
  if (licenses.length > 0) pkg.licenses = licenses;
  return pkg;
}

/** `license` (SPDX string, or the old `{ type }` object) and the deprecated `licenses` array. */
function licensesOf(manifest: Json): string[] {
  const found: string[] = [];
  const add = (entry: unknown) => {
    const value = isObject(entry) ? nonEmptyString(entry.type) : nonEmptyString(entry);
    if (value && !found.includes(value)) found.push(value);
  };
  add(manifest.license);
  if (Array.isArray(manifest.licenses)) manifest.licenses.forEach(add);
  return found;
}

/**
 * Packages a lock file pins. lockfileVersion 2 and 3 list every installed
 * folder in `packages`; version 1 only has the nested `dependencies` tree
 * (version 2 has both, and `packages` is the complete one).
 *
 * Left out: the root project and workspace folders (the application's own
 * code, not registry packages), `link: true` entries (symlinks to those
 * folders), and `dev: true` packages, which production installs
 * (`npm ci --omit=dev`) leave out; when they are installed, their
 * node_modules package.json files report them.
 */
export function lockedPackages(lock: Json, location: string): DetectedPackage[] {
  const found = new Map<string, DetectedPackage>();
  const add = (name: string, version: string, licenses: string[]) => {
    const key = `${name}@${version}`;
    if (!found.has(key)) found.set(key, npmPackage(name, version, location, licenses));
  };
  if (isObject(lock.packages)) {
    for (const [folder, entry] of Object.entries(lock.packages)) {
      if (!isObject(entry) || entry.link === true || entry.dev === true) continue;
      const at = folder.lastIndexOf('node_modules/');
      if (at < 0) continue; // "" (the root) or a workspace folder
      const name = nonEmptyString(entry.name) ?? folder.slice(at + 'node_modules/'.length);
      const version = nonEmptyString(entry.version);
      if (version) add(name, version, licensesOf(entry));
    }
  } else if (isObject(lock.dependencies)) {
    walkV1Dependencies(lock.dependencies, (name, version) => add(name, version, []));
  }
  return [...found.values()];
}

/** lockfileVersion 1: `{ name: { version, dev?, dependencies? } }`, nested where npm nested the install. */
function walkV1Dependencies(dependencies: Json, visit: (name: string, version: string) => void): void {
  for (const [name, entry] of Object.entries(dependencies)) {
    if (!isObject(entry) || entry.dev === true) continue;
    const resolved = v1Version(name, entry.version);
    if (resolved) visit(resolved.name, resolved.version);
    if (isObject(entry.dependencies)) walkV1Dependencies(entry.dependencies, visit);
  }
}

/**
 * A v1 entry's version is a registry version, an alias (`npm:real-name@1.2.3`),
 * or, for packages not from a registry, their source (`github:u/r#sha`,
 * `file:../x`, a tarball URL) — which names no version, so it is left out.
 */
function v1Version(name: string, value: unknown): { name: string; version: string } | undefined {
  const version = nonEmptyString(value);
  if (!version) return undefined;
  if (version.startsWith('npm:')) {
    const spec = version.slice('npm:'.length);
    const at = spec.lastIndexOf('@');
    if (at <= 0) return undefined;
    return { name: spec.slice(0, at), version: spec.slice(at + 1) };
  }
  if (version.includes(':') || version.includes('/')) return undefined;
  return { name, version };
}
