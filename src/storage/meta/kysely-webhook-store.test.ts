import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { META_BACKENDS, withStores } from '../../../test/support/meta-stores.js';
import { WEBHOOK_DELIVERY_JOB, WEBHOOK_FANOUT_JOB, type AttemptRecord, type DeliveryJobPayload, type NewWebhookEndpoint, type WebhookDelivery, type WebhookEndpoint } from '../../events/webhook-store.js';
import type { RepoName } from '../../oci/name.js';
import type { OutboxEvent } from './meta-store.js';
import type { MetaStores } from './stores.js';

async function setup(stores: MetaStores) {
  await stores.meta.ensureRepository('team-a/app' as RepoName, 'team-a');
  const registry = (await stores.access.getRegistry('team-a'))!;
  let n = 0;
  return {
    registry,
    endpoint: (overrides: Partial<NewWebhookEndpoint> = {}): Promise<WebhookEndpoint> =>
      stores.webhooks.createEndpoint({
        id: randomUUID(),
        registryId: registry.id,
        url: 'http://127.0.0.1:9/hook',
        secret: 'whsec_secret',
        events: ['push'],
        repositoryFilter: null,
        tagFilter: null,
        format: 'cloudevents',
        enabled: true,
        createdBy: 'admin',
        createdAt: Date.now() + n++,
        updatedAt: Date.now(),
        ...overrides,
      }),
    event: (repository: string | null, type = 'push'): OutboxEvent => ({ id: randomUUID(), type, registry: 'team-a', repository, occurredAt: Date.now(), data: { n: n++ } }),
  };
}

/** Every due job of a kind, in claim order (completed as taken). */
async function takeJobs(stores: MetaStores, kind: string): Promise<unknown[]> {
  const payloads: unknown[] = [];
  for (let job = await stores.jobs.claim([kind], 'test', 60_000); job; job = await stores.jobs.claim([kind], 'test', 60_000)) {
    payloads.push(job.payload);
    await stores.jobs.complete(job.id, 'test');
  }
  return payloads;
}

const everyone = <T>(_event: unknown, endpoints: T[]) => endpoints;

const attempt = (deliveryId: number, n: number, outcome: AttemptRecord['outcome'], at = Date.now(), disableIfFailingSince = 0): AttemptRecord => ({
  deliveryId,
  attempt: n,
  at,
  responseStatus: outcome.kind === 'delivered' ? 200 : 503,
  latencyMs: 12,
  responseExcerpt: outcome.kind === 'delivered' ? 'ok' : 'busy',
  error: outcome.kind === 'delivered' ? null : 'answered 503',
  outcome,
  disableIfFailingSince,
});

