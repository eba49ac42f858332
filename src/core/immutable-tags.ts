import { globMatches } from '../auth/scopes.js';
import { RegistryError } from '../oci/errors.js';
import { registryOf, type RepoName } from '../oci/name.js';
import { pathInRegistry } from './repository-listing.js';

/**
 * Immutable tags: once a tag matching a registry's rule exists, it can never be
 * moved to another manifest or deleted, and the manifest it names cannot be
 * deleted while so tagged. Lifting immutability is removing the rule (an admin
 * act, audited by the API). Refusals are `DENIED` (403): the manifest is valid,
 * the request is simply not allowed, and clients show the message.
 */
export interface ImmutableTagRule {
  id: number;
  registryId: number;
  /** Glob over repository paths inside the registry (`*` one component, `**` any). */
  repositoryPattern: string;
  /** Glob over tags. */
  tagPattern: string;
  createdBy: string;
  createdAt: number;
}

/** The rules' store (a port of core). */
export interface ImmutableTagStore {
  rulesOf(registryName: string): Promise<ImmutableTagRule[]>;
  addRule(rule: Omit<ImmutableTagRule, 'id'>): Promise<ImmutableTagRule>;
  /** False when the registry has no such rule. */
  removeRule(registryId: number, id: number): Promise<boolean>;
}

/** The first rule making `tag` immutable in `repository`, if any. */
export function immutableRuleFor(rules: readonly ImmutableTagRule[], repository: RepoName, tag: string): ImmutableTagRule | undefined {
  const path = pathInRegistry(registryOf(repository), repository);
  return rules.find((r) => globMatches(r.repositoryPattern, path) && globMatches(r.tagPattern, tag));
}

/** Checks a registry's rules for the tags a write would change. */
export class ImmutableTags {
  constructor(private readonly store: ImmutableTagStore) {}

  async rulesFor(repository: RepoName): Promise<ImmutableTagRule[]> {
    return this.store.rulesOf(registryOf(repository));
  }

  /** The tag may not move: refused unless it is new or already names `digest` (a re-push is idempotent). */
  assertMayMove(rules: readonly ImmutableTagRule[], repository: RepoName, tag: string, currentDigest: string | undefined, digest: string): void {
    if (currentDigest === undefined || currentDigest === digest) return;
    const rule = immutableRuleFor(rules, repository, tag);
    if (!rule) return;
    throw new RegistryError(
      'DENIED',
      `tag ${tag} of ${repository} is immutable (rule ${rule.id}: tags ${rule.tagPattern} in ${rule.repositoryPattern}) and names ${currentDigest}; it cannot be moved to ${digest}. Push under a new tag, or ask a registry admin to lift the rule`,
      { immutable: { rule: rule.id, tag, digest: currentDigest } },
    );
  }

  /** Refuses deleting tags (or the manifest they name) when any of them is immutable. */
  assertMayDelete(rules: readonly ImmutableTagRule[], repository: RepoName, tags: readonly string[], what: string): void {
    for (const tag of tags) {
      const rule = immutableRuleFor(rules, repository, tag);
      if (!rule) continue;
      throw new RegistryError(
        'DENIED',
        `${what} cannot be deleted: tag ${tag} of ${repository} is immutable (rule ${rule.id}: tags ${rule.tagPattern} in ${rule.repositoryPattern}); ask a registry admin to lift the rule`,
        { immutable: { rule: rule.id, tag } },
      );
    }
  }
}
