/**
 * The garbage-collection API: one active run per registry (409), the active
 * run, cancellation, history with paging, registry-admin authorisation, audit
 * entries, and runs cut short by a crash or a shutdown marked failed.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { passwordOf, basic } from '../auth/helpers.js';
import { stopAndClean } from '../conformance/helpers.js';
import type { BerthProcess } from '../support/berth-process.js';
import { Client, rand, startGcBerth } from './gc-support.js';

const BOTH = 'untagged manifests and unreferenced blobs';
let berth: BerthProcess;
let c: Client;
/** A registry with enough repositories that a run takes a moment: long enough to be caught active. */
let big: string;

async function fillRegistry(client: Client, registry: string, repositories: number): Promise<void> {
  const names = Array.from({ length: repositories }, (_, i) => `${registry}/r${i}`);
  for (let i = 0; i < names.length; i += 16) {
    await Promise.all(names.slice(i, i + 16).map((n) => client.pushBlob(n, randomBytes(64))));
  }
}

/** Starts a dry run in `big` and runs `whileActive` on it; retried if the run already finished (a loaded machine can be quick). */
async function withActiveRun(whileActive: (uuid: string) => Promise<boolean>): Promise<void> {
  for (let attempt = 0; attempt < 5; attempt++) {
    const run = await c.startGc(big, BOTH, true);
    const caught = await whileActive(run.uuid);
    await c.waitGc(big, run.uuid);
    if (caught) return;
  }
  throw new Error('never caught a run while it was active');
}

beforeAll(async () => {
  berth = await startGcBerth();
  c = new Client(berth.url);
  big = `gca-${rand()}`;
  await fillRegistry(c, big, 400);
});
afterAll(() => stopAndClean(berth));

describe('runs', () => {
  it('201 with the DigitalOcean shape; one active run per registry: a second start is 409; GET shows the active run', async () => {
    const small = `gca-${rand()}`;
    await c.pushBlob(`${small}/r`, randomBytes(10));
    const r = await c.api('POST', `/registries/${small}/garbage-collection`, { type: 'unreferenced blobs only' });
    expect(r.status).toBe(201);
    expect(Object.keys(r.body.garbage_collection).sort()).toEqual(
      ['blobs_deleted', 'created_at', 'dry_run', 'freed_bytes', 'manifests_deleted', 'registry_name', 'status', 'type', 'updated_at', 'uuid'].sort(),
    );
    expect(r.body.garbage_collection).toMatchObject({ registry_name: small, status: 'requested', type: 'unreferenced blobs only', dry_run: false });
    await c.waitGc(small, r.body.garbage_collection.uuid);
    expect((await c.api('GET', `/registries/${small}/garbage-collection`)).status).toBe(404);

    await withActiveRun(async (uuid) => {
      const second = await c.api('POST', `/registries/${big}/garbage-collection`, { type: BOTH });
      const active = await c.api('GET', `/registries/${big}/garbage-collection`);
      if (second.status === 201) {
        await c.waitGc(big, second.body.garbage_collection.uuid); // the first had finished already
        return false;
      }
      expect(second.status).toBe(409);
      expect(second.body.id).toBe('conflict');
      if (active.status === 404) return false;
      expect(active.body.garbage_collection.uuid).toBe(uuid);
      return true;
    });
  });

  it('cancel: PUT {cancel:true} → cancelling, then cancelled; a finished run → 409; unknown → 404; bad bodies → 422', async () => {
    let cancelled = '';
    await withActiveRun(async (uuid) => {
      const r = await c.api('PUT', `/registries/${big}/garbage-collection/${uuid}`, { cancel: true });
      if (r.status === 409) return false;
      expect(r.status).toBe(200);
      expect(['cancelling', 'cancelled']).toContain(r.body.garbage_collection.status);
      cancelled = uuid;
      return true;
    });
    expect((await c.waitGc(big, cancelled)).status).toBe('cancelled');
    expect((await c.api('PUT', `/registries/${big}/garbage-collection/${cancelled}`, { cancel: true })).status).toBe(409);
    expect((await c.api('PUT', `/registries/${big}/garbage-collection/00000000-0000-4000-8000-000000000000`, { cancel: true })).status).toBe(404);
    expect((await c.api('PUT', `/registries/${big}/garbage-collection/${cancelled}`, { cancel: false })).status).toBe(422);
    expect((await c.api('POST', `/registries/${big}/garbage-collection`, { type: 'everything' })).status).toBe(422);
  });

  it('history: newest first, paged with links and meta.total', async () => {
    const reg = `gca-${rand()}`;
    await c.pushBlob(`${reg}/r`, randomBytes(10));
    const uuids: string[] = [];
    for (const type of ['untagged manifests only', 'unreferenced blobs only', BOTH]) uuids.unshift((await c.gc(reg, type, true)).uuid);
    const page1 = await c.ok('GET', `/registries/${reg}/garbage-collections?per_page=2`);
    expect(page1.garbage_collections.map((g: { uuid: string }) => g.uuid)).toEqual(uuids.slice(0, 2));
    expect(page1.meta.total).toBe(3);
    expect(page1.links.pages.next).toContain('page=2');
    const page2 = await c.ok('GET', `/registries/${reg}/garbage-collections?per_page=2&page=2`);
    expect(page2.garbage_collections.map((g: { uuid: string }) => g.uuid)).toEqual(uuids.slice(2));
    expect(page2.links.pages.prev).toContain('page=1');
    expect(page2.garbage_collections[0]).toMatchObject({ status: 'succeeded', type: 'untagged manifests only', dry_run: true });
  });
});

