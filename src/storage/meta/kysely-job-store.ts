import { sql, type Kysely, type Selectable } from 'kysely';
import { DEFAULT_MAX_ATTEMPTS, type EnqueueOptions, type Job, type JobStatus, type JobStore } from '../../jobs/job-store.js';
import { isPostgres } from './dialect.js';
import type { Database, JobsTable } from './schema.js';
import { runTransaction } from './transaction.js';

const ACTIVE: JobStatus[] = ['queued', 'running'];
/** The predicate of the partial index jobs_active_dedupe, in literals: SQLite matches a conflict target to an index only so. */
const ACTIVE_INDEX_PREDICATE = sql<boolean>`"status" in ('queued', 'running')`;

/**
 * The job queue in the metadata store. Claiming is one statement: an UPDATE of
 * the first due row. On PostgreSQL its subquery takes that row with `FOR
 * UPDATE SKIP LOCKED`, so concurrent claimers on any number of nodes each get a
 * different job and never wait for one another; on SQLite the statement is a
 * transaction of its own, and SQLite runs writers one at a time.
 */
export class KyselyJobStore implements JobStore {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly now: () => number = Date.now,
  ) {}

  enqueue(kind: string, payload: unknown, options: EnqueueOptions = {}): Promise<{ job: Job; created: boolean }> {
    return runTransaction(this.db, (trx) => enqueueJobIn(trx, kind, payload, options, this.now()));
  }

  async claim(kinds: readonly string[], workerId: string, leaseMs: number): Promise<Job | undefined> {
    if (kinds.length === 0) return undefined;
    const now = this.now();
    let due = this.db
      .selectFrom('jobs')
      .select('id')
      .where('kind', 'in', kinds)
      .where((eb) =>
        eb.or([
          eb.and([eb('status', '=', 'queued'), eb('run_at', '<=', now)]),
          eb.and([eb('status', '=', 'running'), eb('lease_expires_at', '<', now)]),
        ]),
      )
      .orderBy('run_at')
      .orderBy('id')
      .limit(1);
    if (isPostgres(this.db)) due = due.forUpdate().skipLocked();
    // A plain statement, not runTransaction: READ COMMITTED is what SKIP LOCKED is made for (no serialization retries).
    const row = await this.db
      .updateTable('jobs')
      .set((eb) => ({ status: 'running', lease_owner: workerId, lease_expires_at: now + leaseMs, attempts: eb('attempts', '+', 1), updated_at: now }))
      .where('id', '=', due)
      .returningAll()
      .executeTakeFirst();
    return row ? toJob(row) : undefined;
  }

  async heartbeat(id: number, workerId: string, leaseMs: number): Promise<boolean> {
    const now = this.now();
    return this.updateHeld(id, workerId, { lease_expires_at: now + leaseMs, updated_at: now });
  }

  complete(id: number, workerId: string): Promise<boolean> {
    return this.updateHeld(id, workerId, { status: 'done', lease_owner: null, lease_expires_at: null, updated_at: this.now() });
  }

  fail(id: number, workerId: string, error: string, retryAt: number | undefined): Promise<boolean> {
    const retry = retryAt === undefined ? { status: 'failed' } : { status: 'queued', run_at: retryAt };
    return this.updateHeld(id, workerId, { ...retry, last_error: error.slice(0, 4000), lease_owner: null, lease_expires_at: null, updated_at: this.now() });
  }

  async release(id: number, workerId: string): Promise<boolean> {
    const now = this.now();
    const res = await this.db
      .updateTable('jobs')
      .set((eb) => ({ status: 'queued', run_at: now, attempts: eb('attempts', '-', 1), lease_owner: null, lease_expires_at: null, updated_at: now }))
      .where('id', '=', id)
      .where('status', '=', 'running')
      .where('lease_owner', '=', workerId)
      .executeTakeFirst();
    return Number(res.numUpdatedRows) > 0;
  }

  async get(id: number): Promise<Job | undefined> {
    const row = await this.db.selectFrom('jobs').selectAll().where('id', '=', id).executeTakeFirst();
    return row ? toJob(row) : undefined;
  }

  async releaseAllRunning(): Promise<number> {
    const now = this.now();
    const res = await this.db
      .updateTable('jobs')
      .set({ status: 'queued', run_at: now, lease_owner: null, lease_expires_at: null, updated_at: now })
      .where('status', '=', 'running')
      .executeTakeFirst();
    return Number(res.numUpdatedRows);
  }

  async deleteFinished(before: number): Promise<number> {
    const res = await this.db.deleteFrom('jobs').where('status', 'in', ['done', 'failed']).where('updated_at', '<', before).executeTakeFirst();
    return Number(res.numDeletedRows);
  }

  /** Changes a job only while `workerId` holds it. */
  private async updateHeld(id: number, workerId: string, values: Partial<Omit<JobsTable, 'id' | 'attempts'>>): Promise<boolean> {
    const res = await this.db
      .updateTable('jobs')
      .set(values)
      .where('id', '=', id)
      .where('status', '=', 'running')
      .where('lease_owner', '=', workerId)
      .executeTakeFirst();
    return Number(res.numUpdatedRows) > 0;
  }
}

/**
 * Queues a job in `db`, which may be a transaction: other stores enqueue the
 * job that carries out what they record in the same commit (a GC run and its job).
 */
export async function enqueueJobIn(db: Kysely<Database>, kind: string, payload: unknown, options: EnqueueOptions, now: number): Promise<{ job: Job; created: boolean }> {
  const key = options.dedupeKey;
  if (key !== undefined) {
    const existing = await activeWithKey(db, key);
    if (existing) return { job: existing, created: false };
  }
  const row = await db
    .insertInto('jobs')
    .values({
      kind,
      payload: JSON.stringify(payload ?? null),
      status: 'queued',
      run_at: options.runAt ?? now,
      attempts: 0,
      max_attempts: options.maxAttempts ?? DEFAULT_MAX_ATTEMPTS,
      dedupe_key: key ?? null,
      created_at: now,
      updated_at: now,
    })
    // The partial unique index decides between enqueuers that both found no active job (PostgreSQL, READ COMMITTED callers).
    .onConflict((oc) => oc.column('dedupe_key').where(ACTIVE_INDEX_PREDICATE).doNothing())
    .returningAll()
    .executeTakeFirst();
  if (row) return { job: toJob(row), created: true };
  const winner = await activeWithKey(db, key!);
  if (!winner) throw new Error(`job with dedupe key ${key} neither inserted nor found`);
  return { job: winner, created: false };
}

async function activeWithKey(db: Kysely<Database>, key: string): Promise<Job | undefined> {
  const row = await db.selectFrom('jobs').selectAll().where('dedupe_key', '=', key).where('status', 'in', ACTIVE).executeTakeFirst();
  return row ? toJob(row) : undefined;
}

function toJob(row: Selectable<JobsTable>): Job {
  return {
    id: Number(row.id),
    kind: row.kind,
    payload: JSON.parse(row.payload) as unknown,
    status: row.status as JobStatus,
    runAt: Number(row.run_at),
    attempts: Number(row.attempts),
    maxAttempts: Number(row.max_attempts),
    leaseOwner: row.lease_owner,
    leaseExpiresAt: row.lease_expires_at === null ? null : Number(row.lease_expires_at),
    lastError: row.last_error,
    dedupeKey: row.dedupe_key,
    createdAt: Number(row.created_at),
    updatedAt: Number(row.updated_at),
  };
}
