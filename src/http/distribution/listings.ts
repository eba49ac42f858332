import type { FastifyReply, FastifyRequest } from 'fastify';
import { parsePageRequest, type Page } from '../../core/pagination.js';
import { listReferrers } from '../../core/referrers.js';
import type { Registry } from '../../core/registry.js';
import { listRepositories, listTags } from '../../core/tags.js';
import { parseDigest } from '../../oci/digest.js';
import { MediaType } from '../../oci/media-types.js';
import type { RepoName } from '../../oci/name.js';
import { query } from './headers.js';

/** GET /v2/<name>/tags/list?n=&last= */
export async function getTags(registry: Registry, name: RepoName, req: FastifyRequest, reply: FastifyReply): Promise<void> {
  const request = parsePageRequest(query(req, 'n'), query(req, 'last'));
  const page = await listTags(registry.meta, name, request);
  linkNext(reply, `/v2/${name}/tags/list`, request.limit, page);
  reply.type('application/json').send({ name, tags: page.items });
}

/** GET /v2/_catalog?n=&last= */
export async function getCatalog(registry: Registry, req: FastifyRequest, reply: FastifyReply, visible?: (name: RepoName) => Promise<boolean>): Promise<void> {
  const request = parsePageRequest(query(req, 'n'), query(req, 'last'));
  const page = await listRepositories(registry.meta, request, visible);
  linkNext(reply, '/v2/_catalog', request.limit, page);
  reply.type('application/json').send({ repositories: page.items });
}

/** GET /v2/<name>/referrers/<digest>?artifactType= */
export async function getReferrers(registry: Registry, name: RepoName, digestParam: string, req: FastifyRequest, reply: FastifyReply): Promise<void> {
  const { digest } = parseDigest(digestParam);
  const artifactType = query(req, 'artifactType') || undefined;
  const index = await listReferrers(registry.meta, name, digest, artifactType);
  if (artifactType !== undefined) reply.header('oci-filters-applied', 'artifactType');
  // Exactly this media type, no charset parameter (the spec says MUST); a Buffer keeps fastify from adding one.
  reply.header('content-type', MediaType.OciIndex).send(Buffer.from(JSON.stringify(index)));
}

function linkNext(reply: FastifyReply, path: string, limit: number, page: Page): void {
  if (page.next === undefined) return;
  const params = new URLSearchParams({ n: String(limit), last: page.next });
  reply.header('link', `<${path}?${params}>; rel="next"`);
}
