import type { FastifyInstance, FastifyRequest } from 'fastify';
import { z } from 'zod';
import type { ImmutableTagRule } from '../../core/immutable-tags.js';
import { principalName } from '../../auth/principal.js';
import { ApiError, notFound } from './api-error.js';
import { audit, requireRegistryAdmin, type ApiContext } from './context.js';
import { doc } from './openapi.js';
import { repositoryAccess } from './repository-access.js';

const createBody = z
  .object({
    tag_pattern: z.string().min(1).max(128).regex(/^[A-Za-z0-9_.*-]+$/, 'a tag glob: letters, digits, _ . - and *'),
    repository_pattern: z.string().min(1).max(255).regex(/^[a-z0-9._/*-]+$/, 'a repository glob: a-z 0-9 . _ - / and * (one component) or ** (any)').default('**'),
  })
  .strict();

const ruleView = (r: ImmutableTagRule, registry: string) => ({
  id: r.id,
  registry_name: registry,
  tag_pattern: r.tagPattern,
  repository_pattern: r.repositoryPattern,
  created_by: r.createdBy,
  created_at: new Date(r.createdAt).toISOString(),
});

/**
 * /api/v2/registries/{registry}/immutable-tags: rules that make tags immutable.
 * Anyone who sees the registry may read them; its admins add and lift them.
 */
export function registerImmutableTagRoutes(api: FastifyInstance, ctx: ApiContext): void {
  const { registryFor } = repositoryAccess(ctx);
  const store = () => {
    if (!ctx.registry.immutableTagStore) throw new ApiError(501, 'not_implemented', 'immutable tags are not available on this server');
    return ctx.registry.immutableTagStore;
  };
  const registryName = (req: FastifyRequest) => (req.params as { registry: string }).registry;

  api.get('/registries/:registry/immutable-tags', doc({ summary: 'List the immutable-tag rules of a registry', tags: ['Immutable tags'], responses: { '200': '`{immutable_tags}`.', '404': 'No such registry.' } }), async (req) => {
    const { registry } = await registryFor(req, registryName(req));
    return { immutable_tags: (await store().rulesOf(registry.name)).map((r) => ruleView(r, registry.name)) };
  });

  api.post('/registries/:registry/immutable-tags', doc({ summary: 'Make tags immutable', tags: ['Immutable tags'], description: 'Tags matching `tag_pattern` in repositories matching `repository_pattern` (default `**`, every repository) can no longer be moved or deleted, nor the manifests they name; a push of the same manifest again is allowed. Existing tags are covered at once.', body: createBody, responses: { '201': '`{immutable_tag}`.', '403': 'Not an admin of the registry.', '404': 'No such registry.' } }), async (req, reply) => {
    const { principal, registry } = await requireRegistryAdmin(ctx, req, registryName(req));
    const body = createBody.parse(req.body ?? {});
    const rule = await store().addRule({ registryId: registry.id, tagPattern: body.tag_pattern, repositoryPattern: body.repository_pattern, createdBy: principalName(principal), createdAt: Date.now() });
    await audit(ctx, req, principal, { action: 'immutable_tag.create', outcome: 'success', registry: registry.name, resource: String(rule.id), detail: { tag_pattern: rule.tagPattern, repository_pattern: rule.repositoryPattern } });
    reply.code(201);
    return { immutable_tag: ruleView(rule, registry.name) };
  });

  api.delete('/registries/:registry/immutable-tags/:id', doc({ summary: 'Lift an immutable-tag rule', tags: ['Immutable tags'], description: 'The tags it covered may move and be deleted again (unless another rule covers them). Audited as `immutable_tag.lift`.', responses: { '204': 'Lifted.', '403': 'Not an admin of the registry.', '404': 'No such registry or rule.' } }), async (req, reply) => {
    const { principal, registry } = await requireRegistryAdmin(ctx, req, registryName(req));
    const id = Number((req.params as { id: string }).id);
    const rule = (await store().rulesOf(registry.name)).find((r) => r.id === id);
    if (!Number.isSafeInteger(id) || !rule || !(await store().removeRule(registry.id, id))) throw notFound(`immutable-tag rule ${String((req.params as { id: string }).id).slice(0, 20)} in registry ${registry.name}`);
    await audit(ctx, req, principal, { action: 'immutable_tag.lift', outcome: 'success', registry: registry.name, resource: String(id), detail: { tag_pattern: rule.tagPattern, repository_pattern: rule.repositoryPattern } });
    reply.code(204).send();
  });
}
