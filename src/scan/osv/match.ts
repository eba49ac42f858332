import type { InstalledPackage, VersionScheme } from '../inventory.js';
import { compareVersions, isValidVersion, versionSchemeForEcosystem } from '../versions/index.js';
import { ecosystemBase, ecosystemKey, normalizePackageName, packageKey, packageKeyId, type PackageKey } from './ecosystem.js';
import { isWithdrawn, type OsvAffected, type OsvEvent, type OsvRange, type OsvRecord } from './record.js';
import { compareSeverity, severityOf, type Severity } from './severity.js';

/**
 * Which OSV records affect an installed package: the evaluation of the OSV
 * schema (https://ossf.github.io/osv-schema/#evaluation), pure, over records
 * the caller looked up (`lookupKey` says under which key). A record's
 * ECOSYSTEM ranges are ordered by the scheme of the record's ecosystem
 * (src/scan/versions/), SEMVER ranges by SemVer; ecosystems without a scheme
 * match only through explicit `versions` lists.
 */

/** A package as OSV names it: the coordinates matching compares. */
export interface MatchCoordinates {
  /** The package's ecosystem, release suffix included. */
  ecosystem: string;
  /** Distro packages: the source package (OSV distro records name source packages). */
  name: string;
  /** In OSV's notation: Go's `v1.2.3` and `go1.21.5` become `1.2.3` and `1.21.5`. */
  version: string;
}

/** One record that affects the package. */
export interface MatchedRecord {
  record: OsvRecord;
  /** The record's affected entries that matched (their severity and fixes apply). */
  affected: OsvAffected[];
  /**
   * The fix, in OSV's notation: in a matching range, the lowest `fixed` above
   * the installed version; of several matching ranges, the highest of theirs.
   * Absent when no matching range has one (`last_affected`, open ranges, `versions` lists).
   */
  fixedVersion?: string;
}

/**
 * One vulnerability of a package: the records that affect it and name the same
 * vulnerability (through their ids and aliases, transitively, as the schema
 * defines aliases), reported once.
 */
export interface VulnerabilityMatch {
  /** The representative record's id (see `representativeOrder`). */
  id: string;
  /** Every other id of the vulnerability: the other records' ids and all their aliases; CVE ids first, then sorted. */
  aliases: string[];
  /** The records, representative first. */
  records: MatchedRecord[];
  /**
   * The version to upgrade to, in the package's own notation (`v1.2.4` for Go
   * modules, `go1.21.6` for the Go standard library): of the records' lowest
   * fixes above the installed version, the highest, so that every record
   * considers it fixed. Absent when none of them knows a fix.
   */
  fixedVersion?: string;
  /** The first record, in representative order, that carries a CVSS vector decides; else the first with a rating. */
  severity: Severity;
}

export interface PackageVulnerabilities {
  package: InstalledPackage;
  vulnerabilities: VulnerabilityMatch[];
}

/** The coordinates of an installed package, or undefined when it cannot be matched (no ecosystem). */
export function matchCoordinates(pkg: InstalledPackage): MatchCoordinates | undefined {
  if (pkg.ecosystem === '') return undefined;
  const name = pkg.source?.name || pkg.name;
  const version = pkg.source?.version || pkg.version;
  return { ecosystem: pkg.ecosystem, name, version: ecosystemBase(pkg.ecosystem) === 'Go' ? osvGoVersion(version) : version };
}

/** The index key to look a package's candidate records up under; undefined when it cannot be matched. */
export function lookupKey(pkg: InstalledPackage): PackageKey | undefined {
  const at = matchCoordinates(pkg);
  return at && packageKey(at.ecosystem, at.name);
}

/**
 * A Go version in OSV's notation. Modules: `v1.2.3` → `1.2.3` (pseudo-versions
 * and `+incompatible` are valid SemVer as they are). The toolchain and standard
 * library (`stdlib`, `toolchain`), which build info reports as `go1.21.5`, and
 * whose first releases are `go1.21` and `go1.21rc2`: `1.21.5`, `1.21.0`,
 * `1.21.0-rc.2`, the way the Go vulnerability database writes them.
 */
