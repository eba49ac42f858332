import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { POSTGRES_URL, postgresStores, skipPostgres } from '../../../test/support/postgres.js';
import type { Job, JobStore } from '../../jobs/job-store.js';
import { openPostgresStores } from './postgres/open-postgres.js';
import { openSqliteStores } from './sqlite/open-sqlite.js';
import type { MetaStores } from './stores.js';

/** Two nodes over one database: two sets of stores, each with its own connection(s). */
interface TwoNodes {
  a: MetaStores;
  b: MetaStores;
  cleanup(): Promise<void>;
}

const backends: { name: string; skip: boolean; open(): Promise<TwoNodes> }[] = [
  {
    name: 'sqlite',
    skip: false,
    open: async () => {
      // One process owns the file in production; two connections stand in for two claimers that SQLite must serialise.
      const dir = await mkdtemp(join(tmpdir(), 'berth-jobs-'));
      const path = join(dir, 'metadata.db');
      const a = await openSqliteStores({ path, synchronous: 'NORMAL' });
      const b = await openSqliteStores({ path, synchronous: 'NORMAL' });
      return { a, b, cleanup: async () => { await b.close(); await a.close(); await rm(dir, { recursive: true, force: true }); } };
    },
  },
  {
    name: 'postgres',
    skip: skipPostgres,
    open: async () => {
      const first = await postgresStores({ poolSize: 6 });
      const b = await openPostgresStores({ url: POSTGRES_URL, schema: first.schema, poolSize: 6 });
      return { a: first.stores, b, cleanup: async () => { await b.close(); await first.cleanup(); } };
    },
  },
];

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function withNodes(open: () => Promise<TwoNodes>, test: (n: TwoNodes) => Promise<void>): () => Promise<void> {
  return async () => {
    const nodes = await open();
    try {
      await test(nodes);
    } finally {
      await nodes.cleanup();
    }
  };
}

/** Claims until nothing is left; returns the ids this claimer got. */
async function drain(store: JobStore, worker: string): Promise<number[]> {
  const got: number[] = [];
  for (let job = await store.claim(['work'], worker, 60_000); job; job = await store.claim(['work'], worker, 60_000)) got.push(job.id);
  return got;
}

