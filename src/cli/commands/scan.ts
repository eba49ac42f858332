import { createWriteStream } from 'node:fs';
import { unlink } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { InvalidArgumentError, Option, type Command } from 'commander';
import { ApiError, CliError, UsageError, type ApiClient } from '../api-client.js';
import { connect, type ConnectOptions } from '../cli-config.js';
import { act, examples, group, positiveInt, printJson, printTable, say, serverCommand, when } from '../output.js';
import { resolveRegistry } from './context.js';
import { listAll, repoPath, splitRepository, type TagView } from './repositories.js';

// ---- the scan API's answers (docs/api-reference.md), as far as the CLI reads them ----

export type SeverityLevel = 'CRITICAL' | 'HIGH' | 'MEDIUM' | 'LOW' | 'UNKNOWN';

/** Most severe first: a threshold counts its own level and every one before it. */
export const SEVERITY_LEVELS: readonly SeverityLevel[] = ['CRITICAL', 'HIGH', 'MEDIUM', 'LOW', 'UNKNOWN'];

export type ScanStatus = 'queued' | 'scanning' | 'complete' | 'failed' | 'unsupported' | 'not scanned';

export interface SeveritySummary {
  critical: number;
  high: number;
  medium: number;
  low: number;
  unknown: number;
  total: number;
}

export interface ScannedPackage {
  ecosystem: string;
  name: string;
  version: string;
  source_name?: string;
  source_version?: string;
  location: string;
  layer_digest: string;
  arch?: string;
}

export interface FindingView {
  id: string;
  aliases: string[];
  severity: SeverityLevel;
  score?: number;
  vector?: string;
  summary?: string;
  package: ScannedPackage;
  fixed_version?: string;
}

export interface VulnerabilitiesView {
  digest: string;
  status: ScanStatus;
  /** null while never scanned (the server sends that, though the contract says image|index). */
  kind: 'image' | 'index' | null;
  scanned_at: string | null;
  vulndb_generation: number;
  error: string | null;
  os: { id: string; version_id: string; pretty_name: string; ecosystem: string } | null;
  package_count: number;
  /** null until a scan completes. */
  summary: SeveritySummary | null;
  findings: FindingView[];
  platforms?: { digest: string; platform: string | null; status: ScanStatus; summary: SeveritySummary | null }[];
  packages?: ScannedPackage[];
  notes: string[];
}

export interface ScanPolicyView {
  block_severity: Exclude<SeverityLevel, 'UNKNOWN'> | null;
  allowlist: string[];
  block_unscanned: boolean;
}

// ---- images as typed: REPO@sha256:…, REPO:TAG or REPO (tag latest) ----

export interface ImageRef {
  registry: string;
  path: string;
  tag?: string;
  digest?: string;
}

