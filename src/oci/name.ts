import { RegistryError } from './errors.js';

/** A repository name that matched the spec's grammar, e.g. `team/app/api`. */
export type RepoName = string & { readonly __repoName: unique symbol };

const COMPONENT = '[a-z0-9]+(?:(?:\\.|_|__|-+)[a-z0-9]+)*';
const NAME_GRAMMAR = new RegExp(`^${COMPONENT}(?:/${COMPONENT})*$`);
const TAG_GRAMMAR = /^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$/;

/** Matches Distribution's limit, which keeps names safe for every backend. */
export const MAX_NAME_LENGTH = 255;

/** The registry (namespace) of one-component names. */
export const DEFAULT_REGISTRY = 'library';

export function parseRepoName(input: string): RepoName {
  if (input.length === 0 || input.length > MAX_NAME_LENGTH || !NAME_GRAMMAR.test(input)) {
    throw new RegistryError('NAME_INVALID', `invalid repository name: ${input.slice(0, 80)}`, {
      rule: `${NAME_GRAMMAR.source}, at most ${MAX_NAME_LENGTH} characters`,
    });
  }
  return input as RepoName;
}

/** The registry a repository belongs to: its first component, or `library` for one-component names. */
export function registryOf(name: RepoName): string {
  const slash = name.indexOf('/');
  return slash === -1 ? DEFAULT_REGISTRY : name.slice(0, slash);
}

export function isValidTag(tag: string): boolean {
  return TAG_GRAMMAR.test(tag);
}

export function parseTag(tag: string): string {
  if (!isValidTag(tag)) {
    throw new RegistryError('MANIFEST_INVALID', `invalid tag: ${tag.slice(0, 140)}`, {
      rule: TAG_GRAMMAR.source,
    });
  }
  return tag;
}
