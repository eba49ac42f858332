import { join } from 'node:path';
import type { Logger } from 'pino';
import type { ChangeFeed } from '../core/change-feed.js';
import type { AccessStore } from './access-store.js';
import { announcingChanges } from './announcing-access-store.js';
import type { AuthStateStore } from './auth-state-store.js';
import { AuditLog } from './audit-log.js';
import { Authenticator } from './authenticator.js';
import { Authorizer } from './authorizer.js';
import { ANONYMOUS, type Principal } from './principal.js';
import { KeyRing } from './key-ring.js';
import { RegistryTokens } from './registry-tokens.js';
import { Sessions } from './sessions.js';
import { LoginThrottle } from './throttle.js';

export interface AccessControlOptions {
  enabled: boolean;
  /** Only to import the signing keys an older Berth kept in `<data>/keys`, once; the keys live in the metadata store. */
  dataDir?: string;
  service: string;
  issuer: string;
  realm?: string;
  tokenTtlSeconds: number;
  refreshTokenTtlDays: number;
  /** Lifetime of a control-panel session (default 12). */
  sessionTtlHours?: number;
  keyRotationDays: number;
  throttle: { windowSeconds: number; maxFailuresPerUser: number; maxFailuresPerSource: number };
  autoCreateRegistries: boolean;
  /**
   * How nodes sharing the metadata store tell each other about changes. Given,
   * a change to users, teams, registries, robots, grants or tokens made through
   * `store` (or any `authenticator.forget()`) makes every node forget the
   * credentials it remembers, and nothing is remembered while the feed is down.
   */
  changeFeed?: ChangeFeed;
}

const DAY_MS = 86_400_000;

/** Access control's parts, built once and shared by the data plane, the token endpoint and the management API. */
export class AccessControl {
  private constructor(
    readonly options: AccessControlOptions,
    readonly store: AccessStore,
    readonly audit: AuditLog,
    readonly tokens: RegistryTokens,
    readonly keys: KeyRing,
    readonly authenticator: Authenticator,
    readonly authorizer: Authorizer,
    readonly sessions: Sessions,
  ) {}

  /**
   * The user or robot a registry JWT was issued to, for decisions its access
   * claim cannot answer (which repositories a catalog may show).
   */
  async identityOf(bearer: Extract<Principal, { kind: 'bearer' }>): Promise<Principal> {
    if (bearer.subjectKind === 'user') {
      const user = await this.store.getUser(bearer.name);
      if (user && !user.disabled) {
        return { kind: 'user', id: user.id, name: user.username, serverAdmin: user.serverAdmin, canCreateRegistries: user.canCreateRegistries, scopes: null, via: 'token' };
      }
    } else if (bearer.subjectKind === 'robot') {
      const plus = bearer.name.indexOf('+');
      const robot = plus > 0 ? await this.store.getRobot(bearer.name.slice(0, plus), bearer.name.slice(plus + 1)) : undefined;
      if (robot && !robot.disabled) return { kind: 'robot', id: robot.id, name: bearer.name, registry: robot.registry, scopes: null, via: 'token', tokenId: '' };
    }
    return ANONYMOUS;
  }

  /**
   * `store` holds identities, grants and tokens; `authState` the signing keys
   * and failed logins, which every node sharing the metadata store shares.
   */
  static async create(options: AccessControlOptions, store: AccessStore, authState: AuthStateStore, logger: Logger): Promise<AccessControl> {
    const keys = await KeyRing.open(authState, {
      rotateAfterMs: options.keyRotationDays * DAY_MS,
      // A retired key verifies for as long as any token it signed can live.
      retainMs: options.tokenTtlSeconds * 1000 + 60_000,
      legacyDir: options.dataDir === undefined ? undefined : join(options.dataDir, 'keys'),
      onError: (err) => logger.warn({ err }, 'could not re-read the token-signing keys; using the ones already loaded'),
    });
    const tokens = new RegistryTokens(keys, { issuer: options.issuer, service: options.service, ttlSeconds: options.tokenTtlSeconds });
    const audit = new AuditLog(store, logger);
    const throttle = new LoginThrottle(
      {
        windowMs: options.throttle.windowSeconds * 1000,
        maxPerUser: options.throttle.maxFailuresPerUser,
        maxPerSource: options.throttle.maxFailuresPerSource,
      },
      authState,
    );
    const authenticator = new Authenticator(store, tokens, throttle, audit, options.changeFeed);
    const authorizer = new Authorizer(store, { autoCreateRegistries: options.autoCreateRegistries });
    // The management API writes through this: with a feed, a write is not done until every node has been told.
    const managed = options.changeFeed ? announcingChanges(store, () => authenticator.forget()) : store;
    const sessions = new Sessions(managed, authenticator, audit, (options.sessionTtlHours ?? 12) * 3_600_000);
    return new AccessControl(options, managed, audit, tokens, keys, authenticator, authorizer, sessions);
  }
}
