import type { FastifyInstance, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { isDigestLike, parseDigest } from '../../oci/digest.js';
import type { RepoName } from '../../oci/name.js';
import type { ScanReport } from '../../scan/scanner.js';
import type { InstalledPackage } from '../../scan/inventory.js';
import type { Finding, SeveritySummary } from '../../scan/report.js';
import type { ScanPolicy } from '../../scan/scan-store.js';
import { writeSbom } from '../../scan/sbom/index.js';
import { BERTH_VERSION } from '../../version.js';
import { ApiError, badRequest, notFound, unprocessable } from './api-error.js';
import { audit, requireRegistryAdmin, type ApiContext } from './context.js';
import { doc } from './openapi.js';
import { repositoryAccess } from './repository-access.js';

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

const summaryView = (s: SeveritySummary | null) =>
  s && { critical: s.CRITICAL, high: s.HIGH, medium: s.MEDIUM, low: s.LOW, unknown: s.UNKNOWN, total: s.total };

const packageView = (p: Pick<InstalledPackage, 'ecosystem' | 'name' | 'version' | 'source' | 'location' | 'layerDigest' | 'arch'>) => ({
  ecosystem: p.ecosystem,
  name: p.name,
  version: p.version,
  ...(p.source ? { source_name: p.source.name, source_version: p.source.version } : {}),
  location: p.location,
  layer_digest: p.layerDigest,
  ...(p.arch ? { arch: p.arch } : {}),
});

const findingView = (f: Finding) => ({
  id: f.id,
  aliases: f.aliases,
  severity: f.severity,
  ...(f.score !== undefined ? { score: f.score, vector: f.vector } : {}),
  ...(f.summary ? { summary: f.summary } : {}),
  package: packageView({ ...f.package, layerDigest: f.package.layerDigest }),
  ...(f.fixedVersion ? { fixed_version: f.fixedVersion } : {}),
});

function reportView(digest: string, report: ScanReport | undefined, withPackages: boolean) {
  if (!report) {
    return { digest, status: 'not scanned', kind: null, scanned_at: null, vulndb_generation: 0, error: null, os: null, package_count: 0, summary: null, findings: [], notes: [] };
  }
  const os = report.inventory?.os;
  return {
    digest,
    status: report.status,
    kind: report.kind,
    scanned_at: iso(report.completedAt),
    vulndb_generation: report.vulndbGeneration,
    error: report.error,
    os: os ? { id: os.id, version_id: os.versionId, pretty_name: os.prettyName, ecosystem: os.ecosystem } : null,
    package_count: report.inventory?.packages.length ?? 0,
    summary: summaryView(report.summary),
    findings: (report.findings ?? []).map(findingView),
    ...(report.platforms ? { platforms: report.platforms.map((p) => ({ digest: p.digest, platform: p.platform ?? null, status: p.status, summary: summaryView(p.summary) })) } : {}),
    ...(withPackages ? { packages: (report.inventory?.packages ?? []).map(packageView) } : {}),
    notes: report.inventory?.notes ?? [],
  };
}

/** The `vulnerabilities` member of tag and manifest listings: status and counts, or null when never scanned. */
export async function scanSummariesOf(ctx: ApiContext, digests: string[]) {
  const scanner = ctx.registry.scanning?.scanner;
  const found = scanner ? await Promise.all([...new Set(digests)].map(async (d) => [d, await scanner.report(d)] as const)) : [];
  const byDigest = new Map(found);
  return (digest: string) => {
    const r = byDigest.get(digest);
    return r ? { status: r.status, summary: summaryView(r.summary) } : null;
  };
}

const reportQuery = z.object({ packages: z.enum(['true', 'false']).default('false') }).strict();
const sbomQuery = z.object({ format: z.enum(['cyclonedx', 'spdx'], { message: 'format must be cyclonedx or spdx' }).default('cyclonedx') }).strict();
const SEVERITIES = ['CRITICAL', 'HIGH', 'MEDIUM', 'LOW'] as const;
const policyBody = z
  .object({
    block_severity: z.enum(SEVERITIES).nullable().optional(),
    allowlist: z.array(z.string().min(1).max(200)).max(10_000).optional(),
    block_unscanned: z.boolean().optional(),
  })
  .strict();

const policyView = (p: ScanPolicy) => ({ scan_policy: { block_severity: p.blockSeverity, allowlist: p.allowlist, block_unscanned: p.blockUnscanned } });

/**
 * Vulnerability reports, SBOMs and rescans of a repository's manifests (pull to
 * read, push to rescan), and each registry's pull policy (its admins).
 */
export function registerScanRoutes(api: FastifyInstance, ctx: ApiContext): void {
  const { repositoryFor } = repositoryAccess(ctx);
  const scanning = () => {
    if (!ctx.registry.scanning) throw new ApiError(501, 'not_implemented', 'vulnerability scanning is not available on this server');
    return ctx.registry.scanning;
  };

  /** The manifest named by the path, which must be in the repository. */
  async function manifestFor(req: FastifyRequest, action: 'pull' | 'push') {
    const access = await repositoryFor(req, action);
    const { digest } = req.params as { digest: string };
    if (!isDigestLike(digest)) throw badRequest(`${digest.slice(0, 100)} is not a digest (algorithm:hex)`);
    const manifest = await ctx.registry.meta.findManifest(access.repo.name, { digest: parseDigest(digest).digest });
    if (!manifest) throw notFound(`manifest ${digest.slice(0, 100)} in repository ${access.path}`);
    return { ...access, digest: manifest.digest };
  }

  api.get('/registries/:registry/repositories/:repo/digests/:digest/vulnerabilities', doc({ summary: "A manifest's vulnerability scan: status, summary and findings", tags: ['Vulnerabilities'], description: 'For an index, `platforms` gives each platform\'s status and summary, and the summary adds them up. `packages=true` adds the whole inventory.', query: reportQuery, responses: { '200': '`{vulnerabilities}`.', '404': 'No such registry, repository or manifest.' } }), async (req) => {
    const q = reportQuery.parse(req.query);
    const { digest } = await manifestFor(req, 'pull');
    return { vulnerabilities: reportView(digest, await scanning().scanner.report(digest), q.packages === 'true') };
  });

  api.get('/registries/:registry/repositories/:repo/digests/:digest/sbom', doc({ summary: "A manifest's SBOM (CycloneDX 1.5 or SPDX 2.3 JSON)", tags: ['Vulnerabilities'], query: sbomQuery, produces: 'application/vnd.cyclonedx+json', responses: { '200': 'The SBOM document.', '400': 'Unknown format.', '404': 'No such registry, repository or manifest.', '409': 'The scan is not complete.', '422': 'An index: ask for one of its platforms.' } }), async (req, reply) => {
    const q = sbomQuery.parse(req.query);
    const { registry, path, digest } = await manifestFor(req, 'pull');
    const report = await scanning().scanner.report(digest);
    if (report?.kind === 'index') {
      throw unprocessable(`${digest} is a multi-platform index; ask for the SBOM of one of its platforms: ${(report.platforms ?? []).map((p) => `${p.platform ?? '?'} ${p.digest}`).join(', ')}`);
    }
    if (!report?.inventory || report.status !== 'complete') {
      throw new ApiError(409, 'scan_not_complete', `the scan of ${digest} is ${report?.status ?? 'not started'}; an SBOM needs a complete scan`);
    }
    const sbom = writeSbom(q.format, {
      inventory: report.inventory,
      image: { registry, repository: path, digest },
      generatedAt: new Date(report.completedAt ?? Date.now()),
      toolVersion: BERTH_VERSION,
    });
    reply.header('content-type', q.format === 'cyclonedx' ? 'application/vnd.cyclonedx+json; version=1.5' : 'application/spdx+json');
    return sbom;
  });

  api.post('/registries/:registry/repositories/:repo/digests/:digest/scan', doc({ summary: 'Scan a manifest again (needs push)', tags: ['Vulnerabilities'], responses: { '202': '`{vulnerabilities}`, queued.', '403': 'No push permission.', '404': 'No such registry, repository or manifest.' } }), async (req, reply) => {
    const { principal, registry, repo, digest } = await manifestFor(req, 'push');
    const { scanner } = scanning();
    await scanner.queue(repo.name as RepoName, digest, true);
    await audit(ctx, req, principal, { action: 'scan.request', outcome: 'success', registry, resource: `${repo.name}@${digest}` });
    reply.code(202);
    return { vulnerabilities: reportView(digest, await scanner.report(digest), false) };
  });

  api.get('/registries/:registry/scan-policy', doc({ summary: "The registry's pull policy on vulnerable images", tags: ['Vulnerabilities'], responses: { '200': '`{scan_policy}`.', '403': 'Not an admin of the registry.', '404': 'No such registry.' } }), async (req) => {
    const { registry } = await requireRegistryAdmin(ctx, req, (req.params as { registry: string }).registry);
    return policyView(await ctx.registry.scanning!.scanner.policy(registry.id));
  });

  api.put('/registries/:registry/scan-policy', doc({ summary: "Set the registry's pull policy on vulnerable images", tags: ['Vulnerabilities'], description: 'Pulls (manifest GETs) of images with findings at or above `block_severity` (not allowlisted by id or alias) are refused with DENIED; with `block_unscanned`, so are pulls of images whose scan has not completed. Fields left out keep their value.', body: policyBody, responses: { '200': '`{scan_policy}`.', '403': 'Not an admin of the registry.', '404': 'No such registry.' } }), async (req) => {
    const { principal, registry } = await requireRegistryAdmin(ctx, req, (req.params as { registry: string }).registry);
    const body = policyBody.parse(req.body ?? {});
    const { scanner, pullPolicy } = scanning();
    const current = await scanner.policy(registry.id);
    const next: ScanPolicy = {
      blockSeverity: body.block_severity === undefined ? current.blockSeverity : body.block_severity,
      allowlist: body.allowlist ?? current.allowlist,
      blockUnscanned: body.block_unscanned ?? current.blockUnscanned,
    };
    await scanner.setPolicy(registry.id, next);
    pullPolicy.forget(registry.name);
    await audit(ctx, req, principal, { action: 'scan_policy.update', outcome: 'success', registry: registry.name, resource: registry.name, detail: policyView(next).scan_policy });
    return policyView(next);
  });
}
