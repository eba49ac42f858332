import { describe, expect, it } from 'vitest';
import { RegistryError } from '../oci/errors.js';
import type { SeverityLevel } from './osv/severity.js';
import { decidePull, isSeverityLevel, PullPolicy, type ScanOutcome } from './pull-policy.js';
import type { Finding } from './report.js';
import { NO_POLICY, type ScanPolicy } from './scan-store.js';

const finding = (id: string, severity: SeverityLevel, fields: Partial<Finding> & { name?: string; version?: string } = {}): Finding => {
  const { name = 'openssl', version = '3.0.11-1~deb12u1', ...rest } = fields;
  return {
    id,
    aliases: [],
    severity,
    package: { ecosystem: 'Debian:12', name, version, location: 'var/lib/dpkg/status', layerDigest: 'sha256:base' },
    ...rest,
  };
};

const complete = (...findings: Finding[]): ScanOutcome => ({ status: 'complete', findings });
const policy = (fields: Partial<ScanPolicy>): ScanPolicy => ({ ...NO_POLICY, ...fields });

const LEVELS: SeverityLevel[] = ['CRITICAL', 'HIGH', 'MEDIUM', 'LOW', 'UNKNOWN'];
const THRESHOLDS = ['CRITICAL', 'HIGH', 'MEDIUM', 'LOW'] as const;

describe('decidePull: severity threshold', () => {
  it('allows everything when the policy blocks nothing', () => {
    expect(decidePull(NO_POLICY, complete(finding('CVE-1', 'CRITICAL')))).toEqual({ allowed: true });
    expect(decidePull(NO_POLICY, { status: 'queued', findings: [] })).toEqual({ allowed: true });
  });

  it.each(THRESHOLDS)('under block %s: a finding exactly at the threshold is blocked, one level below is allowed', (threshold) => {
    const at = THRESHOLDS.indexOf(threshold);
    for (const level of LEVELS) {
      const decision = decidePull(policy({ blockSeverity: threshold }), complete(finding('CVE-2024-1', level)));
      const blocked = level !== 'UNKNOWN' && LEVELS.indexOf(level) <= at;
      expect({ level, allowed: decision.allowed }).toEqual({ level, allowed: !blocked });
    }
  });

  it('never blocks on UNKNOWN severity, even under block LOW (the current rule: unrated findings do not count)', () => {
    const decision = decidePull(policy({ blockSeverity: 'LOW' }), complete(finding('CVE-2024-9', 'UNKNOWN'), finding('CVE-2024-8', 'UNKNOWN')));
    expect(decision).toEqual({ allowed: true });
  });

  it('allows an image without findings', () => {
    expect(decidePull(policy({ blockSeverity: 'LOW', blockUnscanned: true }), complete())).toEqual({ allowed: true });
  });
});

describe('decidePull: allowlist', () => {
  const critical = finding('GHSA-xvch-5gv4-984h', 'CRITICAL', { aliases: ['CVE-2021-44906', 'SNYK-JS-MINIMIST-2429795'], name: 'minimist', version: '1.2.5' });

  it('does not count a finding allowlisted by its id', () => {
    expect(decidePull(policy({ blockSeverity: 'HIGH', allowlist: ['GHSA-xvch-5gv4-984h'] }), complete(critical))).toEqual({ allowed: true });
  });

  it('does not count a finding allowlisted by any of its aliases', () => {
    expect(decidePull(policy({ blockSeverity: 'HIGH', allowlist: ['CVE-2021-44906'] }), complete(critical))).toEqual({ allowed: true });
    expect(decidePull(policy({ blockSeverity: 'HIGH', allowlist: ['SNYK-JS-MINIMIST-2429795'] }), complete(critical))).toEqual({ allowed: true });
  });

  it('compares allowlisted ids without regard to case', () => {
    expect(decidePull(policy({ blockSeverity: 'HIGH', allowlist: ['cve-2021-44906'] }), complete(critical))).toEqual({ allowed: true });
    expect(decidePull(policy({ blockSeverity: 'HIGH', allowlist: ['ghsa-XVCH-5gv4-984H'] }), complete(critical))).toEqual({ allowed: true });
    const lower = { ...critical, id: 'ghsa-xvch-5gv4-984h', aliases: ['cve-2021-44906'] };
    expect(decidePull(policy({ blockSeverity: 'HIGH', allowlist: ['CVE-2021-44906'] }), complete(lower))).toEqual({ allowed: true });
  });

  it('still blocks on the findings that are not allowlisted', () => {
    const other = finding('CVE-2023-5678', 'HIGH');
    const decision = decidePull(policy({ blockSeverity: 'HIGH', allowlist: ['CVE-2021-44906', 'CVE-2021-4490'] }), complete(critical, other));
    expect(decision).toMatchObject({ allowed: false, worst: [other] });
    // A prefix of an id is not the id.
    expect(decidePull(policy({ blockSeverity: 'HIGH', allowlist: ['CVE-2021-4490'] }), complete(critical)).allowed).toBe(false);
  });
});

