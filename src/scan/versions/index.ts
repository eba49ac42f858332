/**
 * Version comparison for the OSV matcher: one comparator per versioning
 * scheme, each matching its ecosystem's own tool (dpkg, apk-tools 2.x, rpm,
 * SemVer 2.0.0, Python's packaging).
 *
 * Every comparator is a total function: it never throws. Each scheme also has
 * a validity check; a version that fails it is one the ecosystem's tool would
 * not accept, and its place in the order is a documented fallback, not a
 * meaningful answer (for dpkg, rpm, semver and pep440 it sorts before every
 * valid version; apk answers as apk-tools itself does). Check validity before
 * deciding whether a version is affected.
 */
import type { VersionScheme } from '../inventory.js';
import { compareApkVersions, isValidApkVersion } from './apk.js';
import { compareDpkgVersions, isValidDpkgVersion } from './dpkg.js';
import { comparePep440Versions, isValidPep440Version } from './pep440.js';
import { compareRpmVersions, isValidRpmVersion } from './rpm.js';
import { compareSemverVersions, isValidSemverVersion } from './semver.js';

export type { VersionScheme } from '../inventory.js';
export { compareApkVersions, isValidApkVersion } from './apk.js';
export { compareDpkgVersions, isValidDpkgVersion, parseDpkgVersion, type DpkgVersion } from './dpkg.js';
export { comparePep440Versions, isValidPep440Version, parsePep440Version, type Pep440Version } from './pep440.js';
export { compareRpmVersions, isValidRpmVersion, parseRpmVersion, rpmvercmp, type RpmEvr } from './rpm.js';
export { compareSemverVersions, isValidSemverVersion, parseSemverVersion, SEMVER_ZERO, type SemverVersion } from './semver.js';

const SCHEMES: Record<VersionScheme, { compare: (a: string, b: string) => number; isValid: (version: string) => boolean }> = {
  dpkg: { compare: compareDpkgVersions, isValid: isValidDpkgVersion },
  apk: { compare: compareApkVersions, isValid: isValidApkVersion },
  rpm: { compare: compareRpmVersions, isValid: isValidRpmVersion },
  semver: { compare: compareSemverVersions, isValid: isValidSemverVersion },
  pep440: { compare: comparePep440Versions, isValid: isValidPep440Version },
};

/** -1, 0 or 1 as `a` sorts before, equal to or after `b` in `scheme`. */
export function compareVersions(scheme: VersionScheme, a: string, b: string): number {
  return Math.sign(SCHEMES[scheme].compare(a, b));
}

/** Whether the scheme's own tool accepts `version`; when false, compareVersions only gives the scheme's fallback order. */
export function isValidVersion(scheme: VersionScheme, version: string): boolean {
  return SCHEMES[scheme].isValid(version);
}

const SCHEME_BY_ECOSYSTEM = new Map<string, VersionScheme>([
  ['Debian', 'dpkg'],
  ['Ubuntu', 'dpkg'],
  ['Alpine', 'apk'],
  ['Red Hat', 'rpm'],
  ['Rocky Linux', 'rpm'],
  ['AlmaLinux', 'rpm'],
  ['openSUSE', 'rpm'],
  ['SUSE', 'rpm'],
  ['npm', 'semver'],
  ['Go', 'semver'],
  ['crates.io', 'semver'],
  ['PyPI', 'pep440'],
]);

/**
 * The scheme an OSV ecosystem's versions are ordered by, from its name with or
 * without a release suffix (`Debian:12`, `Ubuntu:Pro:18.04:LTS`, `Alpine:v3.19`,
 * `Red Hat:enterprise_linux:9::appstream`); undefined for ecosystems we have no
 * comparator for. Names are matched exactly, as OSV spells them.
 */
export function versionSchemeForEcosystem(ecosystem: string): VersionScheme | undefined {
  const colon = ecosystem.indexOf(':');
  return SCHEME_BY_ECOSYSTEM.get(colon < 0 ? ecosystem : ecosystem.slice(0, colon));
}
