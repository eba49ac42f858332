import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { pathInRegistry, repositoryListingOf, type MeasuredManifest, type RepositorySummary } from '../../core/repository-listing.js';
import { isDigestLike, parseDigest } from '../../oci/digest.js';
import { badRequest, unprocessable } from './api-error.js';
import { actorOf } from '../request-principal.js';
import { audit, type ApiContext } from './context.js';
import { repositoryAccess, type RepoParams } from './repository-access.js';
import { scanSummariesOf } from './scans.js';
import { doc } from './openapi.js';
import { pageLinks, pageQuery } from './paging.js';

/** `page_token`: an opaque cursor (the last name of the previous page), stable while repositories come and go. */
const encodeToken = (after: string) => Buffer.from(JSON.stringify({ after })).toString('base64url');
function decodeToken(token: string): string {
  try {
    const { after } = JSON.parse(Buffer.from(token, 'base64url').toString('utf8')) as { after?: unknown };
    if (typeof after === 'string') return after;
  } catch {
    // fall through
  }
  throw unprocessable('page_token: not a token this server issued; follow links.pages');
}

const repositoriesQuery = pageQuery.extend({ page_token: z.string().max(2000).optional() });

const iso = (ms: number) => new Date(ms).toISOString();

function manifestView(registry: string, repository: string, m: MeasuredManifest) {
  return {
    digest: m.digest,
    registry_name: registry,
    repository,
    compressed_size_bytes: m.compressedSizeBytes,
    size_bytes: m.sizeBytes,
    updated_at: iso(m.updatedAt),
    tags: m.tags,
    blobs: m.blobs.map((b) => ({ digest: b.digest, compressed_size_bytes: b.size })),
  };
}

function repositoryView(registry: string, r: RepositorySummary) {
  const name = pathInRegistry(registry, r.name);
  return {
    registry_name: registry,
    name,
    tag_count: r.tagCount,
    manifest_count: r.manifestCount,
    latest_manifest: r.latest ? manifestView(registry, name, r.latest) : null,
  };
}

/**
 * The repositories part of DigitalOcean's registry API, per registry: listings with
 * sizes, and deletion of tags, manifests and whole repositories. `{repo}` is the path
 * inside the registry with `/` sent as `%2F` (fastify decodes it). Reading needs pull
 * on the repository; untagging needs push (as on /v2/); deleting content needs delete.
 */
