import type { FastifyInstance } from 'fastify';
import { Readable } from 'node:stream';
import { z } from 'zod';
import type { AuditEvent, AuditFilter } from '../../auth/access-store.js';
import { forbidden } from './api-error.js';
import { caller, type ApiContext } from './context.js';
import { doc } from './openapi.js';

const time = z
  .string()
  .refine((s) => !Number.isNaN(Date.parse(s)), 'an ISO 8601 time')
  .transform((s) => Date.parse(s));
const filterSchema = z.object({
  actor: z.string().optional(),
  registry: z.string().optional(),
  action: z.string().optional(),
  outcome: z.enum(['success', 'failure', 'denied']).optional(),
  since: time.optional().describe('Events at or after this time (ISO 8601).'),
  until: time.optional().describe('Events before this time (ISO 8601).'),
  per_page: z.coerce.number().int().min(1).max(1000).default(100),
  before: z.coerce.number().int().min(1).optional().describe('Only events older than this event id (from links.pages.next).'),
});

const eventView = (e: AuditEvent & { id: number }) => ({
  id: e.id,
  time: new Date(e.at).toISOString(),
  actor: e.actor,
  actor_kind: e.actorKind,
  source: e.source ?? null,
  action: e.action,
  registry: e.registry ?? null,
  resource: e.resource ?? null,
  outcome: e.outcome,
  reason: e.reason ?? null,
  detail: e.detail ?? null,
});

/**
 * /api/v2/audit: the audit log, newest first, paged by `before` (an event id).
 * Server administrators see everything; a registry admin sees their registry's events.
 */
export function registerAuditRoutes(api: FastifyInstance, ctx: ApiContext): void {
  const scopedFilter = async (req: Parameters<typeof caller>[1]) => {
    const q = filterSchema.parse(req.query);
    const me = await caller(ctx, req);
    if (!ctx.access.authorizer.isServerAdmin(me)) {
      if (!q.registry || !(await ctx.access.authorizer.isRegistryAdmin(me, q.registry))) {
        throw forbidden('the audit log is for server administrators, or registry admins with ?registry=<their registry>');
      }
    }
    const filter: AuditFilter = { actor: q.actor, registry: q.registry, action: q.action, outcome: q.outcome, since: q.since, until: q.until };
    return { q, filter };
  };

  api.get('/audit', doc({ summary: 'Audit events, newest first', tags: ['Audit'], description: 'Server administrators see everything; a registry admin sees their registry with `?registry=`.', query: filterSchema, responses: { '200': '`{events, links}`.', '403': 'Neither a server administrator nor an admin of `registry`.' } }), async (req) => {
    const { q, filter } = await scopedFilter(req);
    const events = await ctx.access.store.queryAudit(filter, q.per_page + 1, q.before);
    const page = events.slice(0, q.per_page);
    const more = events.length > q.per_page;
    const next = more ? `/api/v2/audit?${new URLSearchParams({ ...(req.query as Record<string, string>), before: String(page[page.length - 1]!.id) })}` : undefined;
    return { events: page.map(eventView), links: next ? { pages: { next } } : {} };
  });

  /** Everything matching, as JSON lines, streamed page by page. */
  api.get('/audit/export', doc({ summary: 'Every matching audit event, as JSON lines', tags: ['Audit'], query: filterSchema, produces: 'application/x-ndjson', responses: { '200': 'One event per line.', '403': 'Neither a server administrator nor an admin of `registry`.' } }), async (req, reply) => {
    const { filter } = await scopedFilter(req);
    reply.header('content-type', 'application/x-ndjson');
    const store = ctx.access.store;
    async function* lines() {
      let before: number | undefined;
      for (;;) {
        const events = await store.queryAudit(filter, 500, before);
        for (const e of events) yield `${JSON.stringify(eventView(e))}\n`;
        if (events.length < 500) return;
        before = events[events.length - 1]!.id;
      }
    }
    return reply.send(Readable.from(lines()));
  });
}
