/**
 * Failed logins, counted per username and per source address in a sliding
 * window. Over the limit, a login is refused before any password is checked,
 * so guessing costs the guesser time and the server nothing.
 */
export interface ThrottleOptions {
  windowMs: number;
  maxPerUser: number;
  maxPerSource: number;
}

export class LoginThrottle {
  private readonly failures = new Map<string, number[]>();

  constructor(private readonly options: ThrottleOptions) {}

  /** Seconds to wait before trying again, or 0 when a login may be attempted now. */
  retryAfter(username: string, source: string): number {
    const now = Date.now();
    const wait = (key: string, max: number) => {
      const times = this.recent(key, now);
      return times.length >= max ? Math.ceil((times[0]! + this.options.windowMs - now) / 1000) : 0;
    };
    return Math.max(wait(`u:${username}`, this.options.maxPerUser), wait(`s:${source}`, this.options.maxPerSource));
  }

  recordFailure(username: string, source: string): void {
    const now = Date.now();
    for (const key of [`u:${username}`, `s:${source}`]) {
      const times = this.recent(key, now);
      times.push(now);
      this.failures.set(key, times);
    }
    if (this.failures.size > 100_000) this.prune(now);
  }

  /** A success clears the user's count (not the source's: one address may guess many users). */
  recordSuccess(username: string): void {
    this.failures.delete(`u:${username}`);
  }

  private recent(key: string, now: number): number[] {
    return (this.failures.get(key) ?? []).filter((t) => now - t < this.options.windowMs);
  }

  private prune(now: number): void {
    for (const [key, times] of this.failures) {
      if (!times.some((t) => now - t < this.options.windowMs)) this.failures.delete(key);
    }
  }
}