describe('decidePull: images whose scan is not complete', () => {
  it.each([
    ['queued', 'it has not been scanned yet (queued)'],
    ['scanning', 'it has not been scanned yet (scanning)'],
    ['not scanned', 'it has not been scanned yet (not scanned)'],
    ['failed', 'its vulnerability scan failed'],
  ] as const)('blocks a %s image under block_unscanned, saying why', (status, state) => {
    expect(decidePull(policy({ blockUnscanned: true }), { status, findings: [] })).toEqual({
      allowed: false,
      reason: `the registry's policy blocks pulls of unscanned images, and ${state}`,
      worst: [],
    });
  });

  it.each(['queued', 'scanning', 'not scanned', 'failed'] as const)('allows a %s image without block_unscanned, whatever the severity threshold', (status) => {
    expect(decidePull(policy({ blockSeverity: 'LOW' }), { status, findings: [finding('CVE-1', 'CRITICAL')] })).toEqual({ allowed: true });
  });

  it('never blocks an unsupported artifact, even under block_unscanned and a threshold', () => {
    const strict = policy({ blockSeverity: 'LOW', blockUnscanned: true, allowlist: [] });
    expect(decidePull(strict, { status: 'unsupported', findings: [] })).toEqual({ allowed: true });
    expect(decidePull(strict, { status: 'unsupported', findings: [finding('CVE-1', 'CRITICAL')] })).toEqual({ allowed: true });
  });
});

describe('decidePull: the refusal names the worst findings', () => {
  it('names one finding with its severity, score, package and fix', () => {
    const f = finding('CVE-2023-5678', 'HIGH', { score: 7.5, fixedVersion: '3.0.13-1~deb12u1' });
    expect(decidePull(policy({ blockSeverity: 'HIGH' }), complete(f))).toEqual({
      allowed: false,
      reason:
        "the registry's policy blocks pulls of images with vulnerabilities at or above HIGH: 1 found, CVE-2023-5678 (HIGH 7.5) in openssl 3.0.11-1~deb12u1, fixed in 3.0.13-1~deb12u1",
      worst: [f],
    });
  });

  it('leaves out a score and a fix it does not know', () => {
    const f = finding('DSA-5532-1', 'CRITICAL', { name: 'curl', version: '7.88.1-10' });
    expect(decidePull(policy({ blockSeverity: 'CRITICAL' }), complete(f))).toMatchObject({
      reason: "the registry's policy blocks pulls of images with vulnerabilities at or above CRITICAL: 1 found, DSA-5532-1 (CRITICAL) in curl 7.88.1-10",
    });
  });

  it('names at most three, most severe and highest scored first, and counts the rest', () => {
    const medium = finding('CVE-M', 'MEDIUM', { score: 6.5, name: 'm' });
    const high75 = finding('CVE-H75', 'HIGH', { score: 7.5, name: 'h75' });
    const high88 = finding('CVE-H88', 'HIGH', { score: 8.8, name: 'h88' });
    const highUnscored = finding('CVE-H', 'HIGH', { name: 'h' });
    const critical = finding('CVE-C', 'CRITICAL', { score: 9.1, name: 'c' });
    const low = finding('CVE-L', 'LOW', { score: 3.1, name: 'l' });
    const unknown = finding('CVE-U', 'UNKNOWN', { name: 'u' });
    const decision = decidePull(policy({ blockSeverity: 'MEDIUM' }), complete(medium, high75, unknown, highUnscored, low, high88, critical));
    expect(decision.allowed).toBe(false);
    if (decision.allowed) return;
    expect(decision.worst).toEqual([critical, high88, high75]);
    // Five count (MEDIUM and above); LOW and UNKNOWN do not.
    expect(decision.reason).toBe(
      "the registry's policy blocks pulls of images with vulnerabilities at or above MEDIUM: 5 found, " +
        'CVE-C (CRITICAL 9.1) in c 3.0.11-1~deb12u1; CVE-H88 (HIGH 8.8) in h88 3.0.11-1~deb12u1; CVE-H75 (HIGH 7.5) in h75 3.0.11-1~deb12u1 and 2 more',
    );
  });

  it('adds no "more" when three or fewer count', () => {
    const decision = decidePull(policy({ blockSeverity: 'LOW' }), complete(finding('A', 'LOW'), finding('B', 'LOW'), finding('C', 'LOW')));
    expect(decision.allowed).toBe(false);
    if (decision.allowed) return;
    expect(decision.worst.map((f) => f.id)).toEqual(['A', 'B', 'C']);
    expect(decision.reason).toMatch(/: 3 found, A \(LOW\) in openssl [^;]+; B \(LOW\) in openssl [^;]+; C \(LOW\) in openssl 3\.0\.11-1~deb12u1$/);
  });
});

