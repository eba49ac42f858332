import type { Inventory, InstalledPackage } from './inventory.js';
import type { PackageVulnerabilities } from './osv/match.js';
import { SEVERITY_LEVELS, type SeverityLevel } from './osv/severity.js';

/** Where a manifest's scan stands. `unsupported`: not an image Berth can inventory (an artifact, a signature, an unknown layer type). */
export type ScanStatus = 'queued' | 'scanning' | 'complete' | 'failed' | 'unsupported';

/** One vulnerability of one installed package, as reports show it. */
export interface Finding {
  /** The vulnerability's id (a CVE where one of its records is); its other ids are in `aliases`. */
  id: string;
  aliases: string[];
  severity: SeverityLevel;
  /** CVSS score the severity comes from, when there is one. */
  score?: number;
  /** The CVSS vector behind `score`. */
  vector?: string;
  summary?: string;
  package: {
    ecosystem: string;
    name: string;
    /** Installed version, as the package database holds it. */
    version: string;
    /** Distro source package the record names, when it differs from the binary. */
    source?: { name: string; version: string };
    location: string;
    /** The layer that introduced the package at this version. */
    layerDigest: string;
  };
  /** The version that fixes it, in the package's own notation; absent when no fix is known. */
  fixedVersion?: string;
}

/** Findings by severity. */
export type SeveritySummary = Record<SeverityLevel, number> & { total: number };

export function emptySummary(): SeveritySummary {
  return { CRITICAL: 0, HIGH: 0, MEDIUM: 0, LOW: 0, UNKNOWN: 0, total: 0 };
}

export function summarise(findings: readonly Finding[]): SeveritySummary {
  const summary = emptySummary();
  for (const f of findings) {
    summary[f.severity]++;
    summary.total++;
  }
  return summary;
}

/** Sums summaries (an index's platforms). */
export function addSummaries(summaries: readonly SeveritySummary[]): SeveritySummary {
  const total = emptySummary();
  for (const s of summaries) {
    for (const level of SEVERITY_LEVELS) total[level] += s[level];
    total.total += s.total;
  }
  return total;
}

/** The matcher's results as report findings, most severe first, then by package and id. */
export function findingsOf(matches: readonly PackageVulnerabilities[]): Finding[] {
  const findings: Finding[] = [];
  for (const { package: pkg, vulnerabilities } of matches) {
    for (const v of vulnerabilities) {
      const summary = v.records.map((r) => r.record.summary ?? r.record.details?.split('\n')[0]).find((s) => s);
      findings.push({
        id: v.id,
        aliases: v.aliases,
        severity: v.severity.level,
        ...(v.severity.cvss ? { score: v.severity.cvss.score, vector: v.severity.cvss.vector } : {}),
        ...(summary ? { summary: summary.slice(0, 500) } : {}),
        package: packageOf(pkg),
        ...(v.fixedVersion ? { fixedVersion: v.fixedVersion } : {}),
      });
    }
  }
  const rank = (s: SeverityLevel) => SEVERITY_LEVELS.indexOf(s);
  return findings.sort(
    (a, b) => rank(a.severity) - rank(b.severity) || (b.score ?? 0) - (a.score ?? 0) || a.package.name.localeCompare(b.package.name) || a.id.localeCompare(b.id),
  );
}

function packageOf(pkg: InstalledPackage): Finding['package'] {
  return {
    ecosystem: pkg.ecosystem,
    name: pkg.name,
    version: pkg.version,
    ...(pkg.source && (pkg.source.name !== pkg.name || pkg.source.version !== pkg.version) ? { source: pkg.source } : {}),
    location: pkg.location,
    layerDigest: pkg.layerDigest,
  };
}

/** A manifest's scan as stored and reported. */
export interface ImageScan {
  digest: string;
  status: ScanStatus;
  /** `index`: a multi-platform index, whose platforms are scanned as their own manifests (`children`). */
  kind: 'image' | 'index';
  inventory: Inventory | null;
  findings: Finding[] | null;
  summary: SeveritySummary | null;
  /** For an index: its image manifests and their platforms (`linux/amd64`). */
  children: { digest: string; platform?: string }[] | null;
  /** The vulnerability database generation the findings were matched at. */
  vulndbGeneration: number;
  /** Why the scan failed, or why the manifest is unsupported. */
  error: string | null;
  queuedAt: number;
  startedAt: number | null;
  completedAt: number | null;
}

/** A scan with nothing found yet, in `status`, queued (and started, when scanning) at `at`. */
export function blankScan(digest: string, status: ScanStatus, at: number): ImageScan {
  return {
    digest,
    status,
    kind: 'image',
    inventory: null,
    findings: null,
    summary: null,
    children: null,
    vulndbGeneration: 0,
    error: null,
    queuedAt: at,
    startedAt: status === 'queued' ? null : at,
    completedAt: null,
  };
}
