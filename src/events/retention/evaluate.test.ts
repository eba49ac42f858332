import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { DAY_MS, evaluate, summarize, type Decision, type EvaluationInput, type ManifestFacts, type RepositoryPlan } from './evaluate.js';
import { policySchema, selects, type ExpireRule, type KeepRule, type PolicyInput } from './rules.js';

const NOW = Date.UTC(2025, 5, 1, 12);
const INDEX = 'application/vnd.oci.image.index.v1+json';
const MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const digestOf = (name: string) => `sha256:${createHash('sha256').update(name).digest('hex')}`;

interface Spec {
  tags?: string[];
  /** Pushed this many days before NOW (fractions allowed). */
  age?: number;
  /** Pulled this many days before NOW; absent: never. */
  pulled?: number;
  subject?: string;
  children?: string[];
  /** Push time exactly (overrides age). */
  pushedAt?: number;
}

/** A repository built by name; digests are derived from the names, so plans read back as names. */
class Repo {
  readonly manifests: ManifestFacts[] = [];
  private readonly names = new Map<string, string>();

  add(name: string, spec: Spec = {}): this {
    const digest = digestOf(name);
    this.names.set(digest, name);
    this.manifests.push({
      id: this.manifests.length + 1,
      digest,
      mediaType: spec.children ? INDEX : MANIFEST,
      size: 100 + this.manifests.length,
      pushedAt: spec.pushedAt ?? NOW - (spec.age ?? 0) * DAY_MS,
      pulledAt: spec.pulled === undefined ? null : NOW - spec.pulled * DAY_MS,
      tags: spec.tags ?? [],
      subject: spec.subject ? digestOf(spec.subject) : null,
      children: (spec.children ?? []).map(digestOf),
    });
    return this;
  }

  name(digest: string): string {
    return this.names.get(digest) ?? digest;
  }

  plan(policy: PolicyInput | { rules: ExpireRule[]; keep?: KeepRule[] }, extra: Partial<EvaluationInput> = {}): Plan {
    const parsed = policySchema.parse(policy);
    return new Plan(this, evaluate({ repository: 'acme/app', manifests: this.manifests, rules: parsed.rules, keep: parsed.keep, now: NOW, ...extra }));
  }
}

class Plan {
  constructor(
    private readonly repo: Repo,
    readonly raw: RepositoryPlan,
  ) {
    checkInvariants(raw, repo.manifests);
  }

  get expired(): string[] {
    return this.raw.decisions.filter((d) => d.action === 'expire').map((d) => this.repo.name(d.digest)).sort();
  }

  get order(): string[] {
    return this.raw.deleteOrder.map((d) => this.repo.name(d));
  }

  of(name: string): Decision {
    const d = this.raw.decisions.find((x) => x.digest === digestOf(name));
    if (!d) throw new Error(`no decision for ${name}`);
    return d;
  }
}

/** What every plan must satisfy, whatever the policy. */
function checkInvariants(plan: RepositoryPlan, manifests: readonly ManifestFacts[]): void {
  const byDigest = new Map(manifests.map((m) => [m.digest, m]));
  const action = new Map(plan.decisions.map((d) => [d.digest, d.action]));
  expect(plan.decisions).toHaveLength(manifests.length);
  const expiring = plan.decisions.filter((d) => d.action === 'expire').map((d) => d.digest);
  expect([...plan.deleteOrder].sort()).toEqual([...expiring].sort());
  const position = new Map(plan.deleteOrder.map((d, i) => [d, i]));
  for (const m of manifests) {
    const kept = action.get(m.digest) === 'keep';
    for (const child of m.children) {
      if (!byDigest.has(child)) continue;
      // A kept index keeps its children; an index goes before its children.
      if (kept) expect(action.get(child), `child ${child} of kept ${m.digest}`).toBe('keep');
      else if (action.get(child) === 'expire') expect(position.get(m.digest)!).toBeLessThan(position.get(child)!);
    }
    if (m.subject && byDigest.has(m.subject)) {
      // Referrers go with their subject, never while it stays, and after it.
      expect(action.get(m.digest), `referrer ${m.digest} of ${m.subject}`).toBe(action.get(m.subject));
      if (!kept) expect(position.get(m.subject)!).toBeLessThan(position.get(m.digest)!);
    }
  }
}

