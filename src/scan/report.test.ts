import { describe, expect, it } from 'vitest';
import type { InstalledPackage } from './inventory.js';
import type { PackageVulnerabilities, VulnerabilityMatch } from './osv/match.js';
import { parseOsvRecord, type OsvRecord } from './osv/record.js';
import type { SeverityLevel } from './osv/severity.js';
import { addSummaries, blankScan, emptySummary, findingsOf, summarise, type Finding } from './report.js';

function record(id: string, fields: Record<string, unknown> = {}): OsvRecord {
  const parsed = parseOsvRecord({ id, modified: '2024-01-01T00:00:00Z', ...fields });
  if (!parsed.ok) throw new Error(parsed.reason);
  return parsed.record;
}

interface VulnOptions {
  score?: number;
  aliases?: string[];
  fixed?: string;
  /** The records' summary and details, representative first. */
  texts?: { summary?: string; details?: string }[];
}

function vuln(id: string, level: SeverityLevel, options: VulnOptions = {}): VulnerabilityMatch {
  const texts = options.texts ?? [{}];
  const vector = 'CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H';
  return {
    id,
    aliases: options.aliases ?? [],
    records: texts.map((t, i) => ({ record: record(i === 0 ? id : `${id}-DUP-${i}`, t), affected: [] })),
    severity:
      options.score !== undefined
        ? { level, source: 'cvss', cvss: { version: '3.1', vector, score: options.score }, scores: [{ version: '3.1', vector, score: options.score }] }
        : { level, source: level === 'UNKNOWN' ? 'none' : 'label', ...(level === 'UNKNOWN' ? {} : { label: level }), scores: [] },
    ...(options.fixed ? { fixedVersion: options.fixed } : {}),
  };
}

const pkg = (name: string, fields: Partial<InstalledPackage> = {}): InstalledPackage => ({
  ecosystem: 'Debian:12',
  versionScheme: 'dpkg',
  name,
  version: '1.0-1',
  location: 'var/lib/dpkg/status',
  layerDigest: 'sha256:base',
  arch: 'amd64',
  licenses: ['MIT'],
  ...fields,
});

const key = (f: Finding) => `${f.severity} ${f.score ?? '-'} ${f.package.name} ${f.id}`;

describe('findingsOf', () => {
  it('gives one finding per package and vulnerability: most severe first, then highest score, package name, id', () => {
    const matches: PackageVulnerabilities[] = [
      { package: pkg('zlib1g'), vulnerabilities: [vuln('CVE-2023-45853', 'CRITICAL', { score: 9.8 }), vuln('CVE-2022-37434', 'CRITICAL', { score: 9.8 })] },
      { package: pkg('curl'), vulnerabilities: [vuln('CVE-2023-38545', 'CRITICAL', { score: 9.8 }), vuln('CVE-2024-0001', 'LOW', { score: 3.1 })] },
      { package: pkg('bash'), vulnerabilities: [vuln('CVE-2022-3715', 'HIGH', { score: 7.8 }), vuln('DSA-0000-1', 'HIGH'), vuln('CVE-2019-18276', 'HIGH', { score: 8.8 })] },
      { package: pkg('apt'), vulnerabilities: [vuln('CVE-2011-3374', 'UNKNOWN'), vuln('TEMP-0841856-B18BAF', 'UNKNOWN'), vuln('CVE-2020-1', 'MEDIUM', { score: 4.0 })] },
      { package: pkg('libc6'), vulnerabilities: [vuln('CVE-2010-4756', 'CRITICAL', { score: 9.9 })] },
    ];
    expect(findingsOf(matches).map(key)).toEqual([
      'CRITICAL 9.9 libc6 CVE-2010-4756',
      'CRITICAL 9.8 curl CVE-2023-38545',
      'CRITICAL 9.8 zlib1g CVE-2022-37434',
      'CRITICAL 9.8 zlib1g CVE-2023-45853',
      'HIGH 8.8 bash CVE-2019-18276',
      'HIGH 7.8 bash CVE-2022-3715',
      // Without a score: after every scored finding of its severity.
      'HIGH - bash DSA-0000-1',
      'MEDIUM 4 apt CVE-2020-1',
      'LOW 3.1 curl CVE-2024-0001',
      'UNKNOWN - apt CVE-2011-3374',
      'UNKNOWN - apt TEMP-0841856-B18BAF',
    ]);
    expect(findingsOf([])).toEqual([]);
  });

  it('carries id, aliases, score and vector, fix, and the package as installed, with where it is and which layer brought it', () => {
    const installed = pkg('libssl3', { version: '3.0.11-1~deb12u1', source: { name: 'openssl', version: '3.0.11-1~deb12u1' }, layerDigest: 'sha256:layer2' });
    const [finding] = findingsOf([
      { package: installed, vulnerabilities: [vuln('CVE-2023-5678', 'MEDIUM', { score: 5.3, aliases: ['DSA-5532-1'], fixed: '3.0.13-1~deb12u1', texts: [{ summary: 'DH check' }] })] },
    ]);
    expect(finding).toEqual({
      id: 'CVE-2023-5678',
      aliases: ['DSA-5532-1'],
      severity: 'MEDIUM',
      score: 5.3,
      vector: 'CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H',
      summary: 'DH check',
      package: {
        ecosystem: 'Debian:12',
        name: 'libssl3',
        version: '3.0.11-1~deb12u1',
        source: { name: 'openssl', version: '3.0.11-1~deb12u1' },
        location: 'var/lib/dpkg/status',
        layerDigest: 'sha256:layer2',
      },
      fixedVersion: '3.0.13-1~deb12u1',
    } satisfies Finding);
  });

  it('leaves out what is not known: a score, a fix, a summary, and a source package that is the package itself', () => {
    const installed = pkg('busybox', { source: { name: 'busybox', version: '1.0-1' } });
    const [finding] = findingsOf([{ package: installed, vulnerabilities: [vuln('CVE-2022-48174', 'UNKNOWN')] }]);
    expect(finding).toEqual({
      id: 'CVE-2022-48174',
      aliases: [],
      severity: 'UNKNOWN',
      package: { ecosystem: 'Debian:12', name: 'busybox', version: '1.0-1', location: 'var/lib/dpkg/status', layerDigest: 'sha256:base' },
    });
    // A source package of another version is kept: it is what the record names.
    const rebuilt = pkg('busybox', { version: '1.0-1+b1', source: { name: 'busybox', version: '1.0-1' } });
    expect(findingsOf([{ package: rebuilt, vulnerabilities: [vuln('X', 'LOW')] }])[0]!.package.source).toEqual({ name: 'busybox', version: '1.0-1' });
  });

  it('takes the summary from the first record that has one, else the first line of details, at most 500 characters', () => {
    const summaryOf = (texts: VulnOptions['texts']) => findingsOf([{ package: pkg('p'), vulnerabilities: [vuln('CVE-1', 'LOW', { texts })] }])[0]!.summary;
    expect(summaryOf([{ summary: 'first' }, { summary: 'second' }])).toBe('first');
    expect(summaryOf([{}, { summary: 'from the duplicate' }])).toBe('from the duplicate');
    expect(summaryOf([{ details: 'line one\nline two' }, { summary: 'later summary' }])).toBe('line one');
    expect(summaryOf([{ details: '\nstarts blank' }, { details: 'other details' }])).toBe('other details');
    expect(summaryOf([{}, {}])).toBeUndefined();
    expect(summaryOf([{ summary: 'y'.repeat(800) }])).toBe('y'.repeat(500));
  });
});

