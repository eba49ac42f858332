/**
 * Garbage collection with several nodes over one PostgreSQL schema and one
 * blob volume, in-process: each node has its own pool, Registry, GarbageCollector,
 * management API and (when asked) job worker. A run started through one node's
 * API is carried out by whichever node's worker claims its job; a cancel made
 * on any node reaches the node running it; a node that dies mid-run has its run
 * taken up by another; a restarting node leaves the others' runs alone.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AccessControl } from '../../src/auth/access-control.js';
import type { GcRun, GcStore } from '../../src/core/gc.js';
import { Registry } from '../../src/core/registry.js';
import { provideRepositoryListing } from '../../src/core/repository-listing.js';
import { buildApp } from '../../src/http/app.js';
import type { JobStore } from '../../src/jobs/job-store.js';
import { JobWorker } from '../../src/jobs/worker.js';
import { digestBytes, type Digest } from '../../src/oci/digest.js';
import type { RepoName } from '../../src/oci/name.js';
import { FilesystemBlobStore } from '../../src/storage/blob/filesystem/filesystem-blob-store.js';
import { openPostgresStores } from '../../src/storage/meta/postgres/open-postgres.js';
import type { MetaStores } from '../../src/storage/meta/stores.js';
import { adminQuery, dropSchema, POSTGRES_URL, skipPostgres, uniqueSchema } from '../support/postgres.js';

const logger = pino({ level: 'silent' });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const REGISTRY = 'acme';
const BLOBS_ONLY = 'unreferenced blobs only';

/** A store whose calls can be slowed (so a run can be caught running) or frozen (a node that hangs, then dies). */
function controllable<T extends object>(target: T, delayed: ReadonlySet<string> = new Set()): { store: T; delayMs: number; freeze(): void; thaw(): void } {
  let frozen: Promise<void> | undefined;
  let thaw = () => {};
  const control = {
    delayMs: 0,
    freeze: () => void (frozen ??= new Promise<void>((resolve) => (thaw = resolve))),
    thaw: () => {
      thaw();
      frozen = undefined;
    },
    store: new Proxy(target, {
      get(t, prop) {
        const value: unknown = Reflect.get(t, prop, t);
        if (typeof value !== 'function') return value;
        return async (...args: unknown[]) => {
          if (control.delayMs > 0 && delayed.has(String(prop))) await sleep(control.delayMs);
          if (frozen) await frozen;
          return (value as (...a: unknown[]) => unknown).apply(t, args);
        };
      },
    }),
  };
  return control;
}

interface Node {
  name: string;
  stores: MetaStores;
  registry: Registry;
  app: FastifyInstance;
  gcStore: ReturnType<typeof controllable<GcStore>>;
  jobStore: ReturnType<typeof controllable<JobStore>>;
  worker?: JobWorker;
  close(): Promise<void>;
}

let schema: string;
let blobsDir: string;
let nodes: Node[];

async function startNode(name: string, options: { worker?: boolean; leaseMs?: number } = {}): Promise<Node> {
  const stores = await openPostgresStores({ url: POSTGRES_URL, schema, poolSize: 4 });
  const files = new FilesystemBlobStore(blobsDir);
  await files.init();
  const gcStore = controllable<GcStore>(stores.gc, new Set(['oldLinks', 'manifestGraph']));
  const jobStore = controllable<JobStore>(stores.jobs);
  const registry = new Registry(stores.meta, files, { gc: { store: gcStore.store, gracePeriodMs: 0, logger } });
  provideRepositoryListing(registry, stores.repositoryQueries);
  const access = await AccessControl.create(
    { enabled: false, service: 'berth', issuer: 'berth', tokenTtlSeconds: 300, refreshTokenTtlDays: 30, keyRotationDays: 90, throttle: { windowSeconds: 60, maxFailuresPerUser: 10, maxFailuresPerSource: 50 }, autoCreateRegistries: true },
    stores.access,
    stores.authState,
    logger,
  );
  const app = buildApp(registry, access, { logger, idleTimeoutMs: 60_000 });
  await app.ready();
  let worker: JobWorker | undefined;
  if (options.worker) {
    const leaseMs = options.leaseMs ?? 30_000;
    worker = new JobWorker(jobStore.store, { workerId: name, leaseMs, heartbeatMs: Math.floor(leaseMs / 4), pollMs: 20, maxIdlePollMs: 100, logger });
    registry.gc!.attach(worker);
    worker.start();
  }
  const node: Node = {
    name, stores, registry, app, gcStore, jobStore, worker,
    close: async () => {
      gcStore.thaw();
      jobStore.thaw();
      await app.close();
      await worker?.close();
      await registry.gc!.close();
      await stores.close();
    },
  };
  nodes.push(node);
  return node;
}

async function api(node: Node, method: 'GET' | 'POST' | 'PUT', path: string, body?: object): Promise<{ status: number; body: any }> {
  const res = await node.app.inject({ method, url: `/api/v2/registries/${REGISTRY}${path}`, payload: body });
  return { status: res.statusCode, body: res.body ? res.json() : undefined };
}

