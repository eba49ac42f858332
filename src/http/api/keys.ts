import type { FastifyInstance } from 'fastify';
import { audit, requireServerAdmin, type ApiContext } from './context.js';
import { doc } from './openapi.js';

/** /api/v2/auth/keys: the token-signing keys; rotation makes a new signing key while old tokens stay valid until they expire. */
export function registerKeyRoutes(api: FastifyInstance, ctx: ApiContext): void {
  const view = () =>
    ctx.access.keys.list().map((k) => ({
      kid: k.kid,
      created_at: new Date(k.createdAt).toISOString(),
      retired_at: k.retiredAt === undefined ? null : new Date(k.retiredAt).toISOString(),
    }));

  api.get('/auth/keys', doc({ summary: 'List token-signing keys', tags: ['Signing keys'], responses: { '200': '`{keys}`.', '403': 'Not a server administrator.' } }), async (req) => {
    await requireServerAdmin(ctx, req);
    return { keys: view() };
  });

  api.post('/auth/keys/rotate', doc({ summary: 'Rotate: make a new signing key (old tokens stay valid until they expire)', tags: ['Signing keys'], responses: { '201': '`{kid, keys}`.', '403': 'Not a server administrator.' } }), async (req, reply) => {
    const admin = await requireServerAdmin(ctx, req);
    const kid = await ctx.access.keys.rotate();
    await audit(ctx, req, admin, { action: 'auth.key.rotate', outcome: 'success', resource: kid });
    reply.code(201).send({ kid, keys: view() });
  });
}