describe('summaries', () => {
  const f = (severity: SeverityLevel) => ({ severity }) as Finding;

  it('counts findings by severity, with their total', () => {
    expect(summarise([])).toEqual({ CRITICAL: 0, HIGH: 0, MEDIUM: 0, LOW: 0, UNKNOWN: 0, total: 0 });
    expect(summarise([f('HIGH'), f('CRITICAL'), f('HIGH'), f('UNKNOWN'), f('LOW')])).toEqual({ CRITICAL: 1, HIGH: 2, MEDIUM: 0, LOW: 1, UNKNOWN: 1, total: 5 });
  });

  it('adds summaries up (an index’s platforms)', () => {
    const a = summarise([f('HIGH'), f('MEDIUM')]);
    const b = summarise([f('HIGH'), f('UNKNOWN'), f('CRITICAL')]);
    expect(addSummaries([a, b])).toEqual({ CRITICAL: 1, HIGH: 2, MEDIUM: 1, LOW: 0, UNKNOWN: 1, total: 5 });
    expect(addSummaries([])).toEqual(emptySummary());
    // The inputs are not changed.
    expect(a).toEqual({ CRITICAL: 0, HIGH: 1, MEDIUM: 1, LOW: 0, UNKNOWN: 0, total: 2 });
  });

  it('gives a new empty summary each time', () => {
    const one = emptySummary();
    one.HIGH = 3;
    expect(emptySummary().HIGH).toBe(0);
  });
});

describe('blankScan', () => {
  it('is a scan with nothing found, queued at the time given', () => {
    expect(blankScan('sha256:a', 'queued', 1000)).toEqual({
      digest: 'sha256:a',
      status: 'queued',
      kind: 'image',
      inventory: null,
      findings: null,
      summary: null,
      children: null,
      vulndbGeneration: 0,
      error: null,
      queuedAt: 1000,
      startedAt: null,
      completedAt: null,
    });
  });

  it('is started at that time too in any other status', () => {
    expect(blankScan('sha256:a', 'scanning', 2000)).toMatchObject({ status: 'scanning', queuedAt: 2000, startedAt: 2000, completedAt: null });
    expect(blankScan('sha256:a', 'complete', 3000)).toMatchObject({ status: 'complete', startedAt: 3000 });
  });
});
