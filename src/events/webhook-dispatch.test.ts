import { randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { sqliteStores, type MetaStoresFixture } from '../../test/support/meta-stores.js';
import { JobWorker } from '../jobs/worker.js';
import type { RepoName } from '../oci/name.js';
import { endpointWants, WebhookDispatcher } from './webhook-dispatch.js';
import { verifySignature } from './webhook-signing.js';
import type { StoredEvent, WebhookEndpoint } from './webhook-store.js';

const endpoint = (overrides: Partial<WebhookEndpoint> = {}): WebhookEndpoint => ({
  id: 'w',
  registryId: 1,
  registry: 'team-a',
  url: 'http://x/',
  secret: 's',
  events: ['push', 'tag.deleted', 'scan.completed', 'quota.warning', 'manifest.deleted'],
  repositoryFilter: null,
  tagFilter: null,
  format: 'cloudevents',
  enabled: true,
  disabledReason: null,
  failingSince: null,
  createdBy: 'a',
  createdAt: 0,
  updatedAt: 0,
  ...overrides,
});
const stored = (type: string, repository: string | null, data: Record<string, unknown> = {}): StoredEvent => ({ seq: 1, id: 'e', type, registry: 'team-a', repository, occurredAt: 0, data });

describe('endpointWants', () => {
  it('wants the types it subscribes to', () => {
    expect(endpointWants(endpoint(), stored('push', 'team-a/app', { tag: 'v1' }))).toBe(true);
    expect(endpointWants(endpoint(), stored('pull', 'team-a/app', { tag: 'v1' }))).toBe(false);
  });

  it('filters repositories by their path inside the registry', () => {
    const e = endpoint({ repositoryFilter: 'apps/*' });
    expect(endpointWants(e, stored('push', 'team-a/apps/web', { tag: 'v1' }))).toBe(true);
    expect(endpointWants(e, stored('push', 'team-a/apps/web/x', { tag: 'v1' }))).toBe(false);
    expect(endpointWants(e, stored('push', 'team-a/db', { tag: 'v1' }))).toBe(false);
    expect(endpointWants(endpoint({ repositoryFilter: 'apps/**' }), stored('push', 'team-a/apps/web/x'))).toBe(true);
    expect(endpointWants(e, stored('quota.warning', null))).toBe(true); // registry-wide events have no repository to filter
  });

  it('filters events that name tags by tag; others pass', () => {
    const e = endpoint({ tagFilter: 'v*' });
    expect(endpointWants(e, stored('push', 'team-a/app', { tag: 'v1.2' }))).toBe(true);
    expect(endpointWants(e, stored('push', 'team-a/app', { tag: 'latest' }))).toBe(false);
    expect(endpointWants(e, stored('push', 'team-a/app', { tag: null }))).toBe(false); // a push by digest names no tag
    expect(endpointWants(e, stored('manifest.deleted', 'team-a/app', { tags: ['latest', 'v2'] }))).toBe(true);
    expect(endpointWants(e, stored('manifest.deleted', 'team-a/app', { tags: [] }))).toBe(false);
    expect(endpointWants(e, stored('scan.completed', 'team-a/app', {}))).toBe(true);
  });
});

interface Received {
  body: Record<string, any>;
  headers: Record<string, string | string[] | undefined>;
  raw: string;
}

describe('WebhookDispatcher (SQLite, a real receiver)', () => {
  let fixture: MetaStoresFixture;
  let server: Server;
  let url: string;
  let received: Received[];
  /** Status to answer with, by the event's data.n; 200 when absent. */
  let answers: (body: Record<string, any>) => { status: number; headers?: Record<string, string> };
  let worker: JobWorker | undefined;

  beforeEach(async () => {
    fixture = await sqliteStores();
    received = [];
    answers = () => ({ status: 200 });
    server = createServer((req, res) => {
      let raw = '';
      req.on('data', (c: Buffer) => (raw += c.toString()));
      req.on('end', () => {
        const body = JSON.parse(raw) as Record<string, any>;
        const answer = answers(body);
        if (answer.status < 300) received.push({ body, headers: req.headers, raw });
        res.writeHead(answer.status, answer.headers).end(answer.status < 300 ? 'ok' : 'not now');
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;
    await fixture.stores.meta.ensureRepository('team-a/app' as RepoName, 'team-a');
  });

  afterEach(async () => {
    await worker?.close();
    worker = undefined;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    await fixture.cleanup();
  });

  async function start(options: { disableAfterMs?: number; onDisabled?: (e: WebhookEndpoint) => Promise<void> } = {}) {
    const { stores } = fixture;
    const registry = (await stores.access.getRegistry('team-a'))!;
    const secret = 'whsec_dispatch-test-secret';
    const hook = await stores.webhooks.createEndpoint({ id: randomUUID(), registryId: registry.id, url, secret, events: ['push'], repositoryFilter: null, tagFilter: null, format: 'cloudevents', enabled: true, createdBy: 't', createdAt: 0, updatedAt: 0 });
    const dispatcher = new WebhookDispatcher(stores.webhooks, {
      timeoutMs: 2000,
      retry: { baseMs: 20, maxMs: 80, forMs: 60_000 },
      disableAfterMs: options.disableAfterMs ?? 86_400_000,
      policy: { allowPrivateTargets: true },
      ...(options.onDisabled ? { onDisabled: options.onDisabled } : {}),
    });
    worker = new JobWorker(stores.jobs, { workerId: 'test', pollMs: 10, maxIdlePollMs: 20, concurrency: 4 });
    dispatcher.attach(worker);
    worker.start();
    const push = async (repository: string, n: number) => {
      await stores.webhooks.recordEvent({ id: randomUUID(), type: 'push', registry: 'team-a', repository, occurredAt: Date.now(), data: { repository, n } });
      worker!.wake();
    };
    return { hook, secret, push, dispatcher };
  }

  const until = async (check: () => boolean | Promise<boolean>, ms = 10_000) => {
    const end = Date.now() + ms;
    while (!(await check())) {
      if (Date.now() > end) throw new Error('timed out waiting');
      await new Promise((r) => setTimeout(r, 20));
    }
  };

  /** The receiver answers before the worker records the outcome: the log, once no delivery is pending. */
  const settledLog = async (hookId: string, count: number) => {
    const deliveries = async () => (await fixture.stores.webhooks.listDeliveries(hookId, 10, 0)).deliveries;
    await until(async () => {
      const log = await deliveries();
      return log.length === count && log.every((d) => d.status !== 'pending');
    });
    return deliveries();
  };

  it('signs every delivery, and keeps each repository in order while earlier deliveries are retried', async () => {
    const { hook, secret, push } = await start();
    // The receiver fails the first three attempts at event 1 of team-a/app.
    let refusals = 3;
    answers = (body) => (body.data.repository === 'team-a/app' && body.data.n === 1 && refusals-- > 0 ? { status: 503 } : { status: 200 });
    for (let n = 1; n <= 4; n++) await push('team-a/app', n);
    await push('team-a/db', 1);
    await until(() => received.length === 5);

    const order = (repository: string) => received.filter((r) => r.body.data.repository === repository).map((r) => r.body.data.n);
    expect(order('team-a/app')).toEqual([1, 2, 3, 4]);
    // Another repository's lane did not wait for the retries.
    expect(received.findIndex((r) => r.body.data.repository === 'team-a/db')).toBe(0);
    for (const r of received) {
      expect(verifySignature(secret, r.headers['berth-signature'] as string, r.raw)).toMatchObject({ ok: true });
      expect(r.headers).toMatchObject({ 'berth-event': 'push', 'berth-webhook-id': hook.id, 'content-type': 'application/cloudevents+json; charset=utf-8' });
      expect(r.body).toMatchObject({ specversion: '1.0', type: 'berth.push', source: '/registries/team-a' });
    }
    const log = await settledLog(hook.id, 5);
    expect(log.every((d) => d.status === 'delivered')).toBe(true);
    expect(log.find((d) => d.attempts === 4)).toMatchObject({ responseStatus: 200, responseExcerpt: 'ok' });
  });

  it('does not retry a 4xx, and moves on to the next delivery', async () => {
    const { hook, push } = await start();
    answers = (body) => (body.data.n === 1 ? { status: 404 } : { status: 200 });
    await push('team-a/app', 1);
    await push('team-a/app', 2);
    await until(() => received.length === 1);
    const log = await settledLog(hook.id, 2);
    expect(log.map((d) => [d.status, d.attempts, d.responseStatus])).toEqual([
      ['delivered', 1, 200],
      ['failed', 1, 404],
    ]);
    expect(log[1]!.error).toMatch(/answered 404; not retried/);
  });

  it('waits as long as Retry-After asks on 429', async () => {
    const { push } = await start();
    let first: number | undefined;
    answers = () => {
      if (first === undefined) {
        first = Date.now();
        return { status: 429, headers: { 'retry-after': '1' } };
      }
      return { status: 200 };
    };
    await push('team-a/app', 1);
    await until(() => received.length === 1);
    expect(Date.now() - first!).toBeGreaterThanOrEqual(950);
  });

  it('disables an endpoint that keeps failing, and says so', async () => {
    const disabled: WebhookEndpoint[] = [];
    const { hook, push } = await start({ disableAfterMs: 150, onDisabled: async (e) => void disabled.push(e) });
    answers = () => ({ status: 500 });
    await push('team-a/app', 1);
    await push('team-a/app', 2);
    await until(() => disabled.length === 1);
    expect(disabled[0]).toMatchObject({ id: hook.id, enabled: false });
    const log = (await fixture.stores.webhooks.listDeliveries(hook.id, 10, 0)).deliveries;
    expect(log.every((d) => d.status === 'failed')).toBe(true);
    expect(log[0]!.error).toMatch(/disabled/);
  });

  it('a job for an attempt already recorded sends nothing', async () => {
    const { hook, push, dispatcher } = await start();
    await push('team-a/app', 1);
    await until(() => received.length === 1);
    const [delivery] = await settledLog(hook.id, 1);
    await dispatcher.deliver({ deliveryId: delivery!.id, attempt: 1 });
    expect(received).toHaveLength(1);
  });
});