const rule = (rulePriority: number, selection: Record<string, unknown>): ExpireRule => ({ rulePriority, selection, action: { type: 'expire' } }) as ExpireRule;
const count = (p: number, n: number, sel: Record<string, unknown> = { tagStatus: 'any' }) => rule(p, { ...sel, countType: 'imageCountMoreThan', countNumber: n });
const pushedOver = (p: number, n: number, sel: Record<string, unknown> = { tagStatus: 'any' }) => rule(p, { ...sel, countType: 'sinceImagePushed', countUnit: 'days', countNumber: n });
const pulledOver = (p: number, n: number, sel: Record<string, unknown> = { tagStatus: 'any' }) => rule(p, { ...sel, countType: 'sinceImagePulled', countUnit: 'days', countNumber: n });
const range = (n: number) => Array.from({ length: n }, (_, i) => i);

describe('imageCountMoreThan', () => {
  it('keeps the newest N by push time among hundreds of tags and expires the rest, oldest first in reasons', () => {
    const repo = new Repo();
    for (const i of range(300)) repo.add(`build-${i}`, { tags: [`build-${i}`], age: 300 - i });
    const plan = repo.plan({ rules: [count(1, 10, { tagStatus: 'tagged', tagPatternList: ['build-*'] })] });
    expect(plan.expired).toEqual(range(290).map((i) => `build-${i}`).sort());
    expect(plan.of('build-299')).toMatchObject({ action: 'keep', rulePriority: 1, reason: expect.stringContaining('among the 10 newest of 300') });
    expect(plan.of('build-0')).toMatchObject({ action: 'expire', rulePriority: 1, reason: expect.stringContaining('number 300 of 300') });
    expect(summarize([plan.raw])).toEqual({ imagesExpired: 290, manifestsExpired: 290, byRule: [{ rulePriority: 1, imagesExpired: 290 }] });
  });

  it('breaks ties in push time by the order of the pushes', () => {
    const repo = new Repo();
    for (const i of range(5)) repo.add(`same-${i}`, { tags: [`t${i}`], pushedAt: NOW - DAY_MS });
    expect(repo.plan({ rules: [count(1, 2)] }).expired).toEqual(['same-0', 'same-1', 'same-2']);
  });

  it('expires nothing while the selection holds N or fewer', () => {
    const repo = new Repo();
    for (const i of range(3)) repo.add(`i${i}`, { tags: [`v${i}`], age: i * 100 });
    expect(repo.plan({ rules: [count(1, 3)] }).expired).toEqual([]);
  });
});

describe('sinceImagePushed and sinceImagePulled', () => {
  it('expires images pushed more than N days ago; exactly N days is not more', () => {
    const repo = new Repo()
      .add('old', { tags: ['old'], age: 31 })
      .add('edge', { tags: ['edge'], age: 30 })
      .add('just-over', { tags: ['over'], pushedAt: NOW - 30 * DAY_MS - 1 })
      .add('new', { tags: ['new'], age: 1 })
      .add('untagged-old', { age: 100 });
    const plan = repo.plan({ rules: [pushedOver(1, 30)] });
    expect(plan.expired).toEqual(['just-over', 'old', 'untagged-old']);
    expect(plan.of('old').reason).toMatch(/pushed 31 days ago, more than 30 days/);
    expect(plan.of('edge').reason).toMatch(/within 30 days/);
  });

  it('expires images last pulled more than N days ago; a never-pulled image counts from its push', () => {
    const repo = new Repo()
      .add('pulled-recently', { tags: ['a'], age: 400, pulled: 2 })
      .add('pulled-long-ago', { tags: ['b'], age: 400, pulled: 95 })
      .add('never-pulled-old', { tags: ['c'], age: 120 })
      .add('never-pulled-new', { tags: ['d'], age: 10 });
    const plan = repo.plan({ rules: [pulledOver(1, 90)] });
    expect(plan.expired).toEqual(['never-pulled-old', 'pulled-long-ago']);
    expect(plan.of('never-pulled-old').reason).toMatch(/never pulled, pushed 120 days ago, more than 90 days/);
    expect(plan.of('pulled-recently').reason).toMatch(/last pulled 2 days ago, within 90 days/);
  });

  it("takes an index's pull time from its children too (a pull by tag fetches the index, then a platform)", () => {
    const repo = new Repo()
      .add('amd64', { age: 200, pulled: 1 })
      .add('arm64', { age: 200 })
      .add('multi', { tags: ['1.0'], age: 200, children: ['amd64', 'arm64'] })
      .add('unpulled', { tags: ['0.9'], age: 200 });
    const plan = repo.plan({ rules: [pulledOver(1, 30)] });
    expect(plan.expired).toEqual(['unpulled']);
    expect(plan.of('multi').pulledAt).toBe(NOW - DAY_MS);
  });
});

