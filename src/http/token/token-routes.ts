import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { AccessControl } from '../../auth/access-control.js';
import { AuthenticationError } from '../../auth/authenticator.js';
import type { Principal } from '../../auth/principal.js';
import type { AccessClaim } from '../../auth/registry-tokens.js';
import { ACTIONS, parseResourceScopes } from '../../auth/scopes.js';
import { mintSecret } from '../../auth/secrets.js';
import { RegistryError } from '../../oci/errors.js';
import { parseRepoName } from '../../oci/name.js';
import { readSmallBody } from '../distribution/headers.js';
import { principalOf, sourceOf } from '../request-principal.js';

const MAX_FORM_BYTES = 64 * 1024;

/**
 * Docker token authentication: `GET /token` (Basic credentials, or none for
 * anonymous pulls of public registries) and `POST /token` (OAuth2 password and
 * refresh_token grants). The access granted is the intersection of what was
 * asked and what the caller may do; a client can never widen it.
 */
export function registerTokenRoutes(app: FastifyInstance, access: AccessControl): void {
  app.get('/token', async (req, reply) => {
    const q = req.query as Record<string, string | string[] | undefined>;
    checkService(access, first(q.service));
    const principal = await authenticate(access, req);
    const scopes = ([] as string[]).concat(q.scope ?? []);
    const offline = first(q.offline_token) === 'true';
    return answer(access, reply, principal, scopes, offline);
  });

  app.post('/token', async (req, reply) => {
    const body = await readSmallBody(req, MAX_FORM_BYTES, () => new RegistryError('SIZE_INVALID', 'token request too large'));
    const form = new URLSearchParams(body.toString('utf8'));
    checkService(access, form.get('service') ?? undefined);
    const grant = form.get('grant_type');
    let principal: Principal;
    try {
      if (grant === 'password') {
        principal = await access.authenticator.login(form.get('username') ?? '', form.get('password') ?? '', sourceOf(req));
      } else if (grant === 'refresh_token') {
        principal = await access.authenticator.refreshLogin(form.get('refresh_token') ?? '', sourceOf(req));
      } else {
        throw new RegistryError('UNSUPPORTED', `unsupported grant_type ${String(grant).slice(0, 40)}; use password or refresh_token`);
      }
    } catch (err) {
      if (err instanceof AuthenticationError) throw unauthorized(err.message);
      throw err;
    }
    const scopes = (form.get('scope') ?? '').split(' ').filter((s) => s !== '');
    return answer(access, reply, principal, scopes, form.get('access_type') === 'offline' && grant === 'password');
  });
}

async function authenticate(access: AccessControl, req: FastifyRequest): Promise<Principal> {
  try {
    const principal = await principalOf(req, access);
    if (principal.kind === 'bearer') throw unauthorized('use Basic credentials (username and password or token) at the token endpoint');
    return principal;
  } catch (err) {
    if (err instanceof AuthenticationError) throw unauthorized(err.message);
    throw err;
  }
}

async function answer(access: AccessControl, reply: FastifyReply, principal: Principal, scopes: string[], offline: boolean): Promise<FastifyReply> {
  const claims = await grantedAccess(access, principal, scopes);
  const subject = principal.kind === 'anonymous' ? 'anonymous' : principal.name;
  const subjectKind = principal.kind === 'user' || principal.kind === 'robot' ? principal.kind : 'anonymous';
  const issued = await access.tokens.issue(subject, subjectKind, claims);
  const body: Record<string, unknown> = {
    token: issued.token,
    access_token: issued.token,
    expires_in: issued.expiresIn,
    issued_at: issued.issuedAt.toISOString(),
  };
  if (scopes.length > 0) body.scope = scopes.join(' ');
  if (offline && principal.kind === 'user' && principal.via === 'password') {
    body.refresh_token = await issueRefreshToken(access, principal.id);
  }
  return reply.header('cache-control', 'no-store').send(body);
}

/** For each requested scope, the requested actions the caller actually has (possibly none). */
async function grantedAccess(access: AccessControl, principal: Principal, scopes: string[]): Promise<AccessClaim[]> {
  const claims: AccessClaim[] = [];
  for (const scope of parseResourceScopes(scopes)) {
    if (scope.type === 'registry' && scope.name === 'catalog') {
      claims.push({ type: 'registry', name: 'catalog', actions: principal.kind === 'anonymous' ? [] : ['*'] });
      continue;
    }
    if (scope.type !== 'repository') continue;
    let name;
    try {
      name = parseRepoName(scope.name);
    } catch {
      continue;
    }
    const allowed = await access.authorizer.repositoryActions(principal, name);
    const asked = scope.actions.includes('*') ? [...ACTIONS] : scope.actions;
    claims.push({ type: 'repository', name, actions: ACTIONS.filter((a) => asked.includes(a) && allowed.has(a)) });
  }
  return claims;
}

async function issueRefreshToken(access: AccessControl, userId: number): Promise<string> {
  const minted = mintSecret('refresh');
  const now = Date.now();
  await access.store.createToken({
    id: minted.id,
    kind: 'refresh',
    ownerKind: 'user',
    ownerId: userId,
    name: 'docker login',
    secretHash: minted.secretHash,
    scopes: null,
    expiresAt: now + access.options.refreshTokenTtlDays * 86_400_000,
    createdAt: now,
  });
  return minted.secret;
}

function checkService(access: AccessControl, service: string | undefined): void {
  if (service !== undefined && service !== access.options.service) {
    throw new RegistryError('UNSUPPORTED', `this token endpoint serves "${access.options.service}", not "${service.slice(0, 80)}"`);
  }
}

function unauthorized(message: string): RegistryError {
  return new RegistryError('UNAUTHORIZED', message, undefined, { headers: { 'www-authenticate': 'Basic realm="berth"' } });
}

function first(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v;
}
