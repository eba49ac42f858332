import { createHash } from 'node:crypto';
import { AUTH_TOPIC, type ChangeFeed } from '../core/change-feed.js';
import { RegistryError } from '../oci/errors.js';
import type { AccessStore } from './access-store.js';
import type { AuditLog } from './audit-log.js';
import { DUMMY_PASSWORD_HASH, verifyPassword } from './passwords.js';
import { ANONYMOUS, robotLogin, type Principal } from './principal.js';
import type { RegistryTokens } from './registry-tokens.js';
import { looksLikeSecret, parseSecret, secretMatches } from './secrets.js';
import type { LoginThrottle } from './throttle.js';

/**
 * How long a checked Basic credential is remembered, so scrypt runs once per
 * client, not per request. With several nodes, a change on any of them reaches
 * the others through the change feed; without it, only this node forgets.
 */
const CREDENTIAL_CACHE_MS = 10_000;
/** last_used_at is written at most this often per token. */
const TOUCH_EVERY_MS = 60_000;

/** A login that failed: the caller answers 401 (or 429 when throttled). */
export class AuthenticationError extends Error {
  constructor(
    message: string,
    readonly retryAfterSeconds?: number,
  ) {
    super(message);
  }
}

/**
 * Turns credentials into a Principal: HTTP Basic with a password or a token
 * secret, or a Bearer registry JWT. Every failure is throttled and audited.
 */
export class Authenticator {
  private readonly cache = new Map<string, { principal: Principal; until: number }>();
  /** Checks under way, by credential: concurrent requests with the same one wait for the same check. */
  private readonly checking = new Map<string, Promise<Principal>>();
  /** Moves on whenever the cache is cleared: a check that began before must not fill it afterwards. */
  private generation = 0;

  constructor(
    private readonly store: AccessStore,
    private readonly tokens: RegistryTokens,
    private readonly throttle: LoginThrottle,
    private readonly audit: AuditLog,
    /** How nodes sharing the metadata store tell each other to forget; none on a single node. */
    private readonly changes?: ChangeFeed,
  ) {
    // A change announced by any node, or a gap in the feed (changes may have been missed): forget everything.
    changes?.subscribe((topic) => {
      if (topic === undefined || topic === AUTH_TOPIC) this.clear();
    });
  }

  /**
   * Drops remembered credentials, here and, with a change feed, on every node:
   * called on any change to users, robots or tokens. Resolves once the other
   * nodes have been told (it never rejects).
   */
  forget(): Promise<void> {
    this.clear();
    return this.changes ? this.changes.publish(AUTH_TOPIC).catch(() => undefined) : Promise.resolve();
  }

  private clear(): void {
    this.cache.clear();
    // A check begun before the change may read what it replaced: later requests start their own.
    this.checking.clear();
    this.generation++;
  }

  /** While the feed is down, changes made elsewhere go unheard: nothing is remembered or served from memory then. */
  private cacheUsable(): boolean {
    return this.changes === undefined || this.changes.connected;
  }

  /** The principal for an Authorization header (anonymous when there is none). */
  async fromHeader(authorization: string | undefined, source: string): Promise<Principal> {
    if (!authorization) return ANONYMOUS;
    const space = authorization.indexOf(' ');
    const scheme = authorization.slice(0, space).toLowerCase();
    const value = authorization.slice(space + 1).trim();
    if (scheme === 'bearer') {
      // A personal access token or robot secret may be sent as a bearer token too (the management API's usual form).
      if (looksLikeSecret(value)) return this.cached(`bearer ${value}`, () => this.login(undefined, value, source));
      const claims = await this.tokens.verify(value);
      if (!claims) throw new AuthenticationError('invalid or expired bearer token');
      return { kind: 'bearer', name: claims.subject, subjectKind: claims.subjectKind, access: claims.access };
    }
    if (scheme === 'basic') {
      return this.cached(`basic ${value}`, () => {
        const decoded = Buffer.from(value, 'base64').toString('utf8');
        const colon = decoded.indexOf(':');
        if (colon < 0) throw new AuthenticationError('malformed Basic credentials');
        return this.login(decoded.slice(0, colon), decoded.slice(colon + 1), source);
      });
    }
    throw new AuthenticationError(`unsupported authorization scheme ${scheme.slice(0, 20)}`);
  }

  private async cached(credential: string, check: () => Promise<Principal>): Promise<Principal> {
    if (!this.cacheUsable()) {
      // Whatever was remembered before the gap may have changed unheard: it is not served when the feed is back either.
      this.clear();
      return check();
    }
    const key = createHash('sha256').update(credential).digest('hex');
    const hit = this.cache.get(key);
    if (hit && hit.until > Date.now()) return hit.principal;
    // Requests arriving together with one credential (a client pushing layers in parallel, or all of
    // them right after the entry expired) share one check: each scrypt takes ~32 MiB and tens of ms.
    const running = this.checking.get(key);
    if (running) return running;
    const checked: Promise<Principal> = this.checkAndRemember(key, check).finally(() => {
      if (this.checking.get(key) === checked) this.checking.delete(key);
    });
    this.checking.set(key, checked);
    return checked;
  }

