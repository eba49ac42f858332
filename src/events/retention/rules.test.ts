import { describe, expect, it } from 'vitest';
import { ZodError } from 'zod';
import { DEFAULT_SCHEDULE, governingPolicy, pathInRegistry, policySchema, type PolicyInput } from './rules.js';

const expireOld = { rulePriority: 1, selection: { tagStatus: 'untagged', countType: 'sinceImagePushed', countUnit: 'days', countNumber: 14 }, action: { type: 'expire' } } as const;

function problem(input: unknown): string {
  try {
    policySchema.parse(input);
  } catch (err) {
    if (err instanceof ZodError) return err.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ');
    throw err;
  }
  throw new Error('accepted');
}

describe('policySchema', () => {
  it('fills in defaults: the whole registry, daily at midnight UTC, enabled, no keep rules', () => {
    expect(policySchema.parse({ rules: [expireOld] })).toEqual({ scope: 'registry', schedule: DEFAULT_SCHEDULE, enabled: true, rules: [expireOld], keep: [] });
  });

  it('takes an ECR lifecycle policy as ECR writes it', () => {
    const ecr: PolicyInput = {
      rules: [
        { rulePriority: 1, description: 'keep 50 v*', selection: { tagStatus: 'tagged', tagPatternList: ['v*'], countType: 'imageCountMoreThan', countNumber: 50 }, action: { type: 'expire' } },
        { rulePriority: 2, selection: { tagStatus: 'tagged', tagPrefixList: ['pr-'], countType: 'sinceImagePulled', countUnit: 'days', countNumber: 30 }, action: { type: 'expire' } },
        { rulePriority: 3, selection: { tagStatus: 'any', countType: 'imageCountMoreThan', countNumber: 500 }, action: { type: 'expire' } },
      ],
    };
    expect(policySchema.parse(ecr).rules).toHaveLength(3);
  });

  it("refuses what ECR refuses, and what would be ambiguous", () => {
    const withRule = (selection: object, extra: object = {}) => ({ rules: [{ ...expireOld, selection: { ...expireOld.selection, ...selection }, ...extra }] });
    expect(problem(withRule({ countType: 'imageCountMoreThan' }))).toMatch(/countUnit: imageCountMoreThan takes no countUnit/);
    expect(problem(withRule({ countUnit: undefined }))).toMatch(/countUnit: sinceImagePushed needs countUnit "days"/);
    expect(problem(withRule({ countUnit: 'hours' }))).toMatch(/countUnit/);
    expect(problem(withRule({ countNumber: 0 }))).toMatch(/countNumber/);
    expect(problem(withRule({ tagPatternList: ['v*'] }))).toMatch(/tag patterns and prefixes go with tagStatus "tagged" only/);
    expect(problem(withRule({ tagStatus: 'tagged', tagPatternList: ['v*'], tagPrefixList: ['v'] }))).toMatch(/not both/);
    expect(problem(withRule({ tagStatus: 'tagged', tagPatternList: ['*a*b*c*d*'] }))).toMatch(/at most 4 wildcards/);
    expect(problem(withRule({ tagStatus: 'tagged', tagPatternList: ['v?'] }))).toMatch(/tag pattern/);
    expect(problem(withRule({}, { action: { type: 'delete' } }))).toMatch(/action.type/);
    expect(problem({ rules: [] })).toMatch(/rules/);
    expect(problem({ rules: [expireOld, { ...expireOld, selection: { ...expireOld.selection, tagStatus: 'tagged' } }] })).toMatch(/rulePriority 1 is used twice/);
    expect(problem({ rules: [{ ...expireOld, selection: { ...expireOld.selection, tagStatus: 'any' } }, { ...expireOld, rulePriority: 2, selection: { ...expireOld.selection, tagStatus: 'tagged' } }] })).toMatch(/"any" must have the highest rulePriority/);
    expect(problem({ rules: [expireOld, { ...expireOld, rulePriority: 2 }] })).toMatch(/only one rule may have tagStatus "untagged"/);
    expect(problem({ rules: [expireOld], schedule: '0 25 * * *' })).toMatch(/schedule: bad hour field/);
    expect(problem({ rules: [expireOld], scope: { repositories: ['Team/*'] } })).toMatch(/scope/);
    expect(problem({ rules: [expireOld], id: 'dry-run' })).toMatch(/not a policy id/);
    expect(problem({ rules: [expireOld], extra: 1 })).toMatch(/Unrecognized key/);
  });

  it('checks keep rules', () => {
    expect(policySchema.parse({ rules: [expireOld], keep: [{ tagPatternList: ['v*'] }, { mostRecentlyPulled: 5 }, { pulledWithinDays: 30, tagStatus: 'tagged' }] }).keep).toHaveLength(3);
    expect(problem({ rules: [expireOld], keep: [{}] })).toMatch(/a keep rule needs/);
    expect(problem({ rules: [expireOld], keep: [{ description: 'only words' }] })).toMatch(/a keep rule needs/);
    expect(problem({ rules: [expireOld], keep: [{ mostRecentlyPulled: 5, pulledWithinDays: 3 }] })).toMatch(/not both/);
    expect(problem({ rules: [expireOld], keep: [{ tagStatus: 'untagged', tagPatternList: ['v*'] }] })).toMatch(/tagged/);
  });
});

describe('governingPolicy', () => {
  const p = (id: string, scope: 'registry' | { repositories: string[] }) => ({ id, scope });
  const policies = [p('everything', 'registry'), p('teams', { repositories: ['team-*/**'] }), p('team-a', { repositories: ['team-a/*'] }), p('web', { repositories: ['team-a/web'] })];

  it('gives each repository to the policy that names it most specifically', () => {
    expect(governingPolicy(policies, 'team-a/web')?.id).toBe('web');
    expect(governingPolicy(policies, 'team-a/api')?.id).toBe('team-a');
    expect(governingPolicy(policies, 'team-a/x/y')?.id).toBe('teams');
    expect(governingPolicy(policies, 'team-b/api')?.id).toBe('teams');
    expect(governingPolicy(policies, 'misc')?.id).toBe('everything');
    expect(governingPolicy(policies.slice(1), 'misc')).toBeUndefined();
  });

  it('breaks ties by policy id', () => {
    expect(governingPolicy([p('b', { repositories: ['a/*'] }), p('a', { repositories: ['a/*'] })], 'a/x')?.id).toBe('a');
  });

  it('matches paths inside the registry', () => {
    expect(pathInRegistry('acme/team-a/web')).toBe('team-a/web');
    expect(pathInRegistry('acme/web')).toBe('web');
  });
});
