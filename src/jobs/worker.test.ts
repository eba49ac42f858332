import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { sqliteStores, type MetaStoresFixture } from '../../test/support/meta-stores.js';
import type { Job, JobStore } from './job-store.js';
import { JobInterrupted, JobWorker, retryDelay, type JobHandler, type WorkerOptions } from './worker.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until(what: string, check: () => Promise<boolean> | boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

let fixture: MetaStoresFixture;
let store: JobStore;
const workers: JobWorker[] = [];
const errors: unknown[] = [];

function worker(options: Partial<WorkerOptions> = {}): JobWorker {
  const w = new JobWorker(store, {
    workerId: `w${workers.length}`,
    pollMs: 10,
    maxIdlePollMs: 50,
    retry: { baseMs: 30, maxMs: 1000 },
    logger: { info: () => undefined, warn: () => undefined, error: (obj) => errors.push(obj) },
    ...options,
  });
  workers.push(w);
  return w;
}

const status = async (id: number) => (await store.get(id))!;

beforeEach(async () => {
  fixture = await sqliteStores();
  store = fixture.stores.jobs;
  errors.length = 0;
});
afterEach(async () => {
  await Promise.all(workers.splice(0).map((w) => w.close()));
  await fixture.cleanup();
});

describe('JobWorker', () => {
  it('runs queued jobs by kind with at most `concurrency` at once, and completes them', async () => {
    let running = 0;
    let most = 0;
    const seen: unknown[] = [];
    const w = worker({ concurrency: 2 }).handle('resize', {
      run: async (job) => {
        running++;
        most = Math.max(most, running);
        seen.push(job.payload);
        await sleep(40);
        running--;
      },
    });
    const ids: number[] = [];
    for (let i = 0; i < 6; i++) ids.push((await store.enqueue('resize', { i })).job.id);
    const other = (await store.enqueue('not-mine', {})).job.id;
    w.start();
    await until('all done', async () => (await Promise.all(ids.map(status))).every((j) => j.status === 'done'));
    expect(most).toBe(2);
    expect(seen).toHaveLength(6);
    expect((await status(other)).status).toBe('queued');
  });

  it('retries a failing handler with exponential backoff, then succeeds; the process never sees the error', async () => {
    const attempts: number[] = [];
    const w = worker().handle('flaky', {
      run: async (job) => {
        attempts.push(Date.now());
        if (job.attempts < 3) throw new Error(`attempt ${job.attempts} failed`);
      },
    });
    const { job } = await store.enqueue('flaky', null);
    w.start();
    await until('done', async () => (await status(job.id)).status === 'done');
    expect(await status(job.id)).toMatchObject({ attempts: 3, lastError: 'attempt 2 failed' });
    // 30 ms before the second attempt, 60 ms before the third.
    expect(attempts[1]! - attempts[0]!).toBeGreaterThanOrEqual(25);
    expect(attempts[2]! - attempts[1]!).toBeGreaterThanOrEqual(55);
    expect(retryDelay(1, { baseMs: 1000, maxMs: 5000 })).toBe(1000);
    expect(retryDelay(3, { baseMs: 1000, maxMs: 5000 })).toBe(4000);
    expect(retryDelay(9, { baseMs: 1000, maxMs: 5000 })).toBe(5000);
  });

  it('a job that keeps failing ends failed with its last error, and the handler hears it was given up', async () => {
    const exhausted: [number, string][] = [];
    let calls = 0;
    const handler: JobHandler = {
      run: () => {
        calls++;
        if (calls === 1) throw new Error('thrown synchronously');
        return Promise.reject(new Error(`rejected ${calls}`));
      },
      exhausted: async (job, error) => void exhausted.push([job.id, error]),
      retry: { baseMs: 5, maxMs: 5 },
    };
    const w = worker().handle('doomed', handler);
    const { job } = await store.enqueue('doomed', null, { maxAttempts: 3 });
    w.start();
    await until('failed', async () => (await status(job.id)).status === 'failed');
    expect(await status(job.id)).toMatchObject({ attempts: 3, lastError: 'rejected 3' });
    expect(exhausted).toEqual([[job.id, 'rejected 3']]);
    expect(calls).toBe(3);
  });

  it('heartbeats keep the lease while a handler runs longer than it: no other worker takes the job', async () => {
    let runs = 0;
    const slow: JobHandler = { run: async () => void (runs++, await sleep(400)) };
    const { job } = await store.enqueue('slow', null);
    const a = worker({ leaseMs: 120, heartbeatMs: 30 }).handle('slow', slow);
    a.start();
    await until('claimed', async () => (await status(job.id)).status === 'running');
    worker({ leaseMs: 120 }).handle('slow', slow).start();
    await until('done', async () => (await status(job.id)).status === 'done');
    expect(runs).toBe(1);
    expect((await status(job.id)).attempts).toBe(1);
  });

  it("a dead node's job is retaken once its lease runs out; the old holder is told it lost it", async () => {
    // After its first claim, node A's statements never reach the database (a node that hangs, or whose network went).
    let claims = 0;
    const cutOff: JobStore = Object.assign(Object.create(store) as JobStore, {
      claim: (...args: Parameters<JobStore['claim']>) => (claims++ === 0 ? store.claim(...args) : Promise.reject(new Error('network down'))),
      heartbeat: () => Promise.reject(new Error('network down')),
    });
    let reasonA: unknown;
    const a = new JobWorker(cutOff, { workerId: 'A', leaseMs: 150, heartbeatMs: 30, pollMs: 10, logger: { info() {}, warn() {}, error() {} } });
    workers.push(a);
    a.handle('work', {
      run: (_job, { signal }) =>
        new Promise((_, reject) => signal.addEventListener('abort', () => reject((reasonA = signal.reason)))),
    });
    const { job } = await store.enqueue('work', null);
    a.start();
    await until('A has it', async () => (await status(job.id)).leaseOwner === 'A');
    let ranOnB: Job | undefined;
    worker({ workerId: 'B' }).handle('work', { run: async (j) => void (ranOnB = j) }).start();
    await until('B finished it', async () => (await status(job.id)).status === 'done');
    expect(ranOnB).toMatchObject({ id: job.id, attempts: 2, leaseOwner: 'B' });
    await until('A gave up', () => reasonA !== undefined);
    expect(reasonA).toBeInstanceOf(JobInterrupted);
    expect((reasonA as JobInterrupted).why).toBe('lease lost');
    expect((await status(job.id)).status).toBe('done'); // A's failure changed nothing
  });

  it('a job retaken after its last attempt is not run again: it fails, and the handler hears why', async () => {
    const { job } = await store.enqueue('work', null, { maxAttempts: 1 });
    await store.claim(['work'], 'dead-node', 20); // its only attempt; the node then dies
    await sleep(40);
    const given: string[] = [];
    let ran = false;
    worker().handle('work', { run: async () => void (ran = true), exhausted: async (_j, error) => void given.push(error) }).start();
    await until('failed', async () => (await status(job.id)).status === 'failed');
    expect(ran).toBe(false);
    expect(given[0]).toMatch(/lease expired/);
  });

  it('close: aborts running handlers, waits for them, gives their jobs back uncounted; finished work completes', async () => {
    const cleanedUp: string[] = [];
    const w = worker({ concurrency: 2 });
    w.handle('wait', {
      run: (job, { signal }) =>
        new Promise((_, reject) =>
          signal.addEventListener('abort', () => setTimeout(() => (cleanedUp.push(`job ${job.id}`), reject(signal.reason)), 50)),
        ),
    });
    w.handle('finish-anyway', { run: (_job, { signal }) => new Promise((resolve) => signal.addEventListener('abort', () => resolve())) });
    const waiting = (await store.enqueue('wait', null)).job;
    const finishing = (await store.enqueue('finish-anyway', null)).job;
    w.start();
    await until('both running', async () => (await status(waiting.id)).status === 'running' && (await status(finishing.id)).status === 'running');
    await w.close();
    expect(cleanedUp).toEqual([`job ${waiting.id}`]); // close waited for the handler to settle
    expect(await status(waiting.id)).toMatchObject({ status: 'queued', attempts: 0, leaseOwner: null });
    expect((await status(finishing.id)).status).toBe('done');
    expect(w.busy).toBe(0);
    await store.enqueue('wait', null);
    await sleep(50);
    expect((await status(waiting.id)).status).toBe('queued'); // closed: claims nothing more
    expect(errors).toEqual([]);
  });

  it('backs off while idle; wake() makes it look at once', async () => {
    const done: number[] = [];
    const w = worker({ pollMs: 10, maxIdlePollMs: 5_000 }).handle('ping', { run: async (job) => void done.push(job.id) });
    w.start();
    await sleep(700); // idle long enough for the interval to reach seconds
    const enqueued = Date.now();
    const { job } = await store.enqueue('ping', null);
    w.wake();
    await until('ran', () => done.includes(job.id));
    expect(Date.now() - enqueued).toBeLessThan(500);
  });
});