describe('isSeverityLevel', () => {
  it('accepts the four levels a policy can block at, and nothing else', () => {
    expect(THRESHOLDS.filter((l) => isSeverityLevel(l))).toEqual([...THRESHOLDS]);
    for (const other of ['UNKNOWN', 'high', 'Critical', '', 'MODERATE']) expect(isSeverityLevel(other)).toBe(false);
  });
});

// ---------- PullPolicy: enforcement with a brief cache ----------

interface Harness {
  pullPolicy: PullPolicy;
  policies: Map<number, ScanPolicy>;
  outcomes: Map<string, ScanOutcome>;
  calls: { getPolicy: number[]; outcome: string[]; registryId: string[] };
  setNow(ms: number): void;
}

function harness(cacheMs?: number): Harness {
  const policies = new Map<number, ScanPolicy>();
  const outcomes = new Map<string, ScanOutcome>();
  const registries = new Map([
    ['acme', 1],
    ['other', 2],
  ]);
  const calls = { getPolicy: [] as number[], outcome: [] as string[], registryId: [] as string[] };
  let now = 1_000_000;
  const pullPolicy = new PullPolicy({
    scans: {
      getPolicy: async (id) => {
        calls.getPolicy.push(id);
        return policies.get(id) ?? NO_POLICY;
      },
    },
    outcome: async (digest) => {
      calls.outcome.push(digest);
      return outcomes.get(digest) ?? { status: 'not scanned', findings: [] };
    },
    registryId: async (name) => {
      calls.registryId.push(name);
      return registries.get(name);
    },
    ...(cacheMs !== undefined ? { cacheMs } : {}),
    now: () => now,
  });
  return { pullPolicy, policies, outcomes, calls, setNow: (ms) => (now = ms) };
}

const VULNERABLE = 'sha256:vulnerable';
const CLEAN = 'sha256:clean';

async function refusal(promise: Promise<void>): Promise<RegistryError> {
  try {
    await promise;
  } catch (err) {
    if (err instanceof RegistryError) return err;
    throw err;
  }
  throw new Error('the pull was allowed');
}

