import { createHash, timingSafeEqual } from 'node:crypto';
import type { AccessStore } from './access-store.js';
import type { AuditLog } from './audit-log.js';
import { AuthenticationError, type Authenticator } from './authenticator.js';
import type { Principal } from './principal.js';
import { mintSecret, parseSecret, secretMatches } from './secrets.js';

export const SESSION_COOKIE = 'berth_session';
const PRUNE_AFTER_MS = 86_400_000;

export interface StartedSession {
  /** The cookie's value: a token secret, stored only as its hash. */
  secret: string;
  csrfToken: string;
  expiresAt: number;
  principal: Extract<Principal, { kind: 'user' }>;
}

/**
 * Control-panel sign-ins. A session is a token row of kind `session` (hashed,
 * expiring, revocable like any token, so sign-out and "revoke everywhere" are
 * row updates every node sees), carried only in an HttpOnly cookie and never
 * accepted as an Authorization header. Its CSRF token is derived from the
 * secret, so the server keeps no second value and a page on another site,
 * which cannot read our answers, cannot learn it.
 */
export class Sessions {
  constructor(
    private readonly store: AccessStore,
    private readonly authenticator: Authenticator,
    private readonly audit: AuditLog,
    private readonly ttlMs: number,
  ) {}

  /** Checks a username and password (throttled and audited like every login) and starts a session. */
  async start(username: string, password: string, source: string, client: string): Promise<StartedSession> {
    const principal = await this.authenticator.login(username, password, source);
    // A token secret typed as the password would turn a scoped token into a full session.
    if (principal.kind !== 'user' || principal.via !== 'password') throw new AuthenticationError('sign in with your password, not a token');
    const minted = mintSecret('session');
    const now = Date.now();
    const expiresAt = now + this.ttlMs;
    await this.store.createToken({ id: minted.id, kind: 'session', ownerKind: 'user', ownerId: principal.id, name: `control panel (${client.slice(0, 80)})`, secretHash: minted.secretHash, scopes: null, expiresAt, createdAt: now });
    await this.audit.record(principal, source, { action: 'session.start', outcome: 'success', resource: minted.id });
    // Each sign-in adds a row; the ones that can no longer be used go after a day (the audit log keeps their story).
    await this.store.pruneSessions(now - PRUNE_AFTER_MS);
    return { secret: minted.secret, csrfToken: csrfTokenOf(minted.secret), expiresAt, principal: { ...principal, via: 'session', tokenId: minted.id } };
  }

  /** The user a session cookie belongs to, or undefined when it is unknown, expired, revoked or its user disabled. */
  async resume(secret: string): Promise<{ principal: Extract<Principal, { kind: 'user' }>; expiresAt: number } | undefined> {
    const parsed = parseSecret(secret);
    if (!parsed) return undefined;
    const token = await this.store.getToken(parsed.id);
    if (!token || token.kind !== 'session' || !secretMatches(parsed.secretPart, token.secretHash)) return undefined;
    if (token.revokedAt !== null || token.expiresAt === null || token.expiresAt <= Date.now()) return undefined;
    const user = await this.store.getUserById(token.ownerId);
    if (!user || user.disabled) return undefined;
    return {
      principal: { kind: 'user', id: user.id, name: user.username, serverAdmin: user.serverAdmin, canCreateRegistries: user.canCreateRegistries, scopes: null, via: 'session', tokenId: token.id },
      expiresAt: token.expiresAt,
    };
  }

  /** Ends a session (sign-out): its row is revoked, so the cookie is worthless even if it was copied. */
  async end(principal: Principal, secret: string, source: string): Promise<void> {
    const parsed = parseSecret(secret);
    if (!parsed) return;
    await this.store.revokeToken(parsed.id, Date.now());
    await this.audit.record(principal, source, { action: 'session.end', outcome: 'success', resource: parsed.id });
  }
}

export function csrfTokenOf(sessionSecret: string): string {
  return createHash('sha256').update(`berth-csrf\0${sessionSecret}`).digest('base64url');
}

export function csrfTokenMatches(sessionSecret: string, presented: string | undefined): boolean {
  if (!presented) return false;
  const expected = Buffer.from(csrfTokenOf(sessionSecret));
  const given = Buffer.from(presented);
  return expected.length === given.length && timingSafeEqual(expected, given);
}

/** The value of one cookie in a Cookie header (the panel sets exactly one, so no cookie library). */
export function cookieValue(header: string | undefined, name: string): string | undefined {
  if (!header) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}
