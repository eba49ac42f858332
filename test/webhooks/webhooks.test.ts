/**
 * Webhooks end to end: real Berth processes and a real receiver on loopback.
 * Every event type arrives once and its signature verifies; only registry
 * admins manage webhooks and secrets are shown once; the SSRF guard refuses
 * private targets unless the operator allows them; a receiver that is down
 * gets everything, in order per repository, once it is back; and a Berth
 * killed (-9) while deliveries are pending delivers them after a restart.
 */
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verifySignature } from '../../src/events/webhook-signing.js';
import { Api, basic, passwordOf, putManifest, pushBlob, rand, send } from '../auth/helpers.js';
import { berthCli, newHome } from '../cli/run-cli.js';
import { stopAndClean } from '../conformance/helpers.js';
import { MT, descriptorOf, imageManifest, sha256 } from '../conformance/helpers.js';
import { pseudoRandom, tarOf } from '../support/oci-layout.js';
import { startBerth, type BerthProcess, type StartOptions } from '../support/berth-process.js';
import { Receiver } from './receiver.js';

const ADMIN_PASSWORD = 'webhooks-admin-pass';
const ADMIN = basic('admin', ADMIN_PASSWORD);
const ALL_TYPES = ['push', 'tag.deleted', 'manifest.deleted', 'repository.deleted', 'scan.completed', 'quota.warning', 'gc.completed', 'pull'];

/** Short retries, so a receiver's outage costs seconds; loopback receivers allowed; a tier with a tiny storage allowance. */
const FAST_ENV = {
  BERTH_WEBHOOKS_ALLOW_PRIVATE_TARGETS: 'true',
  BERTH_WEBHOOKS_RETRY_BASE: '100ms',
  BERTH_WEBHOOKS_RETRY_MAX: '400ms',
  BERTH_TIERS: JSON.stringify([
    { slug: 'unlimited', name: 'Unlimited', includedRepositories: null, includedStorageBytes: null, includedBandwidthBytes: null, monthlyPriceInCents: 0, allowStorageOverage: true },
    { slug: 'tiny', name: 'Tiny', includedRepositories: null, includedStorageBytes: 20_000, includedBandwidthBytes: null, monthlyPriceInCents: 0, allowStorageOverage: true },
  ]),
};

function startHooksBerth(options: StartOptions = {}): Promise<BerthProcess> {
  return startBerth({ adminPassword: ADMIN_PASSWORD, ...options, env: { ...FAST_ENV, ...options.env } });
}

/** Pushes an image whose one layer (a real gzipped tar, so it scans) holds `bytes` incompressible bytes. */
async function pushImage(base: string, repo: string, tag: string, bytes = 100): Promise<string> {
  const layer = gzipSync(await tarOf([{ name: 'data.bin', content: pseudoRandom(`${repo}:${tag}:${rand()}`, bytes) }]), { level: 0 });
  const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] }, nonce: rand() }));
  await pushBlob(base, ADMIN, repo, config);
  await pushBlob(base, ADMIN, repo, layer);
  const body = Buffer.from(JSON.stringify(imageManifest(descriptorOf(config, MT.ociConfig), [descriptorOf(layer, MT.ociLayer)])));
  const res = await putManifest(base, ADMIN, repo, tag, body);
  expect(res.status, await res.text()).toBe(201);
  return sha256(body);
}

async function createWebhook(api: Api, registry: string, url: string, events: string[], extra: object = {}): Promise<{ id: string; secret: string }> {
  const body = await api.ok('POST', `/registries/${registry}/webhooks`, { url, events, ...extra });
  return { id: body.webhook.id, secret: body.secret };
}

