import type { FastifyRequest } from 'fastify';
import type { AccessControl } from '../../auth/access-control.js';
import type { AuditEntry } from '../../auth/audit-log.js';
import { AuthenticationError } from '../../auth/authenticator.js';
import type { Principal } from '../../auth/principal.js';
import type { Registry } from '../../core/registry.js';
import { principalOf, sourceOf } from '../request-principal.js';
import { sessionPrincipalOf } from './session-auth.js';
import { ApiError, forbidden, notFound } from './api-error.js';

/** What every management handler works with: the caller, and the services. */
export interface ApiContext {
  access: AccessControl;
  registry: Registry;
}

/**
 * The signed-in caller: from the Authorization header, or else the session cookie (with its
 * CSRF token on state-changing calls); 401 for anonymous or bad credentials. Registry JWTs are for /v2/ only.
 */
export async function caller(ctx: ApiContext, req: FastifyRequest): Promise<Principal & { kind: 'user' | 'robot' }> {
  let principal: Principal;
  try {
    principal = await principalOf(req, ctx.access);
    // No Authorization header: the control panel's session cookie (the API only; /v2/ never reads it).
    if (principal.kind === 'anonymous') principal = (await sessionPrincipalOf(ctx.access, req)) ?? principal;
  } catch (err) {
    if (err instanceof AuthenticationError) throw unauthorized(err.message);
    throw err;
  }
  if (principal.kind === 'anonymous') throw unauthorized('authentication required: send a personal access token as "Authorization: Bearer <token>", or Basic credentials');
  if (principal.kind === 'bearer') throw unauthorized('registry tokens are not accepted here; use a personal access token');
  return principal;
}

export async function requireServerAdmin(ctx: ApiContext, req: FastifyRequest): Promise<Principal & { kind: 'user' | 'robot' }> {
  const principal = await caller(ctx, req);
  if (!ctx.access.authorizer.isServerAdmin(principal)) {
    await audit(ctx, req, principal, { action: 'api.denied', outcome: 'denied', resource: `${req.method} ${req.routeOptions.url ?? req.url}`, reason: 'server admin required' });
    throw forbidden('this needs a server administrator (and a password or an unscoped token)');
  }
  return principal;
}

/** The registry (404 if it does not exist or the caller may not see it) and its admin check. */
export async function requireRegistryAdmin(ctx: ApiContext, req: FastifyRequest, registryName: string) {
  const principal = await caller(ctx, req);
  const registry = await ctx.access.store.getRegistry(registryName);
  if (!registry) throw notFound(`registry ${registryName}`);
  if (!(await ctx.access.authorizer.isRegistryAdmin(principal, registryName))) {
    await audit(ctx, req, principal, { action: 'api.denied', outcome: 'denied', registry: registryName, resource: `${req.method} ${req.routeOptions.url ?? req.url}`, reason: 'registry admin required' });
    const visible = await ctx.access.authorizer.visibleRegistries(principal);
    if (visible !== 'all' && !visible.has(registryName)) throw notFound(`registry ${registryName}`);
    throw forbidden(`this needs the admin role on registry ${registryName}`);
  }
  return { principal, registry };
}

export function audit(ctx: ApiContext, req: FastifyRequest, principal: Principal, entry: AuditEntry): Promise<void> {
  return ctx.access.audit.record(principal, sourceOf(req), entry);
}

function unauthorized(message: string): ApiError {
  return new ApiError(401, 'unauthorized', message, { 'www-authenticate': 'Bearer realm="berth"' });
}
