import type { Command } from 'commander';
import type { ApiClient } from '../api-client.js';
import { connect } from '../cli-config.js';
import { act, confirm, examples, group, humanBytes, listOptions, printList, say, serverCommand, when, type Column, type ListFlags } from '../output.js';
import { resolveRegistry } from './context.js';

export interface ManifestView {
  digest: string;
  registry_name: string;
  repository: string;
  compressed_size_bytes: number;
  size_bytes: number;
  updated_at: string;
  tags: string[];
  blobs: { digest: string; compressed_size_bytes: number }[];
}

export interface RepositoryView {
  registry_name: string;
  name: string;
  tag_count: number;
  manifest_count: number;
  latest_manifest: ManifestView | null;
}

export interface TagView {
  registry_name: string;
  repository: string;
  tag: string;
  manifest_digest: string;
  compressed_size_bytes: number;
  size_bytes: number;
  updated_at: string;
}

interface Flags extends ListFlags {
  server?: string;
  registry?: string;
  force?: boolean;
}

/** Every page of a DigitalOcean-style listing, following links.pages.next. */
export async function listAll<T>(client: ApiClient, path: string, key: string): Promise<T[]> {
  const items: T[] = [];
  let next: string | undefined = `${path}?per_page=200`;
  while (next) {
    const page: Record<string, unknown> & { links?: { pages?: { next?: string } } } = await client.get(next);
    items.push(...((page[key] as T[] | undefined) ?? []));
    next = page.links?.pages?.next;
  }
  return items;
}

/**
 * A repository as typed: its full name (`team-a/app/web`, as docker names it), or with
 * --registry, its path inside that registry. One-component names are in `library`.
 */
export function splitRepository(input: string, registry?: string): { registry: string; path: string } {
  if (registry) return { registry, path: input.startsWith(`${registry}/`) ? input.slice(registry.length + 1) : input };
  const slash = input.indexOf('/');
  return slash === -1 ? { registry: 'library', path: input } : { registry: input.slice(0, slash), path: input.slice(slash + 1) };
}

export const repoPath = (registry: string, path: string) => `/api/v2/registries/${encodeURIComponent(registry)}/repositories/${encodeURIComponent(path)}`;

const repositoryColumns: Column<RepositoryView>[] = [
  { name: 'Name', header: 'NAME', value: (r) => r.name },
  { name: 'LatestManifest', header: 'LATEST MANIFEST', value: (r) => r.latest_manifest?.digest },
  { name: 'LatestTag', header: 'LATEST TAG', value: (r) => r.latest_manifest?.tags[0] },
  { name: 'TagCount', header: 'TAGS', value: (r) => r.tag_count },
  { name: 'ManifestCount', header: 'MANIFESTS', value: (r) => r.manifest_count },
  { name: 'UpdatedAt', header: 'UPDATED', value: (r) => when(r.latest_manifest?.updated_at) },
];

const tagColumns: Column<TagView>[] = [
  { name: 'Tag', header: 'TAG', value: (t) => t.tag },
  { name: 'CompressedSizeBytes', header: 'COMPRESSED SIZE', value: (t) => humanBytes(t.compressed_size_bytes) },
  { name: 'SizeBytes', header: 'SIZE', value: (t) => humanBytes(t.size_bytes) },
  { name: 'UpdatedAt', header: 'UPDATED', value: (t) => when(t.updated_at) },
  { name: 'ManifestDigest', header: 'MANIFEST DIGEST', value: (t) => t.manifest_digest },
];

const manifestColumns: Column<ManifestView>[] = [
  { name: 'Digest', header: 'DIGEST', value: (m) => m.digest },
  { name: 'CompressedSizeBytes', header: 'COMPRESSED SIZE', value: (m) => humanBytes(m.compressed_size_bytes) },
  { name: 'SizeBytes', header: 'SIZE', value: (m) => humanBytes(m.size_bytes) },
  { name: 'UpdatedAt', header: 'UPDATED', value: (m) => when(m.updated_at) },
  { name: 'Tags', header: 'TAGS', value: (m) => m.tags.join(',') },
  { name: 'Blobs', header: 'BLOBS', value: (m) => m.blobs.length },
];

