import type { DetectedPackage, Detector } from './detector.js';
import { readCapped } from './detector.js';

const INSTALLED = 'lib/apk/db/installed';
const MAX_BYTES = 64 * 1024 * 1024;

/** Alpine (and other apk-based) packages from apk's installed database. */
export const apkDetector: Detector = {
  name: 'apk',
  wants: (file) => file.path === INSTALLED,
  async detect(file, content) {
    const text = (await readCapped(content, MAX_BYTES)).toString('utf8');
    return { packages: parseApkInstalled(text, file.path) };
  },
};

/**
 * One paragraph per package, `X:value` lines, blank lines between. Read here:
 * `P` name, `V` version, `A` arch, `o` origin (the source package, built at
 * the same version; a package without one is its own source), `L` license.
 * The rest (`F`/`R` files, `D` dependencies, checksums …) is skipped.
 */
export function parseApkInstalled(text: string, location: string): DetectedPackage[] {
  const packages: DetectedPackage[] = [];
  let fields = new Map<string, string>();
  const flush = () => {
    const pkg = toPackage(fields, location);
    if (pkg) packages.push(pkg);
    fields = new Map();
  };
  for (const line of text.split('\n')) {
    if (line.trim() === '') {
      flush();
      continue;
    }
    // Keys are one character; only the first occurrence of each matters (F/R repeat).
    if (line[1] === ':' && !fields.has(line[0]!)) fields.set(line[0]!, line.slice(2).trim());
  }
  flush();
  return packages;
}

function toPackage(fields: Map<string, string>, location: string): DetectedPackage | undefined {
  const name = fields.get('P');
  const version = fields.get('V');
  if (!name || !version) return undefined;
  const arch = fields.get('A');
  const license = fields.get('L');
  return {
    versionScheme: 'apk',
    name,
    version,
    source: { name: fields.get('o') || name, version },
    location,
    ...(arch ? { arch } : {}),
    ...(license ? { licenses: [license] } : {}),
  };
}
