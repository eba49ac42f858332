import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import type { GrantRecord, RegistryRecord, SubjectKind } from '../../auth/access-store.js';
import { ROLES } from '../../auth/scopes.js';
import { badRequest, conflict, forbidden, notFound } from './api-error.js';
import { audit, caller, requireRegistryAdmin, type ApiContext } from './context.js';

/** DigitalOcean's registry name rule. */
export const registryName = z.string().regex(/^[a-z][a-z0-9-]{0,62}$/, 'registry names are 1-63 characters of a-z, 0-9 and "-", starting with a letter');

const registryView = (r: RegistryRecord) => ({ name: r.name, public: r.public, created_at: new Date(r.createdAt).toISOString() });
const grantView = (g: GrantRecord) => ({
  id: g.id,
  subject_kind: g.subjectKind,
  subject: g.subjectName,
  role: g.role,
  repository_pattern: g.repositoryPattern,
  created_at: new Date(g.createdAt).toISOString(),
});

/** /api/v2/registries (the access-control part) and their grants. */
export function registerRegistryRoutes(api: FastifyInstance, ctx: ApiContext): void {
  const { store, authorizer, authenticator } = ctx.access;

  api.get('/registries', async (req) => {
    const me = await caller(ctx, req);
    const visible = await authorizer.visibleRegistries(me);
    const registries = (await store.listRegistries()).filter((r) => visible === 'all' || visible.has(r.name));
    return { registries: registries.map(registryView) };
  });

  api.post('/registries', async (req, reply) => {
    const me = await caller(ctx, req);
    const body = z.object({ name: registryName, public: z.boolean().default(false) }).passthrough().parse(req.body);
    if (!authorizer.canCreateRegistry(me)) throw forbidden('creating registries needs a server administrator or the can_create_registries permission');
    if (await store.getRegistry(body.name)) throw conflict(`registry ${body.name} already exists`);
    const registry = await store.createRegistry(body.name, body.public);
    if (me.kind === 'user' && !me.serverAdmin) {
      await store.addGrant({ registryId: registry.id, subjectKind: 'user', subjectId: me.id, role: 'admin', repositoryPattern: null });
    }
    await audit(ctx, req, me, { action: 'registry.create', outcome: 'success', registry: registry.name, resource: registry.name, detail: { public: body.public } });
    reply.code(201).send({ registry: registryView(registry) });
  });

  api.get('/registries/:registry', async (req) => {
    const me = await caller(ctx, req);
    const name = (req.params as { registry: string }).registry;
    const visible = await authorizer.visibleRegistries(me);
    const registry = await store.getRegistry(name);
    if (!registry || (visible !== 'all' && !visible.has(name))) throw notFound(`registry ${name}`);
    return { registry: registryView(registry) };
  });

  api.patch('/registries/:registry', async (req) => {
    const { principal, registry } = await requireRegistryAdmin(ctx, req, (req.params as { registry: string }).registry);
    const body = z.object({ public: z.boolean() }).strict().parse(req.body);
    await store.setRegistryPublic(registry.id, body.public);
    await audit(ctx, req, principal, { action: 'registry.update', outcome: 'success', registry: registry.name, resource: registry.name, detail: body });
    return { registry: registryView((await store.getRegistry(registry.name))!) };
  });

  api.get('/registries/:registry/grants', async (req) => {
    const { registry } = await requireRegistryAdmin(ctx, req, (req.params as { registry: string }).registry);
    return { grants: (await store.listGrants(registry.id)).map(grantView) };
  });

  api.post('/registries/:registry/grants', async (req, reply) => {
    const { principal, registry } = await requireRegistryAdmin(ctx, req, (req.params as { registry: string }).registry);
    const body = z
      .object({
        subject_kind: z.enum(['user', 'team', 'robot']),
        subject: z.string().min(1),
        role: z.enum(ROLES),
        repository_pattern: z.string().regex(/^[a-z0-9*._\/-]{1,255}$/, 'a glob over repository names, e.g. team-a/*').nullable().default(null),
      })
      .strict()
      .parse(req.body);
    checkRepositoryPattern(body.repository_pattern, registry.name);
    const subjectId = await resolveSubject(ctx, body.subject_kind, body.subject, registry.name);
    const id = await store.addGrant({ registryId: registry.id, subjectKind: body.subject_kind, subjectId, role: body.role, repositoryPattern: body.repository_pattern });
    authenticator.forget();
    await audit(ctx, req, principal, { action: 'grant.create', outcome: 'success', registry: registry.name, resource: `${body.subject_kind}:${body.subject}`, detail: { role: body.role, repository_pattern: body.repository_pattern } });
    const grant = (await store.listGrants(registry.id)).find((g) => g.id === id)!;
    reply.code(201).send({ grant: grantView(grant) });
  });

  api.delete('/registries/:registry/grants/:id', async (req, reply) => {
    const params = req.params as { registry: string; id: string };
    const { principal, registry } = await requireRegistryAdmin(ctx, req, params.registry);
    if (!/^\d+$/.test(params.id) || !(await store.deleteGrant(registry.id, Number(params.id)))) throw notFound(`grant ${params.id}`);
    authenticator.forget();
    await audit(ctx, req, principal, { action: 'grant.delete', outcome: 'success', registry: registry.name, resource: params.id });
    reply.code(204).send();
  });
}

async function resolveSubject(ctx: ApiContext, kind: SubjectKind, name: string, registry: string): Promise<number> {
  const { store } = ctx.access;
  if (kind === 'user') {
    const user = await store.getUser(name);
    if (!user) throw notFound(`user ${name}`);
    return user.id;
  }
  if (kind === 'team') {
    const team = await store.getTeam(name);
    if (!team) throw notFound(`team ${name}`);
    return team.id;
  }
  const robot = await store.getRobot(registry, name.includes('+') ? name.slice(name.indexOf('+') + 1) : name);
  if (!robot) throw notFound(`robot ${name} in registry ${registry}`);
  return robot.id;
}

/** A grant's repository glob must stay inside its registry, or it could never match anything. */
export function checkRepositoryPattern(pattern: string | null, registry: string): void {
  if (pattern && registry !== 'library' && !pattern.startsWith(`${registry}/`)) {
    throw badRequest(`repository_pattern must name repositories of this registry, e.g. ${registry}/*`);
  }
}
