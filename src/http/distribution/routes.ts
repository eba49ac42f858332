import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { AccessControl } from '../../auth/access-control.js';
import type { Principal } from '../../auth/principal.js';
import type { Registry } from '../../core/registry.js';
import { RegistryError } from '../../oci/errors.js';
import type { RepoName } from '../../oci/name.js';
import { actorOf, sourceOf } from '../request-principal.js';
import { enforce, requirementOf } from './access.js';
import { auditOf, policyDenialOf } from './audit.js';
import type { BlobSending } from './blob-pump.js';
import type { BodyReceiving } from './direct-body.js';
import { deleteBlob, getBlob } from './blobs.js';
import { getCatalog, getReferrers, getTags } from './listings.js';
import { deleteManifest, getManifest, putManifest } from './manifests.js';
import { matchDistributionRoute, type DistributionRoute } from './route.js';
import { cancelUpload, patchUpload, putUpload, startUpload, uploadStatus, type MountSourcePolicy } from './uploads.js';

type Handler = (req: FastifyRequest, reply: FastifyReply) => Promise<void>;
type RouteHandler = (req: FastifyRequest, reply: FastifyReply) => Promise<FastifyReply>;

interface Context {
  registry: Registry;
  access: AccessControl;
  principal: Principal;
  sending?: BlobSending;
  receiving?: BodyReceiving;
}

/** Which methods each resource answers, and with what. */
function handlersFor({ registry, access, principal, sending, receiving }: Context, route: DistributionRoute): Partial<Record<string, Handler>> {
  switch (route.kind) {
    case 'base': {
      const base: Handler = async (_req, reply) => {
        reply.type('application/json').send({});
      };
      return { GET: base, HEAD: base };
    }
    case 'catalog':
      return { GET: (req, reply) => getCatalog(registry, req, reply, (name) => canSee(access, principal, name)) };
    case 'tags':
      return { GET: (req, reply) => getTags(registry, route.name, req, reply) };
    case 'referrers':
      return { GET: (req, reply) => getReferrers(registry, route.name, route.digest, req, reply) };
    case 'manifest': {
      const get: Handler = (req, reply) => getManifest(registry, route.name, route.reference, req, reply, actorOf(req, principal));
      return {
        GET: get,
        HEAD: get,
        PUT: (req, reply) => putManifest(registry, route.name, route.reference, req, reply, actorOf(req, principal)),
        DELETE: (req, reply) => deleteManifest(registry, route.name, route.reference, reply, actorOf(req, principal)),
      };
    }
    case 'blob': {
      const get: Handler = (req, reply) => getBlob(registry, route.name, route.digest, req, reply, sending);
      return { GET: get, HEAD: get, DELETE: (_req, reply) => deleteBlob(registry, route.name, route.digest, reply) };
    }
    case 'uploads':
      return { POST: (req, reply) => startUpload(registry, route.name, req, reply, mountSourcePolicy(access, principal), receiving) };
    case 'upload':
      return {
        GET: (_req, reply) => uploadStatus(registry, route.name, route.id, reply),
        PATCH: (req, reply) => patchUpload(registry, route.name, route.id, req, reply, receiving),
        PUT: (req, reply) => putUpload(registry, route.name, route.id, req, reply, receiving),
        DELETE: (_req, reply) => cancelUpload(registry, route.name, route.id, reply),
      };
  }
}

/** A mount takes from `from` only with pull there; from anywhere only for those who may read everything. */
function mountSourcePolicy(access: AccessControl, principal: Principal): MountSourcePolicy {
  return async (from) => {
    if (from !== undefined) return (await access.authorizer.can(principal, 'pull', from)) ? { from } : 'none';
    return access.authorizer.isServerAdmin(principal) ? 'any-repository' : 'none';
  };
}

/** Catalog entries are filtered to what the caller may pull. */
async function canSee(access: AccessControl, principal: Principal, name: RepoName): Promise<boolean> {
  if (access.authorizer.isServerAdmin(principal)) return true;
  const identity = principal.kind === 'bearer' ? await access.identityOf(principal) : principal;
  return access.authorizer.can(identity, 'pull', name);
}

/**
 * The OCI Distribution API at /v2/. Repository names contain slashes, so one
 * wildcard route hands every path to `matchDistributionRoute`. Every request
 * is authorised here, before its handler, and every change is audited.
 */
export function registerDistributionRoutes(app: FastifyInstance, registry: Registry, access: AccessControl, sending?: BlobSending, receiving?: BodyReceiving): void {
  // Returning the reply tells fastify the response is (or will be, for streams) sent by the handler.
  const dispatch: RouteHandler = async (req, reply) => {
    reply.header('docker-distribution-api-version', 'registry/2.0');
    const path = req.url.split('?', 1)[0]!;
    const route = matchDistributionRoute(path);
    const principal = await enforce(access, req, requirementOf(route, req.method));
    const handlers = handlersFor({ registry, access, principal, sending, receiving }, route);
    const handler = handlers[req.method];
    if (!handler) {
      throw new RegistryError('UNSUPPORTED', `${req.method} is not supported on ${path.slice(0, 200)}`, { allowed: Object.keys(handlers) }, {
        status: 405,
        headers: { allow: Object.keys(handlers).join(', ') },
      });
    }
    const audit = auditOf(route, req);
    try {
      await handler(req, reply);
    } catch (err) {
      if (audit) await access.audit.record(principal, sourceOf(req), { ...audit, outcome: 'failure', reason: err instanceof RegistryError ? err.code : 'error' });
      const blocked = policyDenialOf(route, err);
      if (blocked) await access.audit.record(principal, sourceOf(req), { ...blocked, outcome: 'denied' });
      throw err;
    }
    if (audit) {
      const digest = reply.getHeader('docker-content-digest');
      const detail = typeof digest === 'string' ? { ...audit.detail, digest } : audit.detail;
      await access.audit.record(principal, sourceOf(req), { ...audit, detail, outcome: 'success' });
    }
    return reply;
  };
  const methods = ['GET', 'HEAD', 'PUT', 'POST', 'PATCH', 'DELETE', 'OPTIONS'] as const;
  app.route({ method: [...methods], url: '/v2', handler: dispatch });
  app.route({ method: [...methods], url: '/v2/*', handler: dispatch });
}

