import type { Kysely } from 'kysely';
import type { AuthStateStore, SigningKeyRecord } from '../../auth/auth-state-store.js';
import type { Database } from './schema.js';
import { runTransaction } from './transaction.js';

/** At most this many keys' old failures are deleted by one write, so a failed login never waits on a big delete. */
const PRUNE_KEYS_PER_WRITE = 100;

/** Signing keys and failed logins, in the metadata store every node shares. */
export class KyselyAuthStateStore implements AuthStateStore {
  constructor(private readonly db: Kysely<Database>) {}

  async listSigningKeys(): Promise<SigningKeyRecord[]> {
    const rows = await this.db.selectFrom('signing_keys').selectAll().orderBy('created_at', 'desc').orderBy('kid', 'desc').execute();
    return rows.map((r) => ({ kid: r.kid, createdAt: Number(r.created_at), retiredAt: r.retired_at === null ? null : Number(r.retired_at), privateJwk: r.private_jwk }));
  }

  addSigningKey(key: SigningKeyRecord, options: { unlessSigningSince?: number } = {}): Promise<boolean> {
    // On PostgreSQL this runs SERIALIZABLE: two nodes adding "unless one is fresh" at once end with one key, not two.
    return runTransaction(this.db, async (trx) => {
      if (options.unlessSigningSince !== undefined) {
        const fresh = await trx
          .selectFrom('signing_keys')
          .select('kid')
          .where('retired_at', 'is', null)
          .where('created_at', '>=', options.unlessSigningSince)
          .executeTakeFirst();
        if (fresh) return false;
      }
      await trx.updateTable('signing_keys').set({ retired_at: key.createdAt }).where('retired_at', 'is', null).execute();
      await trx.insertInto('signing_keys').values(toRow(key)).execute();
      return true;
    });
  }

  importSigningKeys(keys: SigningKeyRecord[]): Promise<boolean> {
    return runTransaction(this.db, async (trx) => {
      if (keys.length === 0 || (await trx.selectFrom('signing_keys').select('kid').executeTakeFirst())) return false;
      await trx.insertInto('signing_keys').values(keys.map(toRow)).execute();
      return true;
    });
  }

  async deleteSigningKeysRetiredBefore(cutoff: number): Promise<number> {
    const res = await this.db.deleteFrom('signing_keys').where('retired_at', 'is not', null).where('retired_at', '<', cutoff).executeTakeFirst();
    return Number(res.numDeletedRows);
  }

  async recentLoginFailures(keys: string[], windowStart: number): Promise<Map<string, { count: number; first: number }>> {
    const found = new Map<string, { count: number; first: number }>();
    if (keys.length === 0) return found;
    const rows = await this.db
      .selectFrom('login_failures')
      .select((eb) => ['key', eb.fn.countAll<number>().as('count'), eb.fn.min<number>('at').as('first')])
      .where('key', 'in', keys)
      .where('at', '>', windowStart)
      .groupBy('key')
      .execute();
    for (const r of rows) found.set(r.key, { count: Number(r.count), first: Number(r.first) });
    return found;
  }

  async addLoginFailures(keys: string[], at: number, windowStart: number): Promise<void> {
    if (keys.length > 0) await this.db.insertInto('login_failures').values(keys.map((key) => ({ key, at }))).execute();
    // Statements of their own, not a transaction: concurrent failures never conflict, they only add rows.
    await this.db
      .deleteFrom('login_failures')
      .where('at', '<=', windowStart)
      .where('key', 'in', (eb) => eb.selectFrom('login_failures').select('key').distinct().where('at', '<=', windowStart).limit(PRUNE_KEYS_PER_WRITE))
      .execute();
  }

  async clearLoginFailures(key: string): Promise<void> {
    await this.db.deleteFrom('login_failures').where('key', '=', key).execute();
  }
}

function toRow(key: SigningKeyRecord) {
  return { kid: key.kid, created_at: key.createdAt, retired_at: key.retiredAt, private_jwk: key.privateJwk };
}