const DIGEST = /^[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$/;

/** Splits an image reference; with `REPO:TAG@DIGEST` the digest wins, as docker has it. */
export function parseImage(input: string, registry?: string): ImageRef {
  let name = input;
  let digest: string | undefined;
  const at = name.indexOf('@');
  if (at !== -1) {
    digest = name.slice(at + 1);
    name = name.slice(0, at);
    if (!DIGEST.test(digest)) throw new UsageError(`${input}: ${digest} is not a digest (expected e.g. sha256:4f…)`);
  }
  let tag: string | undefined;
  // A colon after the last slash starts the tag (registry names carry no port here).
  const colon = name.indexOf(':', name.lastIndexOf('/') + 1);
  if (colon !== -1) {
    tag = name.slice(colon + 1);
    name = name.slice(0, colon);
    if (tag === '') throw new UsageError(`${input}: empty tag`);
  }
  if (name === '' || name.endsWith('/')) throw new UsageError(`${input}: expected REPOSITORY[:TAG] or REPOSITORY@DIGEST`);
  const { registry: reg, path } = splitRepository(name, registry);
  if (digest) return { registry: reg, path, digest };
  return { registry: reg, path, tag: tag ?? 'latest' };
}

export interface ResolvedImage extends ImageRef {
  digest: string;
  /** How messages name it: `team-a/app:v1`, or `team-a/app@sha256:…`. */
  label: string;
}

/** The manifest digest of an image: given, or the tag's, from the tag listing. */
export async function resolveImage(client: ApiClient, ref: ImageRef): Promise<ResolvedImage> {
  const repo = `${ref.registry}/${ref.path}`;
  if (ref.digest) return { ...ref, digest: ref.digest, label: `${repo}@${ref.digest}` };
  const tags = await listAll<TagView>(client, `${repoPath(ref.registry, ref.path)}/tags`, 'tags');
  const found = tags.find((t) => t.tag === ref.tag);
  if (!found) throw new CliError(`no tag ${ref.tag} in ${repo} (\`berth repository list-tags ${repo}\` lists its tags)`);
  return { ...ref, digest: found.manifest_digest, label: `${repo}:${ref.tag}` };
}

const digestPath = (image: ResolvedImage) => `${repoPath(image.registry, image.path)}/digests/${encodeURIComponent(image.digest)}`;
const policyPath = (registry: string) => `/api/v2/registries/${encodeURIComponent(registry)}/scan-policy`;

// ---- severities ----

function severityArg(allowNone: boolean) {
  return (value: string): SeverityLevel | 'NONE' => {
    const upper = value.toUpperCase();
    if ((SEVERITY_LEVELS as readonly string[]).includes(upper) && !(allowNone && upper === 'UNKNOWN')) return upper as SeverityLevel;
    if (allowNone && upper === 'NONE') return 'NONE';
    throw new InvalidArgumentError(`expected one of ${allowNone ? 'CRITICAL, HIGH, MEDIUM, LOW, none' : SEVERITY_LEVELS.join(', ')}`);
  };
}

/** What `--fail-on` exits with, apart from 1 (errors) and 2 (usage). */
export const FAIL_ON_EXIT_CODE = 3;

const rank = (level: SeverityLevel) => SEVERITY_LEVELS.indexOf(level);
const countOf = (summary: SeveritySummary, level: SeverityLevel) => summary[level.toLowerCase() as Lowercase<SeverityLevel>] ?? 0;

/** Findings at `level` or more severe. */
function countAtOrAbove(summary: SeveritySummary, level: SeverityLevel): number {
  return SEVERITY_LEVELS.slice(0, rank(level) + 1).reduce((n, l) => n + countOf(summary, l), 0);
}

/** `2 critical, 5 high` (levels without findings left out). */
export function summaryText(summary: SeveritySummary | null | undefined): string {
  if (!summary || summary.total === 0) return 'no known vulnerabilities';
  return SEVERITY_LEVELS.filter((l) => countOf(summary, l) > 0)
    .map((l) => `${countOf(summary, l)} ${l.toLowerCase()}`)
    .join(', ');
}

// ---- waiting ----

const UNFINISHED = new Set<ScanStatus>(['queued', 'scanning']);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function fetchReport(client: ApiClient, image: ResolvedImage): Promise<VulnerabilitiesView> {
  return (await client.get<{ vulnerabilities: VulnerabilitiesView }>(`${digestPath(image)}/vulnerabilities`)).vulnerabilities;
}

/** Polls until the scan leaves queued/scanning, telling stderr of each change (stdout stays the report). */
async function waitForScan(client: ApiClient, image: ResolvedImage, first: VulnerabilitiesView, seconds: number, pollMs: number): Promise<VulnerabilitiesView> {
  const deadline = Date.now() + seconds * 1000;
  let report = first;
  let last = '';
  for (;;) {
    if (report.status !== last) process.stderr.write(`[${new Date().toISOString().slice(11, 19)}] ${image.label}: ${report.status}\n`);
    last = report.status;
    if (!UNFINISHED.has(report.status)) return report;
    if (Date.now() >= deadline) throw new CliError(`the scan of ${image.label} is still ${report.status} after ${seconds} s`);
    await sleep(Math.min(pollMs, Math.max(0, deadline - Date.now())));
    report = await fetchReport(client, image);
  }
}

// ---- printing a report ----

/** Why there is no complete report, with what to do about it. */
function statusPhrase(image: ResolvedImage, report: VulnerabilitiesView): string {
  switch (report.status) {
    case 'queued':
    case 'scanning':
      return `the scan of ${image.label} is ${report.status === 'queued' ? 'queued' : 'still running'} (add --wait)`;
    case 'not scanned':
      return `${image.label} has not been scanned (\`berth scan rescan ${image.label}\` scans it)`;
    case 'failed':
      return `the scan of ${image.label} failed: ${report.error ?? 'no reason given'}`;
    case 'unsupported':
      return `${image.label} cannot be scanned: ${report.error ?? 'no reason given'}`;
    default:
      return `the scan of ${image.label} is ${report.status}`;
  }
}

function statusLine(report: VulnerabilitiesView, image: ResolvedImage): string {
  switch (report.status) {
    case 'queued':
    case 'scanning':
      return `${report.status}: the scan has not finished yet (add --wait to wait for it)`;
    case 'not scanned':
      return `not scanned: scan it with \`berth scan rescan ${image.label}\``;
    case 'failed':
    case 'unsupported':
      return `${report.status}: ${report.error ?? 'no reason given'}`;
    case 'complete': {
      const parts: string[] = ['complete'];
      if (report.os) parts.push(`${report.os.id} ${report.os.version_id}`.trim());
      if (report.kind === 'index') parts.push(`${report.platforms?.length ?? 0} platform(s)`);
      else parts.push(`${report.package_count} package${report.package_count === 1 ? '' : 's'}`);
      parts.push(summaryText(report.summary));
      if (report.scanned_at) parts.push(`scanned ${when(report.scanned_at)}`);
      return parts.join(' · ');
    }
    default:
      return String(report.status);
  }
}

/** `openssl` when only the name differs, `openssl 3.1.4-r0` when the version does too. */
function sourceOf(p: ScannedPackage): string | undefined {
  if (!p.source_name || (p.source_name === p.name && (p.source_version ?? p.version) === p.version)) return undefined;
  return p.source_version && p.source_version !== p.version ? `${p.source_name} ${p.source_version}` : p.source_name;
}

function printFindings(findings: FindingView[]): void {
  const withSource = findings.some((f) => sourceOf(f.package) !== undefined);
  const headers = ['ID', 'SEVERITY', 'SCORE', 'PACKAGE', 'INSTALLED', 'FIXED IN', ...(withSource ? ['SOURCE'] : [])];
  printTable(
    headers,
    findings.map((f) => [f.id, f.severity, f.score?.toFixed(1), f.package.name, f.package.version, f.fixed_version, ...(withSource ? [sourceOf(f.package)] : [])]),
  );
}

function printReport(report: VulnerabilitiesView, image: ResolvedImage, minSeverity: SeverityLevel | undefined): void {
  say(`${image.label}${image.label.includes('@') ? '' : ` (${report.digest})`}`);
  say(statusLine(report, image));
  if (report.kind === 'index' && report.platforms && report.platforms.length > 0) {
    say('');
    printTable(
      ['PLATFORM', 'DIGEST', 'STATUS', 'VULNERABILITIES'],
      report.platforms.map((p) => [p.platform, p.digest, p.status, p.status === 'complete' ? summaryText(p.summary) : undefined]),
    );
    say(`\nA platform's findings: berth scan show ${image.registry}/${image.path}@<digest>`);
  }
  const findings = (report.findings ?? []).filter((f) => minSeverity === undefined || rank(f.severity) <= rank(minSeverity));
  if (findings.length > 0) {
    say('');
    printFindings(findings);
  }
  if (minSeverity && report.findings && findings.length < report.findings.length) {
    say(`(${report.findings.length - findings.length} finding(s) below ${minSeverity} not shown)`);
  }
  for (const note of report.notes ?? []) say(`Note: ${note}`);
}

interface ReportFlags extends ConnectOptions {
  registry?: string;
  json?: boolean;
  wait?: true | number;
  pollMs: number;
}

interface ShowFlags extends ReportFlags {
  severity?: SeverityLevel;
  failOn?: SeverityLevel;
}

const DEFAULT_WAIT_SECONDS = 300;

/** Prints the report (after waiting, with --wait) and turns --wait and --fail-on outcomes into exit codes. */
async function showReport(client: ApiClient, image: ResolvedImage, first: VulnerabilitiesView, flags: ShowFlags): Promise<void> {
  const seconds = flags.wait === true ? DEFAULT_WAIT_SECONDS : flags.wait;
  const report = seconds === undefined ? first : await waitForScan(client, image, first, seconds, flags.pollMs);
  if (flags.json) printJson(report);
  else printReport(report, image, flags.severity);
  if (seconds !== undefined && report.status === 'failed') throw new CliError(`the scan of ${image.label} failed: ${report.error ?? 'no reason given'}`);
  if (seconds !== undefined && report.status === 'not scanned') {
    throw new CliError(`${image.label} has not been scanned, so there is nothing to wait for: \`berth scan rescan ${image.label} --wait\` scans it`);
  }
  if (flags.failOn) {
    // A gate that could not look must not pass.
    if (report.status !== 'complete') throw new CliError(`cannot check --fail-on: ${statusPhrase(image, report)}`);
    const found = report.summary ? countAtOrAbove(report.summary, flags.failOn) : 0;
    if (found > 0) throw new CliError(`${image.label}: ${found} vulnerabilit${found === 1 ? 'y' : 'ies'} at or above ${flags.failOn}`, FAIL_ON_EXIT_CODE);
  }
}

/** `--wait` takes an optional value, so `--wait IMAGE` would read the image as one: say how to write it. */
function waitSeconds(value: string): number {
  if (!/^\d+$/.test(value) || Number(value) < 1) throw new InvalidArgumentError('expected a number of seconds (put --wait after IMAGE, or write --wait=SECONDS)');
  return Number(value);
}

function reportOptions(command: Command): Command {
  return command
    .option('--registry <name>', 'take the repository as a path inside this registry')
    .addOption(new Option('--wait [seconds]', `wait until the scan has finished (at most SECONDS, default ${DEFAULT_WAIT_SECONDS}); put it after IMAGE`).argParser(waitSeconds))
    .option('--json', 'print the API object as it is')
    .addOption(new Option('--poll-ms <ms>', 'how often --wait asks').argParser(positiveInt).default(1000).hideHelp());
}

// ---- policy ----

interface PolicyFlags extends ConnectOptions {
  blockSeverity?: SeverityLevel | 'NONE';
  allow?: string[] | false;
  blockUnscanned?: boolean;
  allowUnscanned?: boolean;
  json?: boolean;
}

function printPolicy(registry: string, policy: ScanPolicyView): void {
  const rows: [string, string][] = [
    ['Registry:', registry],
    ['Block severity:', policy.block_severity ? `${policy.block_severity} (pulls of images with vulnerabilities at or above it are refused)` : 'none (vulnerabilities never block pulls)'],
    ['Allowlist:', policy.allowlist.length > 0 ? policy.allowlist.join(', ') : '-'],
    ['Block unscanned:', policy.block_unscanned ? 'yes (pulls of images without a complete scan are refused)' : 'no'],
  ];
  const width = Math.max(...rows.map(([k]) => k.length));
  for (const [k, v] of rows) say(`${k.padEnd(width)}  ${v}`);
}

/** The PUT body for the flags given; undefined when none were (then the command shows the policy). */
function policyChanges(flags: PolicyFlags): Record<string, unknown> | undefined {
  const body: Record<string, unknown> = {};
  if (flags.blockSeverity !== undefined) body.block_severity = flags.blockSeverity === 'NONE' ? null : flags.blockSeverity;
  if (flags.allow !== undefined) body.allowlist = flags.allow === false ? [] : [...new Set(flags.allow.flatMap((a) => a.split(',')).map((a) => a.trim()).filter(Boolean))];
  if (flags.blockUnscanned) body.block_unscanned = true;
  if (flags.allowUnscanned) body.block_unscanned = false;
  return Object.keys(body).length > 0 ? body : undefined;
}

/** `berth scan ...`: vulnerability reports, SBOMs, rescans and a registry's pull policy. */
export function registerScanCommands(program: Command): void {
  const scan = examples(group(program, 'scan', "show images' vulnerability scans and SBOMs, rescan, and set a registry's scan policy"), [
    'berth scan show team-a/app/web:v1 --wait',
    'berth scan show team-a/app/web@sha256:4f… --fail-on HIGH',
    'berth scan sbom team-a/app/web:v1 --format spdx -o sbom.spdx.json',
    'berth scan policy team-a --block-severity CRITICAL',
  ]);

  examples(
    reportOptions(serverCommand(scan, 'show <image>', 'show the vulnerabilities found in an image (REPO@DIGEST, REPO:TAG, or REPO for tag latest)'))
      .option('--severity <level>', 'list only findings at or above this severity: CRITICAL, HIGH, MEDIUM, LOW or UNKNOWN (all)', severityArg(false))
      .option('--fail-on <level>', `exit ${FAIL_ON_EXIT_CODE} when there are findings at or above this severity (exit 1 when the scan is not complete)`, severityArg(false))
      .action(
        act(async (input: string, flags: ShowFlags) => {
          const client = connect(flags);
          const image = await resolveImage(client, parseImage(input, flags.registry));
          await showReport(client, image, await fetchReport(client, image), flags);
        }),
      ),
    [
      'berth scan show team-a/app/web:v1',
      'berth scan show team-a/app/web:v1 --severity HIGH',
      'berth scan show team-a/app/web@sha256:4f… --wait 600 --fail-on CRITICAL   # in CI',
      'berth scan show app/web --registry team-a --json',
    ],
  );

  examples(
    serverCommand(scan, 'sbom <image>', 'write the software bill of materials of a scanned image (CycloneDX or SPDX JSON)')
      .option('--registry <name>', 'take the repository as a path inside this registry')
      .addOption(new Option('--format <format>', 'SBOM format').choices(['cyclonedx', 'spdx']).default('cyclonedx'))
      .option('-o, --output <file>', 'write it to this file (default: stdout)')
      .action(
        act(async (input: string, flags: ConnectOptions & { registry?: string; format: string; output?: string }) => {
          const client = connect(flags);
          const image = await resolveImage(client, parseImage(input, flags.registry));
          let res: Response;
          try {
            res = await client.stream(`${digestPath(image)}/sbom`, { format: flags.format });
          } catch (err) {
            if (err instanceof ApiError && err.id === 'scan_not_complete') {
              const report = await fetchReport(client, image);
              throw new CliError(`no SBOM: ${report.status === 'complete' ? `the scan of ${image.label} just changed; try again` : statusPhrase(image, report)}`);
            }
            throw err;
          }
          const body = res.body ? Readable.fromWeb(res.body as import('node:stream/web').ReadableStream) : Readable.from([]);
          if (!flags.output) return pipeline(body, process.stdout);
          try {
            await pipeline(body, createWriteStream(flags.output));
          } catch (err) {
            await unlink(flags.output).catch(() => undefined);
            throw err;
          }
          say(`Wrote the ${flags.format === 'spdx' ? 'SPDX' : 'CycloneDX'} SBOM of ${image.label} to ${flags.output}.`);
        }),
      ),
    ['berth scan sbom team-a/app/web:v1 -o sbom.cdx.json', 'berth scan sbom team-a/app/web@sha256:4f… --format spdx > sbom.spdx.json'],
  );

  examples(
    reportOptions(serverCommand(scan, 'rescan <image>', 'scan an image again now, e.g. after its scan failed (needs push)')).action(
      act(async (input: string, flags: ReportFlags) => {
        const client = connect(flags);
        const image = await resolveImage(client, parseImage(input, flags.registry));
        const { vulnerabilities: queued } = await client.post<{ vulnerabilities: VulnerabilitiesView }>(`${digestPath(image)}/scan`);
        if (flags.wait !== undefined) return showReport(client, image, queued, flags);
        if (flags.json) return printJson(queued);
        say(`Queued a scan of ${image.label} (${image.digest}); \`berth scan show ${image.label} --wait\` waits for it.`);
      }),
    ),
    ['berth scan rescan team-a/app/web:v1', 'berth scan rescan team-a/app/web:v1 --wait'],
  );

  examples(
    serverCommand(scan, 'policy [registry]', "show a registry's scan policy, or change it with the options (registry admins)")
      .addOption(new Option('--block-severity <level>', 'refuse pulls of images with vulnerabilities at or above: CRITICAL, HIGH, MEDIUM, LOW, or none').argParser(severityArg(true)))
      .option('--allow <ids...>', 'vulnerability ids that never block (replaces the allowlist; comma- or space-separated)')
      .option('--no-allow', 'empty the allowlist')
      .addOption(new Option('--block-unscanned', 'refuse pulls of images whose scan is not complete').conflicts('allowUnscanned'))
      .addOption(new Option('--allow-unscanned', 'let images without a complete scan be pulled'))
      .option('--json', 'print the API object as it is')
      .action(
        act(async (named: string | undefined, flags: PolicyFlags) => {
          const client = connect(flags);
          const registry = await resolveRegistry(client, flags, named);
          const changes = policyChanges(flags);
          const { scan_policy: policy } = changes
            ? await client.put<{ scan_policy: ScanPolicyView }>(policyPath(registry), changes)
            : await client.get<{ scan_policy: ScanPolicyView }>(policyPath(registry));
          if (flags.json) return printJson(policy);
          printPolicy(registry, policy);
        }),
      ),
    ['berth scan policy team-a', 'berth scan policy team-a --block-severity HIGH --allow CVE-2024-1234 GHSA-xxxx-yyyy-zzzz', 'berth scan policy team-a --block-severity none --no-allow --allow-unscanned'],
  );
}