  private async checkAndRemember(key: string, check: () => Promise<Principal>): Promise<Principal> {
    const generation = this.generation;
    const principal = await check();
    // Not when the cache was cleared meanwhile: the check may have read what the change replaced.
    if (generation !== this.generation || !this.cacheUsable()) return principal;
    if (this.cache.size > 10_000) this.cache.clear();
    this.cache.set(key, { principal, until: Date.now() + CREDENTIAL_CACHE_MS });
    return principal;
  }

  /**
   * Checks a username with a password or token secret. Without a username (a
   * bearer token secret) the token alone identifies its owner.
   */
  async login(usernameOrNone: string | undefined, secret: string, source: string): Promise<Principal> {
    const username = usernameOrNone ?? parseSecret(secret)?.id ?? '';
    const wait = await this.throttle.retryAfter(username, source);
    if (wait > 0) {
      await this.audit.record(ANONYMOUS, source, { action: 'login', outcome: 'denied', resource: username, reason: 'throttled' });
      throw new RegistryError('TOOMANYREQUESTS', `too many failed logins; retry in ${wait} s`, undefined, { headers: { 'retry-after': String(wait) } });
    }
    const principal = looksLikeSecret(secret) ? await this.tokenLogin(usernameOrNone, secret) : await this.passwordLogin(username, secret);
    if (!principal) {
      await this.throttle.recordFailure(username, source);
      await this.audit.record(ANONYMOUS, source, { action: 'login', outcome: 'failure', resource: username, reason: 'invalid credentials' });
      throw new AuthenticationError('invalid username or password');
    }
    await this.throttle.recordSuccess(username);
    await this.audit.record(principal, source, { action: 'login', outcome: 'success', reason: principal.kind === 'user' ? principal.via : 'token' });
    return principal;
  }

  private async passwordLogin(username: string, password: string): Promise<Principal | undefined> {
    const user = await this.store.getUser(username);
    // Spend the same time whether or not the user exists.
    const ok = await verifyPassword(password, user?.passwordHash ?? DUMMY_PASSWORD_HASH);
    if (!user || !ok || user.disabled) return undefined;
    return { kind: 'user', id: user.id, name: user.username, serverAdmin: user.serverAdmin, canCreateRegistries: user.canCreateRegistries, scopes: null, via: 'password' };
  }

  private async tokenLogin(username: string | undefined, secret: string): Promise<Principal | undefined> {
    const parsed = parseSecret(secret);
    if (!parsed) return undefined;
    const token = await this.store.getToken(parsed.id);
    if (!token || !secretMatches(parsed.secretPart, token.secretHash)) return undefined;
    const now = Date.now();
    if (token.revokedAt !== null || (token.expiresAt !== null && token.expiresAt <= now) || token.kind === 'refresh' || token.kind === 'session') return undefined;
    if (token.lastUsedAt === null || now - token.lastUsedAt > TOUCH_EVERY_MS) await this.store.touchToken(token.id, now);
    if (token.ownerKind === 'user') {
      const user = await this.store.getUserById(token.ownerId);
      if (!user || user.disabled || (username !== undefined && user.username !== username)) return undefined;
      return { kind: 'user', id: user.id, name: user.username, serverAdmin: user.serverAdmin, canCreateRegistries: user.canCreateRegistries, scopes: token.scopes, via: 'token', tokenId: token.id };
    }
    const robot = await this.store.getRobotById(token.ownerId);
    if (!robot || robot.disabled || (username !== undefined && robotLogin(robot.registry, robot.name) !== username)) return undefined;
    return { kind: 'robot', id: robot.id, name: robotLogin(robot.registry, robot.name), registry: robot.registry, scopes: token.scopes, via: 'token', tokenId: token.id };
  }

  /** Exchanges a refresh token (issued to `docker login`) for the user it belongs to. */
  async refreshLogin(refreshToken: string, source: string): Promise<Principal> {
    const parsed = parseSecret(refreshToken);
    const token = parsed ? await this.store.getToken(parsed.id) : undefined;
    const now = Date.now();
    const valid =
      parsed && token && token.kind === 'refresh' && secretMatches(parsed.secretPart, token.secretHash) && token.revokedAt === null && (token.expiresAt === null || token.expiresAt > now);
    const user = valid ? await this.store.getUserById(token.ownerId) : undefined;
    if (!user || user.disabled) {
      await this.throttle.recordFailure('refresh-token', source);
      await this.audit.record(ANONYMOUS, source, { action: 'login', outcome: 'failure', reason: 'invalid refresh token' });
      throw new AuthenticationError('invalid refresh token');
    }
    return { kind: 'user', id: user.id, name: user.username, serverAdmin: user.serverAdmin, canCreateRegistries: user.canCreateRegistries, scopes: null, via: 'token', tokenId: token!.id };
  }
}
