import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import type { AccessStore, TokenRecord } from '../../auth/access-store.js';
import { robotLogin } from '../../auth/principal.js';
import { ACTIONS, ROLES, type TokenScope } from '../../auth/scopes.js';
import { mintSecret, type SecretKind } from '../../auth/secrets.js';
import { forbidden, notFound, conflict } from './api-error.js';
import { audit, caller, requireRegistryAdmin, type ApiContext } from './context.js';
import { doc } from './openapi.js';
import { checkRepositoryPattern } from './registries.js';

const scopeSchema = z
  .object({
    registry: z.string().regex(/^([a-z0-9][a-z0-9._-]{0,62}|\*)$/, 'a registry name, or * for all'),
    repositories: z.string().regex(/^[a-z0-9*._\/-]{1,255}$/).optional(),
    actions: z.array(z.enum(ACTIONS)).min(1),
  })
  .strict();
export const expiry = z.number().int().min(60).max(10 * 365 * 86_400).optional();

const createTokenBody = z.object({ name: z.string().min(1).max(100), scopes: z.array(scopeSchema).min(1).nullable().default(null), expires_in_seconds: expiry }).strict();
const createRobotBody = z
  .object({
    name: z.string().regex(/^[a-z0-9][a-z0-9._-]{0,62}$/, 'robot names are 1-63 characters: a-z, 0-9, ".", "_", "-"'),
    role: z.enum(ROLES).default('read-only'),
    repository_pattern: z.string().regex(/^[a-z0-9*._\/-]{1,255}$/).nullable().default(null),
    expires_in_seconds: expiry,
  })
  .strict();
const robotSecretBody = z.object({ name: z.string().min(1).max(100).default('rotated'), expires_in_seconds: expiry }).strict();

export const tokenView = (t: TokenRecord) => ({
  id: t.id,
  name: t.name,
  scopes: t.scopes,
  expires_at: t.expiresAt === null ? null : new Date(t.expiresAt).toISOString(),
  last_used_at: t.lastUsedAt === null ? null : new Date(t.lastUsedAt).toISOString(),
  revoked_at: t.revokedAt === null ? null : new Date(t.revokedAt).toISOString(),
  created_at: new Date(t.createdAt).toISOString(),
});

/** Stores a new token and returns its view and its secret (shown once). Also used for docker credentials. */
export async function mintToken(store: AccessStore, kind: SecretKind, owner: { kind: 'user' | 'robot'; id: number }, name: string, scopes: TokenScope[] | null, expiresIn?: number) {
  const minted = mintSecret(kind);
  const now = Date.now();
  const record = { id: minted.id, kind, ownerKind: owner.kind, ownerId: owner.id, name, secretHash: minted.secretHash, scopes, expiresAt: expiresIn ? now + expiresIn * 1000 : null, createdAt: now };
  await store.createToken(record);
  return { token: tokenView({ ...record, lastUsedAt: null, revokedAt: null }), secret: minted.secret };
}