describe('webhooks between real processes', () => {
  let berth: BerthProcess;
  let admin: Api;
  const receiver = new Receiver();

  beforeAll(async () => {
    await receiver.start();
    berth = await startHooksBerth();
    admin = new Api(berth.url, ADMIN);
  });
  afterAll(async () => {
    await stopAndClean(berth);
    await receiver.stop();
  });

  it('delivers every event type once, as CloudEvents whose signatures verify', async () => {
    const registry = `hooks-${rand()}`;
    await admin.ok('POST', '/registries', { name: registry, subscription_tier_slug: 'tiny' });
    const hook = await createWebhook(admin, registry, receiver.url, ALL_TYPES);
    expect(hook.secret).toMatch(/^whsec_/);
    const repo = `${registry}/app`;

    // One push of an image that fills 80-100 % of the tier's 20 kB: push, scan.completed and quota.warning.
    const digest = await pushImage(berth.url, repo, 'v1', 16_000);
    const pulled = await send(berth.url, { path: `/v2/${repo}/manifests/v1`, auth: ADMIN, headers: { accept: MT.ociManifest } });
    expect(pulled.status).toBe(200);
    await receiver.waitFor(() => ['push', 'scan.completed', 'quota.warning', 'pull'].every((t) => receiver.ofType(t, t === 'quota.warning' ? undefined : repo).length === 1), 'push, scan, quota and pull events');
    await admin.ok('DELETE', `/registries/${registry}/repositories/app/tags/v1`);
    await admin.ok('DELETE', `/registries/${registry}/repositories/app/digests/${digest}`);
    await admin.ok('DELETE', `/registries/${registry}/repositories/app`);
    const gc = await admin.ok('POST', `/registries/${registry}/garbage-collection`, { type: 'unreferenced blobs only' });
    await receiver.waitFor(() => receiver.ofType('gc.completed').some((r) => r.body.data.run_id === gc.garbage_collection.uuid), 'gc.completed');

    const mine = receiver.received.filter((r) => r.body.source === `/registries/${registry}`);
    expect(mine.map((r) => r.body.type.slice('berth.'.length)).sort()).toEqual([...ALL_TYPES].sort());
    expect(new Set(mine.map((r) => r.body.id)).size).toBe(mine.length);
    for (const r of mine) {
      expect(r.headers['content-type']).toBe('application/cloudevents+json; charset=utf-8');
      expect(r.headers['berth-webhook-id']).toBe(hook.id);
      expect(r.headers['berth-event']).toBe(r.body.type.slice('berth.'.length));
      expect(verifySignature(hook.secret, r.headers['berth-signature'] as string, r.raw), r.body.type).toMatchObject({ ok: true });
      expect(verifySignature('whsec_not-the-secret-000000', r.headers['berth-signature'] as string, r.raw).ok).toBe(false);
      expect(r.body).toMatchObject({ specversion: '1.0', id: expect.any(String), time: expect.any(String), datacontenttype: 'application/json' });
    }
    const byType = (t: string) => mine.find((r) => r.body.type === `berth.${t}`)!.body;
    expect(byType('push')).toMatchObject({
      subject: `${repo}:v1`,
      data: { registry, repository: repo, tag: 'v1', digest, media_type: MT.ociManifest, size: expect.any(Number), pusher: 'admin', pull_reference: `${berth.host}/${repo}:v1` },
    });
    expect(byType('pull').data).toMatchObject({ repository: repo, reference: 'v1', tag: 'v1', digest, puller: 'admin' });
    expect(byType('scan.completed').data).toMatchObject({ repository: repo, digest, status: 'complete', severity_counts: { critical: 0, high: 0, medium: 0, low: 0, unknown: 0, total: 0 } });
    expect(byType('quota.warning').data).toMatchObject({ registry, tier: 'tiny', threshold_percent: 80, limit_bytes: 20_000 });
    expect(byType('quota.warning').data.used_percent).toBeGreaterThanOrEqual(80);
    expect(byType('tag.deleted').data).toMatchObject({ repository: repo, tag: 'v1', digest, actor: 'admin' });
    expect(byType('manifest.deleted').data).toMatchObject({ repository: repo, digest, media_type: MT.ociManifest, tags: [], actor: 'admin' });
    expect(byType('repository.deleted').data).toMatchObject({ repository: repo, manifests_deleted: 0, actor: 'admin' });
    expect(byType('gc.completed').data).toMatchObject({ registry, run_id: gc.garbage_collection.uuid, status: 'succeeded', dry_run: false });

    // The delivery log shows each one delivered once.
    const log = await admin.ok('GET', `/registries/${registry}/webhooks/${hook.id}/deliveries?per_page=50`);
    expect(log.meta.total).toBe(ALL_TYPES.length);
    for (const d of log.deliveries) expect(d).toMatchObject({ status: 'delivered', attempts: 1, response_status: 200, response_body: 'received', error: null });
  });

  it('is for registry admins; secrets are shown once; filters, the Distribution envelope and redelivery work', async () => {
    const registry = `hooks-${rand()}`;
    await admin.ok('POST', '/registries', { name: registry });
    await admin.createUser(`dev-${registry}`);
    await admin.grant(registry, 'user', `dev-${registry}`, 'read-write');
    const dev = admin.as(basic(`dev-${registry}`, passwordOf(`dev-${registry}`)));
    expect((await dev.call('POST', `/registries/${registry}/webhooks`, { url: receiver.url, events: ['push'] })).status).toBe(403);
    expect((await dev.call('GET', `/registries/${registry}/webhooks`)).status).toBe(403);

    const distribution = await createWebhook(admin, registry, receiver.url, ['push', 'tag.deleted'], { format: 'distribution', repository_filter: 'apps/*', tag_filter: 'v*' });
    expect((await admin.call('POST', `/registries/${registry}/webhooks`, { url: receiver.url, events: ['scan.completed'], format: 'distribution' })).status).toBe(422);
    const listed = await admin.ok('GET', `/registries/${registry}/webhooks`);
    expect(listed.webhooks).toHaveLength(1);
    expect(listed.webhooks[0]).toMatchObject({ id: distribution.id, format: 'distribution', repository_filter: 'apps/*', tag_filter: 'v*', enabled: true });
    expect(JSON.stringify(listed)).not.toContain(distribution.secret);
    expect(JSON.stringify(await admin.ok('GET', `/registries/${registry}/webhooks/${distribution.id}`))).not.toContain('whsec_');

    const before = receiver.received.length;
    await pushImage(berth.url, `${registry}/apps/web`, 'latest'); // tag filtered out
    await pushImage(berth.url, `${registry}/db`, 'v1'); // repository filtered out
    const digest = await pushImage(berth.url, `${registry}/apps/web`, 'v2');
    await receiver.waitFor(() => receiver.received.length > before, 'the Distribution event');
    await new Promise((r) => setTimeout(r, 500));
    const envelopes = receiver.received.slice(before).filter((r) => r.headers['berth-webhook-id'] === distribution.id);
    expect(envelopes).toHaveLength(1);
    const [envelope] = envelopes;
    expect(envelope!.headers['content-type']).toBe('application/vnd.docker.distribution.events.v1+json');
    expect(verifySignature(distribution.secret, envelope!.headers['berth-signature'] as string, envelope!.raw)).toMatchObject({ ok: true });
    expect(envelope!.body.events).toHaveLength(1);
    expect(envelope!.body.events[0]).toMatchObject({ action: 'push', target: { repository: `${registry}/apps/web`, tag: 'v2', digest, mediaType: MT.ociManifest }, actor: { name: 'admin' } });

    // Rotating shows a new secret once; redelivery sends the same event again, signed with it.
    const rotated = await admin.ok('PATCH', `/registries/${registry}/webhooks/${distribution.id}`, { rotate_secret: true });
    expect(rotated.secret).toMatch(/^whsec_/);
    expect(rotated.secret).not.toBe(distribution.secret);
    const [delivery] = (await admin.ok('GET', `/registries/${registry}/webhooks/${distribution.id}/deliveries`)).deliveries;
    const again = await admin.call('POST', `/registries/${registry}/webhooks/${distribution.id}/deliveries/${delivery.id}/redeliver`);
    expect(again.status).toBe(202);
    expect(again.body.delivery).toMatchObject({ event_id: delivery.event_id, redelivery_of: delivery.id, status: 'pending' });
    await receiver.waitFor(() => receiver.received.filter((r) => r.headers['berth-webhook-id'] === distribution.id).length === 2, 'the redelivery');
    const resent = receiver.received.filter((r) => r.headers['berth-webhook-id'] === distribution.id)[1]!;
    expect(resent.body.events[0].id).toBe(envelope!.body.events[0].id);
    expect(verifySignature(rotated.secret, resent.headers['berth-signature'] as string, resent.raw)).toMatchObject({ ok: true });

    // The audit log has it all; deleting removes the webhook and its log.
    expect((await admin.call('DELETE', `/registries/${registry}/webhooks/${distribution.id}`)).status).toBe(204);
    expect((await admin.call('GET', `/registries/${registry}/webhooks/${distribution.id}`)).status).toBe(404);
    const audit = await admin.ok('GET', `/audit?registry=${registry}&per_page=100`);
    const actions = audit.events.map((e: { action: string }) => e.action);
    for (const a of ['webhook.create', 'webhook.update', 'webhook.redeliver', 'webhook.delete']) expect(actions).toContain(a);
  });

  it('is managed with `berth webhook`', async () => {
    const registry = `hooks-${rand()}`;
    await admin.ok('POST', '/registries', { name: registry });
    const { secret: token } = await admin.token(`cli-${registry}`);
    const home = newHome();
    const env = { BERTH_SERVER: berth.url, BERTH_TOKEN: token };
    const created = await berthCli(home, ['webhook', 'create', receiver.url, '--registry', registry, '--events', 'push,tag.deleted', '--tags', 'release-*', '-o', 'json'], { env });
    expect(created.code, created.stderr).toBe(0);
    const { webhook, secret } = JSON.parse(created.stdout);
    expect(secret).toMatch(/^whsec_/);
    const text = await berthCli(home, ['webhook', 'create', receiver.url, '--registry', registry, '--events', 'push'], { env });
    expect(text.stdout).toMatch(/Secret: whsec_.*\n.*will not be shown again/);
    const list = await berthCli(home, ['webhook', 'list', '--registry', registry, '--format', 'ID,Events,Tags', '--no-header'], { env });
    expect(list.stdout).toContain(`${webhook.id}\tpush,tag.deleted\trelease-*`);
    const bad = await berthCli(home, ['webhook', 'create', receiver.url, '--registry', registry, '--events', 'push,nope'], { env });
    expect(bad.code).toBe(2);
    const ping = await berthCli(home, ['webhook', 'test', webhook.id, '--registry', registry, '-o', 'json'], { env });
    expect(ping.code, ping.stderr).toBe(0);
    const pingDelivery = JSON.parse(ping.stdout);
    expect(pingDelivery).toMatchObject({ event_type: 'ping' });
    const disabled = await berthCli(home, ['webhook', 'update', webhook.id, '--registry', registry, '--disable', '-o', 'json'], { env });
    expect(JSON.parse(disabled.stdout).webhook.enabled).toBe(false);
    const deliveries = await berthCli(home, ['webhook', 'deliveries', webhook.id, '--registry', registry, '-o', 'json'], { env });
    expect(JSON.parse(deliveries.stdout).map((d: { id: unknown; event_type: string }) => [d.id, d.event_type])).toEqual([[pingDelivery.id, 'ping']]);
    expect((await berthCli(home, ['webhook', 'delete', webhook.id, '--registry', registry, '--force'], { env })).code).toBe(0);
  });

  it('a receiver that is down gets every event once it is back, in order per repository', async () => {
    const registry = `hooks-${rand()}`;
    await admin.ok('POST', '/registries', { name: registry });
    const outage = new Receiver();
    await outage.start();
    const hook = await createWebhook(admin, registry, outage.url, ['push', 'tag.deleted']);
    await outage.stop();

    for (let i = 1; i <= 4; i++) await pushImage(berth.url, `${registry}/a`, `t${i}`);
    for (let i = 1; i <= 3; i++) await pushImage(berth.url, `${registry}/b`, `t${i}`);
    await admin.ok('DELETE', `/registries/${registry}/repositories/a/tags/t1`);
    // Attempts are failing meanwhile (connection refused) and being retried.
    const pending = async () => (await admin.ok('GET', `/registries/${registry}/webhooks/${hook.id}/deliveries?per_page=50`)).deliveries;
    const end = Date.now() + 20_000;
    while (!(await pending()).some((d: { attempts: number }) => d.attempts >= 2) && Date.now() < end) await new Promise((r) => setTimeout(r, 100));
    expect((await pending()).every((d: { status: string }) => d.status === 'pending')).toBe(true);
    expect((await pending()).find((d: { attempts: number }) => d.attempts >= 2)?.error).toMatch(/ECONNREFUSED/);

    await outage.start();
    await outage.waitFor(() => outage.received.length >= 8, 'every event after the outage');
    await new Promise((r) => setTimeout(r, 300));
    expect(outage.received).toHaveLength(8);
    const subjects = (repository: string) => outage.received.filter((r) => r.body.data.repository === repository).map((r) => `${r.body.type}:${r.body.data.tag}`);
    expect(subjects(`${registry}/a`)).toEqual(['berth.push:t1', 'berth.push:t2', 'berth.push:t3', 'berth.push:t4', 'berth.tag.deleted:t1']);
    expect(subjects(`${registry}/b`)).toEqual(['berth.push:t1', 'berth.push:t2', 'berth.push:t3']);
    await outage.stop();
  });
});