describe('PullPolicy', () => {
  it('allows pulls in a registry without a policy without asking for the scan', async () => {
    const h = harness();
    await h.pullPolicy.check('acme', 'acme/web', VULNERABLE);
    await h.pullPolicy.check('nosuch', 'nosuch/web', VULNERABLE);
    expect(h.calls.outcome).toEqual([]);
  });

  it('refuses a pull the policy blocks with DENIED, naming the image, the reason and the worst findings', async () => {
    const h = harness();
    h.policies.set(1, policy({ blockSeverity: 'HIGH' }));
    const bad = finding('CVE-2021-44906', 'CRITICAL', { score: 9.8, name: 'minimist', version: '1.2.5', fixedVersion: '1.2.6' });
    h.outcomes.set(VULNERABLE, complete(bad, finding('CVE-2000-1', 'LOW')));
    h.outcomes.set(CLEAN, complete(finding('CVE-2000-1', 'LOW')));

    await h.pullPolicy.check('acme', 'acme/web', CLEAN);
    const err = await refusal(h.pullPolicy.check('acme', 'acme/web', VULNERABLE));
    expect(err.code).toBe('DENIED');
    expect(err.message).toBe(
      `pull of acme/web@${VULNERABLE} refused: the registry's policy blocks pulls of images with vulnerabilities at or above HIGH: 1 found, CVE-2021-44906 (CRITICAL 9.8) in minimist 1.2.5, fixed in 1.2.6`,
    );
    expect(err.detail).toEqual({
      policy: 'vulnerability',
      findings: [{ id: 'CVE-2021-44906', severity: 'CRITICAL', package: 'minimist', version: '1.2.5', fixed: '1.2.6' }],
    });
    // Another registry's policy is its own.
    await h.pullPolicy.check('other', 'other/web', VULNERABLE);
  });

  it('refuses an unscanned image under block_unscanned, with no findings in the detail', async () => {
    const h = harness();
    h.policies.set(1, policy({ blockUnscanned: true }));
    h.outcomes.set('sha256:failed', { status: 'failed', findings: [] });
    h.outcomes.set('sha256:chart', { status: 'unsupported', findings: [] });
    const err = await refusal(h.pullPolicy.check('acme', 'acme/web', 'sha256:never'));
    expect(err.message).toBe("pull of acme/web@sha256:never refused: the registry's policy blocks pulls of unscanned images, and it has not been scanned yet (not scanned)");
    expect(err.detail).toEqual({ policy: 'vulnerability', findings: [] });
    await expect(h.pullPolicy.check('acme', 'acme/web', 'sha256:failed')).rejects.toThrow('its vulnerability scan failed');
    await h.pullPolicy.check('acme', 'acme/chart', 'sha256:chart');
  });

  it('remembers a policy for 5 s: a change is seen only once the time is up', async () => {
    const h = harness();
    h.outcomes.set(VULNERABLE, complete(finding('CVE-1', 'CRITICAL')));
    await h.pullPolicy.check('acme', 'acme/web', VULNERABLE);
    expect(h.calls.getPolicy).toEqual([1]);

    h.policies.set(1, policy({ blockSeverity: 'CRITICAL' }));
    h.setNow(1_000_000 + 4_999);
    await h.pullPolicy.check('acme', 'acme/web', VULNERABLE);
    expect(h.calls.getPolicy).toEqual([1]);
    expect(h.calls.registryId).toEqual(['acme']);

    h.setNow(1_000_000 + 5_000);
    await expect(h.pullPolicy.check('acme', 'acme/web', VULNERABLE)).rejects.toThrow(RegistryError);
    expect(h.calls.getPolicy).toEqual([1, 1]);
    // …and the new one is remembered in turn.
    h.policies.delete(1);
    h.setNow(1_000_000 + 9_999);
    await expect(h.pullPolicy.check('acme', 'acme/web', VULNERABLE)).rejects.toThrow(RegistryError);
    expect(h.calls.getPolicy).toEqual([1, 1]);
  });

  it('sees a changed policy at once after forget, for that registry only', async () => {
    const h = harness();
    h.outcomes.set(VULNERABLE, complete(finding('CVE-1', 'CRITICAL')));
    await h.pullPolicy.check('acme', 'acme/web', VULNERABLE);
    await h.pullPolicy.check('other', 'other/web', VULNERABLE);
    h.policies.set(1, policy({ blockSeverity: 'CRITICAL' }));
    h.policies.set(2, policy({ blockSeverity: 'CRITICAL' }));

    h.pullPolicy.forget('acme');
    await expect(h.pullPolicy.check('acme', 'acme/web', VULNERABLE)).rejects.toThrow(RegistryError);
    await h.pullPolicy.check('other', 'other/web', VULNERABLE);
    expect(h.calls.getPolicy).toEqual([1, 2, 1]);
  });

  it('remembers that a registry does not exist, and for as long as cacheMs says', async () => {
    const h = harness(100);
    await h.pullPolicy.check('nosuch', 'nosuch/web', VULNERABLE);
    await h.pullPolicy.check('nosuch', 'nosuch/web', VULNERABLE);
    expect(h.calls.registryId).toEqual(['nosuch']);
    expect(h.calls.getPolicy).toEqual([]);
    h.setNow(1_000_000 + 100);
    await h.pullPolicy.check('nosuch', 'nosuch/web', VULNERABLE);
    expect(h.calls.registryId).toEqual(['nosuch', 'nosuch']);
  });
});
