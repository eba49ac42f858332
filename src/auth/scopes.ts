/** What a caller may do to a repository. `delete` removes manifests, blobs and repositories; untagging needs only `push`. */
export const ACTIONS = ['pull', 'push', 'delete'] as const;
export type Action = (typeof ACTIONS)[number];

export const ROLES = ['read-only', 'read-write', 'admin'] as const;
export type Role = (typeof ROLES)[number];

export const ROLE_ACTIONS: Record<Role, readonly Action[]> = {
  'read-only': ['pull'],
  'read-write': ['pull', 'push'],
  admin: ['pull', 'push', 'delete'],
};

/**
 * A token's limit: the registry it applies to, optionally narrowed to
 * repositories matching a glob, and the actions allowed there.
 */
export interface TokenScope {
  registry: string;
  repositories?: string;
  actions: Action[];
}

/**
 * Glob over repository names: `*` matches within one path component,
 * `**` across components. `team-a/*` matches `team-a/app` but not `team-a/x/y`.
 */
export function globMatches(pattern: string, name: string): boolean {
  let re = '^';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!;
    if (c === '*') {
      if (pattern[i + 1] === '*') {
        re += '.*';
        i++;
      } else re += '[^/]*';
    } else re += c.replace(/[.+?^${}()|[\]\\]/g, '\\$&');
  }
  return new RegExp(`${re}$`).test(name);
}

export function isAction(value: string): value is Action {
  return (ACTIONS as readonly string[]).includes(value);
}

export function isRole(value: string): value is Role {
  return (ROLES as readonly string[]).includes(value);
}

/** A Docker token-auth scope item: `repository:team/app:pull,push` or `registry:catalog:*`. */
export interface ResourceScope {
  type: string;
  name: string;
  actions: string[];
}

/** Parses `type:name:actions` scopes (the name may itself contain colons, e.g. a port). Unparseable items are dropped. */
export function parseResourceScopes(scopes: string[]): ResourceScope[] {
  const out: ResourceScope[] = [];
  for (const raw of scopes.flatMap((s) => s.split(' '))) {
    const first = raw.indexOf(':');
    const last = raw.lastIndexOf(':');
    if (first <= 0 || last === first) continue;
    const type = raw.slice(0, first);
    const name = raw.slice(first + 1, last);
    const actions = raw.slice(last + 1).split(',').filter((a) => a !== '');
    if (name === '' || actions.length === 0) continue;
    out.push({ type, name, actions });
  }
  return out;
}