describe('the SSRF guard (private targets not allowed: the default)', () => {
  let berth: BerthProcess;
  let admin: Api;
  beforeAll(async () => {
    berth = await startHooksBerth({ env: { BERTH_WEBHOOKS_ALLOW_PRIVATE_TARGETS: 'false' } });
    admin = new Api(berth.url, ADMIN);
  });
  afterAll(() => stopAndClean(berth));

  it('refuses loopback, private, link-local and metadata targets, by address or by name', async () => {
    const registry = `ssrf-${rand()}`;
    await admin.ok('POST', '/registries', { name: registry });
    for (const url of ['http://127.0.0.1:8080/hook', 'http://localhost:8080/hook', 'http://[::1]/hook', 'http://10.0.0.5/hook', 'http://192.168.1.10/hook', 'http://169.254.169.254/latest/meta-data/', 'http://[fd00::1]/hook', 'http://0.0.0.0:5000/', 'ftp://example.com/']) {
      const r = await admin.call('POST', `/registries/${registry}/webhooks`, { url, events: ['push'] });
      expect(r.status, url).toBe(422);
      expect(r.body.message, url).toMatch(/^url: /);
    }
    expect((await admin.ok('GET', `/registries/${registry}/webhooks`)).webhooks).toEqual([]);
  });
});