export function osvGoVersion(version: string): string {
  const v = version.trim().split(/\s/)[0] ?? ''; // `go1.21.5 X:boringcrypto`
  const release = /^go(\d+)\.(\d+)(?:\.(\d+))?(?:(beta|rc)(\d+))?$/.exec(v);
  if (release) {
    const [, major, minor, patch, pre, n] = release;
    return `${major}.${minor}.${patch ?? 0}${pre ? `-${pre}.${n}` : ''}`;
  }
  return v.startsWith('v') ? v.slice(1) : v;
}

/** All the vulnerabilities among `candidates` that affect `pkg`, most severe first, then by id. */
export function matchPackage(pkg: InstalledPackage, candidates: readonly OsvRecord[]): VulnerabilityMatch[] {
  const at = matchCoordinates(pkg);
  if (!at) return [];
  const matched: MatchedRecord[] = [];
  const seen = new Set<string>();
  for (const record of candidates) {
    if (seen.has(record.id)) continue; // a record listed under several keys arrives once
    seen.add(record.id);
    const hit = matchRecord(record, at);
    if (hit) matched.push(hit);
  }
  const scheme = versionSchemeForEcosystem(at.ecosystem);
  return groupByAliases(matched)
    .map((group) => toVulnerability(group, pkg, at, scheme))
    .sort((a, b) => compareSeverity(a.severity.level, b.severity.level) || compareIds(a.id, b.id));
}

/** `matchPackage` for every package of an inventory, over the records looked up for all of them; packages without findings are left out. */
export function matchPackages(packages: readonly InstalledPackage[], candidates: readonly OsvRecord[]): PackageVulnerabilities[] {
  const byKey = new Map<string, OsvRecord[]>();
  for (const record of candidates) {
    for (const a of record.affected ?? []) {
      if (!a.package) continue;
      const id = packageKeyId(packageKey(a.package.ecosystem, a.package.name));
      const list = byKey.get(id) ?? [];
      if (!list.includes(record)) list.push(record);
      byKey.set(id, list);
    }
  }
  const results: PackageVulnerabilities[] = [];
  for (const pkg of packages) {
    const key = lookupKey(pkg);
    const records = key ? byKey.get(packageKeyId(key)) : undefined;
    if (!records) continue;
    const vulnerabilities = matchPackage(pkg, records);
    if (vulnerabilities.length > 0) results.push({ package: pkg, vulnerabilities });
  }
  return results;
}

/** Whether `record` affects the package at `at`, and with which entries and fix. Withdrawn records affect nothing. */
export function matchRecord(record: OsvRecord, at: MatchCoordinates): MatchedRecord | undefined {
  if (isWithdrawn(record)) return undefined;
  const ecosystem = ecosystemKey(at.ecosystem);
  const name = normalizePackageName(at.ecosystem, at.name);
  const affected: OsvAffected[] = [];
  const fixes: { version: string; scheme: VersionScheme }[] = [];
  for (const entry of record.affected ?? []) {
    const pkg = entry.package;
    if (!pkg || ecosystemKey(pkg.ecosystem) !== ecosystem || normalizePackageName(pkg.ecosystem, pkg.name) !== name) continue;
    const verdict = entryVerdict(entry, at.version);
    if (!verdict.affected) continue;
    affected.push(entry);
    fixes.push(...verdict.fixes);
  }
  if (affected.length === 0) return undefined;
  const fixedVersion = highest(fixes);
  return fixedVersion === undefined ? { record, affected } : { record, affected, fixedVersion };
}

interface EntryVerdict {
  affected: boolean;
  /** The lowest fix above the version of each matching range that has one. */
  fixes: { version: string; scheme: VersionScheme }[];
}

