import type { FastifyInstance, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { principalName } from '../../auth/principal.js';
import { EVENT_TYPES } from '../../events/event-types.js';
import type { WebhookDelivery, WebhookEndpoint } from '../../events/webhook-store.js';
import { WebhookInputError, webhooksOf, type Webhooks } from '../../events/webhooks.js';
import { ApiError, conflict, notFound, unprocessable } from './api-error.js';
import { audit, requireRegistryAdmin, type ApiContext } from './context.js';
import { doc } from './openapi.js';
import { pageLinks, pageQuery } from './paging.js';

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

/** A webhook as the API shows it: never its secret. */
export const webhookView = (e: WebhookEndpoint) => ({
  id: e.id,
  registry_name: e.registry,
  url: e.url,
  events: e.events,
  repository_filter: e.repositoryFilter,
  tag_filter: e.tagFilter,
  format: e.format,
  enabled: e.enabled,
  disabled_reason: e.disabledReason,
  failing_since: iso(e.failingSince),
  created_by: e.createdBy,
  created_at: iso(e.createdAt),
  updated_at: iso(e.updatedAt),
});

export const deliveryView = (d: WebhookDelivery) => ({
  id: d.id,
  webhook_id: d.endpointId,
  event_id: d.eventId,
  event_type: d.eventType,
  repository: d.repository,
  status: d.status,
  attempts: d.attempts,
  response_status: d.responseStatus,
  latency_ms: d.latencyMs,
  response_body: d.responseExcerpt,
  error: d.error,
  next_attempt_at: iso(d.nextAttemptAt),
  first_attempt_at: iso(d.firstAttemptAt),
  created_at: iso(d.createdAt),
  updated_at: iso(d.updatedAt),
  completed_at: iso(d.completedAt),
  redelivery_of: d.redeliveryOf,
});

const url = z.string().min(1).max(2048).describe('Where deliveries are POSTed (http or https). Its host must resolve to public addresses only, unless the server allows private targets.');
const events = z.array(z.enum(EVENT_TYPES)).min(1).describe('The event types to deliver.');
const repositoryFilter = z
  .string()
  .min(1)
  .max(255)
  .regex(/^[a-z0-9._/*-]+$/, 'a glob over repository paths inside the registry: * within one path component, ** across them')
  .nullable()
  .describe('Only events of repositories whose path inside the registry matches this glob (`app/*`, `**`); null: every repository.');
const tagFilter = z
  .string()
  .min(1)
  .max(128)
  .regex(/^[A-Za-z0-9_.*-]+$/, 'a tag glob: letters, digits, _ . - and *')
  .nullable()
  .describe('Only events naming a matching tag (push, pull, tag.deleted, manifest.deleted); other event types are not filtered by tag. Null: every tag.');
const format = z.enum(['cloudevents', 'distribution']).describe('`cloudevents` (CloudEvents 1.0 JSON, structured mode) or `distribution` (the notification envelope of CNCF Distribution; push, pull and deletions only).');

const createBody = z
  .object({
    url,
    events,
    repository_filter: repositoryFilter.default(null),
    tag_filter: tagFilter.default(null),
    format: format.default('cloudevents'),
    enabled: z.boolean().default(true),
    secret: z.string().min(16).max(256).optional().describe('The signing secret (16 characters or more); generated when left out. Shown once, in the answer.'),
  })
  .strict();

const updateBody = z
  .object({
    url: url.optional(),
    events: events.optional(),
    repository_filter: repositoryFilter.optional(),
    tag_filter: tagFilter.optional(),
    format: format.optional(),
    enabled: z.boolean().optional().describe('Disabling ends the pending deliveries as failed; enabling clears why it was disabled.'),
    rotate_secret: z.boolean().optional().describe('Replace the signing secret with a new one, shown once in the answer.'),
  })
  .strict();

const disabledConflict = (endpoint: WebhookEndpoint) => conflict(`webhook ${endpoint.id} is disabled${endpoint.disabledReason ? ` (${endpoint.disabledReason})` : ''}: enable it first`);

interface Params {
  registry: string;
  id: string;
  delivery: string;
}

/**
 * /api/v2/registries/{registry}/webhooks: a registry's webhook endpoints and
 * their delivery logs, for its admins. Secrets are shown once, when created or rotated.
 */
export function registerWebhookRoutes(api: FastifyInstance, ctx: ApiContext): void {
  const service = (): Webhooks => {
    const webhooks = webhooksOf(ctx.registry);
    if (!webhooks) throw new ApiError(501, 'not_implemented', 'webhooks are not available on this server');
    return webhooks;
  };
  const params = (req: FastifyRequest) => req.params as Params;
  const admin = (req: FastifyRequest) => requireRegistryAdmin(ctx, req, params(req).registry);
  const missing = (req: FastifyRequest, registry: string) => notFound(`webhook ${params(req).id.slice(0, 64)} in registry ${registry}`);
  const deliveryId = (req: FastifyRequest) => (/^\d{1,15}$/.test(params(req).delivery) ? Number(params(req).delivery) : -1);
  const invalid = (err: unknown): never => {
    if (err instanceof WebhookInputError) throw unprocessable(err.message);
    throw err;
  };

  api.get('/registries/:registry/webhooks', doc({ summary: "List a registry's webhooks", tags: ['Webhooks'], responses: { '200': '`{webhooks}`.', '403': 'Not an admin of the registry.', '404': 'No such registry.' } }), async (req) => {
    const { registry } = await admin(req);
    return { webhooks: (await service().list(registry.id)).map(webhookView) };
  });

  api.post('/registries/:registry/webhooks', doc({ summary: 'Create a webhook', tags: ['Webhooks'], description: 'Deliveries are signed with the secret (`Berth-Signature`); the answer shows it once, and it cannot be read back. See docs/webhooks.md for the events and how to verify signatures.', body: createBody, responses: { '201': '`{webhook, secret}`.', '403': 'Not an admin of the registry.', '404': 'No such registry.', '422': 'Invalid, or the URL is not an allowed target.' } }), async (req, reply) => {
    const { principal, registry } = await admin(req);
    const body = createBody.parse(req.body ?? {});
    const input = { url: body.url, events: body.events, repositoryFilter: body.repository_filter, tagFilter: body.tag_filter, format: body.format, enabled: body.enabled, ...(body.secret ? { secret: body.secret } : {}) };
    const { endpoint, secret } = await service().create(registry, input, principalName(principal)).catch(invalid);
    await audit(ctx, req, principal, { action: 'webhook.create', outcome: 'success', registry: registry.name, resource: endpoint.id, detail: { url: endpoint.url, events: endpoint.events } });
    reply.code(201);
    return { webhook: webhookView(endpoint), secret };
  });

  api.get('/registries/:registry/webhooks/:id', doc({ summary: 'A webhook', tags: ['Webhooks'], responses: { '200': '`{webhook}`.', '403': 'Not an admin of the registry.', '404': 'No such registry or webhook.' } }), async (req) => {
    const { registry } = await admin(req);
    const endpoint = await service().get(registry.id, params(req).id);
    if (!endpoint) throw missing(req, registry.name);
    return { webhook: webhookView(endpoint) };
  });

  api.patch('/registries/:registry/webhooks/:id', doc({ summary: 'Update a webhook, or rotate its secret', tags: ['Webhooks'], description: 'Fields left out keep their value. With `rotate_secret`, the answer shows the new secret once.', body: updateBody, responses: { '200': '`{webhook}`, and `secret` when rotated.', '403': 'Not an admin of the registry.', '404': 'No such registry or webhook.', '422': 'Invalid, or the URL is not an allowed target.' } }), async (req) => {
    const { principal, registry } = await admin(req);
    const body = updateBody.parse(req.body ?? {});
    const changes = {
      ...(body.url !== undefined ? { url: body.url } : {}),
      ...(body.events !== undefined ? { events: body.events } : {}),
      ...(body.repository_filter !== undefined ? { repositoryFilter: body.repository_filter } : {}),
      ...(body.tag_filter !== undefined ? { tagFilter: body.tag_filter } : {}),
      ...(body.format !== undefined ? { format: body.format } : {}),
      ...(body.enabled !== undefined ? { enabled: body.enabled } : {}),
      ...(body.rotate_secret ? { rotateSecret: true } : {}),
    };
    const updated = await service().update(registry.id, params(req).id, changes).catch(invalid);
    if (!updated) throw missing(req, registry.name);
    const { rotate_secret: rotated, ...fields } = body;
    await audit(ctx, req, principal, { action: 'webhook.update', outcome: 'success', registry: registry.name, resource: updated.endpoint.id, detail: { ...fields, ...(rotated ? { rotate_secret: true } : {}) } });
    return { webhook: webhookView(updated.endpoint), ...(updated.secret ? { secret: updated.secret } : {}) };
  });

  api.delete('/registries/:registry/webhooks/:id', doc({ summary: 'Delete a webhook and its delivery log', tags: ['Webhooks'], responses: { '204': 'Deleted.', '403': 'Not an admin of the registry.', '404': 'No such registry or webhook.' } }), async (req, reply) => {
    const { principal, registry } = await admin(req);
    if (!(await service().remove(registry.id, params(req).id))) throw missing(req, registry.name);
    await audit(ctx, req, principal, { action: 'webhook.delete', outcome: 'success', registry: registry.name, resource: params(req).id });
    reply.code(204).send();
  });

  api.post('/registries/:registry/webhooks/:id/test', doc({ summary: 'Send a test ping to a webhook', tags: ['Webhooks'], description: 'A `ping` event (CloudEvents type `berth.ping`; in the Distribution format, an envelope with no events) sent to this webhook whatever its event types and filters: signed, logged and retried like any delivery. Poll `…/deliveries/{delivery}` for the outcome.', responses: { '202': '`{delivery}`: the new delivery, pending.', '403': 'Not an admin of the registry.', '404': 'No such registry or webhook.', '409': 'The webhook is disabled.' } }), async (req, reply) => {
    const { principal, registry } = await admin(req);
    const result = await service().ping(registry.id, params(req).id, principalName(principal));
    if (!result) throw missing(req, registry.name);
    if ('disabled' in result) throw disabledConflict(result.disabled);
    await audit(ctx, req, principal, { action: 'webhook.test', outcome: 'success', registry: registry.name, resource: params(req).id, detail: { delivery: result.delivery.id } });
    reply.code(202);
    return { delivery: deliveryView(result.delivery) };
  });

  api.get('/registries/:registry/webhooks/:id/deliveries', doc({ summary: "A webhook's deliveries, newest first", tags: ['Webhooks'], description: 'The delivery log: status (pending, delivered, failed), attempts, the last response code, latency and the first KiB of its body. Ended deliveries are kept 30 days (`webhooks.keepDeliveries`).', query: pageQuery, responses: { '200': '`{deliveries, links, meta}`.', '403': 'Not an admin of the registry.', '404': 'No such registry or webhook.' } }), async (req) => {
    const { registry } = await admin(req);
    const q = pageQuery.parse(req.query);
    const page = await service().deliveries(registry.id, params(req).id, q.per_page, (q.page - 1) * q.per_page);
    if (!page) throw missing(req, registry.name);
    return {
      deliveries: page.deliveries.map(deliveryView),
      links: pageLinks(`/api/v2/registries/${registry.name}/webhooks/${params(req).id}/deliveries`, q, page.total),
      meta: { total: page.total },
    };
  });

  api.get('/registries/:registry/webhooks/:id/deliveries/:delivery', doc({ summary: 'A delivery', tags: ['Webhooks'], responses: { '200': '`{delivery}`.', '403': 'Not an admin of the registry.', '404': 'No such registry, webhook or delivery.' } }), async (req) => {
    const { registry } = await admin(req);
    const delivery = await service().delivery(registry.id, params(req).id, deliveryId(req));
    if (!delivery) throw notFound(`delivery ${params(req).delivery.slice(0, 20)} of webhook ${params(req).id.slice(0, 64)}`);
    return { delivery: deliveryView(delivery) };
  });

  api.post('/registries/:registry/webhooks/:id/deliveries/:delivery/redeliver', doc({ summary: 'Send a delivery again', tags: ['Webhooks'], description: 'A new delivery of the same event (same event id, so receivers can tell) at the end of its repository\'s queue.', responses: { '202': '`{delivery}`: the new delivery.', '403': 'Not an admin of the registry.', '404': 'No such registry, webhook or delivery.', '409': 'The webhook is disabled.' } }), async (req, reply) => {
    const { principal, registry } = await admin(req);
    const result = await service().redeliver(registry.id, params(req).id, deliveryId(req));
    if (!result) throw notFound(`delivery ${params(req).delivery.slice(0, 20)} of webhook ${params(req).id.slice(0, 64)}`);
    if ('disabled' in result) throw disabledConflict(result.disabled);
    await audit(ctx, req, principal, { action: 'webhook.redeliver', outcome: 'success', registry: registry.name, resource: params(req).id, detail: { delivery: deliveryId(req), new_delivery: result.delivery.id } });
    reply.code(202);
    return { delivery: deliveryView(result.delivery) };
  });
}