describe('authorisation and audit', () => {
  it('registry admins only: 401 anonymous, 404 without access, 403 for read-write; starts and cancels are audited', async () => {
    const reg = `gca-${rand()}`;
    await c.pushBlob(`${reg}/r`, randomBytes(10));
    const user = `gc-${rand()}`;
    await c.ok('POST', '/users', { username: user, password: passwordOf(user) });
    const bob = new Client(berth.url, basic(user, passwordOf(user)));
    const anonymous = new Client(berth.url, '');
    const path = `/registries/${reg}/garbage-collection`;

    expect((await anonymous.api('POST', path, { type: BOTH })).status).toBe(401);
    expect((await bob.api('POST', path, { type: BOTH })).status).toBe(404);
    expect((await bob.api('GET', `/registries/${reg}/garbage-collections`)).status).toBe(404);
    await c.ok('POST', `/registries/${reg}/grants`, { subject_kind: 'user', subject: user, role: 'read-write', repository_pattern: null });
    expect((await bob.api('POST', path, { type: BOTH })).status).toBe(403);
    expect((await bob.api('GET', path)).status).toBe(403);
    await c.ok('POST', `/registries/${reg}/grants`, { subject_kind: 'user', subject: user, role: 'admin', repository_pattern: null });
    const run = await bob.startGc(reg, BOTH, true);
    await bob.waitGc(reg, run.uuid);

    const events = (await c.ok('GET', `/audit?registry=${reg}`)).events as { action: string; actor: string; resource: string; outcome: string }[];
    expect(events).toContainEqual(expect.objectContaining({ action: 'gc.start', actor: user, resource: run.uuid, outcome: 'success' }));
    expect(events).toContainEqual(expect.objectContaining({ action: 'api.denied', actor: user, outcome: 'denied' }));

    await withActiveRun(async (uuid) => (await c.api('PUT', `/registries/${big}/garbage-collection/${uuid}`, { cancel: true })).status === 200);
    const cancels = (await c.ok('GET', `/audit?registry=${big}&action=gc.cancel`)).events;
    expect(cancels.length).toBeGreaterThan(0);
    expect(cancels[0]).toMatchObject({ action: 'gc.cancel', actor: 'admin', outcome: 'success' });
  });
});

describe('interrupted runs', () => {
  let restarted: BerthProcess | undefined;
  afterAll(() => stopAndClean(restarted));

  it('a run cut short by a crash, or by a shutdown, is failed after the restart, and the registry can run again', async () => {
    const crashed = (await c.startGc(big, BOTH, true)).uuid;
    await berth.kill();
    restarted = await startGcBerth(undefined, berth.dataDir);
    let r = new Client(restarted.url);
    expect((await r.ok('GET', `/registries/${big}/garbage-collection/${crashed}`)).garbage_collection.status).toBe('failed');
    expect((await r.api('GET', `/registries/${big}/garbage-collection`)).status).toBe(404);

    const stopped = (await r.startGc(big, BOTH, true)).uuid;
    expect(await restarted.stop()).toBe(0); // SIGTERM: the run stops at its next step
    restarted = await startGcBerth(undefined, berth.dataDir);
    r = new Client(restarted.url);
    expect((await r.ok('GET', `/registries/${big}/garbage-collection/${stopped}`)).garbage_collection.status).toBe('failed');
    expect(restarted.logs()).not.toContain('runs interrupted by the last shutdown'); // marked at shutdown, not found at start
    await r.gc(big, BOTH, true);
  });
});