/** `berth repository ...`: what a registry holds, and deleting tags, manifests and repositories. */
export function registerRepositoryCommands(program: Command): void {
  const repository = examples(group(program, 'repository', "list and delete a registry's repositories, tags and manifests").alias('repo'), [
    'berth repository list team-a',
    'berth repository list-tags team-a/app/web',
    'berth repository delete-tag team-a/app/web old-tag --force',
  ]);
  const withRegistry = (c: Command) => c.option('--registry <name>', 'take the repository as a path inside this registry');

  examples(
    listOptions(serverCommand(repository, 'list [registry]', 'list the repositories of a registry you may pull (default: the context’s registry)'), repositoryColumns).action(
      act(async (named: string | undefined, flags: Flags) => {
        const client = connect(flags);
        const registry = await resolveRegistry(client, flags, named);
        const repositories = await listAll<RepositoryView>(client, `/api/v2/registries/${encodeURIComponent(registry)}/repositoriesV2`, 'repositories');
        printList(flags, repositoryColumns, repositories);
      }),
    ),
    ['berth repository list team-a', 'berth repository list team-a --format Name,TagCount --no-header', 'berth repo list -o json'],
  );

  examples(
    listOptions(withRegistry(serverCommand(repository, 'list-tags <repository>', 'list the tags of a repository, newest first')), tagColumns).action(
      act(async (input: string, flags: Flags) => {
        const { registry, path } = splitRepository(input, flags.registry);
        const tags = await listAll<TagView>(connect(flags), `${repoPath(registry, path)}/tags`, 'tags');
        printList(flags, tagColumns, tags);
      }),
    ),
    ['berth repository list-tags team-a/app/web', 'berth repository list-tags app/web --registry team-a --format Tag,ManifestDigest'],
  );

  examples(
    listOptions(withRegistry(serverCommand(repository, 'list-manifests <repository>', 'list the manifests of a repository with their tags and sizes, newest first')), manifestColumns).action(
      act(async (input: string, flags: Flags) => {
        const { registry, path } = splitRepository(input, flags.registry);
        const manifests = await listAll<ManifestView>(connect(flags), `${repoPath(registry, path)}/digests`, 'manifests');
        printList(flags, manifestColumns, manifests);
      }),
    ),
    ['berth repository list-manifests team-a/app/web', 'berth repository list-manifests team-a/app/web -o json'],
  );

  const deleter = (verb: string, what: string, description: string, path: (registry: string, repo: string, item: string) => string, example: string) =>
    examples(
      withRegistry(serverCommand(repository, `${verb} <repository> <${what}...>`, description))
        .option('-f, --force', 'do not ask for confirmation')
        .action(
          act(async (input: string, items: string[], flags: Flags) => {
            const { registry, path: repo } = splitRepository(input, flags.registry);
            await confirm(`Delete ${what} ${items.join(', ')} of ${registry}/${repo}?`, flags.force);
            const client = connect(flags);
            for (const item of items) {
              await client.delete(path(registry, repo, item));
              say(`Deleted ${what} ${item} of ${registry}/${repo}.`);
            }
          }),
        ),
      [example],
    );
  deleter('delete-tag', 'tag', 'remove tags (their manifests stay until deleted or garbage-collected)', (r, p, t) => `${repoPath(r, p)}/tags/${encodeURIComponent(t)}`, 'berth repository delete-tag team-a/app/web v1 v2 --force');
  deleter('delete-manifest', 'digest', 'delete manifests by digest, with every tag pointing at them', (r, p, d) => `${repoPath(r, p)}/digests/${encodeURIComponent(d)}`, 'berth repository delete-manifest team-a/app/web sha256:4f…');

  examples(
    withRegistry(serverCommand(repository, 'delete <repository>', 'delete a repository with all its manifests and tags (blobs go at the next garbage collection)'))
      .option('-f, --force', 'do not ask for confirmation')
      .action(
        act(async (input: string, flags: Flags) => {
          const { registry, path } = splitRepository(input, flags.registry);
          await confirm(`Delete repository ${registry}/${path} and everything in it?`, flags.force);
          await connect(flags).delete(repoPath(registry, path));
          say(`Deleted repository ${registry}/${path}.`);
        }),
      ),
    ['berth repository delete team-a/app/old --force'],
  );
}