describe('selection by tag status and tags', () => {
  const repo = () =>
    new Repo()
      .add('prod-and-v', { tags: ['prod', 'v1.0'], age: 50 })
      .add('prod-only', { tags: ['prod-eu'], age: 50 })
      .add('v-only', { tags: ['v2.0'], age: 50 })
      .add('dev', { tags: ['dev-123'], age: 50 })
      .add('untagged', { age: 50 });

  it('tagPatternList selects images that have a tag matching every pattern (ECR)', () => {
    expect(repo().plan({ rules: [pushedOver(1, 10, { tagStatus: 'tagged', tagPatternList: ['prod*', 'v*'] })] }).expired).toEqual(['prod-and-v']);
    expect(repo().plan({ rules: [pushedOver(1, 10, { tagStatus: 'tagged', tagPatternList: ['prod*'] })] }).expired).toEqual(['prod-and-v', 'prod-only']);
    expect(repo().plan({ rules: [pushedOver(1, 10, { tagStatus: 'tagged', tagPatternList: ['*-*'] })] }).expired).toEqual(['dev', 'prod-only']);
  });

  it('tagPrefixList selects images that have a tag starting with every prefix', () => {
    expect(repo().plan({ rules: [pushedOver(1, 10, { tagStatus: 'tagged', tagPrefixList: ['prod', 'v'] })] }).expired).toEqual(['prod-and-v']);
    expect(repo().plan({ rules: [pushedOver(1, 10, { tagStatus: 'tagged', tagPrefixList: ['dev'] })] }).expired).toEqual(['dev']);
  });

  it('tagged without patterns selects every tagged image; untagged only untagged ones; any all', () => {
    expect(repo().plan({ rules: [pushedOver(1, 10, { tagStatus: 'tagged' })] }).expired).toEqual(['dev', 'prod-and-v', 'prod-only', 'v-only']);
    expect(repo().plan({ rules: [pushedOver(1, 10, { tagStatus: 'untagged' })] }).expired).toEqual(['untagged']);
    expect(repo().plan({ rules: [pushedOver(1, 10)] }).expired).toHaveLength(5);
  });

  it('the wildcard is the only special character in a pattern', () => {
    expect(selects({ tagPatternList: ['v1.*'] }, ['v1.0'])).toBe(true);
    expect(selects({ tagPatternList: ['v1.*'] }, ['v1x0'])).toBe(false);
    expect(selects({ tagPatternList: ['*'] }, ['anything'])).toBe(true);
    expect(selects({ tagPatternList: ['*'] }, [])).toBe(false);
    expect(selects({ tagPatternList: ['a*b*c'] }, ['axxbyyc'])).toBe(true);
    expect(selects({ tagPatternList: ['a*b*c'] }, ['axxbyy'])).toBe(false);
  });
});