const runOf = async (node: Node, uuid: string): Promise<GcRun> => (await node.stores.gc.getRun(uuid))!;

async function until<T>(what: string, probe: () => Promise<T | undefined | false>, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

/** `repositories` repositories of the registry, each holding `perRepository` blobs no manifest references: garbage for a blobs run. */
async function fill(node: Node, repositories: number, perRepository = 1): Promise<Digest[]> {
  await node.stores.access.createRegistry(REGISTRY, false);
  const files = new FilesystemBlobStore(blobsDir);
  const digests: Digest[] = [];
  for (let r = 0; r < repositories; r++) {
    const repo = await node.stores.meta.ensureRepository(`${REGISTRY}/r${r}` as RepoName, REGISTRY);
    for (let b = 0; b < perRepository; b++) {
      const bytes = randomBytes(100);
      const digest = digestBytes(bytes);
      const upload = `${digest.slice(7, 15)}-0000-4000-8000-${digest.slice(15, 27)}`;
      await files.createUpload(upload);
      await files.writeUpload(upload, 0, Readable.from([bytes]));
      await files.commitUpload(upload, digest);
      await node.stores.meta.linkBlob(repo.id, digest, bytes.length);
      digests.push(digest);
    }
  }
  await sleep(5); // strictly older than the run's start (grace period 0)
  return digests;
}

const blobFile = (digest: Digest) => join(blobsDir, 'blobs', 'sha256', digest.slice(7, 9), digest.slice(7));

describe.skipIf(skipPostgres)('garbage collection across nodes sharing PostgreSQL', () => {
  beforeEach(() => {
    schema = uniqueSchema();
    blobsDir = mkdtempSync(join(tmpdir(), 'berth-gc-nodes-'));
    nodes = [];
  });
  afterEach(async () => {
    for (const node of nodes.reverse()) await node.close();
    await dropSchema(schema);
    await rm(blobsDir, { recursive: true, force: true });
  });

  it("a run started through node A's API is carried out by node B's worker; A's API sees its progress and outcome", async () => {
    const a = await startNode('node-a'); // serves the API, runs no jobs
    const b = await startNode('node-b', { worker: true });
    const garbage = await fill(a, 5, 2);
    const started = await api(a, 'POST', '/garbage-collection', { type: BLOBS_ONLY });
    expect(started.status).toBe(201);
    expect(started.body.garbage_collection).toMatchObject({ status: 'requested', type: BLOBS_ONLY, registry_name: REGISTRY });
    const uuid = started.body.garbage_collection.uuid as string;

    const finished = await until('the run to finish', async () => {
      const r = await api(a, 'GET', `/garbage-collection/${uuid}`);
      return ['succeeded', 'failed', 'cancelled'].includes(r.body.garbage_collection.status) && r.body.garbage_collection;
    });
    expect(finished).toMatchObject({ status: 'succeeded', blobs_deleted: 10, freed_bytes: 1000 });
    expect(await runOf(a, uuid)).toMatchObject({ node: 'node-b' });
    expect(garbage.filter((d) => existsSync(blobFile(d)))).toEqual([]);
    expect((await a.stores.jobs.get((await runOf(a, uuid)).jobId!))?.status).toBe('done');
    expect((await api(a, 'GET', '/garbage-collection')).status).toBe(404); // nothing active any more
  });

  it('a cancel made on node A reaches the run on node B, which stops at its next checkpoint', async () => {
    const a = await startNode('node-a');
    const b = await startNode('node-b', { worker: true });
    await fill(a, 40);
    b.gcStore.delayMs = 50; // ~2 s for the whole run
    const uuid = (await api(a, 'POST', '/garbage-collection', { type: BLOBS_ONLY })).body.garbage_collection.uuid as string;
    await until('B running it', async () => {
      const run = await runOf(a, uuid);
      return run.node === 'node-b' && run.status === 'deleting unreferenced blobs';
    });
    const cancel = await api(a, 'PUT', `/garbage-collection/${uuid}`, { cancel: true });
    expect(cancel.status).toBe(200);
    expect(cancel.body.garbage_collection.status).toBe('cancelling');
    const asked = Date.now();
    await until('cancelled', async () => (await runOf(a, uuid)).status === 'cancelled');
    expect(Date.now() - asked).toBeLessThan(1500);
    expect((await api(a, 'PUT', `/garbage-collection/${uuid}`, { cancel: true })).status).toBe(409);
  });

  it('a run no node has taken up yet is cancelled at once, and no node runs it afterwards', async () => {
    const a = await startNode('node-a');
    await fill(a, 2);
    const uuid = (await api(a, 'POST', '/garbage-collection', { type: BLOBS_ONLY })).body.garbage_collection.uuid as string;
    const cancel = await api(a, 'PUT', `/garbage-collection/${uuid}`, { cancel: true });
    expect(cancel.body.garbage_collection.status).toBe('cancelled');
    const b = await startNode('node-b', { worker: true });
    await sleep(300);
    expect(await runOf(b, uuid)).toMatchObject({ status: 'cancelled' });
    expect((await runOf(b, uuid)).node).toBeUndefined();
  });

  it("a node that dies mid-run: once its lease runs out another node takes the run up from scratch and finishes it; the dead node's late writes are refused", async () => {
    const a = await startNode('node-a');
    const b = await startNode('node-b', { worker: true, leaseMs: 400 });
    const garbage = await fill(a, 30);
    b.gcStore.delayMs = 30;
    const uuid = (await api(a, 'POST', '/garbage-collection', { type: BLOBS_ONLY })).body.garbage_collection.uuid as string;
    await until('B running it', async () => (await runOf(a, uuid)).node === 'node-b' && (await runOf(a, uuid)).status === 'deleting unreferenced blobs');
    await sleep(200); // part of the work done
    b.gcStore.freeze(); // B hangs: no more progress, no heartbeats, no writes
    b.jobStore.freeze();

    const c = await startNode('node-c', { worker: true });
    expect(await c.registry.gc!.recover()).toBe(0); // a restart leaves B's run alone
    const done = await until('the run to finish', async () => {
      const run = await runOf(a, uuid);
      return ['succeeded', 'failed', 'cancelled'].includes(run.status) && run;
    });
    expect(done).toMatchObject({ status: 'succeeded', node: 'node-c' });
    // Counted on from B's last progress write: what B did after it is gone from the figures (never from the storage).
    expect(done.blobsDeleted).toBeGreaterThan(0);
    expect(done.blobsDeleted).toBeLessThanOrEqual(30);
    expect(done.freedBytes).toBe(done.blobsDeleted * 100);
    expect((await a.stores.jobs.get(done.jobId!))).toMatchObject({ status: 'done', attempts: 2, leaseOwner: null });
    expect(garbage.filter((d) => existsSync(blobFile(d)))).toEqual([]);

    // B comes back to life: it finds the run is no longer its own and writes nothing.
    b.gcStore.thaw();
    b.jobStore.thaw();
    await until('B to let go', async () => b.worker!.busy === 0);
    expect(await runOf(a, uuid)).toEqual(done);
  });

  it('a run whose nodes keep dying is failed once its attempts are spent', async () => {
    const a = await startNode('node-a');
    await fill(a, 1);
    const uuid = (await api(a, 'POST', '/garbage-collection', { type: BLOBS_ONLY })).body.garbage_collection.uuid as string;
    for (let i = 0; i < 3; i++) {
      expect(await a.stores.jobs.claim(['gc'], `dying-${i}`, 10)).toBeDefined();
      await sleep(20);
    }
    await startNode('node-b', { worker: true });
    const run = await until('failed', async () => {
      const r = await runOf(a, uuid);
      return r.status === 'failed' && r;
    });
    expect(run.error).toMatch(/^interrupted: no attempts left/);
    expect((await a.stores.jobs.get(run.jobId!))?.status).toBe('failed');
  });

  it('a node shutting down hands its run back: another node (or itself, restarted) carries it out', async () => {
    const a = await startNode('node-a');
    const b = await startNode('node-b', { worker: true });
    await fill(a, 30);
    b.gcStore.delayMs = 30;
    const uuid = (await api(a, 'POST', '/garbage-collection', { type: BLOBS_ONLY })).body.garbage_collection.uuid as string;
    await until('B running it', async () => (await runOf(a, uuid)).status === 'deleting unreferenced blobs');
    await b.worker!.close();
    const handedBack = await runOf(a, uuid);
    expect(handedBack).toMatchObject({ status: 'requested' });
    expect(handedBack.node).toBeUndefined();
    expect(await a.stores.jobs.get(handedBack.jobId!)).toMatchObject({ status: 'queued', attempts: 0 });

    await startNode('node-c', { worker: true });
    const done = await until('done', async () => {
      const r = await runOf(a, uuid);
      return r.status === 'succeeded' && r;
    });
    expect(done).toMatchObject({ node: 'node-c', blobsDeleted: 30 });
  });

  it("recover() at a node's start fails only runs nothing will run (recorded without a job), never another node's live run", async () => {
    const a = await startNode('node-a');
    const b = await startNode('node-b', { worker: true });
    await fill(a, 20);
    b.gcStore.delayMs = 50;
    const live = (await api(a, 'POST', '/garbage-collection', { type: BLOBS_ONLY })).body.garbage_collection.uuid as string;
    await until('B running it', async () => (await runOf(a, live)).status === 'deleting unreferenced blobs');
    // A run as an older Berth recorded it: no job will ever run it.
    const registryId = (await a.stores.access.getRegistry(REGISTRY))!.id;
    await adminQuery(
      `insert into ${schema}.gc_runs (id, registry_id, type, status, dry_run, created_at, updated_at) values ('legacy', $1, $2, 'scanning manifests', 0, 1, 1)`,
      [registryId, BLOBS_ONLY],
    );
    const restarted = await startNode('node-a2');
    expect(await restarted.registry.gc!.recover()).toBe(1);
    expect(await runOf(a, 'legacy')).toMatchObject({ status: 'failed', error: expect.stringMatching(/^interrupted/) });
    expect((await runOf(a, live)).status).toBe('deleting unreferenced blobs');
    await until('the live run to finish', async () => (await runOf(a, live)).status === 'succeeded');
  });
});
