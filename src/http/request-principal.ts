import type { FastifyRequest } from 'fastify';
import type { AccessControl } from '../auth/access-control.js';
import { AuthenticationError } from '../auth/authenticator.js';
import { principalName, type Principal } from '../auth/principal.js';
import type { Actor } from '../core/registry-events.js';

const principals = new WeakMap<FastifyRequest, Principal>();

/** Everything is allowed when access control is switched off (development only). */
const UNRESTRICTED: Principal = { kind: 'user', id: 0, name: 'unauthenticated', serverAdmin: true, canCreateRegistries: true, scopes: null, via: 'password' };

export function sourceOf(req: FastifyRequest): string {
  return req.ip;
}

/**
 * The request's principal, authenticated once per request. Throws
 * AuthenticationError for credentials that are present but wrong.
 */
export async function principalOf(req: FastifyRequest, access: AccessControl): Promise<Principal> {
  const known = principals.get(req);
  if (known) return known;
  const header = req.headers.authorization;
  const principal = access.options.enabled ? await access.authenticator.fromHeader(header, sourceOf(req)) : UNRESTRICTED;
  principals.set(req, principal);
  return principal;
}

/** Who makes a change, as events name them: the principal, and the host the client addressed (for pull references). */
export function actorOf(req: FastifyRequest, principal: Principal): Actor {
  return { name: principalName(principal), host: req.host };
}

export { AuthenticationError };