for (const backend of backends) {
  describe.skipIf(backend.skip)(`KyselyJobStore: ${backend.name}`, () => {
    it('enqueue, claim by kind, complete: only the lease holder may finish the job', withNodes(backend.open, async ({ a: { jobs } }) => {
      const { job, created } = await jobs.enqueue('work', { image: 'acme/app', n: 1 });
      expect(created).toBe(true);
      expect(job).toMatchObject({ kind: 'work', payload: { image: 'acme/app', n: 1 }, status: 'queued', attempts: 0, maxAttempts: 5, leaseOwner: null });
      expect(await jobs.claim(['other'], 'w1', 1000)).toBeUndefined();
      const claimed = await jobs.claim(['other', 'work'], 'w1', 1000);
      expect(claimed).toMatchObject({ id: job.id, status: 'running', attempts: 1, leaseOwner: 'w1', payload: { image: 'acme/app', n: 1 } });
      expect(claimed!.leaseExpiresAt).toBeGreaterThan(Date.now() + 500);
      expect(await jobs.claim(['work'], 'w2', 1000)).toBeUndefined();
      expect(await jobs.complete(job.id, 'w2')).toBe(false);
      expect(await jobs.complete(job.id, 'w1')).toBe(true);
      expect(await jobs.get(job.id)).toMatchObject({ status: 'done', leaseOwner: null, leaseExpiresAt: null });
      expect(await jobs.claim(['work'], 'w1', 1000)).toBeUndefined();
    }));

    it('a job is not claimed before its time; due jobs come oldest first', withNodes(backend.open, async ({ a: { jobs } }) => {
      const later = (await jobs.enqueue('work', 'later', { runAt: Date.now() + 300 })).job;
      const first = (await jobs.enqueue('work', 'first')).job;
      const second = (await jobs.enqueue('work', 'second')).job;
      expect((await jobs.claim(['work'], 'w', 1000))?.id).toBe(first.id);
      expect((await jobs.claim(['work'], 'w', 1000))?.id).toBe(second.id);
      expect(await jobs.claim(['work'], 'w', 1000)).toBeUndefined();
      await sleep(350);
      expect((await jobs.claim(['work'], 'w', 1000))?.id).toBe(later.id);
    }));

    it('two nodes, many concurrent claimers, 50 jobs: every job is claimed exactly once', withNodes(backend.open, async ({ a, b }) => {
      const ids = new Set<number>();
      for (let i = 0; i < 50; i++) ids.add((await a.jobs.enqueue('work', { i })).job.id);
      const claimers = Array.from({ length: 16 }, (_, i) => drain((i % 2 === 0 ? a : b).jobs, `node-${i % 2}/claimer-${i}`));
      const claimed = (await Promise.all(claimers)).flat();
      expect(claimed).toHaveLength(50);
      expect(new Set(claimed)).toEqual(ids);
      for (const id of ids) expect((await a.jobs.get(id))?.attempts).toBe(1);
    }));

    it('a lease that runs out makes the job claimable by another node; the old holder can no longer finish it', withNodes(backend.open, async ({ a, b }) => {
      const { job } = await a.jobs.enqueue('work', null);
      expect((await a.jobs.claim(['work'], 'dead-node', 100))?.id).toBe(job.id);
      expect(await b.jobs.claim(['work'], 'live-node', 100)).toBeUndefined();
      await sleep(150);
      const retaken = await b.jobs.claim(['work'], 'live-node', 10_000);
      expect(retaken).toMatchObject({ id: job.id, attempts: 2, leaseOwner: 'live-node' });
      expect(await a.jobs.heartbeat(job.id, 'dead-node', 10_000)).toBe(false);
      expect(await a.jobs.complete(job.id, 'dead-node')).toBe(false);
      expect(await a.jobs.fail(job.id, 'dead-node', 'late', undefined)).toBe(false);
      expect(await b.jobs.complete(job.id, 'live-node')).toBe(true);
    }));

    it('heartbeats keep the lease past its first expiry', withNodes(backend.open, async ({ a, b }) => {
      const { job } = await a.jobs.enqueue('work', null);
      await a.jobs.claim(['work'], 'w1', 150);
      for (let i = 0; i < 5; i++) {
        await sleep(60);
        expect(await a.jobs.heartbeat(job.id, 'w1', 150)).toBe(true);
        expect(await b.jobs.claim(['work'], 'w2', 150)).toBeUndefined();
      }
      expect((await a.jobs.get(job.id))?.leaseOwner).toBe('w1');
    }));

    it('a failed attempt is retried at the time given, counting attempts; without one it ends failed with its last error', withNodes(backend.open, async ({ a: { jobs } }) => {
      const { job } = await jobs.enqueue('work', null, { maxAttempts: 2 });
      await jobs.claim(['work'], 'w', 1000);
      const retryAt = Date.now() + 200;
      expect(await jobs.fail(job.id, 'w', 'first error', retryAt)).toBe(true);
      expect(await jobs.get(job.id)).toMatchObject({ status: 'queued', runAt: retryAt, attempts: 1, lastError: 'first error', leaseOwner: null });
      expect(await jobs.claim(['work'], 'w', 1000)).toBeUndefined();
      await sleep(250);
      expect(await jobs.claim(['work'], 'w', 1000)).toMatchObject({ id: job.id, attempts: 2 });
      expect(await jobs.fail(job.id, 'w', 'second error', undefined)).toBe(true);
      expect(await jobs.get(job.id)).toMatchObject({ status: 'failed', attempts: 2, lastError: 'second error' });
      expect(await jobs.claim(['work'], 'w', 1000)).toBeUndefined();
    }));

    it('release gives the job back at once, the attempt uncounted', withNodes(backend.open, async ({ a: { jobs } }) => {
      const { job } = await jobs.enqueue('work', null, { runAt: Date.now() - 1000 });
      await jobs.claim(['work'], 'w1', 60_000);
      expect(await jobs.release(job.id, 'w2')).toBe(false);
      expect(await jobs.release(job.id, 'w1')).toBe(true);
      expect(await jobs.get(job.id)).toMatchObject({ status: 'queued', attempts: 0, leaseOwner: null });
      expect(await jobs.claim(['work'], 'w2', 60_000)).toMatchObject({ id: job.id, attempts: 1, leaseOwner: 'w2' });
    }));

    it('releaseAllRunning (a restart alone on the metadata) makes running jobs claimable at once, the cut-short attempt counted', withNodes(backend.open, async ({ a: { jobs } }) => {
      const { job } = await jobs.enqueue('work', null, { runAt: Date.now() - 1000 });
      const { job: waiting } = await jobs.enqueue('work', null, { runAt: Date.now() + 3_600_000 });
      await jobs.claim(['work'], 'dead-process', 60_000);
      expect(await jobs.claim(['work'], 'restarted', 60_000)).toBeUndefined(); // leased for a minute
      expect(await jobs.releaseAllRunning()).toBe(1);
      expect(await jobs.claim(['work'], 'restarted', 60_000)).toMatchObject({ id: job.id, attempts: 2, leaseOwner: 'restarted' });
      expect(await jobs.complete(job.id, 'dead-process')).toBe(false);
      expect(await jobs.get(waiting.id)).toMatchObject({ status: 'queued', attempts: 0 });
    }));

    it('dedupe: one active job per key, even when nodes enqueue at once; a finished one no longer counts', withNodes(backend.open, async ({ a, b }) => {
      // SQLite's second connection is a test device for single statements only: its transactions would trip over the first's locks.
      const enqueuer = (i: number) => (i % 2 && backend.name === 'postgres' ? b : a);
      const first = await a.jobs.enqueue('work', 1, { dedupeKey: 'scan:acme/app' });
      const again = await enqueuer(1).jobs.enqueue('work', 2, { dedupeKey: 'scan:acme/app' });
      expect(again).toEqual({ job: first.job, created: false });
      const racing = await Promise.all(Array.from({ length: 10 }, (_, i) => enqueuer(i).jobs.enqueue('work', i, { dedupeKey: 'webhook:42' })));
      expect(racing.filter((r) => r.created)).toHaveLength(1);
      expect(new Set(racing.map((r) => r.job.id)).size).toBe(1);

      await a.jobs.claim(['work'], 'w', 1000); // the running job still holds its key
      expect((await a.jobs.enqueue('work', 3, { dedupeKey: 'scan:acme/app' })).created).toBe(false);
      await a.jobs.complete(first.job.id, 'w');
      const next = await a.jobs.enqueue('work', 4, { dedupeKey: 'scan:acme/app' });
      expect(next.created).toBe(true);
      expect(next.job.id).not.toBe(first.job.id);
      expect((await a.jobs.enqueue('work', 5)).created).toBe(true); // no key: never deduplicated
    }));

    it('old finished jobs are deleted; queued and running ones never', withNodes(backend.open, async ({ a: { jobs } }) => {
      const done = (await jobs.enqueue('work', null)).job;
      const failed = (await jobs.enqueue('work', null)).job;
      const running = (await jobs.enqueue('work', null)).job;
      const queued = (await jobs.enqueue('work', null, { runAt: Date.now() + 60_000 })).job;
      const claim = async (): Promise<Job> => (await jobs.claim(['work'], 'w', 60_000))!;
      expect((await claim()).id).toBe(done.id);
      await jobs.complete(done.id, 'w');
      await claim();
      await jobs.fail(failed.id, 'w', 'x', undefined);
      await claim();
      expect(await jobs.deleteFinished(Date.now() - 60_000)).toBe(0);
      expect(await jobs.deleteFinished(Date.now() + 1)).toBe(2);
      expect(await jobs.get(done.id)).toBeUndefined();
      expect(await jobs.get(failed.id)).toBeUndefined();
      expect((await jobs.get(running.id))?.status).toBe('running');
      expect((await jobs.get(queued.id))?.status).toBe('queued');
    }));
  });
}
