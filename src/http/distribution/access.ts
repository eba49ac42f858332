import type { FastifyRequest } from 'fastify';
import type { AccessControl } from '../../auth/access-control.js';
import type { Principal } from '../../auth/principal.js';
import { principalName } from '../../auth/principal.js';
import type { Action } from '../../auth/scopes.js';
import { isDigestLike } from '../../oci/digest.js';
import { RegistryError } from '../../oci/errors.js';
import { registryOf, type RepoName } from '../../oci/name.js';
import { AuthenticationError, principalOf, sourceOf } from '../request-principal.js';
import type { DistributionRoute } from './route.js';

/** What a request needs: an action on a repository, or just a signed-in caller (`/v2/`, `_catalog`). */
export type Requirement = { action: Action; repository: RepoName } | { signedIn: true; catalog?: boolean };

export function requirementOf(route: DistributionRoute, method: string): Requirement {
  switch (route.kind) {
    case 'base':
      return { signedIn: true };
    case 'catalog':
      return { signedIn: true, catalog: true };
    case 'tags':
    case 'referrers':
      return { action: 'pull', repository: route.name };
    case 'manifest':
      if (method === 'PUT') return { action: 'push', repository: route.name };
      // Untagging is a tag change (push); deleting a manifest by digest removes content (delete).
      if (method === 'DELETE') return { action: isDigestLike(route.reference) ? 'delete' : 'push', repository: route.name };
      return { action: 'pull', repository: route.name };
    case 'blob':
      return { action: method === 'DELETE' ? 'delete' : 'pull', repository: route.name };
    case 'uploads':
    case 'upload':
      return { action: 'push', repository: route.name };
  }
}

/**
 * Authenticates and authorises a /v2/ request, or throws the error a client
 * understands: 401 with a Bearer challenge (which the token endpoint can
 * answer), or 403 DENIED when asking again cannot help. Denials are audited.
 */
export async function enforce(access: AccessControl, req: FastifyRequest, requirement: Requirement): Promise<Principal> {
  if (!access.options.enabled) return principalOf(req, access);
  let principal: Principal;
  try {
    principal = await principalOf(req, access);
  } catch (err) {
    if (err instanceof AuthenticationError) throw unauthorized(access, req, requirement, err.message);
    throw err;
  }
  if ('signedIn' in requirement) {
    if (principal.kind === 'anonymous') throw unauthorized(access, req, requirement, 'authentication required');
    // As with repositories, a registry token only opens the catalog if it was issued for it.
    if (requirement.catalog && principal.kind === 'bearer' && !principal.access.some((c) => c.type === 'registry' && c.name === 'catalog' && c.actions.length > 0)) {
      throw unauthorized(access, req, requirement, 'token does not cover the catalog', 'insufficient_scope');
    }
    return principal;
  }
  const { action, repository } = requirement;
  if (await access.authorizer.can(principal, action, repository)) {
    if (action === 'push') await createRegistryOnFirstPush(access, principal, req, repository);
    return principal;
  }
  await access.audit.record(principal, sourceOf(req), {
    action: `repository.${action}`,
    outcome: 'denied',
    registry: registryOf(repository),
    resource: repository,
    reason: principal.kind === 'anonymous' ? 'authentication required' : 'not permitted',
  });
  // Anonymous callers (bare, or holding an anonymous token) are told to sign in, as Docker clients expect.
  if (principal.kind === 'anonymous' || (principal.kind === 'bearer' && principal.subjectKind === 'anonymous')) {
    throw unauthorized(access, req, requirement, 'authentication required');
  }
  // A bearer token that never asked for this scope: challenge, so the client fetches one that does.
  if (principal.kind === 'bearer' && !principal.access.some((c) => c.type === 'repository' && c.name === repository && c.actions.includes(action))) {
    const asked = principal.access.some((c) => c.type === 'repository' && c.name === repository);
    if (!asked) throw unauthorized(access, req, requirement, 'token does not cover this repository', 'insufficient_scope');
  }
  throw await denied(access, principal, action, repository);
}

async function denied(access: AccessControl, principal: Principal, action: Action, repository: RepoName): Promise<RegistryError> {
  const registry = registryOf(repository);
  if (action === 'push' && !(await access.store.getRegistry(registry))) {
    return new RegistryError(
      'DENIED',
      `registry "${registry}" does not exist and ${principalName(principal)} may not create it: ask a server administrator to create it (berth registry create ${registry}) or to grant you registry creation`,
      { registry },
    );
  }
  return new RegistryError('DENIED', `requested access to the resource is denied: ${action} on ${repository}`, [{ Type: 'repository', Name: repository, Action: action }]);
}

/** A push into a registry that does not exist yet creates it; a non-admin creator becomes its admin. */
async function createRegistryOnFirstPush(access: AccessControl, principal: Principal, req: FastifyRequest, repository: RepoName): Promise<void> {
  if (!access.options.enabled) return;
  const name = registryOf(repository);
  if (await access.store.getRegistry(name)) return;
  const registry = await access.store.createRegistry(name, false);
  const creator = principal.kind === 'bearer' ? await access.identityOf(principal) : principal;
  if (creator.kind === 'user' && !creator.serverAdmin) {
    await access.store.addGrant({ registryId: registry.id, subjectKind: 'user', subjectId: creator.id, role: 'admin', repositoryPattern: null });
  }
  await access.audit.record(principal, sourceOf(req), { action: 'registry.create', outcome: 'success', registry: name, resource: name, reason: 'first push' });
}

function unauthorized(access: AccessControl, req: FastifyRequest, requirement: Requirement, message: string, error?: string): RegistryError {
  const realm = access.options.realm ?? `${req.protocol}://${req.host || 'localhost'}/token`;
  let challenge = `Bearer realm="${realm}",service="${access.options.service}"`;
  if ('action' in requirement) {
    const actions = requirement.action === 'push' ? 'pull,push' : requirement.action;
    challenge += `,scope="repository:${requirement.repository}:${actions}"`;
  } else if (requirement.catalog) {
    challenge += ',scope="registry:catalog:*"';
  }
  if (error) challenge += `,error="${error}"`;
  const detail = 'action' in requirement ? [{ Type: 'repository', Name: requirement.repository, Action: requirement.action }] : undefined;
  return new RegistryError('UNAUTHORIZED', message, detail, { headers: { 'www-authenticate': challenge } });
}