describe('an endpoint that fails for too long', () => {
  let berth: BerthProcess;
  const receiver = new Receiver();
  afterAll(async () => {
    await stopAndClean(berth);
    await receiver.stop();
  });

  it('is disabled, with a webhook.disabled audit entry; enabled again, redelivery reaches it', async () => {
    await receiver.start();
    berth = await startHooksBerth({ env: { BERTH_WEBHOOKS_DISABLE_AFTER: '1s' } });
    const admin = new Api(berth.url, ADMIN);
    const registry = `failing-${rand()}`;
    await admin.ok('POST', '/registries', { name: registry });
    const hook = await createWebhook(admin, registry, receiver.url, ['push']);
    receiver.answer = () => 500;
    await pushImage(berth.url, `${registry}/app`, 'v1');
    await pushImage(berth.url, `${registry}/app`, 'v2');

    const webhook = async () => (await admin.ok('GET', `/registries/${registry}/webhooks/${hook.id}`)).webhook;
    const end = Date.now() + 20_000;
    while ((await webhook()).enabled) {
      if (Date.now() > end) throw new Error('the webhook was never disabled');
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(await webhook()).toMatchObject({ enabled: false, disabled_reason: expect.stringMatching(/every delivery attempt failed since/), failing_since: expect.any(String) });
    const { deliveries } = await admin.ok('GET', `/registries/${registry}/webhooks/${hook.id}/deliveries`);
    expect(deliveries.map((d: { status: string }) => d.status)).toEqual(['failed', 'failed']);
    expect(deliveries[1]).toMatchObject({ response_status: 500, response_body: 'unavailable' });
    const audit = await admin.ok('GET', `/audit?registry=${registry}&action=webhook.disabled`);
    expect(audit.events).toHaveLength(1);
    expect(audit.events[0]).toMatchObject({ action: 'webhook.disabled', actor: 'system', resource: hook.id });

    // A disabled webhook gets nothing new; redelivery waits until it is enabled.
    const oldest = deliveries[1];
    expect((await admin.call('POST', `/registries/${registry}/webhooks/${hook.id}/deliveries/${oldest.id}/redeliver`)).status).toBe(409);
    receiver.answer = () => 200;
    await admin.ok('PATCH', `/registries/${registry}/webhooks/${hook.id}`, { enabled: true });
    expect(await webhook()).toMatchObject({ enabled: true, disabled_reason: null, failing_since: null });
    await admin.ok('POST', `/registries/${registry}/webhooks/${hook.id}/deliveries/${oldest.id}/redeliver`);
    await receiver.waitFor(() => receiver.received.length === 1, 'the redelivery');
    expect(receiver.received[0]!.body).toMatchObject({ id: oldest.event_id, subject: `${registry}/app:v1` });
  });
});

describe('a Berth killed while deliveries are pending', () => {
  let berth: BerthProcess | undefined;
  const receiver = new Receiver();
  afterAll(async () => {
    await stopAndClean(berth);
    await receiver.stop();
  });

  it('delivers them after it restarts on the same data: nothing recorded is lost', async () => {
    await receiver.start();
    berth = await startHooksBerth();
    const admin = new Api(berth.url, ADMIN);
    const registry = `crash-${rand()}`;
    await admin.ok('POST', '/registries', { name: registry });
    await createWebhook(admin, registry, receiver.url, ['push', 'tag.deleted']);
    await receiver.stop();

    await pushImage(berth.url, `${registry}/app`, 'one');
    await pushImage(berth.url, `${registry}/app`, 'two');
    await admin.ok('DELETE', `/registries/${registry}/repositories/app/tags/one`);
    await pushImage(berth.url, `${registry}/other`, 'last');
    // Killed mid-retry: every lane's first delivery has failed at least once and waits for its next attempt.
    // (Killed while a job runs, that job waits for its lease to run out, 30 s, before the restarted server takes it up again.)
    const hookId = (await admin.ok('GET', `/registries/${registry}/webhooks`)).webhooks[0].id;
    const retrying = async () => {
      const { deliveries } = await admin.ok('GET', `/registries/${registry}/webhooks/${hookId}/deliveries`);
      return deliveries.length === 4 && deliveries.filter((d: { attempts: number }) => d.attempts >= 1).length === 2;
    };
    const end = Date.now() + 20_000;
    while (!(await retrying())) {
      if (Date.now() > end) throw new Error('the deliveries never started failing');
      await new Promise((r) => setTimeout(r, 50));
    }
    await berth.kill();

    await receiver.start();
    berth = await startHooksBerth({ dataDir: berth.dataDir });
    await receiver.waitFor(() => receiver.received.length >= 4, 'the events pending at the crash');
    await new Promise((r) => setTimeout(r, 500));
    expect(receiver.received.map((r) => `${r.body.type}:${r.body.subject}`)).toEqual(
      expect.arrayContaining([`berth.push:${registry}/app:one`, `berth.push:${registry}/app:two`, `berth.tag.deleted:${registry}/app:one`, `berth.push:${registry}/other:last`]),
    );
    expect(receiver.received).toHaveLength(4);
    const app = receiver.received.filter((r) => r.body.data.repository === `${registry}/app`).map((r) => `${r.body.type}:${r.body.data.tag}`);
    expect(app).toEqual(['berth.push:one', 'berth.push:two', 'berth.tag.deleted:one']);
  });
});
