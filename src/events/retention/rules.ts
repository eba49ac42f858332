/**
 * The retention policy document: ECR lifecycle rules (`rules`, with ECR's field
 * names and limits) plus keep rules (`keep`, what Harbor and Zot users ask for),
 * a scope within the registry and a cron schedule. docs/retention.md explains
 * the semantics; evaluate.ts applies them.
 */
import { z } from 'zod';
import { globMatches } from '../../auth/scopes.js';
import { registryOf, type RepoName } from '../../oci/name.js';
import { parseCron } from './cron.js';

export const TAG_STATUSES = ['tagged', 'untagged', 'any'] as const;
export type TagStatus = (typeof TAG_STATUSES)[number];
export const COUNT_TYPES = ['imageCountMoreThan', 'sinceImagePushed', 'sinceImagePulled'] as const;
export type CountType = (typeof COUNT_TYPES)[number];
/** Every day at 00:00 UTC. */
export const DEFAULT_SCHEDULE = '0 0 * * *';
/** ECR's limit on wildcards in one tag pattern. */
const MAX_WILDCARDS = 4;

const tagPattern = z
  .string()
  .min(1)
  .max(128)
  .regex(/^[A-Za-z0-9_.*-]+$/, 'a tag pattern: letters, digits, _ . - and the wildcard *')
  .refine((p) => p.split('*').length - 1 <= MAX_WILDCARDS, `at most ${MAX_WILDCARDS} wildcards (*) in a pattern`);