export function registerRepositoryRoutes(api: FastifyInstance, ctx: ApiContext): void {
  const { authorizer } = ctx.access;
  const listing = () => repositoryListingOf(ctx.registry);

  const { registryFor, repositoryFor } = repositoryAccess(ctx);

  api.get('/registries/:registry/repositoriesV2', doc({ summary: 'List the repositories the caller may pull, with sizes and latest manifest', tags: ['Repositories'], description: '`page_token` (from `links.pages.next`) pages by name, stable while repositories come and go.', query: repositoriesQuery, responses: { '200': '`{repositories, links, meta}`.', '404': 'No such registry.' } }), async (req) => {
    const q = repositoriesQuery.parse(req.query);
    const { principal, registry, admin } = await registryFor(req, (req.params as RepoParams).registry);
    const all = await listing().repositoriesOf(registry.name);
    // Whoever does not administer the registry sees the repositories they may pull (grants may be per-repository globs).
    const allowed = admin ? all : await filterAsync(all, (r) => authorizer.can(principal, 'pull', r.name));
    let start = (q.page - 1) * q.per_page;
    if (q.page_token !== undefined) {
      const after = decodeToken(q.page_token);
      const next = allowed.findIndex((r) => r.name > after);
      start = next === -1 ? allowed.length : next;
    }
    const slice = allowed.slice(start, start + q.per_page);
    const repositories = (await listing().summarize(slice)).map((r) => repositoryView(registry.name, r));
    const path = `/api/v2/registries/${encodeURIComponent(registry.name)}/repositoriesV2`;
    const lastName = slice[slice.length - 1]?.name;
    const links = pageLinks(path, q, allowed.length, (page): Record<string, string> => (page === q.page + 1 && lastName ? { page_token: encodeToken(lastName) } : {}));
    return { repositories, links, meta: { total: allowed.length } };
  });

  api.get('/registries/:registry/repositories/:repo/tags', doc({ summary: 'List the tags of a repository', tags: ['Repositories'], query: pageQuery, responses: { '200': '`{tags, links, meta}`.', '404': 'No such registry or repository.' } }), async (req) => {
    const q = pageQuery.parse(req.query);
    const { registry, repo, path } = await repositoryFor(req, 'pull');
    const page = await listing().tags(repo, q.per_page, (q.page - 1) * q.per_page);
    const scans = await scanSummariesOf(ctx, page.items.map((t) => t.manifest.digest));
    const tags = page.items.map((t) => {
      const m = manifestView(registry, path, t.manifest);
      return { registry_name: registry, repository: path, tag: t.tag, manifest_digest: m.digest, compressed_size_bytes: m.compressed_size_bytes, size_bytes: m.size_bytes, updated_at: iso(t.updatedAt), vulnerabilities: scans(m.digest) };
    });
    return { tags, links: pageLinks(`/api/v2/registries/${registry}/repositories/${encodeURIComponent(path)}/tags`, q, page.total), meta: { total: page.total } };
  });

  api.get('/registries/:registry/repositories/:repo/digests', doc({ summary: 'List the manifests of a repository', tags: ['Repositories'], query: pageQuery, responses: { '200': '`{manifests, links, meta}`.', '404': 'No such registry or repository.' } }), async (req) => {
    const q = pageQuery.parse(req.query);
    const { registry, repo, path } = await repositoryFor(req, 'pull');
    const page = await listing().manifests(repo, q.per_page, (q.page - 1) * q.per_page);
    const scans = await scanSummariesOf(ctx, page.items.map((m) => m.digest));
    const manifests = page.items.map((m) => ({ ...manifestView(registry, path, m), vulnerabilities: scans(m.digest) }));
    return { manifests, links: pageLinks(`/api/v2/registries/${registry}/repositories/${encodeURIComponent(path)}/digests`, q, page.total), meta: { total: page.total } };
  });

  api.delete('/registries/:registry/repositories/:repo/tags/:tag', doc({ summary: 'Delete a tag (needs push)', tags: ['Repositories'], responses: { '204': 'Deleted.', '403': 'No push permission.', '404': 'No such registry, repository or tag.' } }), async (req, reply) => {
    const { principal, registry, repo } = await repositoryFor(req, 'push');
    const { tag } = req.params as { tag: string };
    await ctx.registry.manifests.delete(repo.name, tag, actorOf(req, principal)); // MANIFEST_UNKNOWN (404) for a tag it does not have
    await audit(ctx, req, principal, { action: 'tag.delete', outcome: 'success', registry, resource: `${repo.name}:${tag}` });
    reply.code(204).send();
  });

  api.delete('/registries/:registry/repositories/:repo/digests/:digest', doc({ summary: 'Delete a manifest and its tags (needs delete)', tags: ['Repositories'], responses: { '204': 'Deleted.', '400': 'Not a digest.', '403': 'No delete permission.', '404': 'No such registry, repository or manifest.' } }), async (req, reply) => {
    const { digest: raw } = req.params as { digest: string };
    // Manifests.delete takes tags too: only a digest may reach it from here.
    if (!isDigestLike(raw)) throw badRequest(`${raw.slice(0, 80)} is not a digest (algorithm:hex)`);
    const { digest } = parseDigest(raw);
    const { principal, registry, repo } = await repositoryFor(req, 'delete');
    await ctx.registry.manifests.delete(repo.name, digest, actorOf(req, principal));
    await audit(ctx, req, principal, { action: 'manifest.delete', outcome: 'success', registry, resource: `${repo.name}@${digest}` });
    reply.code(204).send();
  });

  api.delete('/registries/:registry/repositories/:repo', doc({ summary: 'Delete a repository (needs delete)', tags: ['Repositories'], responses: { '204': 'Deleted.', '403': 'No delete permission.', '404': 'No such registry or repository.' } }), async (req, reply) => {
    const { principal, registry, repo } = await repositoryFor(req, 'delete');
    const removed = await listing().deleteRepository(repo.name, actorOf(req, principal));
    await audit(ctx, req, principal, { action: 'repository.delete', outcome: 'success', registry, resource: repo.name, detail: removed });
    reply.code(204).send();
  });
}

async function filterAsync<T>(items: T[], keep: (item: T) => Promise<boolean>): Promise<T[]> {
  const verdicts = await Promise.all(items.map(keep));
  return items.filter((_, i) => verdicts[i]);
}
