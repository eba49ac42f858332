import type { FastifyInstance, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { GC_TYPES, type GarbageCollector, type GcRun } from '../../core/gc.js';
import { ApiError, conflict, notFound } from './api-error.js';
import { audit, requireRegistryAdmin, type ApiContext } from './context.js';
import { doc } from './openapi.js';
import { pageLinks, pageQuery } from './paging.js';

/** DigitalOcean's garbage_collection object. */
export const gcView = (run: GcRun, registryName: string) => ({
  uuid: run.id,
  registry_name: registryName,
  status: run.status,
  type: run.type,
  created_at: new Date(run.createdAt).toISOString(),
  updated_at: new Date(run.updatedAt).toISOString(),
  blobs_deleted: run.blobsDeleted,
  freed_bytes: run.freedBytes,
  dry_run: run.dryRun,
  manifests_deleted: run.manifestsDeleted,
});

const startBody = z
  .object({
    // As DigitalOcean: without a type, only blobs are collected; manifests stay unless asked for.
    type: z.enum(GC_TYPES).default('unreferenced blobs only'),
    dry_run: z.boolean().default(false),
  })
  .strict();
const cancelBody = z.object({ cancel: z.literal(true) }).strict();

/**
 * /api/v2/registries/{registry}/garbage-collection(s): online garbage collection
 * runs of a registry, for its admins. Runs go on in the background; poll the
 * active run (or one by uuid) for progress.
 */
export function registerGcRoutes(api: FastifyInstance, ctx: ApiContext): void {
  const collector = (): GarbageCollector => {
    if (!ctx.registry.gc) throw new ApiError(501, 'not_implemented', 'garbage collection is not available on this server');
    return ctx.registry.gc;
  };
  const admin = (req: FastifyRequest) => requireRegistryAdmin(ctx, req, (req.params as { registry: string }).registry);

  api.post('/registries/:registry/garbage-collection', doc({ summary: 'Start a garbage collection run', tags: ['Garbage collection'], description: 'Without a type, only unreferenced blobs are collected. The run goes on in the background.', body: startBody, bodyOptional: true, responses: { '201': '`{garbage_collection}`.', '403': 'Not an admin of the registry.', '404': 'No such registry.', '409': 'A run is already active.', '501': 'Garbage collection is not available on this server.' } }), async (req, reply) => {
    const { principal, registry } = await admin(req);
    const body = startBody.parse(req.body ?? {});
    const result = await collector().start(registry, body.type, body.dry_run);
    if ('active' in result) {
      await audit(ctx, req, principal, { action: 'gc.start', outcome: 'failure', registry: registry.name, reason: 'a run is active', resource: result.active.id });
      throw conflict(`garbage collection ${result.active.id} is already ${result.active.status} in registry ${registry.name}; cancel it or wait for it to finish`);
    }
    await audit(ctx, req, principal, { action: 'gc.start', outcome: 'success', registry: registry.name, resource: result.run.id, detail: { type: body.type, dry_run: body.dry_run } });
    reply.code(201).send({ garbage_collection: gcView(result.run, registry.name) });
  });

  api.get('/registries/:registry/garbage-collection', doc({ summary: 'The active garbage collection run', tags: ['Garbage collection'], responses: { '200': '`{garbage_collection}`.', '403': 'Not an admin of the registry.', '404': 'No such registry, or no active run.' } }), async (req) => {
    const { registry } = await admin(req);
    const run = await collector().active(registry.id);
    if (!run) throw notFound(`an active garbage collection in registry ${registry.name}`);
    return { garbage_collection: gcView(run, registry.name) };
  });

  // Not in DigitalOcean's API: a finished run is no longer "active", and a client waiting for one needs its outcome.
  api.get('/registries/:registry/garbage-collection/:uuid', doc({ summary: 'A garbage collection run, active or finished', tags: ['Garbage collection'], responses: { '200': '`{garbage_collection}`.', '403': 'Not an admin of the registry.', '404': 'No such registry or run.' } }), async (req) => {
    const { registry } = await admin(req);
    const uuid = (req.params as { uuid: string }).uuid;
    const run = await collector().get(uuid);
    if (!run || run.registryId !== registry.id) throw notFound(`garbage collection ${uuid.slice(0, 64)}`);
    return { garbage_collection: gcView(run, registry.name) };
  });

  api.get('/registries/:registry/garbage-collections', doc({ summary: 'List garbage collection runs, newest first', tags: ['Garbage collection'], query: pageQuery, responses: { '200': '`{garbage_collections, links, meta}`.', '403': 'Not an admin of the registry.', '404': 'No such registry.' } }), async (req) => {
    const { registry } = await admin(req);
    const q = pageQuery.parse(req.query);
    const { runs, total } = await collector().list(registry.id, q.per_page, (q.page - 1) * q.per_page);
    return {
      garbage_collections: runs.map((r) => gcView(r, registry.name)),
      links: pageLinks(`/api/v2/registries/${registry.name}/garbage-collections`, q, total),
      meta: { total },
    };
  });

  api.put('/registries/:registry/garbage-collection/:uuid', doc({ summary: 'Cancel a garbage collection run', tags: ['Garbage collection'], body: cancelBody, responses: { '200': '`{garbage_collection}`.', '403': 'Not an admin of the registry.', '404': 'No such registry or run.', '409': 'The run has already finished.' } }), async (req) => {
    const { principal, registry } = await admin(req);
    const uuid = (req.params as { uuid: string }).uuid;
    cancelBody.parse(req.body ?? {});
    const result = await collector().cancel(registry.id, uuid);
    if (!result) throw notFound(`garbage collection ${uuid.slice(0, 64)}`);
    const { run } = result;
    if (result.alreadyFinished) throw conflict(`garbage collection ${run.id} has already finished (${run.status})`);
    await audit(ctx, req, principal, { action: 'gc.cancel', outcome: 'success', registry: registry.name, resource: run.id });
    return { garbage_collection: gcView(run, registry.name) };
  });
}
