import type { DetectedOs } from '../inventory.js';
import { readCapped, type Detector } from './detector.js';

/**
 * Where os-release(5) lives, in the order readers consult it: `/etc` first,
 * `/usr/lib` as the fallback. The layer merge uses this order when an image
 * has both as regular files.
 */
export const OS_RELEASE_PATHS: readonly string[] = ['etc/os-release', 'usr/lib/os-release'];

const MAX_BYTES = 64 * 1024;

export const osReleaseDetector: Detector = {
  name: 'os-release',
  wants: (file) => OS_RELEASE_PATHS.includes(file.path),
  async detect(_file, content) {
    const fields = parseOsRelease((await readCapped(content, MAX_BYTES)).toString('utf8'));
    return { os: detectedOs(fields) };
  },
};

/** `KEY=value` lines, with shell-style quoting; comments and malformed lines are skipped. */
export function parseOsRelease(text: string): Map<string, string> {
  const fields = new Map<string, string>();
  for (const line of text.split(/\r?\n/)) {
    const match = /^\s*([A-Za-z0-9_]+)=(.*)$/.exec(line);
    if (match) fields.set(match[1]!, unquote(match[2]!.trim()));
  }
  return fields;
}

function unquote(value: string): string {
  const quote = value[0];
  if ((quote === '"' || quote === "'") && value.length >= 2 && value.endsWith(quote)) {
    const inner = value.slice(1, -1);
    // Single quotes are literal; double quotes allow the shell escapes os-release(5) lists.
    return quote === "'" ? inner : inner.replace(/\\(["\\$`])/g, '$1');
  }
  return value.replace(/\\(.)/g, '$1');
}

export function detectedOs(fields: Map<string, string>): DetectedOs {
  // os-release(5): a missing ID means "linux".
  const id = (fields.get('ID') ?? 'linux').toLowerCase();
  const versionId = fields.get('VERSION_ID') ?? '';
  return {
    id,
    versionId,
    prettyName: fields.get('PRETTY_NAME') ?? fields.get('NAME') ?? id,
    ecosystem: osvEcosystem(id, versionId, fields.get('VERSION') ?? ''),
  };
}

/**
 * The OSV ecosystem (with release suffix) whose records cover this release,
 * spelled as OSV records spell it, or null when OSV has none Berth matches:
 * - Debian `Debian:<major>`. Testing and sid carry no VERSION_ID and no OSV
 *   release of their own: null rather than guess a release and report
 *   another release's fixes.
 * - Ubuntu `Ubuntu:<YY.MM>`, plus the `:LTS` suffix OSV requires for LTS
 *   releases (`Ubuntu:22.04:LTS`, `Ubuntu:23.10`).
 * - Alpine `Alpine:v<major>.<minor>`; edge (`3.20_alpha…`) is null, like sid.
 * - Rocky `Rocky Linux:<major>`, AlmaLinux `AlmaLinux:<major>`.
 * - RHEL `Red Hat`: OSV scopes Red Hat records by product stream CPE
 *   (`Red Hat:enterprise_linux:9::baseos`), which an image does not record;
 *   the matcher narrows by `versionId`.
 */
function osvEcosystem(id: string, versionId: string, version: string): string | null {
  const major = /^(\d+)/.exec(versionId)?.[1];
  switch (id) {
    case 'debian':
      return major ? `Debian:${major}` : null;
    case 'ubuntu': {
      const release = /^(\d{2})\.(\d{2})/.exec(versionId);
      if (!release) return null;
      return `Ubuntu:${release[0]}${isUbuntuLts(release[1]!, release[2]!, version) ? ':LTS' : ''}`;
    }
    case 'alpine': {
      const release = /^(\d+)\.(\d+)(?:\.\d+)*$/.exec(versionId);
      return release ? `Alpine:v${release[1]}.${release[2]}` : null;
    }
    case 'rocky':
      return major ? `Rocky Linux:${major}` : null;
    case 'almalinux':
      return major ? `AlmaLinux:${major}` : null;
    case 'rhel':
      return 'Red Hat';
    default:
      return null;
  }
}

/** `VERSION="22.04.4 LTS (Jammy Jellyfish)"` says so; without it, LTS releases are the April ones of even years. */
function isUbuntuLts(year: string, month: string, version: string): boolean {
  if (version) return /\bLTS\b/.test(version);
  return Number(year) % 2 === 0 && month === '04';
}