/** IsVulnerable for one affected entry: listed in `versions`, or inside one of its SEMVER/ECOSYSTEM ranges. */
function entryVerdict(entry: OsvAffected, version: string): EntryVerdict {
  const ecosystemScheme = entry.package ? versionSchemeForEcosystem(entry.package.ecosystem) : undefined;
  const verdict: EntryVerdict = { affected: false, fixes: [] };
  for (const range of entry.ranges ?? []) {
    // GIT ranges need the repository's commit graph; osv.dev enumerates their tags into `versions`.
    const scheme = range.type === 'SEMVER' ? 'semver' : range.type === 'ECOSYSTEM' ? ecosystemScheme : undefined;
    if (!scheme) continue;
    const inRange = rangeVerdict(scheme, version, range);
    if (!inRange.affected) continue;
    verdict.affected = true;
    if (inRange.fixed !== undefined) verdict.fixes.push({ version: inRange.fixed, scheme });
  }
  if (!verdict.affected && listedIn(entry.versions ?? [], version, ecosystemScheme)) verdict.affected = true;
  return verdict;
}

/** Explicit versions match as written, or as equal versions of the ecosystem (`1.0` and `1.0.0` in PyPI). */
function listedIn(versions: readonly string[], version: string, scheme: VersionScheme | undefined): boolean {
  if (versions.includes(version)) return true;
  return scheme !== undefined && readable(scheme, version) && versions.some((v) => readable(scheme, v) && compareVersions(scheme, v, version) === 0);
}

/**
 * IncludedInRanges for one range: its events sorted by version (`introduced: "0"`
 * first, equal versions in the order written), the last one at or below the
 * version decides, and `limit` events bound the range from above. Events whose
 * version the scheme cannot read are left out; a version it cannot read is in no range.
 * The fix reported is the lowest `fixed` above the version.
 */
export function rangeVerdict(scheme: VersionScheme, version: string, range: Pick<OsvRange, 'events'>): { affected: boolean; fixed?: string } {
  if (!readable(scheme, version)) return { affected: false };
  const limits = range.events.flatMap((e) => (typeof e.limit === 'string' ? [e.limit] : []));
  if (limits.length > 0 && !limits.some((limit) => limit.includes('*') || (readable(scheme, limit) && compareVersions(scheme, version, limit) < 0))) return { affected: false };

  const events = range.events.flatMap((e) => {
    const point = eventPoint(e);
    return point && (point.version === null || readable(scheme, point.version)) ? [point] : [];
  });
  events.sort((a, b) => (a.version === null ? (b.version === null ? 0 : -1) : b.version === null ? 1 : compareVersions(scheme, a.version, b.version)));

  let vulnerable = false;
  for (const e of events) {
    const c = e.version === null ? 1 : compareVersions(scheme, version, e.version);
    if (e.kind === 'introduced' && c >= 0) vulnerable = true;
    else if (e.kind === 'fixed' && c >= 0) vulnerable = false;
    else if (e.kind === 'last_affected' && c > 0) vulnerable = false;
  }
  if (!vulnerable) return { affected: false };
  const fixed = events.find((e) => e.kind === 'fixed' && e.version !== null && compareVersions(scheme, e.version, version) > 0);
  return fixed?.version ? { affected: true, fixed: fixed.version } : { affected: true };
}

interface EventPoint {
  kind: 'introduced' | 'fixed' | 'last_affected';
  /** null: `introduced: "0"`, before every version. */
  version: string | null;
}

function eventPoint(e: OsvEvent): EventPoint | undefined {
  if (typeof e.introduced === 'string') return { kind: 'introduced', version: e.introduced === '0' ? null : e.introduced };
  if (typeof e.fixed === 'string') return { kind: 'fixed', version: e.fixed };
  if (typeof e.last_affected === 'string') return { kind: 'last_affected', version: e.last_affected };
  return undefined; // a limit, or a kind this schema version does not know
}

/** Versions the ecosystem's own tool would reject have no meaningful place in its order. */
function readable(scheme: VersionScheme, version: string): boolean {
  return version !== '' && isValidVersion(scheme, version);
}

function highest(versions: readonly { version: string; scheme: VersionScheme }[]): string | undefined {
  let best: { version: string; scheme: VersionScheme } | undefined;
  for (const v of versions) if (!best || compareVersions(v.scheme, v.version, best.version) > 0) best = v;
  return best?.version;
}

