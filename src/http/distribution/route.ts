import { RegistryError } from '../../oci/errors.js';
import { parseRepoName, type RepoName } from '../../oci/name.js';

/** What a `/v2/…` path addresses. Names may contain slashes, so paths are matched from the end. */
export type DistributionRoute =
  | { kind: 'base' }
  | { kind: 'catalog' }
  | { kind: 'manifest'; name: RepoName; reference: string }
  | { kind: 'blob'; name: RepoName; digest: string }
  | { kind: 'uploads'; name: RepoName }
  | { kind: 'upload'; name: RepoName; id: string }
  | { kind: 'tags'; name: RepoName }
  | { kind: 'referrers'; name: RepoName; digest: string };

const PATTERNS: [RegExp, (name: RepoName, m: RegExpMatchArray) => DistributionRoute][] = [
  [/^\/v2\/(.+)\/manifests\/([^/]+)$/, (name, m) => ({ kind: 'manifest', name, reference: m[2]! })],
  [/^\/v2\/(.+)\/blobs\/uploads\/?$/, (name) => ({ kind: 'uploads', name })],
  [/^\/v2\/(.+)\/blobs\/uploads\/([^/]+)$/, (name, m) => ({ kind: 'upload', name, id: m[2]! })],
  [/^\/v2\/(.+)\/blobs\/([^/]+)$/, (name, m) => ({ kind: 'blob', name, digest: m[2]! })],
  [/^\/v2\/(.+)\/tags\/list$/, (name) => ({ kind: 'tags', name })],
  [/^\/v2\/(.+)\/referrers\/([^/]+)$/, (name, m) => ({ kind: 'referrers', name, digest: m[2]! })],
];

export function matchDistributionRoute(path: string): DistributionRoute {
  if (path === '/v2/' || path === '/v2') return { kind: 'base' };
  if (path === '/v2/_catalog') return { kind: 'catalog' };
  for (const [pattern, build] of PATTERNS) {
    const m = path.match(pattern);
    if (m) return build(parseRepoName(m[1]!), m);
  }
  throw new RegistryError('NOT_FOUND', `no such endpoint: ${path.slice(0, 200)}`);
}
