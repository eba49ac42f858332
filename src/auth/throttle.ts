import type { LoginFailureStore } from './auth-state-store.js';

/**
 * Failed logins, counted per username and per source address in a sliding
 * window. Over the limit, a login is refused before any password is checked,
 * so guessing costs the guesser time and the server nothing. The failures are
 * kept in the metadata store, so guesses spread over several nodes add up.
 */
export interface ThrottleOptions {
  windowMs: number;
  maxPerUser: number;
  maxPerSource: number;
}

export class LoginThrottle {
  constructor(
    private readonly options: ThrottleOptions,
    private readonly store: LoginFailureStore,
  ) {}

  /** Seconds to wait before trying again, or 0 when a login may be attempted now. */
  async retryAfter(username: string, source: string): Promise<number> {
    const now = Date.now();
    const [userKey, sourceKey] = keysOf(username, source);
    const recent = await this.store.recentLoginFailures([userKey, sourceKey], now - this.options.windowMs);
    const wait = (key: string, max: number) => {
      const failures = recent.get(key);
      // Until the earliest failure in the window leaves it.
      return failures && failures.count >= max ? Math.ceil((failures.first + this.options.windowMs - now) / 1000) : 0;
    };
    return Math.max(wait(userKey, this.options.maxPerUser), wait(sourceKey, this.options.maxPerSource));
  }

  async recordFailure(username: string, source: string): Promise<void> {
    const now = Date.now();
    await this.store.addLoginFailures(keysOf(username, source), now, now - this.options.windowMs);
  }

  /** A success clears the user's count (not the source's: one address may guess many users). */
  async recordSuccess(username: string): Promise<void> {
    await this.store.clearLoginFailures(keysOf(username, '')[0]);
  }
}

function keysOf(username: string, source: string): [string, string] {
  return [`u:${username}`, `s:${source}`];
}