/**
 * Groups records whose ids and aliases meet, transitively (the schema says
 * aliases are symmetric and transitive): GHSA-x, PYSEC-y and CVE-z about the
 * same flaw become one vulnerability. `related` and `upstream` do not merge.
 */
function groupByAliases(records: readonly MatchedRecord[]): MatchedRecord[][] {
  const parent = records.map((_, i) => i);
  const find = (i: number): number => {
    while (parent[i] !== i) i = parent[i] = parent[parent[i]!]!;
    return i;
  };
  const owner = new Map<string, number>();
  records.forEach((m, i) => {
    for (const id of [m.record.id, ...(m.record.aliases ?? [])]) {
      const other = owner.get(id);
      if (other === undefined) owner.set(id, i);
      else parent[find(i)] = find(other);
    }
  });
  const groups = new Map<number, MatchedRecord[]>();
  records.forEach((m, i) => {
    const root = find(i);
    groups.set(root, [...(groups.get(root) ?? []), m]);
  });
  return [...groups.values()];
}

/**
 * The order in which a vulnerability's records represent it, first the one
 * whose id names it:
 * 1. a record whose id is a CVE id or is built on one (`CVE-2024-1234`,
 *    `DEBIAN-CVE-2024-1234`, `UBUNTU-CVE-…`, `ALPINE-CVE-…`): the id people search for;
 * 2. the ecosystem's own database (`GO-`, `PYSEC-`, `RUSTSEC-`, `DSA-`, …) before
 *    GitHub's, which aggregates every ecosystem (`GHSA-`);
 * 3. the smaller id (so `RUSTSEC-2025-0000` before its duplicate `RUSTSEC-2025-0065`).
 */
export function representativeOrder(a: string, b: string): number {
  return idRank(a) - idRank(b) || compareIds(a, b);
}

function idRank(id: string): number {
  if (CVE_BASED.test(id)) return 0;
  return id.startsWith('GHSA-') ? 2 : 1;
}

const CVE_BASED = /(?:^|-)CVE-\d{4}-\d+$/;
const CVE_ID = /^CVE-\d{4}-\d+$/;

function compareIds(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function toVulnerability(group: MatchedRecord[], pkg: InstalledPackage, at: MatchCoordinates, scheme: VersionScheme | undefined): VulnerabilityMatch {
  const records = [...group].sort((a, b) => representativeOrder(a.record.id, b.record.id));
  const id = records[0]!.record.id;
  const ids = new Set(records.flatMap((m) => [m.record.id, ...(m.record.aliases ?? [])]));
  ids.delete(id);
  const aliases = [...ids].sort((a, b) => Number(!CVE_ID.test(a)) - Number(!CVE_ID.test(b)) || compareIds(a, b));
  const fixes = records.flatMap((m) => (m.fixedVersion === undefined ? [] : [{ version: m.fixedVersion, scheme: scheme ?? 'semver' }]));
  const fixed = highest(fixes);
  const severity = groupSeverity(records);
  const match: VulnerabilityMatch = { id, aliases, records, severity };
  if (fixed !== undefined) match.fixedVersion = installedNotation(fixed, pkg, at);
  return match;
}

function groupSeverity(records: readonly MatchedRecord[]): Severity {
  const severities = records.map((m) => severityOf(m.record, m.affected));
  return severities.find((s) => s.source === 'cvss') ?? severities.find((s) => s.source === 'label') ?? severities[0]!;
}

/** A fix in OSV's notation, back in the installed package's: Go's `v` and `go` prefixes. */
function installedNotation(fixed: string, pkg: InstalledPackage, at: MatchCoordinates): string {
  if (ecosystemBase(at.ecosystem) !== 'Go') return fixed;
  const installed = pkg.source?.version || pkg.version;
  if (installed.startsWith('go') && /^\d+\.\d+(\.\d+)?$/.test(fixed)) return `go${fixed}`;
  if (installed.startsWith('v')) return `v${fixed}`;
  return fixed;
}

