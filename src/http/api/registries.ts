import type { FastifyInstance, FastifyRequest } from 'fastify';
import { z } from 'zod';
import type { GrantRecord, RegistryRecord, SubjectKind } from '../../auth/access-store.js';
import { ROLES } from '../../auth/scopes.js';
import type { Tier } from '../../core/tiers.js';
import type { RegistryAccount, RegistryAccounts } from '../../core/usage.js';
import { badRequest, conflict, forbidden, notFound, unprocessable } from './api-error.js';
import { audit, caller, requireRegistryAdmin, type ApiContext } from './context.js';
import { doc } from './openapi.js';
import { pageQuery, paginate } from './paging.js';

/** Paths under /registries/ that name no registry, so no registry may take them. */
const RESERVED_NAMES = new Set(['options', 'validate-name']);

/** DigitalOcean's registry name rule; ending in a letter or digit too, or no repository name could start with it. */
export const registryName = z
  .string()
  .regex(/^[a-z][a-z0-9-]{0,62}$/, 'registry names are 1-63 characters of a-z, 0-9 and "-", starting with a letter')
  .refine((n) => !n.endsWith('-'), 'registry names end with a letter or digit, as repository names must')
  .refine((n) => !RESERVED_NAMES.has(n), 'this name is reserved by the API');

const createRegistryBody = z
  .object({ name: registryName, subscription_tier_slug: z.string().optional(), region: z.string().optional(), public: z.boolean().default(false) })
  .passthrough();
const validateNameBody = z.object({ name: registryName });
const updateRegistryBody = z.object({ public: z.boolean() }).strict();
const createGrantBody = z
  .object({
    subject_kind: z.enum(['user', 'team', 'robot']),
    subject: z.string().min(1),
    role: z.enum(ROLES),
    repository_pattern: z.string().regex(/^[a-z0-9*._\/-]{1,255}$/, 'a glob over repository names, e.g. team-a/*').nullable().default(null),
  })
  .strict();

const iso = (at: number) => new Date(at).toISOString();

/** A tier in DigitalOcean's shape; null limits mean "no limit" (clients that want integers read 0, DigitalOcean's "unlimited"). */
export const tierView = (t: Tier) => ({
  name: t.name,
  slug: t.slug,
  included_repositories: t.includedRepositories,
  included_storage_bytes: t.includedStorageBytes,
  allow_storage_overage: t.allowStorageOverage,
  included_bandwidth_bytes: t.includedBandwidthBytes,
  monthly_price_in_cents: t.monthlyPriceInCents,
  storage_overage_price_in_cents: t.storageOveragePricePerGbInCents,
});

export const subscriptionView = (a: RegistryAccount, tier: Tier) => ({
  tier: tierView(tier),
  created_at: iso(a.createdAt),
  updated_at: iso(a.tierUpdatedAt ?? a.createdAt),
});

const registryView = (r: RegistryRecord, a: RegistryAccount, accounts: RegistryAccounts) => ({
  name: r.name,
  created_at: iso(r.createdAt),
  region: a.region,
  storage_usage_bytes: a.storageBytes,
  storage_usage_bytes_updated_at: iso(a.storageUpdatedAt ?? a.createdAt),
  subscription: subscriptionView(a, accounts.tiers.of(a.tierSlug)),
  public: r.public,
});

const grantView = (g: GrantRecord) => ({
  id: g.id,
  subject_kind: g.subjectKind,
  subject: g.subjectName,
  role: g.role,
  repository_pattern: g.repositoryPattern,
  created_at: new Date(g.createdAt).toISOString(),
});

/** Tiers, quotas and usage; the server always wires them. */
export function accountsOf(ctx: ApiContext): RegistryAccounts {
  if (!ctx.registry.accounts) throw new Error('registry accounts (tiers, usage) are not configured');
  return ctx.registry.accounts;
}

