import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import type { UserRecord } from '../../auth/access-store.js';
import type { Principal } from '../../auth/principal.js';
import { hashPassword, passwordProblem, verifyPassword } from '../../auth/passwords.js';
import { badRequest, conflict, forbidden, notFound } from './api-error.js';
import { audit, caller, requireServerAdmin, type ApiContext } from './context.js';
import { doc } from './openapi.js';

const USERNAME = /^[a-z0-9][a-z0-9._-]{0,62}$/;
const username = z.string().regex(USERNAME, 'usernames are 1-63 characters: a-z, 0-9, ".", "_", "-", starting with a letter or digit');
const password = z.string().superRefine((p, ctx) => {
  const problem = passwordProblem(p);
  if (problem) ctx.addIssue({ code: z.ZodIssueCode.custom, message: problem });
});

const passwordBody = z.object({ current_password: z.string(), new_password: password });
const createUserBody = z
  .object({ username, password, server_admin: z.boolean().default(false), can_create_registries: z.boolean().default(false) })
  .strict();
const updateUserBody = z
  .object({ password: password.optional(), disabled: z.boolean().optional(), server_admin: z.boolean().optional(), can_create_registries: z.boolean().optional() })
  .strict();

export function userView(u: UserRecord) {
  return {
    username: u.username,
    disabled: u.disabled,
    server_admin: u.serverAdmin,
    can_create_registries: u.canCreateRegistries,
    created_at: new Date(u.createdAt).toISOString(),
  };
}

/** What /api/v2/account and /api/v2/session say about the caller: a user with their teams, or a robot. */
export async function accountOf(ctx: ApiContext, me: Principal & { kind: 'user' | 'robot' }) {
  if (me.kind === 'robot') return { username: me.name, robot: true, registry: me.registry };
  const user = await ctx.access.store.getUserById(me.id);
  // Access control switched off: the unrestricted caller is nobody in the store.
  if (!user) return { username: me.name, disabled: false, server_admin: me.serverAdmin, can_create_registries: me.canCreateRegistries, created_at: null, teams: [], token_scoped: false };
  const teams = (await ctx.access.store.listTeams()).filter((t) => t.members.includes(me.name)).map((t) => t.name);
  return { ...userView(user), teams, token_scoped: me.scopes !== null };
}

/** /api/v2/account (the caller) and /api/v2/users (server administrators). */
export function registerUserRoutes(api: FastifyInstance, ctx: ApiContext): void {
  const { store, authenticator } = ctx.access;

  api.get('/account', doc({ summary: 'The caller: user (with teams) or robot', tags: ['Account'], responses: { '200': '`{account}`.' } }), async (req) => {
    return { account: await accountOf(ctx, await caller(ctx, req)) };
  });

  api.put(
    '/account/password',
    doc({ summary: "Change the caller's password", tags: ['Account'], body: passwordBody, responses: { '204': 'Changed.', '400': 'The current password is wrong.', '403': 'Robots have no password.' } }),
    async (req, reply) => {
    const me = await caller(ctx, req);
    if (me.kind !== 'user') throw forbidden('robots have no password');
    const body = passwordBody.parse(req.body);
    const user = await store.getUserById(me.id);
    if (!user || !(await verifyPassword(body.current_password, user.passwordHash))) throw badRequest('current password is wrong');
    await store.updateUser(me.id, { passwordHash: await hashPassword(body.new_password) });
    // Whoever signed in with the old password is signed out (but the session making the change).
    await store.revokeSessions(me.id, Date.now(), me.via === 'session' ? me.tokenId : undefined);
    authenticator.forget();
    await audit(ctx, req, me, { action: 'user.password', outcome: 'success', resource: me.name });
    reply.code(204).send();
  },
  );

  api.get('/users', doc({ summary: 'List users', tags: ['Users'], responses: { '200': '`{users}`.', '403': 'Not a server administrator.' } }), async (req) => {
    await requireServerAdmin(ctx, req);
    return { users: (await store.listUsers()).map(userView) };
  });

  api.post('/users', doc({ summary: 'Create a user', tags: ['Users'], body: createUserBody, responses: { '201': '`{user}`.', '403': 'Not a server administrator.', '409': 'The username is taken.' } }), async (req, reply) => {
    const admin = await requireServerAdmin(ctx, req);
    const body = createUserBody.parse(req.body);
    if (await store.getUser(body.username)) throw conflict(`user ${body.username} already exists`);
    const user = await store.createUser({
      username: body.username,
      passwordHash: await hashPassword(body.password),
      serverAdmin: body.server_admin,
      canCreateRegistries: body.can_create_registries,
    });
    await audit(ctx, req, admin, { action: 'user.create', outcome: 'success', resource: user.username, detail: { server_admin: body.server_admin } });
    reply.code(201).send({ user: userView(user) });
  });

  api.get('/users/:username', doc({ summary: 'Get a user', tags: ['Users'], responses: { '200': '`{user}`.', '403': 'Not a server administrator.', '404': 'No such user.' } }), async (req) => {
    await requireServerAdmin(ctx, req);
    const { username: name } = req.params as { username: string };
    const user = await store.getUser(name);
    if (!user) throw notFound(`user ${name}`);
    return { user: userView(user) };
  });

  api.patch('/users/:username', doc({ summary: 'Update a user: password, disabled, flags', tags: ['Users'], body: updateUserBody, responses: { '200': '`{user}`.', '400': 'Disabling yourself or dropping your own admin flag.', '403': 'Not a server administrator.', '404': 'No such user.' } }), async (req) => {
    const admin = await requireServerAdmin(ctx, req);
    const { username: name } = req.params as { username: string };
    const user = await store.getUser(name);
    if (!user) throw notFound(`user ${name}`);
    const body = updateUserBody.parse(req.body);
    if (admin.kind === 'user' && admin.id === user.id && (body.disabled === true || body.server_admin === false)) {
      throw badRequest('you cannot disable yourself or drop your own server admin flag');
    }
    await store.updateUser(user.id, {
      passwordHash: body.password ? await hashPassword(body.password) : undefined,
      disabled: body.disabled,
      serverAdmin: body.server_admin,
      canCreateRegistries: body.can_create_registries,
    });
    if (body.password) await store.revokeSessions(user.id, Date.now(), admin.kind === 'user' && admin.via === 'session' ? admin.tokenId : undefined);
    authenticator.forget();
    const changed = Object.keys(body).map((k) => (k === 'password' ? 'password' : `${k}=${String(body[k as keyof typeof body])}`));
    await audit(ctx, req, admin, { action: 'user.update', outcome: 'success', resource: name, detail: { changed } });
    return { user: userView((await store.getUser(name))!) };
  });

  api.delete('/users/:username', doc({ summary: 'Delete a user', tags: ['Users'], responses: { '204': 'Deleted.', '400': 'Deleting yourself.', '403': 'Not a server administrator.', '404': 'No such user.' } }), async (req, reply) => {
    const admin = await requireServerAdmin(ctx, req);
    const { username: name } = req.params as { username: string };
    const user = await store.getUser(name);
    if (!user) throw notFound(`user ${name}`);
    if (admin.kind === 'user' && admin.id === user.id) throw badRequest('you cannot delete yourself');
    await store.deleteUser(user.id);
    authenticator.forget();
    await audit(ctx, req, admin, { action: 'user.delete', outcome: 'success', resource: name });
    reply.code(204).send();
  });
}
