import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { AuthenticationError } from '../../auth/authenticator.js';
import { csrfTokenOf, SESSION_COOKIE } from '../../auth/sessions.js';
import { sourceOf } from '../request-principal.js';
import { ApiError } from './api-error.js';
import { caller, type ApiContext } from './context.js';
import { doc } from './openapi.js';
import { sessionSecretOf } from './session-auth.js';
import { accountOf } from './users.js';

const signInBody = z.object({ username: z.string().min(1).max(200), password: z.string().min(1).max(1024) }).strict();

/** The cookie's attributes: never readable by scripts, not sent on cross-site subrequests, HTTPS-only when served over HTTPS. */
function sessionCookie(req: FastifyRequest, value: string, maxAgeSeconds: number): string {
  const secure = req.protocol === 'https' ? '; Secure' : '';
  return `${SESSION_COOKIE}=${value}; Path=/; HttpOnly; SameSite=Lax; Max-Age=${maxAgeSeconds}${secure}`;
}

function noStore(reply: FastifyReply): void {
  reply.header('cache-control', 'no-store');
}

/**
 * Control-panel sign-in: `POST /session` checks a username and password and sets the
 * session cookie; `GET` tells the panel who is signed in and its CSRF token; `DELETE` signs out.
 */
export function registerSessionRoutes(api: FastifyInstance, ctx: ApiContext): void {
  const { sessions } = ctx.access;

  api.post('/session', doc({ summary: 'Sign in to the control panel (sets the session cookie)', tags: ['Account'], description: 'Password sign-in only (a token secret is refused). Throttled and audited like every login. The answer carries `csrf_token`, to be sent as `X-CSRF-Token` on every state-changing call made with the cookie.', body: signInBody, responses: { '200': '`{account, csrf_token, expires_at}` and `Set-Cookie: berth_session=…; HttpOnly; SameSite=Lax`.', '401': 'Wrong username or password.', '429': 'Too many failed sign-ins.' } }), async (req, reply) => {
    const body = signInBody.parse(req.body);
    let started;
    try {
      started = await sessions.start(body.username, body.password, sourceOf(req), String(req.headers['user-agent'] ?? 'unknown client'));
    } catch (err) {
      if (err instanceof AuthenticationError) throw new ApiError(401, 'unauthorized', 'wrong username or password');
      throw err;
    }
    noStore(reply);
    reply.header('set-cookie', sessionCookie(req, started.secret, Math.floor((started.expiresAt - Date.now()) / 1000)));
    return { account: await accountOf(ctx, started.principal), csrf_token: started.csrfToken, expires_at: new Date(started.expiresAt).toISOString() };
  });

  api.get('/session', doc({ summary: 'The signed-in control-panel session', tags: ['Account'], responses: { '200': '`{account, csrf_token, expires_at}`.', '401': 'No session (or it expired or was revoked).' } }), async (req, reply) => {
    noStore(reply);
    if (!ctx.access.options.enabled) {
      // Access control switched off (development): everyone is the unrestricted user.
      const me = await caller(ctx, req);
      return { account: await accountOf(ctx, me), csrf_token: '', expires_at: null };
    }
    const secret = sessionSecretOf(req);
    const session = secret ? await sessions.resume(secret) : undefined;
    if (!secret || !session) throw new ApiError(401, 'unauthorized', 'not signed in');
    return { account: await accountOf(ctx, session.principal), csrf_token: csrfTokenOf(secret), expires_at: new Date(session.expiresAt).toISOString() };
  });

  api.delete('/session', doc({ summary: 'Sign out of the control panel', tags: ['Account'], description: 'Revokes the session (the cookie is worthless afterwards, wherever it was copied) and clears the cookie. Needs `X-CSRF-Token`.', responses: { '204': 'Signed out.', '401': 'No session.', '403': 'Missing or wrong CSRF token.' } }), async (req, reply) => {
    const me = await caller(ctx, req);
    const secret = sessionSecretOf(req);
    if (!secret || me.kind !== 'user' || me.via !== 'session') throw new ApiError(401, 'unauthorized', 'not signed in to the control panel');
    await sessions.end(me, secret, sourceOf(req));
    noStore(reply);
    reply.header('set-cookie', sessionCookie(req, '', 0)).code(204).send();
  });
}