for (const backend of META_BACKENDS) {
  describe.skipIf(backend.skip)(`KyselyWebhookStore: ${backend.name}`, () => {
    it('keeps an event exactly when the transaction that records it commits, and only if something subscribes', withStores(backend, async (stores) => {
      const { endpoint, event } = await setup(stores);
      const committed = event('team-a/app');
      expect(await stores.meta.recordEvent(event('team-a/app'))).toBe(false); // no endpoint yet
      await endpoint({ events: ['push', 'tag.deleted'] });
      await endpoint({ events: ['pull'], enabled: false });

      expect(await stores.meta.transaction((tx) => tx.recordEvent(committed))).toBe(true);
      await expect(stores.meta.transaction(async (tx) => {
        await tx.recordEvent(event('team-a/app'));
        throw new Error('the change failed');
      })).rejects.toThrow('the change failed');
      expect(await stores.meta.recordEvent(event('team-a/app', 'pull'))).toBe(false); // only a disabled endpoint wants pulls
      expect(await stores.meta.recordEvent({ ...event('other/app'), registry: 'other' })).toBe(false);
      expect(await stores.webhooks.recordEvent(event(null, 'tag.deleted'))).toBe(true);

      expect(await takeJobs(stores, WEBHOOK_FANOUT_JOB)).toHaveLength(2);
      const seen: string[] = [];
      expect(await stores.webhooks.fanOut(100, (e, endpoints) => (seen.push(e.id), endpoints))).toBe(2);
      expect(seen[0]).toBe(committed.id);
      expect(await stores.webhooks.fanOut(100, everyone)).toBe(0);
    }));

    it('fans out in recording order: the head of each lane (endpoint, repository) gets a job, the rest wait', withStores(backend, async (stores) => {
      const { endpoint, event } = await setup(stores);
      const a = await endpoint();
      const b = await endpoint();
      for (const repository of ['team-a/app', 'team-a/app', 'team-a/db', null]) await stores.webhooks.recordEvent(event(repository));
      expect(await stores.webhooks.fanOut(2, (_e, endpoints) => endpoints.filter((e) => e.id === a.id))).toBe(2);
      expect(await stores.webhooks.fanOut(100, (_e, endpoints) => endpoints.filter((e) => e.id === a.id))).toBe(2);

      const { deliveries, total } = await stores.webhooks.listDeliveries(a.id, 10, 0);
      expect(total).toBe(4);
      expect(deliveries.map((d) => d.repository)).toEqual([null, 'team-a/db', 'team-a/app', 'team-a/app']); // newest first
      expect(deliveries.every((d) => d.status === 'pending' && d.attempts === 0)).toBe(true);
      expect((await stores.webhooks.listDeliveries(b.id, 10, 0)).total).toBe(0);
      const [gc, db, app2, app1] = deliveries.map((d) => d.id) as [number, number, number, number];
      const jobs = (await takeJobs(stores, WEBHOOK_DELIVERY_JOB)) as DeliveryJobPayload[];
      expect(jobs.map((j) => j.deliveryId).sort((x, y) => x - y)).toEqual([app1, db, gc].sort((x, y) => x - y));
      expect(jobs.every((j) => j.attempt === 1)).toBe(true);
      expect(app2).toBeGreaterThan(app1);
    }));

    it('records attempts: a retry queues the next attempt, the end of a delivery starts the next in its lane, a stale attempt changes nothing', withStores(backend, async (stores) => {
      const { endpoint, event } = await setup(stores);
      const a = await endpoint();
      await stores.webhooks.recordEvent(event('team-a/app'));
      await stores.webhooks.recordEvent(event('team-a/app'));
      await stores.webhooks.fanOut(100, everyone);
      const [second, first] = (await stores.webhooks.listDeliveries(a.id, 10, 0)).deliveries.map((d) => d.id) as [number, number];
      await takeJobs(stores, WEBHOOK_DELIVERY_JOB);

      const retryAt = Date.now() - 1;
      expect(await stores.webhooks.recordAttempt(attempt(first, 1, { kind: 'retry', at: retryAt }))).toEqual({ recorded: true });
      expect(await stores.webhooks.recordAttempt(attempt(first, 1, { kind: 'delivered' }))).toEqual({ recorded: false });
      expect(await takeJobs(stores, WEBHOOK_DELIVERY_JOB)).toEqual([{ deliveryId: first, attempt: 2 }]);
      expect(await stores.webhooks.getDelivery(first)).toMatchObject({ status: 'pending', attempts: 1, nextAttemptAt: retryAt, responseStatus: 503, responseExcerpt: 'busy', error: 'answered 503' });
      expect((await stores.webhooks.getEndpoint(a.id))!.failingSince).not.toBeNull();

      expect(await stores.webhooks.recordAttempt(attempt(first, 2, { kind: 'delivered' }))).toEqual({ recorded: true });
      expect(await stores.webhooks.getDelivery(first)).toMatchObject({ status: 'delivered', attempts: 2, nextAttemptAt: null, responseStatus: 200, latencyMs: 12, error: null, completedAt: expect.any(Number) });
      expect((await stores.webhooks.getEndpoint(a.id))!.failingSince).toBeNull();
      expect(await takeJobs(stores, WEBHOOK_DELIVERY_JOB)).toEqual([{ deliveryId: second, attempt: 1 }]);

      expect(await stores.webhooks.recordAttempt(attempt(second, 1, { kind: 'failed' }))).toEqual({ recorded: true });
      expect(await stores.webhooks.getDelivery(second)).toMatchObject({ status: 'failed', attempts: 1 });
      expect(await takeJobs(stores, WEBHOOK_DELIVERY_JOB)).toEqual([]);
    }));

    it('disables an endpoint whose attempts have failed for too long, and ends its pending deliveries', withStores(backend, async (stores) => {
      const { endpoint, event } = await setup(stores);
      const a = await endpoint();
      for (const repository of ['team-a/app', 'team-a/app', 'team-a/db']) await stores.webhooks.recordEvent(event(repository));
      await stores.webhooks.fanOut(100, everyone);
      const [db, , app1] = (await stores.webhooks.listDeliveries(a.id, 10, 0)).deliveries.map((d) => d.id) as [number, number, number];

      // Failing since t=1000; the limit is "failing since 500 or earlier": not yet.
      expect(await stores.webhooks.recordAttempt(attempt(app1, 1, { kind: 'retry', at: Date.now() + 60_000 }, 1000, 500))).toEqual({ recorded: true });
      expect((await stores.webhooks.getEndpoint(a.id))!).toMatchObject({ enabled: true, failingSince: 1000 });
      const result = await stores.webhooks.recordAttempt(attempt(db, 1, { kind: 'retry', at: Date.now() + 60_000 }, 2000, 1500));
      expect(result.disabled).toMatchObject({ id: a.id, enabled: false, disabledReason: expect.stringMatching(/failed since/) });
      expect(await stores.webhooks.getEndpoint(a.id)).toMatchObject({ enabled: false, disabledReason: expect.stringMatching(/failed since/) });
      const after = (await stores.webhooks.listDeliveries(a.id, 10, 0)).deliveries;
      expect(after.map((d) => d.status)).toEqual(['failed', 'failed', 'failed']);
      expect(await stores.meta.recordEvent(event('team-a/app'))).toBe(false); // a disabled endpoint gets no events

      const enabled = await stores.webhooks.updateEndpoint(a.id, { enabled: true, updatedAt: Date.now() });
      expect(enabled).toMatchObject({ enabled: true, disabledReason: null, failingSince: null });
    }));

    it('disabling by hand ends pending deliveries; redelivery adds a delivery of the same event at the end of its lane', withStores(backend, async (stores) => {
      const { endpoint, event } = await setup(stores);
      const a = await endpoint({ events: ['push', 'pull'] });
      await stores.webhooks.recordEvent(event('team-a/app'));
      await stores.webhooks.recordEvent(event('team-a/app'));
      await stores.webhooks.fanOut(100, everyone);
      const [second, first] = (await stores.webhooks.listDeliveries(a.id, 10, 0)).deliveries as [WebhookDelivery, WebhookDelivery];
      await takeJobs(stores, WEBHOOK_DELIVERY_JOB);

      const redelivered = await stores.webhooks.redeliver(first.id);
      expect(redelivered).toMatchObject({ eventId: first.eventId, status: 'pending', attempts: 0, redeliveryOf: first.id });
      expect(await takeJobs(stores, WEBHOOK_DELIVERY_JOB)).toEqual([]); // two are pending before it in the lane

      expect(await stores.webhooks.abandon(first.id, 'given up')).toBe(true);
      expect(await takeJobs(stores, WEBHOOK_DELIVERY_JOB)).toEqual([{ deliveryId: second.id, attempt: 1 }]);
      expect(await stores.webhooks.abandon(first.id, 'again')).toBe(false);

      const disabled = await stores.webhooks.updateEndpoint(a.id, { enabled: false, events: ['pull'], updatedAt: Date.now() });
      expect(disabled).toMatchObject({ enabled: false, events: ['pull'] });
      expect((await stores.webhooks.listDeliveries(a.id, 10, 0)).deliveries.map((d) => [d.status, d.error])).toEqual([
        ['failed', 'the endpoint was disabled'],
        ['failed', 'the endpoint was disabled'],
        ['failed', 'given up'],
      ]);
      expect(await stores.webhooks.registriesSubscribedTo('pull')).toEqual(new Set());
      await stores.webhooks.updateEndpoint(a.id, { enabled: true, updatedAt: Date.now() });
      expect(await stores.webhooks.registriesSubscribedTo('pull')).toEqual(new Set(['team-a']));
    }));

    it('prunes ended deliveries and their events past the retention; keeps pending ones', withStores(backend, async (stores) => {
      const { endpoint, event } = await setup(stores);
      const a = await endpoint();
      await stores.webhooks.recordEvent(event('team-a/app'));
      await stores.webhooks.recordEvent(event('team-a/db'));
      await stores.webhooks.fanOut(100, everyone);
      const [db, app] = (await stores.webhooks.listDeliveries(a.id, 10, 0)).deliveries.map((d) => d.id) as [number, number];
      await stores.webhooks.recordAttempt(attempt(app, 1, { kind: 'delivered' }));
      expect(await stores.webhooks.prune(Date.now() - 60_000)).toEqual({ deliveries: 0, events: 0 });
      expect(await stores.webhooks.prune(Date.now() + 60_000)).toEqual({ deliveries: 1, events: 1 });
      expect((await stores.webhooks.listDeliveries(a.id, 10, 0)).deliveries.map((d) => d.id)).toEqual([db]);
    }));

    it('reports a storage threshold once per crossing', withStores(backend, async (stores) => {
      const { endpoint, event } = await setup(stores);
      await endpoint({ events: ['quota.warning'] });
      const warning = () => event(null, 'quota.warning');
      expect(await stores.webhooks.reachQuotaLevel('team-a', 80, warning())).toBe(true);
      expect(await stores.webhooks.reachQuotaLevel('team-a', 80, warning())).toBe(false);
      expect(await stores.webhooks.reachQuotaLevel('team-a', 100, warning())).toBe(true);
      expect(await stores.webhooks.reachQuotaLevel('team-a', 0, warning())).toBe(false); // fell below: re-armed
      expect(await stores.webhooks.reachQuotaLevel('team-a', 80, warning())).toBe(true);
      expect(await stores.webhooks.reachQuotaLevel('nobody', 80, warning())).toBe(false);
      expect(await stores.webhooks.fanOut(100, everyone)).toBe(3);
    }));

    it('deleting an endpoint deletes its log; deleting the registry deletes its webhooks and events', withStores(backend, async (stores) => {
      const { endpoint, event } = await setup(stores);
      const a = await endpoint();
      const b = await endpoint();
      await stores.webhooks.recordEvent(event('team-a/app'));
      await stores.webhooks.fanOut(100, everyone);
      expect(await stores.webhooks.deleteEndpoint(a.id)).toBe(true);
      expect(await stores.webhooks.deleteEndpoint(a.id)).toBe(false);
      expect(await stores.webhooks.getEndpoint(a.id)).toBeUndefined();
      expect((await stores.webhooks.listDeliveries(b.id, 10, 0)).total).toBe(1);
      expect(await stores.usage.deleteRegistry('team-a')).toBeDefined();
      expect(await stores.webhooks.getEndpoint(b.id)).toBeUndefined();
      expect((await stores.webhooks.listDeliveries(b.id, 10, 0)).total).toBe(0);
    }));
  });
}
