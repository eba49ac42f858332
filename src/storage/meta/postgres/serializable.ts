import type { Kysely, Transaction } from 'kysely';

/** SQLSTATEs that mean "run the transaction again": serialization_failure, deadlock_detected. */
const RETRYABLE = new Set(['40001', '40P01']);

export interface RetryPolicy {
  /** Attempts in all, the first included. */
  attempts: number;
  /** Backoff before retry n is random in [0, min(maxDelayMs, baseDelayMs · 2^n)) ("full jitter"). */
  baseDelayMs: number;
  maxDelayMs: number;
}

/** Enough for a dozen writers contending for one registry's row (the quota tests push 12 at once; 8 concurrent mounts into one registry exhausted 20 attempts). */
export const DEFAULT_RETRY: RetryPolicy = { attempts: 40, baseDelayMs: 2, maxDelayMs: 250 };

/**
 * Runs `work` in a SERIALIZABLE transaction, again from the start when
 * PostgreSQL cannot serialise it. The stores were written against SQLite,
 * where writers never overlap; SERIALIZABLE gives the same outcome for
 * overlapping ones (quota checks, reference counts, "insert if missing"),
 * at the price of an occasional retry. `work` may therefore run more than once.
 */
export async function serializableTransaction<DB, T>(
  db: Kysely<DB>,
  work: (trx: Transaction<DB>) => Promise<T>,
  policy: RetryPolicy = DEFAULT_RETRY,
): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await db.transaction().setIsolationLevel('serializable').execute(work);
    } catch (err) {
      if (attempt >= policy.attempts || !isRetryable(err)) throw err;
      const ceiling = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** attempt);
      await new Promise((resolve) => setTimeout(resolve, Math.random() * ceiling));
    }
  }
}

export function isRetryable(err: unknown): boolean {
  for (let e: unknown = err, depth = 0; e && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && RETRYABLE.has(code)) return true;
  }
  return false;
}
