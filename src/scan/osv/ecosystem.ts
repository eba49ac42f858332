/**
 * Ecosystem strings and package names as the vulnerability database indexes
 * them and the matcher compares them. One place, so that what the importer
 * writes into the index and what a lookup asks for can never disagree.
 */

/** A package as the index knows it: the ecosystem in its matching form and the normalised name. */
export interface PackageKey {
  /** `ecosystemKey` of the ecosystem: release suffix kept (`Debian:12`). */
  ecosystem: string;
  /** `normalizePackageName` of the name. */
  name: string;
}

/** The ecosystem without its release or repository suffix: `Debian:12` → `Debian`, `Alpine:v3.19` → `Alpine`. */
export function ecosystemBase(ecosystem: string): string {
  const colon = ecosystem.indexOf(':');
  return colon < 0 ? ecosystem : ecosystem.slice(0, colon);
}

/**
 * The form in which a record's ecosystem and a package's are compared: the
 * whole string, suffix included, so `Debian:12` records never match `Debian:11`
 * packages and a record for plain `Debian` (which OSV.dev does not publish:
 * its Debian records always name a release) matches only a package whose
 * ecosystem is plain `Debian`.
 *
 * One exception: OSV writes Ubuntu LTS releases with a `:LTS` marker
 * (`Ubuntu:22.04:LTS`, `Ubuntu:Pro:18.04:LTS`), which os-release does not
 * carry. A release is LTS or not, never both, so dropping the marker loses
 * nothing; `Ubuntu:Pro:…` (fixes only Ubuntu Pro subscribers get) stays distinct.
 */
export function ecosystemKey(ecosystem: string): string {
  if (ecosystemBase(ecosystem) === 'Ubuntu' && ecosystem.endsWith(':LTS')) return ecosystem.slice(0, -':LTS'.length);
  return ecosystem;
}

/**
 * A package name in the form its ecosystem compares names: PyPI names are
 * equal after PEP 503 normalisation (`Jinja2`, `jinja2`, `zope.interface` =
 * `zope-interface`); every other ecosystem compares them exactly (Go module
 * paths, npm and crates.io names, distro source packages).
 */
export function normalizePackageName(ecosystem: string, name: string): string {
  if (ecosystemBase(ecosystem) === 'PyPI') return name.replace(/[-_.]+/g, '-').toLowerCase();
  return name;
}

export function packageKey(ecosystem: string, name: string): PackageKey {
  return { ecosystem: ecosystemKey(ecosystem), name: normalizePackageName(ecosystem, name) };
}

/** A string naming a key, for maps and sets. */
export function packageKeyId(key: PackageKey): string {
  return `${key.ecosystem}\u0000${key.name}`;
}