/** Personal access tokens (/api/v2/tokens) and robot accounts (/api/v2/registries/{r}/robots). Secrets are shown once. */
export function registerTokenRoutes(api: FastifyInstance, ctx: ApiContext): void {
  const { store, authenticator } = ctx.access;

  const mint = (kind: SecretKind, owner: { kind: 'user' | 'robot'; id: number }, name: string, scopes: TokenScope[] | null, expiresIn?: number) =>
    mintToken(store, kind, owner, name, scopes, expiresIn);

  api.get('/tokens', doc({ summary: "List the caller's tokens", tags: ['Tokens'], responses: { '200': '`{tokens}`.' } }), async (req) => {
    const me = await caller(ctx, req);
    return { tokens: (await store.listTokens(me.kind, me.id)).map(tokenView) };
  });

  api.post('/tokens', doc({ summary: 'Create a personal access token (the secret is shown once)', tags: ['Tokens'], description: 'Without scopes, the token can do whatever its owner can.', body: createTokenBody, responses: { '201': '`{token, secret}`.', '403': 'Robots and scoped tokens cannot create tokens.' } }), async (req, reply) => {
    const me = await caller(ctx, req);
    if (me.kind !== 'user' || me.scopes !== null) throw forbidden('tokens are created by users signed in with a password or an unscoped token');
    const body = createTokenBody.parse(req.body);
    const created = await mint('pat', me, body.name, body.scopes, body.expires_in_seconds);
    await audit(ctx, req, me, { action: 'token.create', outcome: 'success', resource: created.token.id, detail: { name: body.name, scopes: body.scopes, expires_at: created.token.expires_at } });
    reply.code(201).send(created);
  });

  api.delete('/tokens/:id', doc({ summary: 'Revoke a token', tags: ['Tokens'], description: "The caller's own tokens; a robot's secrets for the admins of the robot's registry; any token for server administrators.", responses: { '204': 'Revoked.', '404': 'No such token of the caller.' } }), async (req, reply) => {
    const me = await caller(ctx, req);
    // A registry's admins manage its robots, so they may revoke one secret of a robot without deleting it.
    const administersRobotOf = async (token: TokenRecord) => {
      if (token.ownerKind !== 'robot') return false;
      const robot = await store.getRobotById(token.ownerId);
      return robot !== undefined && (await ctx.access.authorizer.isRegistryAdmin(me, robot.registry));
    };
    const id = (req.params as { id: string }).id;
    const token = await store.getToken(id);
    const mine = token && token.ownerKind === me.kind && token.ownerId === me.id;
    if (!token || (!mine && !ctx.access.authorizer.isServerAdmin(me) && !(await administersRobotOf(token)))) throw notFound(`token ${id}`);
    await store.revokeToken(id, Date.now());
    authenticator.forget();
    await audit(ctx, req, me, { action: 'token.revoke', outcome: 'success', resource: id });
    reply.code(204).send();
  });

  api.get('/registries/:registry/robots', doc({ summary: 'List the robots of a registry', tags: ['Robots'], responses: { '200': '`{robots}`.', '403': 'Not an admin of the registry.', '404': 'No such registry.' } }), async (req) => {
    const { registry } = await requireRegistryAdmin(ctx, req, (req.params as { registry: string }).registry);
    const robots = await store.listRobots(registry.id);
    return {
      robots: await Promise.all(
        robots.map(async (r) => ({
          name: r.name,
          username: robotLogin(r.registry, r.name),
          disabled: r.disabled,
          created_at: new Date(r.createdAt).toISOString(),
          secrets: (await store.listTokens('robot', r.id)).map(tokenView),
        })),
      ),
    };
  });

  api.post('/registries/:registry/robots', doc({ summary: 'Create a robot with a role (the secret is shown once)', tags: ['Robots'], body: createRobotBody, responses: { '201': '`{robot, username, secret, token}`.', '400': 'A repository pattern outside the registry.', '403': 'Not an admin of the registry.', '404': 'No such registry.', '409': 'The robot exists.' } }), async (req, reply) => {
    const { principal, registry } = await requireRegistryAdmin(ctx, req, (req.params as { registry: string }).registry);
    const body = createRobotBody.parse(req.body);
    checkRepositoryPattern(body.repository_pattern, registry.name);
    if (await store.getRobot(registry.name, body.name)) throw conflict(`robot ${body.name} already exists in ${registry.name}`);
    const robot = await store.createRobot(registry.id, body.name);
    await store.addGrant({ registryId: registry.id, subjectKind: 'robot', subjectId: robot.id, role: body.role, repositoryPattern: body.repository_pattern });
    const created = await mint('robot', { kind: 'robot', id: robot.id }, 'initial', null, body.expires_in_seconds);
    const username = robotLogin(registry.name, robot.name);
    await audit(ctx, req, principal, { action: 'robot.create', outcome: 'success', registry: registry.name, resource: username, detail: { role: body.role, repository_pattern: body.repository_pattern } });
    reply.code(201).send({ robot: { name: robot.name, username, role: body.role, repository_pattern: body.repository_pattern }, username, secret: created.secret, token: created.token });
  });

  api.post('/registries/:registry/robots/:name/secrets', doc({ summary: 'Add a secret to a robot (shown once)', tags: ['Robots'], body: robotSecretBody, bodyOptional: true, responses: { '201': '`{username, secret, token}`.', '403': 'Not an admin of the registry.', '404': 'No such registry or robot.' } }), async (req, reply) => {
    const params = req.params as { registry: string; name: string };
    const { principal, registry } = await requireRegistryAdmin(ctx, req, params.registry);
    const robot = await store.getRobot(registry.name, params.name);
    if (!robot) throw notFound(`robot ${params.name}`);
    const body = robotSecretBody.parse(req.body ?? {});
    const created = await mint('robot', { kind: 'robot', id: robot.id }, body.name, null, body.expires_in_seconds);
    await audit(ctx, req, principal, { action: 'robot.secret.create', outcome: 'success', registry: registry.name, resource: robotLogin(registry.name, robot.name) });
    reply.code(201).send({ username: robotLogin(registry.name, robot.name), secret: created.secret, token: created.token });
  });

  api.delete('/registries/:registry/robots/:name', doc({ summary: 'Delete a robot and its secrets', tags: ['Robots'], responses: { '204': 'Deleted.', '403': 'Not an admin of the registry.', '404': 'No such registry or robot.' } }), async (req, reply) => {
    const params = req.params as { registry: string; name: string };
    const { principal, registry } = await requireRegistryAdmin(ctx, req, params.registry);
    const robot = await store.getRobot(registry.name, params.name);
    if (!robot) throw notFound(`robot ${params.name}`);
    await store.deleteRobot(robot.id);
    authenticator.forget();
    await audit(ctx, req, principal, { action: 'robot.delete', outcome: 'success', registry: registry.name, resource: robotLogin(registry.name, robot.name) });
    reply.code(204).send();
  });
}