describe('rule priority (ECR)', () => {
  it("ECR's example: a later rule counts images an earlier rule selected, but never expires them", () => {
    // prod* keep 1 expires A; beta* keep 1 identifies A and B, but B was selected by the prod rule.
    const repo = new Repo()
      .add('A', { tags: ['beta-1', 'prod-1'], age: 10 })
      .add('B', { tags: ['beta-2', 'prod-2'], age: 9 })
      .add('C', { tags: ['beta-3'], age: 8 });
    const plan = repo.plan({
      rules: [count(1, 1, { tagStatus: 'tagged', tagPatternList: ['prod*'] }), count(2, 1, { tagStatus: 'tagged', tagPatternList: ['beta*'] })],
    });
    expect(plan.expired).toEqual(['A']);
    expect(plan.of('A').rulePriority).toBe(1);
    expect(plan.of('B')).toMatchObject({ action: 'keep', rulePriority: 1 });
    expect(plan.of('C')).toMatchObject({ action: 'keep', rulePriority: 2 });
  });

  it("ECR's second example: both rules identify the same images; each is expired once, by the first", () => {
    const repo = new Repo()
      .add('A', { tags: ['beta-1', 'prod-1'], age: 10 })
      .add('B', { tags: ['beta-2', 'prod-2'], age: 9 })
      .add('C', { tags: ['beta-3', 'prod-3'], age: 8 });
    const plan = repo.plan({
      rules: [count(1, 1, { tagStatus: 'tagged', tagPatternList: ['prod*'] }), count(2, 1, { tagStatus: 'tagged', tagPatternList: ['beta*'] })],
    });
    expect(plan.expired).toEqual(['A', 'B']);
    expect(summarize([plan.raw]).byRule).toEqual([{ rulePriority: 1, imagesExpired: 2 }]);
  });

  it('a lower rule counts newer images a higher rule selected: "any, keep 2" leaves 2 newest overall', () => {
    const repo = new Repo()
      .add('P1', { tags: ['prod-1'], age: 1 })
      .add('P2', { tags: ['prod-2'], age: 2 })
      .add('P3', { tags: ['prod-3'], age: 3 })
      .add('U1', { age: 4 })
      .add('U2', { age: 5 });
    const plan = repo.plan({ rules: [count(1, 5, { tagStatus: 'tagged', tagPatternList: ['prod*'] }), count(2, 2)] });
    expect(plan.expired).toEqual(['U1', 'U2']);
    expect(plan.of('U1').reason).toMatch(/rule 2 \(any\): number 4 of 5 by push time/);
  });

  it('priorities order evaluation, not their position in the list', () => {
    const repo = new Repo().add('old', { tags: ['v1'], age: 40 }).add('new', { tags: ['v2'], age: 1 });
    // Priority 1 (listed second) selects v* and keeps both; the any rule may not expire them.
    const plan = repo.plan({ rules: [pushedOver(5, 30), count(1, 10, { tagStatus: 'tagged', tagPatternList: ['v*'] })] });
    expect(plan.expired).toEqual([]);
    expect(plan.of('old').rulePriority).toBe(1);
  });

  it('untagged and tagged rules together, on hundreds of tags and untagged manifests', () => {
    const repo = new Repo();
    for (const i of range(200)) repo.add(`t${i}`, { tags: [`release-${i}`], age: 200 - i });
    for (const i of range(150)) repo.add(`u${i}`, { age: 150 - i });
    const plan = repo.plan({ rules: [pushedOver(1, 14, { tagStatus: 'untagged' }), count(2, 50, { tagStatus: 'tagged', tagPatternList: ['release-*'] })] });
    const untaggedExpired = range(150).filter((i) => 150 - i > 14).map((i) => `u${i}`);
    const taggedExpired = range(150).map((i) => `t${i}`);
    expect(plan.expired).toEqual([...untaggedExpired, ...taggedExpired].sort());
    expect(summarize([plan.raw]).byRule).toEqual([
      { rulePriority: 1, imagesExpired: untaggedExpired.length },
      { rulePriority: 2, imagesExpired: 150 },
    ]);
  });
});

