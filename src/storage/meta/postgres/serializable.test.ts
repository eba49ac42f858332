import { sql, type Kysely } from 'kysely';
import { describe, expect, it } from 'vitest';
import { adminQuery, dropSchema, POSTGRES_URL, postgresStores, skipPostgres, uniqueSchema } from '../../../../test/support/postgres.js';
import { digestBytes } from '../../../oci/digest.js';
import { openPostgresDatabase } from './pool.js';
import { isRetryable, serializableTransaction } from './serializable.js';

/** Resolves once `n` parties have arrived: makes two transactions overlap on purpose. */
function barrier(n: number): () => Promise<void> {
  let arrived = 0;
  let open!: () => void;
  const opened = new Promise<void>((r) => (open = r));
  return () => {
    if (++arrived >= n) open();
    return opened;
  };
}

/** A scratch table in a schema of its own. */
async function withCounters(test: (db: Kysely<any>) => Promise<void>): Promise<void> {
  const schema = uniqueSchema();
  await adminQuery(`create schema ${schema}`);
  const db = openPostgresDatabase({ url: POSTGRES_URL, schema, poolSize: 4 });
  try {
    await sql`create table counters (id int primary key, n int not null)`.execute(db);
    await sql`insert into counters values (1, 0), (2, 0)`.execute(db);
    await test(db);
  } finally {
    await db.destroy();
    await dropSchema(schema);
  }
}

describe.skipIf(skipPostgres)('postgres: serializable transactions', () => {
  it('two transactions that conflict both complete: one is retried', () => withCounters(async (db) => {
    const bothRead = barrier(2);
    let attempts = 0;
    const increment = () =>
      serializableTransaction(db, async (trx) => {
        const first = ++attempts <= 2;
        const { n } = (await sql<{ n: number }>`select n from counters where id = 1`.execute(trx)).rows[0]!;
        if (first) await bothRead(); // both have read 0 before either writes
        await sql`update counters set n = ${n + 1} where id = 1`.execute(trx);
      });
    await Promise.all([increment(), increment()]);
    expect((await sql<{ n: number }>`select n from counters where id = 1`.execute(db)).rows[0]!.n).toBe(2);
    expect(attempts).toBeGreaterThanOrEqual(3);
  }));

  it('a deadlock is retried too', () => withCounters(async (db) => {
    const bothLocked = barrier(2);
    let attempts = 0;
    const crossed = (a: number, b: number) =>
      serializableTransaction(db, async (trx) => {
        const first = ++attempts <= 2;
        await sql`update counters set n = n + 1 where id = ${a}`.execute(trx);
        if (first) await bothLocked();
        await sql`update counters set n = n + 1 where id = ${b}`.execute(trx);
      });
    await Promise.all([crossed(1, 2), crossed(2, 1)]);
    const rows = (await sql<{ n: number }>`select n from counters order by id`.execute(db)).rows;
    expect(rows.map((r) => r.n)).toEqual([2, 2]);
    expect(attempts).toBeGreaterThanOrEqual(3);
  }));

  it('gives up after its attempts, and never repeats work that failed for another reason', () => withCounters(async (db) => {
    const bothRead = barrier(2);
    const once = (trx: Kysely<any>) => sql<{ n: number }>`select n from counters where id = 1`.execute(trx);
    const conflicting = () =>
      serializableTransaction(db, async (trx) => {
        const { n } = (await once(trx)).rows[0]!;
        await bothRead();
        await sql`update counters set n = ${n + 1} where id = 1`.execute(trx);
      }, { attempts: 1, baseDelayMs: 1, maxDelayMs: 1 });
    const results = await Promise.allSettled([conflicting(), conflicting()]);
    expect(results.filter((r) => r.status === 'rejected').map((r) => ((r as PromiseRejectedResult).reason as { code: string }).code)).toEqual(['40001']);

    let calls = 0;
    await expect(serializableTransaction(db, async () => {
      calls++;
      throw Object.assign(new Error('unique'), { code: '23505' });
    })).rejects.toThrow('unique');
    expect(calls).toBe(1);
  }));

  it('store transactions that read and then write the same registry both commit', async () => {
    const { stores, cleanup } = await postgresStores();
    try {
      const { meta } = stores;
      const repo = await meta.ensureRepository('tx/app' as never, 'tx');
      const bothRead = barrier(2);
      let attempts = 0;
      const push = (name: string, size: number) =>
        meta.transaction(async (tx) => {
          const first = ++attempts <= 2;
          await tx.registryStorage('tx');
          if (first) await bothRead();
          await tx.linkBlob(repo.id, digestBytes(Buffer.from(name)), size);
        });
      await Promise.all([push('a', 100), push('b', 20)]);
      expect(await meta.registryStorage('tx')).toBe(120);
      expect(attempts).toBeGreaterThanOrEqual(3);
    } finally {
      await cleanup();
    }
  });

  it('knows which errors mean "run it again"', () => {
    expect(isRetryable({ code: '40001' })).toBe(true);
    expect(isRetryable({ code: '40P01' })).toBe(true);
    expect(isRetryable(new Error('wrapped', { cause: { code: '40001' } }))).toBe(true);
    expect(isRetryable({ code: '23505' })).toBe(false);
    expect(isRetryable(new Error('plain'))).toBe(false);
  });
});
