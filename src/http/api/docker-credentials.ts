import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import type { Action } from '../../auth/scopes.js';
import { forbidden, notFound } from './api-error.js';
import { audit, caller, type ApiContext } from './context.js';
import { doc } from './openapi.js';
import { expiry, mintToken } from './tokens.js';

const query = z.object({
    read_write: z.enum(['true', 'false']).default('false').describe('true: pull and push; false: pull only.'),
    // Omitted: the token never expires (DigitalOcean's behaviour); the CLI asks for 30 days unless told otherwise.
    expiry_seconds: z.coerce.number().pipe(expiry.unwrap()).optional().describe('Lifetime of the token; omitted: it never expires.'),
  });

/**
 * GET /api/v2/registries/{registry}/docker-credentials: a Docker config.json for
 * this server holding a new personal access token of the caller, scoped to the
 * registry (pull; push too with read_write=true). The scope only narrows what the
 * caller may do: a read-only member gets no push from read_write=true.
 */
export function registerDockerCredentialRoutes(api: FastifyInstance, ctx: ApiContext): void {
  const { store, authorizer } = ctx.access;

  api.get('/registries/:registry/docker-credentials', doc({ summary: 'A Docker config.json with a new token scoped to the registry', tags: ['Docker credentials'], query, responses: { '200': '`{auths: {<host>: {auth}}}`.', '403': 'Robots and scoped tokens cannot mint tokens.', '404': 'No such registry.' } }), async (req) => {
    const me = await caller(ctx, req);
    const name = (req.params as { registry: string }).registry;
    const q = query.parse(req.query);
    const registry = await store.getRegistry(name);
    const visible = await authorizer.visibleRegistries(me);
    if (!registry || (visible !== 'all' && !visible.has(name))) throw notFound(`registry ${name}`);
    // As for POST /tokens: robots already hold a secret, and a scoped token may not mint tokens.
    if (me.kind !== 'user' || me.scopes !== null) {
      throw forbidden('docker credentials are minted for users signed in with a password or an unscoped token; robots log in with their own secret');
    }
    const readWrite = q.read_write === 'true';
    const actions: Action[] = readWrite ? ['pull', 'push'] : ['pull'];
    const created = await mintToken(store, 'pat', me, `docker-credentials ${name} (${readWrite ? 'read-write' : 'read-only'})`, [{ registry: name, actions }], q.expiry_seconds);
    await audit(ctx, req, me, {
      action: 'token.create',
      outcome: 'success',
      registry: name,
      resource: created.token.id,
      detail: { purpose: 'docker-credentials', scopes: created.token.scopes, expires_at: created.token.expires_at },
    });
    // The key is the address the client used, which is the one docker will be given.
    const host = req.headers.host ?? `${req.hostname}`;
    return { auths: { [host]: { auth: Buffer.from(`${me.name}:${created.secret}`).toString('base64') } } };
  });
}