describe('keep rules win over expire rules', () => {
  const repo = () => {
    const r = new Repo();
    for (const i of range(20)) r.add(`i${i}`, { tags: [i % 5 === 0 ? `v1.${i}` : `ci-${i}`], age: 100 - i, ...(i % 3 === 0 ? { pulled: i } : {}) });
    return r;
  };
  const expireAll = [pushedOver(1, 1)];

  it('keeps every image with a tag matching the patterns', () => {
    const plan = repo().plan({ rules: expireAll, keep: [{ tagPatternList: ['v*'] }] });
    expect(plan.expired).toHaveLength(16);
    expect(plan.of('i5')).toMatchObject({ action: 'keep', keepRule: 1, rulePriority: 1, reason: expect.stringMatching(/^keep rule 1 \(tagged v\*\) \(rule 1/) });
  });

  it('keeps the N most recently pulled; never-pulled images are not among them', () => {
    // Pulled: i0 (0 days ago), i3 (3), i6, i9, i12, i15, i18.
    const plan = repo().plan({ rules: expireAll, keep: [{ mostRecentlyPulled: 3 }] });
    expect(plan.expired).toEqual(range(20).filter((i) => ![0, 3, 6].includes(i)).map((i) => `i${i}`).sort());
    expect(plan.of('i3').reason).toMatch(/number 2 of the 3 most recently pulled/);
  });

  it('keeps what was pulled within D days', () => {
    const plan = repo().plan({ rules: expireAll, keep: [{ pulledWithinDays: 10 }] });
    expect(plan.expired).toEqual(range(20).filter((i) => ![0, 3, 6, 9].includes(i)).map((i) => `i${i}`).sort());
  });

  it('a keep rule may narrow its selection, and several keep rules add up', () => {
    const plan = repo().plan({ rules: expireAll, keep: [{ tagPatternList: ['ci-*'], mostRecentlyPulled: 2 }, { tagPatternList: ['v1.1*'] }] });
    // ci-* pulled: i3, i6, i9, i12, i18 → the two most recent are i3 and i6; v1.1*: i10, i15.
    expect(plan.expired).toEqual(range(20).filter((i) => ![3, 6, 10, 15].includes(i)).map((i) => `i${i}`).sort());
    expect(plan.of('i15').keepRule).toBe(2);
  });

  it('keeping does not change what expire rules count: the newest N stay, plus whatever a keep rule holds', () => {
    const plan = repo().plan({ rules: [count(1, 5)], keep: [{ tagPatternList: ['v*'] }] });
    // Newest 5: i15..i19; v1.0, v1.5, v1.10 are kept on top of them.
    expect(plan.expired).toEqual(range(15).filter((i) => i % 5 !== 0).map((i) => `i${i}`).sort());
  });

  it('keeps an untagged image pushed within the grace period', () => {
    const r = new Repo().add('fresh', { age: 0.01 }).add('stale', { age: 2 }).add('tagged-fresh', { tags: ['x'], age: 0.01 });
    const plan = r.plan({ rules: [count(1, 1, { tagStatus: 'untagged' }), count(2, 1, { tagStatus: 'any' })] }, { graceCutoff: NOW - DAY_MS });
    expect(plan.expired).toEqual(['stale']);
    const graced = new Repo().add('a', { age: 0.01 }).add('b', { age: 0.02 }).plan({ rules: [count(1, 1, { tagStatus: 'untagged' })] }, { graceCutoff: NOW - DAY_MS });
    expect(graced.of('b')).toMatchObject({ action: 'keep', rulePriority: 1, reason: expect.stringContaining('grace period') });
    expect(new Repo().add('a', { age: 0.01 }).add('b', { age: 0.02 }).plan({ rules: [count(1, 1, { tagStatus: 'untagged' })] }).expired).toEqual(['b']);
  });
});

describe('protected (immutable) tags', () => {
  it('are never expired, whatever the rules, and keep what their manifests need', () => {
    const repo = new Repo()
      .add('child', { age: 100 })
      .add('release', { tags: ['v1.0'], age: 100, children: ['child'] })
      .add('sig', { age: 100, subject: 'release' })
      .add('other', { tags: ['v0.9'], age: 100 });
    const isProtected = (repository: string, tag: string) => repository === 'acme/app' && tag === 'v1.0';
    const plan = repo.plan({ rules: [pushedOver(1, 30)] }, { isProtected });
    expect(plan.expired).toEqual(['other']);
    expect(plan.of('release').reason).toBe('tag v1.0 is protected (immutable)');
    expect(plan.of('child').reason).toMatch(/^child of kept index sha256:/);
    expect(plan.of('sig').reason).toMatch(/^referrer of kept sha256:/);
  });

  it('a protected tag on a referrer keeps its subject', () => {
    const repo = new Repo().add('img', { tags: ['old'], age: 100 }).add('sbom', { tags: ['sbom-pinned'], age: 100, subject: 'img' });
    const plan = repo.plan({ rules: [pushedOver(1, 30)] }, { isProtected: (_r, tag) => tag === 'sbom-pinned' });
    expect(plan.expired).toEqual([]);
    expect(plan.of('img').reason).toMatch(/^subject of kept referrer sha256:.*\(rule 1/);
  });
});

describe('indexes and their children', () => {
  it("an expired index goes with the untagged children only it holds, index first; a child another kept index holds stays", () => {
    const repo = new Repo()
      .add('amd64-old', { age: 100 })
      .add('shared', { age: 100 })
      .add('old', { tags: ['1.0'], age: 100, children: ['amd64-old', 'shared'] })
      .add('amd64-new', { age: 1 })
      .add('new', { tags: ['2.0'], age: 1, children: ['amd64-new', 'shared'] });
    const plan = repo.plan({ rules: [pushedOver(1, 30)] });
    expect(plan.expired).toEqual(['amd64-old', 'old']);
    expect(plan.order).toEqual(['old', 'amd64-old']);
    expect(plan.of('amd64-old')).toMatchObject({ role: 'child', rulePriority: 1, reason: expect.stringMatching(/^child of expired index/) });
    expect(plan.of('shared')).toMatchObject({ role: 'child', action: 'keep', reason: expect.stringMatching(/^child of kept index/) });
  });

  it('untagged children of a tagged index are not untagged images', () => {
    const repo = new Repo().add('c1', { age: 100 }).add('c2', { age: 100 }).add('idx', { tags: ['latest'], age: 100, children: ['c1', 'c2'] }).add('loose', { age: 100 });
    const plan = repo.plan({ rules: [count(1, 1, { tagStatus: 'untagged' })] });
    // Only one untagged image (loose): nothing beyond the newest 1.
    expect(plan.expired).toEqual([]);
    expect(repo.plan({ rules: [pushedOver(1, 30, { tagStatus: 'untagged' })] }).expired).toEqual(['loose']);
    expect(plan.of('c1').role).toBe('child');
  });

  it('an untagged index is an untagged image, and takes its children with it', () => {
    const repo = new Repo().add('c', { age: 50 }).add('idx', { age: 50, children: ['c'] });
    const plan = repo.plan({ rules: [pushedOver(1, 30, { tagStatus: 'untagged' })] });
    expect(plan.expired).toEqual(['c', 'idx']);
    expect(plan.order).toEqual(['idx', 'c']);
  });

  it('a tagged child is an image of its own: expired by a rule, it still stays while a kept index holds it', () => {
    const repo = new Repo()
      .add('arm', { tags: ['1.0-arm64'], age: 100 })
      .add('idx', { tags: ['1.0'], age: 100, children: ['arm'] });
    const plan = repo.plan({ rules: [pushedOver(1, 30, { tagStatus: 'tagged', tagPatternList: ['*-arm64'] })] });
    expect(plan.expired).toEqual([]);
    expect(plan.of('arm')).toMatchObject({ role: 'image', action: 'keep', rulePriority: 1, reason: expect.stringMatching(/^child of kept index .*\(rule 1/) });
    // The index going, the child is decided by itself.
    const both = repo.plan({ rules: [pushedOver(1, 30)] });
    expect(both.order).toEqual(['idx', 'arm']);
    const indexOnly = repo.plan({ rules: [pushedOver(1, 30, { tagStatus: 'tagged', tagPatternList: ['1.0'] })] });
    expect(indexOnly.expired).toEqual(['idx']);
  });

  it('nested indexes: the kept outer index keeps the inner one and its children', () => {
    const repo = new Repo().add('leaf', { age: 90 }).add('inner', { age: 90, children: ['leaf'] }).add('outer', { tags: ['x'], age: 90, children: ['inner'] });
    expect(repo.plan({ rules: [pushedOver(1, 30, { tagStatus: 'untagged' })] }).expired).toEqual([]);
    const all = repo.plan({ rules: [pushedOver(1, 30)] });
    expect(all.order).toEqual(['outer', 'inner', 'leaf']);
  });
});

describe('referrers go with their subject, never before it', () => {
  it('signatures and SBOMs of an expired image go after it; those of a kept image stay however old', () => {
    const repo = new Repo()
      .add('old', { tags: ['old'], age: 100 })
      .add('old-sig', { age: 100, subject: 'old' })
      .add('old-sbom', { age: 100, subject: 'old' })
      .add('sbom-sig', { age: 100, subject: 'old-sbom' })
      .add('new', { tags: ['new'], age: 1 })
      .add('new-sig', { age: 100, subject: 'new' });
    const plan = repo.plan({ rules: [pushedOver(1, 30)] });
    expect(plan.expired).toEqual(['old', 'old-sbom', 'old-sig', 'sbom-sig']);
    expect(plan.order[0]).toBe('old');
    expect(plan.order.indexOf('old-sbom')).toBeLessThan(plan.order.indexOf('sbom-sig'));
    expect(plan.of('old-sig')).toMatchObject({ role: 'referrer', rulePriority: 1, reason: expect.stringMatching(/^referrer of expired sha256:/) });
    expect(plan.of('new-sig')).toMatchObject({ action: 'keep', reason: expect.stringMatching(/^referrer of kept/) });
  });

  it('referrers are not images: they neither count towards nor are selected by rules', () => {
    const repo = new Repo().add('img', { tags: ['a'], age: 1 });
    for (const i of range(10)) repo.add(`sig${i}`, { tags: [`sig-${i}`], age: 1, subject: 'img' });
    const plan = repo.plan({ rules: [count(1, 1)] });
    expect(plan.expired).toEqual([]);
    expect(plan.of('sig3').role).toBe('referrer');
  });

  it("cosign's tag-schema signatures (sha256-<hex>.sig) follow their subject", () => {
    const subjectHex = digestOf('img').slice('sha256:'.length);
    const repo = new Repo().add('img', { tags: ['v1'], age: 100 }).add('sig', { tags: [`sha256-${subjectHex}.sig`], age: 100 }).add('keeper', { tags: ['v2'], age: 1 });
    const plan = repo.plan({ rules: [count(1, 1)] });
    expect(plan.expired).toEqual(['img', 'sig']);
    expect(plan.order).toEqual(['img', 'sig']);
    expect(plan.of('sig').role).toBe('referrer');
    // With its subject kept, the signature stays even though a tagged rule selects it by pattern.
    const kept = repo.plan({ rules: [pushedOver(1, 30, { tagStatus: 'tagged', tagPatternList: ['sha256-*'] })] });
    expect(kept.expired).toEqual([]);
  });

  it('a referrer whose subject is not in the repository is an untagged image', () => {
    const repo = new Repo().add('dangling', { age: 100, subject: 'elsewhere' });
    const plan = repo.plan({ rules: [pushedOver(1, 30, { tagStatus: 'untagged' })] });
    expect(plan.expired).toEqual(['dangling']);
    expect(plan.of('dangling').role).toBe('image');
  });

  it('a kept referrer chain keeps every subject up the chain', () => {
    const repo = new Repo().add('img', { tags: ['a'], age: 100 }).add('att', { age: 100, subject: 'img' }).add('att-sig', { tags: ['keep-me'], age: 100, subject: 'att' });
    const plan = repo.plan({ rules: [pushedOver(1, 30)] }, { isProtected: (_r, t) => t === 'keep-me' });
    expect(plan.expired).toEqual([]);
  });
});

// ---------- the evaluator against a plain reading of the rules, on random repositories ----------

function mulberry32(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** ECR's rules read image by image: the first rule selecting it decides; keep rules, protection and grace veto. */
function oracle(manifests: ManifestFacts[], rules: ExpireRule[], keep: KeepRule[], isProtected: (tag: string) => boolean): Set<string> {
  const sorted = [...rules].sort((a, b) => a.rulePriority - b.rulePriority);
  const newerThan = (a: ManifestFacts, b: ManifestFacts) => a.pushedAt > b.pushedAt || (a.pushedAt === b.pushedAt && a.id > b.id);
  const expired = new Set<string>();
  for (const m of manifests) {
    const owner = sorted.find((r) => selects(r.selection, m.tags));
    if (!owner) continue;
    const s = owner.selection;
    let identified: boolean;
    if (s.countType === 'imageCountMoreThan') identified = manifests.filter((o) => selects(s, o.tags) && newerThan(o, m)).length >= s.countNumber;
    else if (s.countType === 'sinceImagePushed') identified = NOW - m.pushedAt > s.countNumber * DAY_MS;
    else identified = NOW - (m.pulledAt ?? m.pushedAt) > s.countNumber * DAY_MS;
    if (!identified || m.tags.some(isProtected)) continue;
    const keptBy = keep.some((k, _i) => {
      if (!selects(k, m.tags)) return false;
      if (k.pulledWithinDays !== undefined) return m.pulledAt !== null && NOW - m.pulledAt <= k.pulledWithinDays * DAY_MS;
      if (k.mostRecentlyPulled !== undefined) {
        if (m.pulledAt === null) return false;
        const morePulled = manifests.filter((o) => selects(k, o.tags) && o.pulledAt !== null && (o.pulledAt > m.pulledAt! || (o.pulledAt === m.pulledAt && newerThan(o, m))));
        return morePulled.length < k.mostRecentlyPulled;
      }
      return true;
    });
    if (!keptBy) expired.add(m.digest);
  }
  return expired;
}

describe('the evaluator agrees with a plain reading of the rules', () => {
  const TAGS = ['prod', 'prod-eu', 'beta', 'v1', 'v2', 'v1.2', 'dev', 'nightly', 'rc1'];
  const pick = <T>(rnd: () => number, items: readonly T[]): T => items[Math.floor(rnd() * items.length)]!;

  it('on 200 random repositories of 50-400 images each and random policies', () => {
    for (let seed = 1; seed <= 200; seed++) {
      const rnd = mulberry32(seed);
      const repo = new Repo();
      const n = 50 + Math.floor(rnd() * 350);
      for (const i of range(n)) {
        const tagCount = rnd() < 0.3 ? 0 : 1 + Math.floor(rnd() * 3);
        const tags = [...new Set(range(tagCount).map(() => `${pick(rnd, TAGS)}-${Math.floor(rnd() * 4)}`))].map((t, k) => (k === 0 ? `${t}.${i}` : t));
        // Equal push times happen: pushes in the same millisecond.
        repo.add(`m${i}`, { tags: [...new Set(tags)], pushedAt: NOW - Math.floor(rnd() * 60) * DAY_MS / 2, ...(rnd() < 0.5 ? { pulled: Math.floor(rnd() * 80) } : {}) });
      }
      const statuses = ['tagged', 'tagged', 'untagged'] as const;
      const rules: ExpireRule[] = range(1 + Math.floor(rnd() * 3)).map((i) => {
        const status = pick(rnd, statuses);
        const sel: Record<string, unknown> = { tagStatus: status };
        if (status === 'tagged' && rnd() < 0.8) {
          const prefixes = rnd() < 0.3;
          sel[prefixes ? 'tagPrefixList' : 'tagPatternList'] = range(1 + Math.floor(rnd() * 2)).map(() => (prefixes || rnd() < 0.5 ? pick(rnd, TAGS) : `${pick(rnd, TAGS)}*`));
        }
        const type = pick(rnd, ['imageCountMoreThan', 'sinceImagePushed', 'sinceImagePulled'] as const);
        const countNumber = 1 + Math.floor(rnd() * (type === 'imageCountMoreThan' ? 60 : 40));
        return rule(i * 10 + 1, { ...sel, countType: type, countNumber, ...(type === 'imageCountMoreThan' ? {} : { countUnit: 'days' }) });
      });
      // Deduplicate untagged rules (a policy may have one), and maybe end with an any rule.
      const filtered = rules.filter((r, i) => r.selection.tagStatus !== 'untagged' || rules.findIndex((o) => o.selection.tagStatus === 'untagged') === i);
      if (rnd() < 0.4) filtered.push(count(1000, 1 + Math.floor(rnd() * 100)));
      const keep: KeepRule[] = [];
      if (rnd() < 0.5) keep.push({ tagPatternList: [`${pick(rnd, TAGS)}*`] } as KeepRule);
      if (rnd() < 0.4) keep.push({ mostRecentlyPulled: 1 + Math.floor(rnd() * 20) } as KeepRule);
      if (rnd() < 0.4) keep.push({ tagStatus: 'tagged', pulledWithinDays: 1 + Math.floor(rnd() * 30) } as KeepRule);
      const protectedTag = rnd() < 0.3 ? `${pick(rnd, TAGS)}-1` : undefined;
      const isProtected = (tag: string) => protectedTag !== undefined && tag === protectedTag;
      const plan = repo.plan({ rules: filtered, keep }, { isProtected: (_r, tag) => isProtected(tag) });
      const expected = oracle(repo.manifests, filtered, keep, isProtected);
      expect(new Set(plan.raw.deleteOrder), `seed ${seed}`).toEqual(expected);
    }
  });

  it('on random graphs of indexes and referrers, every plan keeps what kept manifests need (the invariants)', () => {
    for (let seed = 1; seed <= 100; seed++) {
      const rnd = mulberry32(1000 + seed);
      const repo = new Repo();
      const names: string[] = [];
      for (const i of range(100 + Math.floor(rnd() * 200))) {
        const roll = rnd();
        const spec: Spec = { age: Math.floor(rnd() * 60), ...(rnd() < 0.3 ? { pulled: Math.floor(rnd() * 60) } : {}) };
        if (roll < 0.15 && names.length > 2) spec.children = [pick(rnd, names), pick(rnd, names)];
        else if (roll < 0.3 && names.length > 0) spec.subject = pick(rnd, names);
        if (rnd() < 0.5) spec.tags = [`${rnd() < 0.5 ? 'v' : 'ci'}-${i}`];
        repo.add(`n${i}`, spec);
        names.push(`n${i}`);
      }
      const plan = repo.plan(
        { rules: [pushedOver(1, 20, { tagStatus: 'untagged' }), count(2, 10, { tagStatus: 'tagged', tagPatternList: ['ci-*'] }), pulledOver(3, 30)], keep: [{ mostRecentlyPulled: 3 }] },
        { isProtected: (_r, tag) => tag === 'v-7' },
      );
      expect(plan.raw.decisions.every((d) => d.reason.length > 0)).toBe(true);
    }
  });
});
