import type { DetectedPackage, Detector } from './detector.js';
import { readCapped } from './detector.js';

const STATUS = 'var/lib/dpkg/status';
/** Distroless images have no `status`: one file per package here (plus `<name>.md5sums` lists). */
const STATUS_DIR = 'var/lib/dpkg/status.d/';
const MAX_BYTES = 64 * 1024 * 1024;

/**
 * States (third word of `Status:`) in which a package's files are on disk.
 * `config-files` and `not-installed` are removed packages dpkg still
 * remembers; `half-installed` is a failed first unpack.
 */
const ON_DISK_STATES = new Set(['installed', 'triggers-pending', 'triggers-awaiting', 'half-configured', 'unpacked']);

/**
 * Debian and Ubuntu packages from dpkg's database. `name` is the bare
 * `Package:` field (`libc6`): dpkg-query's `${binary:Package}` adds `:amd64`
 * to Multi-Arch: same packages, but the architecture is kept in `arch` and
 * OSV records name source packages, so the qualifier would only get in the way.
 */
export const dpkgDetector: Detector = {
  name: 'dpkg',
  wants: (file) => file.path === STATUS || isStatusDirFile(file.path),
  async detect(file, content) {
    const text = (await readCapped(content, MAX_BYTES)).toString('utf8');
    return { packages: parseDpkgStatus(text, file.path) };
  },
};

function isStatusDirFile(path: string): boolean {
  if (!path.startsWith(STATUS_DIR)) return false;
  const name = path.slice(STATUS_DIR.length);
  return name !== '' && !name.includes('/') && !name.endsWith('.md5sums');
}

/** Packages whose files are on disk; a stanza without `Status:` (status.d) counts as installed. */
export function parseDpkgStatus(text: string, location: string): DetectedPackage[] {
  const packages: DetectedPackage[] = [];
  for (const fields of stanzas(text)) {
    const name = fields.get('package');
    const version = fields.get('version');
    if (!name || !version) continue;
    const status = fields.get('status');
    if (status !== undefined && !ON_DISK_STATES.has(status.split(/\s+/)[2] ?? '')) continue;
    const arch = fields.get('architecture');
    packages.push({
      versionScheme: 'dpkg',
      name,
      version,
      source: sourceOf(fields.get('source'), name, version),
      location,
      ...(arch ? { arch } : {}),
    });
  }
  return packages;
}

/**
 * `Source: util-linux (2.38.1-5+deb12u3)` names the source and its version;
 * `Source: util-linux` means the same version as the binary; no `Source:`
 * means the source is the package itself. The binary's epoch is not carried
 * over: `bsdutils 1:2.38.1-5+deb12u3` comes from util-linux `2.38.1-5+deb12u3`.
 */
function sourceOf(field: string | undefined, name: string, version: string): { name: string; version: string } {
  const match = field ? /^(\S+)(?:\s+\(([^)]+)\))?/.exec(field) : null;
  if (!match) return { name, version };
  return { name: match[1]!, version: match[2]?.trim() || version };
}

/**
 * deb822 paragraphs: `Field: value`, blank lines between. Continuation lines
 * (leading space or tab) are skipped: every field read here is single-line.
 */
function* stanzas(text: string): Generator<Map<string, string>> {
  let fields = new Map<string, string>();
  for (const line of text.split('\n')) {
    if (line.trim() === '') {
      if (fields.size > 0) yield fields;
      fields = new Map();
      continue;
    }
    if (line.startsWith(' ') || line.startsWith('\t')) continue;
    const colon = line.indexOf(':');
    if (colon > 0) fields.set(line.slice(0, colon).toLowerCase(), line.slice(colon + 1).trim());
  }
  if (fields.size > 0) yield fields;
}