/** The registry, if the caller may see it; 404 otherwise, so its existence is not revealed. */
export async function requireVisible(ctx: ApiContext, req: FastifyRequest, name: string) {
  const principal = await caller(ctx, req);
  const visible = await ctx.access.authorizer.visibleRegistries(principal);
  const registry = await ctx.access.store.getRegistry(name);
  if (!registry || (visible !== 'all' && !visible.has(name))) throw notFound(`registry ${name}`);
  return { principal, registry };
}

async function viewOf(ctx: ApiContext, r: RegistryRecord) {
  const accounts = accountsOf(ctx);
  const account = await accounts.store.getAccount(r.name);
  if (!account) throw notFound(`registry ${r.name}`);
  return registryView(r, account, accounts);
}

export const paramsOf = (req: FastifyRequest) => req.params as { registry: string };

/** /api/v2/registries: DigitalOcean's registries API (list, create, get, delete, validate-name), the public flag, and grants. */
export function registerRegistryRoutes(api: FastifyInstance, ctx: ApiContext): void {
  const { store, authorizer, authenticator } = ctx.access;

  api.get('/registries', doc({ summary: 'List the registries the caller may see', tags: ['Registries'], query: pageQuery, responses: { '200': '`{registries, total_storage_usage_bytes, links, meta}`.' } }), async (req) => {
    const me = await caller(ctx, req);
    const q = pageQuery.parse(req.query);
    const accounts = accountsOf(ctx);
    const visible = await authorizer.visibleRegistries(me);
    const byName = new Map((await accounts.store.listAccounts()).map((a) => [a.name, a]));
    const views = (await store.listRegistries())
      .filter((r) => (visible === 'all' || visible.has(r.name)) && byName.has(r.name))
      .map((r) => registryView(r, byName.get(r.name)!, accounts));
    const page = paginate(views, q, '/api/v2/registries');
    return {
      registries: page.items,
      // Across every registry the caller may see, not just this page.
      total_storage_usage_bytes: views.reduce((sum, v) => sum + v.storage_usage_bytes, 0),
      links: page.links,
      meta: page.meta,
    };
  });

  api.post('/registries', doc({ summary: 'Create a registry', tags: ['Registries'], body: createRegistryBody, responses: { '201': '`{registry}`.', '403': 'The caller may not create registries.', '409': 'The name is taken.', '422': 'An invalid name, or no such tier or region.' } }), async (req, reply) => {
    const me = await caller(ctx, req);
    const body = createRegistryBody.parse(req.body);
    if (!authorizer.canCreateRegistry(me)) throw forbidden('creating registries needs a server administrator or the can_create_registries permission');
    const { tiers } = accountsOf(ctx);
    const tier = body.subscription_tier_slug === undefined ? tiers.defaultTier : tiers.get(body.subscription_tier_slug);
    if (!tier) throw unprocessable(`subscription_tier_slug: no tier ${body.subscription_tier_slug}; choose one of ${tiers.slugs().join(', ')}`);
    const region = body.region ?? tiers.defaultRegion;
    if (!tiers.regions.includes(region)) throw unprocessable(`region: no region ${region}; choose one of ${tiers.regions.join(', ')}`);
    if (await store.getRegistry(body.name)) throw conflict(`registry ${body.name} already exists`);
    const registry = await store.createRegistry(body.name, body.public, { tierSlug: tier.slug, region });
    if (me.kind === 'user' && !me.serverAdmin) {
      await store.addGrant({ registryId: registry.id, subjectKind: 'user', subjectId: me.id, role: 'admin', repositoryPattern: null });
    }
    const detail = { public: body.public, subscription_tier_slug: tier.slug, region };
    await audit(ctx, req, me, { action: 'registry.create', outcome: 'success', registry: registry.name, resource: registry.name, detail });
    reply.code(201).send({ registry: await viewOf(ctx, registry) });
  });

  /** 204 when the name is free, 409 when taken, 422 when it is not a valid name. */
  api.post('/registries/validate-name', doc({ summary: 'Check that a registry name is valid and free', tags: ['Registries'], body: validateNameBody, responses: { '204': 'The name is free.', '409': 'The name is taken.', '422': 'Not a valid name.' } }), async (req, reply) => {
    await caller(ctx, req);
    const { name } = validateNameBody.parse(req.body);
    if (await store.getRegistry(name)) throw conflict(`registry name ${name} is taken`);
    reply.code(204).send();
  });

  api.get('/registries/:registry', doc({ summary: 'Get a registry', tags: ['Registries'], responses: { '200': '`{registry}`.', '404': 'No such registry (or not visible to the caller).' } }), async (req) => {
    const { registry } = await requireVisible(ctx, req, paramsOf(req).registry);
    return { registry: await viewOf(ctx, registry) };
  });

  api.patch('/registries/:registry', doc({ summary: 'Make a registry public or private', tags: ['Registries'], body: updateRegistryBody, responses: { '200': '`{registry}`.', '403': 'Not an admin of the registry.', '404': 'No such registry.' } }), async (req) => {
    const { principal, registry } = await requireRegistryAdmin(ctx, req, paramsOf(req).registry);
    const body = updateRegistryBody.parse(req.body);
    await store.setRegistryPublic(registry.id, body.public);
    await audit(ctx, req, principal, { action: 'registry.update', outcome: 'success', registry: registry.name, resource: registry.name, detail: body });
    return { registry: await viewOf(ctx, (await store.getRegistry(registry.name))!) };
  });

  /** Removes the registry with its repositories, manifests, tags, robots and grants; its blobs become garbage for GC. */
  api.delete('/registries/:registry', doc({ summary: 'Delete a registry with its repositories, robots and grants', tags: ['Registries'], description: 'Its blobs become garbage for garbage collection.', responses: { '204': 'Deleted.', '403': 'Not an admin of the registry.', '404': 'No such registry.' } }), async (req, reply) => {
    const { principal, registry } = await requireRegistryAdmin(ctx, req, paramsOf(req).registry);
    if (!(await ctx.registry.deleteRegistry(registry.name))) throw notFound(`registry ${registry.name}`);
    authenticator.forget(); // its robots' remembered credentials
    await audit(ctx, req, principal, { action: 'registry.delete', outcome: 'success', registry: registry.name, resource: registry.name });
    reply.code(204).send();
  });

  api.get('/registries/:registry/grants', doc({ summary: 'List the grants of a registry', tags: ['Grants'], responses: { '200': '`{grants}`.', '403': 'Not an admin of the registry.', '404': 'No such registry.' } }), async (req) => {
    const { registry } = await requireRegistryAdmin(ctx, req, (req.params as { registry: string }).registry);
    return { grants: (await store.listGrants(registry.id)).map(grantView) };
  });

  api.post('/registries/:registry/grants', doc({ summary: 'Grant a role to a user, team or robot', tags: ['Grants'], body: createGrantBody, responses: { '201': '`{grant}`.', '400': 'A repository pattern outside the registry.', '403': 'Not an admin of the registry.', '404': 'No such registry or subject.' } }), async (req, reply) => {
    const { principal, registry } = await requireRegistryAdmin(ctx, req, (req.params as { registry: string }).registry);
    const body = createGrantBody.parse(req.body);
    checkRepositoryPattern(body.repository_pattern, registry.name);
    const subjectId = await resolveSubject(ctx, body.subject_kind, body.subject, registry.name);
    const id = await store.addGrant({ registryId: registry.id, subjectKind: body.subject_kind, subjectId, role: body.role, repositoryPattern: body.repository_pattern });
    authenticator.forget();
    await audit(ctx, req, principal, { action: 'grant.create', outcome: 'success', registry: registry.name, resource: `${body.subject_kind}:${body.subject}`, detail: { role: body.role, repository_pattern: body.repository_pattern } });
    const grant = (await store.listGrants(registry.id)).find((g) => g.id === id)!;
    reply.code(201).send({ grant: grantView(grant) });
  });

  api.delete('/registries/:registry/grants/:id', doc({ summary: 'Remove a grant', tags: ['Grants'], responses: { '204': 'Removed.', '403': 'Not an admin of the registry.', '404': 'No such registry or grant.' } }), async (req, reply) => {
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
