import { RegistryError } from '../oci/errors.js';
import { SEVERITY_LEVELS, type SeverityLevel } from './osv/severity.js';
import type { Finding, ScanStatus } from './report.js';
import { NO_POLICY, type ScanPolicy, type ScanStore } from './scan-store.js';

/** What the policy needs of a manifest's scan. */
export interface ScanOutcome {
  status: ScanStatus | 'not scanned';
  findings: readonly Finding[];
}

export type PolicyDecision = { allowed: true } | { allowed: false; reason: string; worst: Finding[] };

/** Whether a pull of an image with this scan outcome is allowed by `policy`. Pure. */
export function decidePull(policy: ScanPolicy, outcome: ScanOutcome): PolicyDecision {
  if (outcome.status === 'unsupported') return { allowed: true };
  if (outcome.status !== 'complete') {
    if (!policy.blockUnscanned) return { allowed: true };
    const state = outcome.status === 'failed' ? 'its vulnerability scan failed' : `it has not been scanned yet (${outcome.status})`;
    return { allowed: false, reason: `the registry's policy blocks pulls of unscanned images, and ${state}`, worst: [] };
  }
  if (!policy.blockSeverity) return { allowed: true };
  const threshold = SEVERITY_LEVELS.indexOf(policy.blockSeverity);
  const allowed = new Set(policy.allowlist.map((id) => id.toUpperCase()));
  const isAllowed = (f: Finding) => allowed.has(f.id.toUpperCase()) || f.aliases.some((a) => allowed.has(a.toUpperCase()));
  const blocking = outcome.findings.filter((f) => f.severity !== 'UNKNOWN' && SEVERITY_LEVELS.indexOf(f.severity) <= threshold && !isAllowed(f));
  if (blocking.length === 0) return { allowed: true };
  const worst = [...blocking].sort((a, b) => SEVERITY_LEVELS.indexOf(a.severity) - SEVERITY_LEVELS.indexOf(b.severity) || (b.score ?? 0) - (a.score ?? 0)).slice(0, 3);
  const named = worst.map((f) => `${f.id} (${f.severity}${f.score !== undefined ? ` ${f.score}` : ''}) in ${f.package.name} ${f.package.version}${f.fixedVersion ? `, fixed in ${f.fixedVersion}` : ''}`);
  const more = blocking.length > worst.length ? ` and ${blocking.length - worst.length} more` : '';
  return {
    allowed: false,
    reason: `the registry's policy blocks pulls of images with vulnerabilities at or above ${policy.blockSeverity}: ${blocking.length} found, ${named.join('; ')}${more}`,
    worst,
  };
}

export interface PullPolicyDeps {
  scans: Pick<ScanStore, 'getPolicy'>;
  /** The scan outcome of a manifest (an index: all its platforms). */
  outcome(digest: string): Promise<ScanOutcome>;
  /** The id of a registry by name; undefined when there is none. */
  registryId(name: string): Promise<number | undefined>;
  /** How long a registry's policy is remembered (other nodes see a change within this). */
  cacheMs?: number;
  now?: () => number;
}

/**
 * Enforces registries' pull policies on manifest pulls. Policies are remembered
 * briefly, so a pull of a registry without one costs a map lookup, not a query.
 */
export class PullPolicy {
  private readonly cache = new Map<string, { policy: ScanPolicy; until: number }>();
  private readonly now: () => number;

  constructor(private readonly deps: PullPolicyDeps) {
    this.now = deps.now ?? Date.now;
  }

  /** Throws DENIED (with `detail.policy`) when the registry's policy refuses this manifest. */
  async check(registryName: string, repository: string, digest: string): Promise<void> {
    const policy = await this.policyOf(registryName);
    if (!policy.blockSeverity && !policy.blockUnscanned) return;
    const decision = decidePull(policy, await this.deps.outcome(digest));
    if (decision.allowed) return;
    throw new RegistryError('DENIED', `pull of ${repository}@${digest} refused: ${decision.reason}`, {
      policy: 'vulnerability',
      findings: decision.worst.map((f) => ({ id: f.id, severity: f.severity, package: f.package.name, version: f.package.version, fixed: f.fixedVersion })),
    });
  }

  /** Forgets a registry's policy on this node (it was just changed here). */
  forget(registryName: string): void {
    this.cache.delete(registryName);
  }

  private async policyOf(registryName: string): Promise<ScanPolicy> {
    const cached = this.cache.get(registryName);
    if (cached && cached.until > this.now()) return cached.policy;
    const id = await this.deps.registryId(registryName);
    const policy = id === undefined ? NO_POLICY : await this.deps.scans.getPolicy(id);
    this.cache.set(registryName, { policy, until: this.now() + (this.deps.cacheMs ?? 5_000) });
    return policy;
  }
}

export function isSeverityLevel(value: string): value is Exclude<SeverityLevel, 'UNKNOWN'> {
  return ['CRITICAL', 'HIGH', 'MEDIUM', 'LOW'].includes(value);
}