const tagPrefix = z.string().min(1).max(128).regex(/^[A-Za-z0-9_.-]+$/, 'a tag prefix: letters, digits, _ . -');
const repositoryPattern = z
  .string()
  .min(1)
  .max(255)
  .regex(/^[a-z0-9._/*-]+$/, 'a repository glob inside the registry: a-z 0-9 . _ - / and * (one path component) or ** (any)');
export const policyIdSchema = z
  .string()
  .regex(/^[a-z0-9][a-z0-9-]{0,62}$/, 'a policy id: 1-63 of a-z 0-9 and -, starting with a letter or digit')
  .refine((id) => id !== 'dry-run', 'dry-run is not a policy id');

/** Which images a rule looks at: by whether they are tagged, and (tagged) by their tags. */
interface TagSelection {
  tagStatus?: TagStatus;
  tagPatternList?: string[];
  tagPrefixList?: string[];
}

function checkTagSelection(s: TagSelection, ctx: z.RefinementCtx, path: (string | number)[]): void {
  if (s.tagPatternList && s.tagPrefixList) ctx.addIssue({ code: 'custom', path: [...path, 'tagPrefixList'], message: 'give tagPatternList or tagPrefixList, not both' });
  if ((s.tagPatternList || s.tagPrefixList) && s.tagStatus !== undefined && s.tagStatus !== 'tagged') {
    ctx.addIssue({ code: 'custom', path: [...path, 'tagStatus'], message: 'tag patterns and prefixes go with tagStatus "tagged" only' });
  }
}

const selectionSchema = z
  .object({
    tagStatus: z.enum(TAG_STATUSES),
    tagPatternList: z.array(tagPattern).min(1).max(100).optional(),
    tagPrefixList: z.array(tagPrefix).min(1).max(100).optional(),
    countType: z.enum(COUNT_TYPES),
    countUnit: z.literal('days').optional(),
    countNumber: z.number().int().min(1).max(1_000_000),
  })
  .strict()
  .superRefine((s, ctx) => {
    checkTagSelection(s, ctx, []);
    if (s.countType === 'imageCountMoreThan' && s.countUnit !== undefined) ctx.addIssue({ code: 'custom', path: ['countUnit'], message: 'imageCountMoreThan takes no countUnit' });
    if (s.countType !== 'imageCountMoreThan' && s.countUnit === undefined) ctx.addIssue({ code: 'custom', path: ['countUnit'], message: `${s.countType} needs countUnit "days"` });
  });

/** An ECR lifecycle rule: expire what its selection identifies. */
export const expireRuleSchema = z
  .object({
    rulePriority: z.number().int().min(1).max(1_000_000),
    description: z.string().max(500).optional(),
    selection: selectionSchema,
    action: z.object({ type: z.literal('expire') }).strict(),
  })
  .strict();

/** Keeps what it selects (all of it, the N most recently pulled, or what was pulled within D days), whatever the expire rules say. */
export const keepRuleSchema = z
  .object({
    description: z.string().max(500).optional(),
    tagStatus: z.enum(TAG_STATUSES).optional(),
    tagPatternList: z.array(tagPattern).min(1).max(100).optional(),
    tagPrefixList: z.array(tagPrefix).min(1).max(100).optional(),
    mostRecentlyPulled: z.number().int().min(1).max(1_000_000).optional(),
    pulledWithinDays: z.number().int().min(1).max(1_000_000).optional(),
  })
  .strict()
  .superRefine((k, ctx) => {
    checkTagSelection(k, ctx, []);
    if (k.mostRecentlyPulled !== undefined && k.pulledWithinDays !== undefined) {
      ctx.addIssue({ code: 'custom', path: ['pulledWithinDays'], message: 'give mostRecentlyPulled or pulledWithinDays, not both (write two keep rules)' });
    }
    if (Object.keys(k).every((key) => key === 'description')) {
      ctx.addIssue({ code: 'custom', path: [], message: 'a keep rule needs a tagStatus, tag patterns or prefixes, mostRecentlyPulled or pulledWithinDays' });
    }
  });

const scopeSchema = z.union([z.literal('registry'), z.object({ repositories: z.array(repositoryPattern).min(1).max(100) }).strict()], {
  errorMap: () => ({ message: 'scope is "registry" or {"repositories": [globs inside the registry]}' }),
});

/** A policy as sent to the API (and stored): defaults filled in, cross-rule constraints checked. */
export const policySchema = z
  .object({
    id: policyIdSchema.optional(),
    description: z.string().max(500).optional(),
    scope: scopeSchema.default('registry'),
    schedule: z
      .string()
      .max(100)
      .default(DEFAULT_SCHEDULE)
      .superRefine((s, ctx) => {
        try {
          parseCron(s);
        } catch (err) {
          ctx.addIssue({ code: 'custom', message: (err as Error).message });
        }
      }),
    enabled: z.boolean().default(true),
    rules: z.array(expireRuleSchema).min(1).max(100),
    keep: z.array(keepRuleSchema).max(100).default([]),
  })
  .strict()
  .superRefine((p, ctx) => {
    const seen = new Set<number>();
    p.rules.forEach((r, i) => {
      if (seen.has(r.rulePriority)) ctx.addIssue({ code: 'custom', path: ['rules', i, 'rulePriority'], message: `rulePriority ${r.rulePriority} is used twice; each rule needs its own` });
      seen.add(r.rulePriority);
    });
    const highest = Math.max(...p.rules.map((r) => r.rulePriority));
    for (const status of ['any', 'untagged'] as const) {
      const withStatus = p.rules.map((r, i) => [r, i] as const).filter(([r]) => r.selection.tagStatus === status);
      if (withStatus.length > 1) ctx.addIssue({ code: 'custom', path: ['rules', withStatus[1]![1], 'selection', 'tagStatus'], message: `only one rule may have tagStatus "${status}"` });
    }
    p.rules.forEach((r, i) => {
      if (r.selection.tagStatus === 'any' && r.rulePriority !== highest) {
        ctx.addIssue({ code: 'custom', path: ['rules', i, 'rulePriority'], message: 'the rule with tagStatus "any" must have the highest rulePriority (it is evaluated last)' });
      }
    });
  });

export type PolicyInput = z.input<typeof policySchema>;
export type RetentionPolicy = z.output<typeof policySchema>;
/** A policy with its id, as stored. */
export type SavedPolicy = RetentionPolicy & { id: string };
export type ExpireRule = z.output<typeof expireRuleSchema>;
export type KeepRule = z.output<typeof keepRuleSchema>;
export type Scope = RetentionPolicy['scope'];

// ---------- tag matching ----------

const compiled = new Map<string, RegExp>();

/** ECR's tag wildcard: `*` matches any run of characters, none included; the rest is literal. */
export function tagPatternMatches(pattern: string, tag: string): boolean {
  let re = compiled.get(pattern);
  if (!re) {
    re = new RegExp(`^${pattern.split('*').map((part) => part.replace(/[.+?^${}()|[\]\\-]/g, '\\$&')).join('.*')}$`);
    if (compiled.size > 10_000) compiled.clear();
    compiled.set(pattern, re);
  }
  return re.test(tag);
}

/**
 * Whether an image with `tags` is selected. `tagged` selects tagged images;
 * with a pattern or prefix list, as ECR: every pattern (prefix) must match
 * at least one of the image's tags. `untagged`: no tags. `any` (or no status): all.
 */
export function selects(selection: TagSelection, tags: readonly string[]): boolean {
  const status = selection.tagStatus ?? (selection.tagPatternList || selection.tagPrefixList ? 'tagged' : 'any');
  if (status === 'untagged') return tags.length === 0;
  if (status === 'any') return true;
  if (tags.length === 0) return false;
  if (selection.tagPatternList) return selection.tagPatternList.every((p) => tags.some((t) => tagPatternMatches(p, t)));
  if (selection.tagPrefixList) return selection.tagPrefixList.every((p) => tags.some((t) => t.startsWith(p)));
  return true;
}

/** How a selection reads in reasons: `tagged prod*`, `untagged`, `any`. */
export function describeSelection(selection: TagSelection): string {
  const status = selection.tagStatus ?? (selection.tagPatternList || selection.tagPrefixList ? 'tagged' : 'any');
  if (selection.tagPatternList) return `${status} ${selection.tagPatternList.join(' & ')}`;
  if (selection.tagPrefixList) return `${status} ${selection.tagPrefixList.map((p) => `${p}…`).join(' & ')}`;
  return status;
}

// ---------- scope ----------

/** A repository's path inside its registry (`acme/app/web` → `app/web`), what scope globs match. */
export function pathInRegistry(repository: RepoName | string): string {
  const registry = registryOf(repository as RepoName);
  return repository === registry || !repository.startsWith(`${registry}/`) ? repository : repository.slice(registry.length + 1);
}

/** How specifically a scope names a path (lower sorts first), or undefined when it does not match it. */
function specificity(scope: Scope, path: string): number[] | undefined {
  if (scope === 'registry') return [2];
  let best: number[] | undefined;
  for (const pattern of scope.repositories) {
    if (!globMatches(pattern, path)) continue;
    const wildcard = pattern.indexOf('*');
    const rank = wildcard === -1 ? [0, -pattern.length] : [1, -wildcard, -pattern.length];
    if (!best || compareRanks(rank, best) < 0) best = rank;
  }
  return best;
}

function compareRanks(a: number[], b: number[]): number {
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    const d = (a[i] ?? 0) - (b[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}

/**
 * The one policy that governs a repository: the one naming it most
 * specifically. An exact repository name beats a glob; of globs, the one with
 * the longer text before its first `*` (then the longer pattern); any glob
 * beats the registry-wide scope. Ties go to the policy whose id sorts first.
 */
export function governingPolicy<P extends { id: string; scope: Scope }>(policies: readonly P[], repositoryPath: string): P | undefined {
  let best: { policy: P; rank: number[] } | undefined;
  for (const policy of policies) {
    const rank = specificity(policy.scope, repositoryPath);
    if (!rank) continue;
    if (!best || compareRanks(rank, best.rank) < 0 || (compareRanks(rank, best.rank) === 0 && policy.id < best.policy.id)) best = { policy, rank };
  }
  return best?.policy;
}
