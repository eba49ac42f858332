import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { META_BACKENDS, withStores } from '../../../test/support/meta-stores.js';
import { pingEvent } from '../../events/event-types.js';
import { WEBHOOK_DELIVERY_JOB, WEBHOOK_FANOUT_JOB } from '../../events/webhook-store.js';
import type { RepoName } from '../../oci/name.js';

/** A test ping: one event, one delivery to one endpoint, its own lane, no fan-out. */
for (const backend of META_BACKENDS) {
  describe.skipIf(backend.skip)(`KyselyWebhookStore.deliverTo: ${backend.name}`, () => {
    it('keeps the event with one delivery, queued at once even while the registry-wide lane waits', withStores(backend, async (stores) => {
      await stores.meta.ensureRepository('team-a/app' as RepoName, 'team-a');
      const registry = (await stores.access.getRegistry('team-a'))!;
      const endpoint = await stores.webhooks.createEndpoint({ id: randomUUID(), registryId: registry.id, url: 'http://127.0.0.1:9/hook', secret: 'whsec_secret', events: ['gc.completed'], repositoryFilter: 'nothing/*', tagFilter: null, format: 'cloudevents', enabled: true, createdBy: 'admin', createdAt: Date.now(), updatedAt: Date.now() });
      // A registry-wide delivery pending at the head of lane '': later registry-wide ones wait behind it.
      await stores.webhooks.recordEvent({ id: randomUUID(), type: 'gc.completed', registry: 'team-a', repository: null, occurredAt: Date.now(), data: {} });
      await stores.webhooks.fanOut(100, (_e, endpoints) => endpoints);
      const claim = async (kind: string) => {
        const jobs: unknown[] = [];
        for (let job = await stores.jobs.claim([kind], 'test', 60_000); job; job = await stores.jobs.claim([kind], 'test', 60_000)) {
          jobs.push(job.payload);
          await stores.jobs.complete(job.id, 'test');
        }
        return jobs;
      };
      await claim(WEBHOOK_DELIVERY_JOB);
      await claim(WEBHOOK_FANOUT_JOB);

      const event = pingEvent({ registry: 'team-a', webhook_id: endpoint.id, events: endpoint.events, requested_by: 'admin' }, randomUUID(), Date.now());
      const delivery = await stores.webhooks.deliverTo(endpoint.id, event, ':ping');
      expect(delivery).toMatchObject({ endpointId: endpoint.id, eventId: event.id, eventType: 'ping', repository: null, status: 'pending', attempts: 0 });
      expect(await claim(WEBHOOK_DELIVERY_JOB)).toEqual([{ deliveryId: delivery!.id, attempt: 1 }]);
      expect(await claim(WEBHOOK_FANOUT_JOB)).toEqual([]);
      expect(await stores.webhooks.fanOut(100, () => { throw new Error('a ping is never fanned out'); })).toBe(0);
      const context = await stores.webhooks.deliveryContext(delivery!.id);
      expect(context?.event).toMatchObject({ id: event.id, type: 'ping', data: { webhook_id: endpoint.id, events: ['gc.completed'], requested_by: 'admin' } });

      const again = await stores.webhooks.redeliver(delivery!.id);
      expect(again).toMatchObject({ eventId: event.id, redeliveryOf: delivery!.id });
      expect(await stores.webhooks.deliverTo(randomUUID(), event, ':ping')).toBeUndefined();
    }));
  });
}
