import type { FastifyRequest } from 'fastify';
import type { AccessControl } from '../../auth/access-control.js';
import type { Principal } from '../../auth/principal.js';
import { cookieValue, csrfTokenMatches, SESSION_COOKIE } from '../../auth/sessions.js';
import { forbidden } from './api-error.js';

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);
const resolved = new WeakMap<FastifyRequest, Promise<Principal | undefined>>();

/** The session cookie's value, if the request carries one. */
export function sessionSecretOf(req: FastifyRequest): string | undefined {
  return cookieValue(req.headers.cookie, SESSION_COOKIE);
}

/**
 * The user of the request's session cookie, once per request; undefined without a
 * valid session. A state-changing request must also carry the session's CSRF token in
 * `X-CSRF-Token` (403 otherwise): the cookie goes with any request the browser makes,
 * the token only with the panel's own.
 */
export function sessionPrincipalOf(access: AccessControl, req: FastifyRequest): Promise<Principal | undefined> {
  let pending = resolved.get(req);
  if (!pending) {
    pending = resolve(access, req);
    resolved.set(req, pending);
  }
  return pending;
}

async function resolve(access: AccessControl, req: FastifyRequest): Promise<Principal | undefined> {
  const secret = sessionSecretOf(req);
  if (!secret || !access.options.enabled) return undefined;
  const session = await access.sessions.resume(secret);
  if (!session) return undefined;
  if (!SAFE_METHODS.has(req.method)) {
    const header = req.headers['x-csrf-token'];
    if (!csrfTokenMatches(secret, Array.isArray(header) ? header[0] : header)) {
      throw forbidden('missing or wrong CSRF token: send the X-CSRF-Token header the control panel got at sign-in (GET /api/v2/session)');
    }
  }
  return session.principal;
}
