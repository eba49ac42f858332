import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { artifactTypeOf, filterByPath, pathInRegistry, REPOSITORY_SORTS, repositoryListingOf, type MeasuredManifest, type RepositorySummary } from '../../core/repository-listing.js';
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

const repositoriesQuery = pageQuery.extend({
  page_token: z.string().max(2000).optional().describe('From `links.pages.next`: continues after the last name of the previous page (name order only).'),
  q: z.string().max(200).optional().describe('Only repositories whose path inside the registry contains this text, ignoring case.'),
  sort: z
    .enum(REPOSITORY_SORTS, { message: `sort must be one of ${REPOSITORY_SORTS.join(', ')}` })
    .default('name')
    .describe('Order: by `name`, `size` (size_bytes), `updated` (updated_at; never pushed counts as oldest) or `tags` (tag_count), ties by name; a leading `-` is descending.'),
});

const manifestsQuery = pageQuery.extend({
  tagged: z.enum(['true', 'false'], { message: 'tagged must be true or false' }).optional().describe('Only manifests with a tag (`true`) or without one (`false`).'),
});

const iso = (ms: number) => new Date(ms).toISOString();
const isoOrNull = (ms: number | null) => (ms === null ? null : iso(ms));

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

/** What the tags and digests listings add to a manifest: its kind, platforms, subject and last pull. */
function manifestDetailView(m: MeasuredManifest) {
  return {
    media_type: m.mediaType,
    artifact_type: artifactTypeOf(m),
    platforms: m.platforms,
    subject_digest: m.subjectDigest,
    pulled_at: isoOrNull(m.pulledAt),
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
    size_bytes: r.sizeBytes,
    updated_at: isoOrNull(r.updatedAt),
    worst_severity: r.worstSeverity,
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

  api.get('/registries/:registry/repositoriesV2', doc({ summary: 'List the repositories the caller may pull, with sizes, latest manifest and worst vulnerability', tags: ['Repositories'], description: '`q` filters by path, `sort` orders (default `name`). `page_token` (from `links.pages.next`) pages the `name` order, stable while repositories come and go; every other order pages by `page`/`per_page` only. `size_bytes` counts the distinct blobs the repository\'s manifests reference, once each, plus the manifests; `updated_at` is the last push (null: none); `worst_severity` is the worst finding over the completed image scans of its manifests (`none`: none found; null: no completed scan).', query: repositoriesQuery, responses: { '200': '`{repositories, links, meta}`.', '404': 'No such registry.', '422': 'A query parameter out of bounds, an unknown `sort`, or a `page_token` with another order than `name`.' } }), async (req) => {
    const q = repositoriesQuery.parse(req.query);
    if (q.page_token !== undefined && q.sort !== 'name') throw unprocessable(`page_token pages the name order only; with sort=${q.sort}, use page and per_page`);
    const { principal, registry, admin } = await registryFor(req, (req.params as RepoParams).registry);
    const all = await listing().repositoriesOf(registry.name);
    const matching = q.q ? filterByPath(registry.name, all, q.q) : all;
    // Whoever does not administer the registry sees the repositories they may pull (grants may be per-repository globs).
    const allowed = admin ? matching : await filterAsync(matching, (r) => authorizer.can(principal, 'pull', r.name));
    const { repositories: ordered, stats } = await listing().sort(allowed, q.sort);
    let start = (q.page - 1) * q.per_page;
    if (q.page_token !== undefined) {
      const after = decodeToken(q.page_token);
      const next = ordered.findIndex((r) => r.name > after);
      start = next === -1 ? ordered.length : next;
    }
    const slice = ordered.slice(start, start + q.per_page);
    const repositories = (await listing().summarize(slice, stats)).map((r) => repositoryView(registry.name, r));
    const path = `/api/v2/registries/${encodeURIComponent(registry.name)}/repositoriesV2`;
    const lastName = slice[slice.length - 1]?.name;
    // Links keep the filter and order they were asked for.
    const kept: Record<string, string> = { ...(q.q ? { q: q.q } : {}), ...(q.sort !== 'name' ? { sort: q.sort } : {}) };
    const links = pageLinks(path, q, ordered.length, (page): Record<string, string> => (page === q.page + 1 && lastName && q.sort === 'name' ? { ...kept, page_token: encodeToken(lastName) } : kept));
    return { repositories, links, meta: { total: ordered.length } };
  });

  api.get('/registries/:registry/repositories/:repo/tags', doc({ summary: 'List the tags of a repository', tags: ['Repositories'], description: 'Newest first. Each tag has the `media_type`, `artifact_type`, `platforms`, `subject_digest` and `pulled_at` of the manifest it names, as the manifests listing (`…/digests`) gives them.', query: pageQuery, responses: { '200': '`{tags, links, meta}`.', '404': 'No such registry or repository.' } }), async (req) => {
    const q = pageQuery.parse(req.query);
    const { registry, repo, path } = await repositoryFor(req, 'pull');
    const page = await listing().tags(repo, q.per_page, (q.page - 1) * q.per_page);
    const scans = await scanSummariesOf(ctx, page.items.map((t) => t.manifest.digest));
    const tags = page.items.map((t) => {
      const m = manifestView(registry, path, t.manifest);
      return { registry_name: registry, repository: path, tag: t.tag, manifest_digest: m.digest, compressed_size_bytes: m.compressed_size_bytes, size_bytes: m.size_bytes, updated_at: iso(t.updatedAt), vulnerabilities: scans(m.digest), ...manifestDetailView(t.manifest) };
    });
    return { tags, links: pageLinks(`/api/v2/registries/${registry}/repositories/${encodeURIComponent(path)}/tags`, q, page.total), meta: { total: page.total } };
  });

  api.get('/registries/:registry/repositories/:repo/digests', doc({ summary: 'List the manifests of a repository', tags: ['Repositories'], description: 'Newest first. Each manifest has its `media_type`, `artifact_type` (null for container images), `platforms` (an index\'s children as `{digest, os, architecture, variant}`, attestations left out; `[]` otherwise), `subject_digest` (what a referrer refers to) and `pulled_at` (the last pull, as recorded for retention every few seconds; null if none). `tagged` lists only tagged or only untagged manifests.', query: manifestsQuery, responses: { '200': '`{manifests, links, meta}`.', '404': 'No such registry or repository.', '422': 'A query parameter out of bounds.' } }), async (req) => {
    const q = manifestsQuery.parse(req.query);
    const { registry, repo, path } = await repositoryFor(req, 'pull');
    const tagged = q.tagged === undefined ? undefined : q.tagged === 'true';
    const page = await listing().manifests(repo, q.per_page, (q.page - 1) * q.per_page, tagged);
    const scans = await scanSummariesOf(ctx, page.items.map((m) => m.digest));
    const manifests = page.items.map((m) => ({ ...manifestView(registry, path, m), vulnerabilities: scans(m.digest), ...manifestDetailView(m) }));
    const links = pageLinks(`/api/v2/registries/${registry}/repositories/${encodeURIComponent(path)}/digests`, q, page.total, (): Record<string, string> => (q.tagged ? { tagged: q.tagged } : {}));
    return { manifests, links, meta: { total: page.total } };
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
