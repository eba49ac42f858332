import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Registry } from '../../core/registry.js';
import { RegistryError } from '../../oci/errors.js';
import { deleteBlob, getBlob } from './blobs.js';
import { deleteManifest, getManifest, putManifest } from './manifests.js';
import { getCatalog, getReferrers, getTags } from './listings.js';
import { matchDistributionRoute, type DistributionRoute } from './route.js';
import { cancelUpload, patchUpload, putUpload, startUpload, uploadStatus } from './uploads.js';

type Handler = (req: FastifyRequest, reply: FastifyReply) => Promise<void>;
type RouteHandler = (req: FastifyRequest, reply: FastifyReply) => Promise<FastifyReply>;

/** Which methods each resource answers, and with what. */
function handlersFor(registry: Registry, route: DistributionRoute): Partial<Record<string, Handler>> {
  switch (route.kind) {
    case 'base': {
      const base: Handler = async (_req, reply) => {
        reply.type('application/json').send({});
      };
      return { GET: base, HEAD: base };
    }
    case 'catalog':
      return { GET: (req, reply) => getCatalog(registry, req, reply) };
    case 'tags':
      return { GET: (req, reply) => getTags(registry, route.name, req, reply) };
    case 'referrers':
      return { GET: (req, reply) => getReferrers(registry, route.name, route.digest, req, reply) };
    case 'manifest': {
      const get: Handler = (req, reply) => getManifest(registry, route.name, route.reference, req, reply);
      return {
        GET: get,
        HEAD: get,
        PUT: (req, reply) => putManifest(registry, route.name, route.reference, req, reply),
        DELETE: (_req, reply) => deleteManifest(registry, route.name, route.reference, reply),
      };
    }
    case 'blob': {
      const get: Handler = (req, reply) => getBlob(registry, route.name, route.digest, req, reply);
      return { GET: get, HEAD: get, DELETE: (_req, reply) => deleteBlob(registry, route.name, route.digest, reply) };
    }
    case 'uploads':
      return { POST: (req, reply) => startUpload(registry, route.name, req, reply) };
    case 'upload':
      return {
        GET: (_req, reply) => uploadStatus(registry, route.name, route.id, reply),
        PATCH: (req, reply) => patchUpload(registry, route.name, route.id, req, reply),
        PUT: (req, reply) => putUpload(registry, route.name, route.id, req, reply),
        DELETE: (_req, reply) => cancelUpload(registry, route.name, route.id, reply),
      };
  }
}

/**
 * The OCI Distribution API at /v2/. Repository names contain slashes, so one
 * wildcard route hands every path to `matchDistributionRoute`.
 */
export function registerDistributionRoutes(app: FastifyInstance, registry: Registry): void {
  // Returning the reply tells fastify the response is (or will be, for streams) sent by the handler.
  const dispatch: RouteHandler = async (req, reply) => {
    reply.header('docker-distribution-api-version', 'registry/2.0');
    const path = req.url.split('?', 1)[0]!;
    const handlers = handlersFor(registry, matchDistributionRoute(path));
    const handler = handlers[req.method];
    if (!handler) {
      throw new RegistryError('UNSUPPORTED', `${req.method} is not supported on ${path.slice(0, 200)}`, { allowed: Object.keys(handlers) }, {
        status: 405,
        headers: { allow: Object.keys(handlers).join(', ') },
      });
    }
    await handler(req, reply);
    return reply;
  };
  const methods = ['GET', 'HEAD', 'PUT', 'POST', 'PATCH', 'DELETE', 'OPTIONS'] as const;
  app.route({ method: [...methods], url: '/v2', handler: dispatch });
  app.route({ method: [...methods], url: '/v2/*', handler: dispatch });
}
