import { registryOf, type RepoName } from '../oci/name.js';
import type { AccessStore, SubjectKind } from './access-store.js';
import type { Principal } from './principal.js';
import { ACTIONS, ROLE_ACTIONS, globMatches, type Action, type TokenScope } from './scopes.js';

export interface AuthorizerOptions {
  /** Whether a push into a registry that does not exist creates it (for callers allowed to create registries). */
  autoCreateRegistries: boolean;
}

/**
 * The one place that decides what a principal may do. Every route asks here;
 * nothing else interprets roles, grants, scopes or the public flag.
 */
export class Authorizer {
  constructor(
    private readonly store: AccessStore,
    private readonly options: AuthorizerOptions,
  ) {}

  /** The actions the principal may take on a repository. */
  async repositoryActions(principal: Principal, repository: RepoName): Promise<Set<Action>> {
    if (principal.kind === 'bearer') {
      const granted = new Set<Action>();
      for (const claim of principal.access) {
        if (claim.type !== 'repository' || claim.name !== repository) continue;
        for (const a of claim.actions) if ((ACTIONS as readonly string[]).includes(a)) granted.add(a as Action);
      }
      return granted;
    }
    const registryName = registryOf(repository);
    if (principal.kind === 'user' && principal.serverAdmin && principal.scopes === null) return new Set(ACTIONS);
    const registry = await this.store.getRegistry(registryName);
    const actions = new Set<Action>();
    if (registry?.public) actions.add('pull');
    if (principal.kind === 'anonymous') return actions;

    if (principal.kind === 'user' && principal.serverAdmin) {
      ACTIONS.forEach((a) => actions.add(a));
    } else if (!registry) {
      if (this.canCreateRegistry(principal) && this.options.autoCreateRegistries) ACTIONS.forEach((a) => actions.add(a));
    } else {
      if (principal.kind === 'robot' && principal.registry !== registryName) return actions;
      for (const grant of await this.store.grantsFor(registry.id, await this.subjects(principal))) {
        if (grant.repositoryPattern === null || globMatches(grant.repositoryPattern, repository)) {
          ROLE_ACTIONS[grant.role].forEach((a) => actions.add(a));
        }
      }
    }
    const scoped = intersectScopes(actions, principal.scopes, registryName, repository);
    // A scope narrows the owner's own rights; it never takes away what anyone may do anonymously.
    if (registry?.public) scoped.add('pull');
    return scoped;
  }

  async can(principal: Principal, action: Action, repository: RepoName): Promise<boolean> {
    return (await this.repositoryActions(principal, repository)).has(action);
  }

  canCreateRegistry(principal: Principal): boolean {
    return principal.kind === 'user' && principal.scopes === null && (principal.serverAdmin || principal.canCreateRegistries);
  }

  /**
   * Whether the principal administers a registry (members, robots, settings).
   * Scoped tokens never manage: management needs a password or an unscoped token.
   */
  async isRegistryAdmin(principal: Principal, registryName: string): Promise<boolean> {
    if (principal.kind !== 'user' || principal.scopes !== null) return false;
    if (principal.serverAdmin) return true;
    const registry = await this.store.getRegistry(registryName);
    if (!registry) return false;
    const grants = await this.store.grantsFor(registry.id, await this.subjects(principal));
    return grants.some((g) => g.role === 'admin' && g.repositoryPattern === null);
  }

  isServerAdmin(principal: Principal): boolean {
    return principal.kind === 'user' && principal.serverAdmin && principal.scopes === null;
  }

  /** Registries in which the principal holds any grant (or all, for server admins), for filtering lists. */
  async visibleRegistries(principal: Principal): Promise<Set<string> | 'all'> {
    if (principal.kind === 'user' && principal.serverAdmin) return 'all';
    const names = new Set((await this.store.listRegistries()).filter((r) => r.public).map((r) => r.name));
    if (principal.kind === 'user' || principal.kind === 'robot') {
      for (const g of await this.store.allGrantsFor(await this.subjects(principal))) names.add(g.registry);
    }
    return names;
  }

  private async subjects(principal: Principal): Promise<{ kind: SubjectKind; id: number }[]> {
    if (principal.kind === 'robot') return [{ kind: 'robot', id: principal.id }];
    if (principal.kind !== 'user') return [];
    const teams = await this.store.teamIdsOf(principal.id);
    return [{ kind: 'user', id: principal.id }, ...teams.map((id) => ({ kind: 'team' as const, id }))];
  }
}

/** A scoped token never widens what its owner may do; it only narrows it. */
function intersectScopes(actions: Set<Action>, scopes: TokenScope[] | null, registry: string, repository: string): Set<Action> {
  if (scopes === null) return actions;
  const allowed = new Set<Action>();
  for (const scope of scopes) {
    if (scope.registry !== registry && scope.registry !== '*') continue;
    if (scope.repositories && !globMatches(scope.repositories, repository)) continue;
    scope.actions.forEach((a) => allowed.add(a));
  }
  return new Set([...actions].filter((a) => allowed.has(a)));
}
