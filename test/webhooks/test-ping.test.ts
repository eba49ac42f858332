/**
 * POST …/webhooks/{id}/test against a real process and a real receiver: a
 * signed `ping` reaches the one webhook whatever its event types and filters,
 * is logged like any delivery (and retried when the receiver fails), comes in
 * the Distribution envelope for such webhooks, and is audited; unknown
 * webhooks are 404, disabled ones 409, non-admins 403.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verifySignature } from '../../src/events/webhook-signing.js';
import { Api, basic, passwordOf, rand } from '../auth/helpers.js';
import { stopAndClean } from '../conformance/helpers.js';
import { startBerth, type BerthProcess } from '../support/berth-process.js';
import { Receiver, type Received } from './receiver.js';

const ADMIN_PASSWORD = 'webhook-ping-admin-pass';
const ADMIN = basic('admin', ADMIN_PASSWORD);

let berth: BerthProcess;
let admin: Api;
const receiver = new Receiver();

beforeAll(async () => {
  await receiver.start();
  berth = await startBerth({ adminPassword: ADMIN_PASSWORD, env: { BERTH_WEBHOOKS_ALLOW_PRIVATE_TARGETS: 'true', BERTH_WEBHOOKS_RETRY_BASE: '100ms', BERTH_WEBHOOKS_RETRY_MAX: '400ms' } });
  admin = new Api(berth.url, ADMIN);
});
afterAll(async () => {
  await stopAndClean(berth);
  await receiver.stop();
});

async function registryWithHook(extra: object = {}): Promise<{ registry: string; id: string; secret: string }> {
  const registry = `ping-${rand()}`;
  await admin.ok('POST', '/registries', { name: registry });
  // Subscribed to something else, and filtered to repositories that do not exist: a ping goes anyway.
  const body = await admin.ok('POST', `/registries/${registry}/webhooks`, { url: receiver.url, events: ['gc.completed'], repository_filter: 'nothing/*', tag_filter: 'none', ...extra });
  return { registry, id: body.webhook.id, secret: body.secret };
}

const pingsTo = (id: string): Received[] => receiver.received.filter((r) => r.headers['berth-webhook-id'] === id);

async function settled(registry: string, id: string, delivery: number): Promise<any> {
  const end = Date.now() + 30_000;
  for (;;) {
    const { delivery: d } = await admin.ok('GET', `/registries/${registry}/webhooks/${id}/deliveries/${delivery}`);
    if (d.status !== 'pending') return d;
    if (Date.now() > end) throw new Error(`delivery ${delivery} still pending: ${JSON.stringify(d)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('POST /registries/{r}/webhooks/{id}/test', () => {
  it('answers 202 with the pending delivery; a signed berth.ping arrives and the log shows it delivered', async () => {
    const { registry, id, secret } = await registryWithHook();
    const answer = await admin.call('POST', `/registries/${registry}/webhooks/${id}/test`);
    expect(answer.status, JSON.stringify(answer.body)).toBe(202);
    const { delivery } = answer.body;
    expect(delivery).toMatchObject({ id: expect.any(Number), webhook_id: id, event_id: expect.any(String), event_type: 'ping', repository: null, status: 'pending', attempts: 0, redelivery_of: null });

    await receiver.waitFor(() => pingsTo(id).length === 1, 'the ping');
    const [ping] = pingsTo(id);
    expect(ping!.headers).toMatchObject({ 'berth-event': 'ping', 'berth-event-id': delivery.event_id, 'berth-delivery': String(delivery.id), 'content-type': 'application/cloudevents+json; charset=utf-8' });
    expect(verifySignature(secret, ping!.headers['berth-signature'] as string, ping!.raw)).toMatchObject({ ok: true });
    expect(ping!.body).toEqual({
      specversion: '1.0',
      id: delivery.event_id,
      source: `/registries/${registry}`,
      type: 'berth.ping',
      time: expect.any(String),
      datacontenttype: 'application/json',
      data: { registry, webhook_id: id, events: ['gc.completed'], requested_by: 'admin' },
    });

    const done = await settled(registry, id, delivery.id);
    expect(done).toMatchObject({ status: 'delivered', attempts: 1, response_status: 200, response_body: 'received', error: null });
    const log = await admin.ok('GET', `/registries/${registry}/webhooks/${id}/deliveries`);
    expect(log.deliveries).toEqual([done]);

    const audit = await admin.ok('GET', `/audit?registry=${registry}&action=webhook.test`);
    expect(audit.events).toHaveLength(1);
    expect(audit.events[0]).toMatchObject({ action: 'webhook.test', actor: 'admin', outcome: 'success', resource: id, detail: { delivery: delivery.id } });
  });

  it('is retried like any delivery when the receiver fails', async () => {
    const { registry, id } = await registryWithHook();
    let calls = 0;
    receiver.answer = (r) => (r.headers['berth-webhook-id'] === id && calls++ === 0 ? 503 : 200);
    try {
      const { delivery } = await admin.ok('POST', `/registries/${registry}/webhooks/${id}/test`);
      const done = await settled(registry, id, delivery.id);
      expect(done).toMatchObject({ status: 'delivered', attempts: 2, response_status: 200 });
      expect(pingsTo(id)).toHaveLength(1); // the failed attempt was answered 503, so the receiver did not keep it
    } finally {
      receiver.answer = () => 200;
    }
  });

  it('comes as an empty Distribution envelope to a webhook in that format', async () => {
    const { registry, id, secret } = await registryWithHook({ events: ['push'], format: 'distribution' });
    const { delivery } = await admin.ok('POST', `/registries/${registry}/webhooks/${id}/test`);
    await receiver.waitFor(() => pingsTo(id).length === 1, 'the ping');
    const [ping] = pingsTo(id);
    expect(ping!.headers['content-type']).toBe('application/vnd.docker.distribution.events.v1+json');
    expect(ping!.headers['berth-event']).toBe('ping');
    expect(ping!.body).toEqual({ events: [] });
    expect(verifySignature(secret, ping!.headers['berth-signature'] as string, ping!.raw)).toMatchObject({ ok: true });
    expect(await settled(registry, id, delivery.id)).toMatchObject({ status: 'delivered' });
  });

  it('404 for an unknown webhook or registry, 409 for a disabled one, 403 for a non-admin', async () => {
    const { registry, id } = await registryWithHook();
    expect((await admin.call('POST', `/registries/${registry}/webhooks/00000000-0000-4000-8000-000000000000/test`)).status).toBe(404);
    expect((await admin.call('POST', `/registries/nope-${rand()}/webhooks/${id}/test`)).status).toBe(404);
    const dev = `dev-${rand()}`;
    await admin.createUser(dev);
    await admin.grant(registry, 'user', dev, 'read-write');
    expect((await admin.as(basic(dev, passwordOf(dev))).call('POST', `/registries/${registry}/webhooks/${id}/test`)).status).toBe(403);
    await admin.ok('PATCH', `/registries/${registry}/webhooks/${id}`, { enabled: false });
    const disabled = await admin.call('POST', `/registries/${registry}/webhooks/${id}/test`);
    expect(disabled.status).toBe(409);
    expect(disabled.body).toMatchObject({ id: 'conflict', message: expect.stringContaining('disabled') });
    expect((await admin.ok('GET', `/registries/${registry}/webhooks/${id}/deliveries`)).meta.total).toBe(0);
  });
});
