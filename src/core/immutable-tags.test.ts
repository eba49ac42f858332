import { describe, expect, it } from 'vitest';
import { RegistryError } from '../oci/errors.js';
import type { RepoName } from '../oci/name.js';
import { ImmutableTags, immutableRuleFor, type ImmutableTagRule, type ImmutableTagStore } from './immutable-tags.js';

const rule = (id: number, tagPattern: string, repositoryPattern = '**'): ImmutableTagRule => ({ id, registryId: 1, tagPattern, repositoryPattern, createdBy: 'admin', createdAt: 0 });
const repo = (name: string) => name as RepoName;
const noStore = {} as ImmutableTagStore;

describe('immutableRuleFor', () => {
  const rules = [rule(1, 'v*', 'apps/*'), rule(2, 'release-*')];

  it('matches tag and repository globs, the repository taken inside its registry', () => {
    expect(immutableRuleFor(rules, repo('acme/apps/web'), 'v1.2')?.id).toBe(1);
    expect(immutableRuleFor(rules, repo('acme/apps/web/api'), 'v1.2')).toBeUndefined(); // * is one component
    expect(immutableRuleFor(rules, repo('acme/tools'), 'v1.2')).toBeUndefined();
    expect(immutableRuleFor(rules, repo('acme/tools/x'), 'release-2024')?.id).toBe(2);
    expect(immutableRuleFor(rules, repo('acme/apps/web'), 'latest')).toBeUndefined();
  });

  it('takes a one-component repository as its own registry and path', () => {
    expect(immutableRuleFor([rule(3, 'v*', 'alpine')], repo('alpine'), 'v3')?.id).toBe(3);
  });
});

describe('ImmutableTags', () => {
  const tags = new ImmutableTags(noStore);
  const rules = [rule(7, 'v*')];

  it('lets a new tag be created and the same manifest be pushed again', () => {
    expect(() => tags.assertMayMove(rules, repo('acme/app'), 'v1', undefined, 'sha256:a')).not.toThrow();
    expect(() => tags.assertMayMove(rules, repo('acme/app'), 'v1', 'sha256:a', 'sha256:a')).not.toThrow();
  });

  it('refuses moving a matching tag with DENIED naming the rule and both digests', () => {
    let error: unknown;
    try {
      tags.assertMayMove(rules, repo('acme/app'), 'v1', 'sha256:a', 'sha256:b');
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(RegistryError);
    expect((error as RegistryError).code).toBe('DENIED');
    expect((error as RegistryError).message).toMatch(/tag v1 of acme\/app is immutable \(rule 7: tags v\* in \*\*\) and names sha256:a; it cannot be moved to sha256:b/);
  });

  it('refuses deleting when any of the tags is immutable, and allows it otherwise', () => {
    expect(() => tags.assertMayDelete(rules, repo('acme/app'), ['latest', 'v2'], 'manifest sha256:a')).toThrow(/manifest sha256:a cannot be deleted: tag v2/);
    expect(() => tags.assertMayDelete(rules, repo('acme/app'), ['latest', 'dev'], 'manifest sha256:a')).not.toThrow();
  });
});
