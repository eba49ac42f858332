import type { FastifyRequest } from 'fastify';
import type { Principal } from '../../auth/principal.js';
import type { Action } from '../../auth/scopes.js';
import { pathInRegistry, repositoryListingOf, type RepositoryRef } from '../../core/repository-listing.js';
import { forbidden, notFound } from './api-error.js';
import { audit, caller, type ApiContext } from './context.js';

export interface RepoParams {
  registry: string;
  repo: string;
}

/**
 * How the per-repository management routes find what a request names and check
 * the caller may act on it: registries and repositories the caller may not see
 * are 404 (their names do not leak); a missing permission beyond that is 403, audited.
 */
export function repositoryAccess(ctx: ApiContext) {
  const { store, authorizer } = ctx.access;

  async function registryFor(req: FastifyRequest, name: string) {
    const principal = await caller(ctx, req);
    const registry = await store.getRegistry(name);
    const visible = await authorizer.visibleRegistries(principal);
    if (!registry || (visible !== 'all' && !visible.has(name))) throw notFound(`registry ${name}`);
    return { principal, registry, admin: await authorizer.isRegistryAdmin(principal, name) };
  }

  /** The repository of `req.params`, if the caller may pull it (404 otherwise), and may take `action` on it (403 otherwise). */
  async function repositoryFor(req: FastifyRequest, action: Action) {
    const params = req.params as RepoParams;
    const { principal, registry, admin } = await registryFor(req, params.registry);
    const repo = await repositoryListingOf(ctx.registry).resolve(registry.name, params.repo);
    const may = async (a: Action, r: RepositoryRef) => admin || (await authorizer.can(principal, a, r.name));
    if (!repo || !(await may('pull', repo))) throw notFound(`repository ${params.repo} in registry ${registry.name}`);
    if (action !== 'pull' && !(await may(action, repo))) {
      await deny(req, principal, registry.name, repo.name, action);
      throw forbidden(`this needs the ${action} permission on ${repo.name}`);
    }
    return { principal, registry: registry.name, repo, path: pathInRegistry(registry.name, repo.name) };
  }

  const deny = (req: FastifyRequest, principal: Principal, registry: string, resource: string, action: Action) =>
    audit(ctx, req, principal, { action: 'api.denied', outcome: 'denied', registry, resource, reason: `${action} required: ${req.method} ${req.routeOptions.url ?? ''}` });

  return { registryFor, repositoryFor };
}
