/**
 * GET /registries/{r}/usage: storage, transfer metered from real pulls (full,
 * ranged, HEAD), daily history and the cost estimate, exact to the byte and
 * cent; transfer reaches the database within seconds and survives a restart.
 */
import Database from 'better-sqlite3';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MT, descriptorOf, imageManifest, sha256 } from '../conformance/helpers.js';
import { startBerth, type BerthProcess } from '../support/berth-process.js';
import { ADMIN_PASSWORD, Api, basic, passwordOf, pushBlob, putManifest, send, stopAndClean } from '../auth/helpers.js';
import { KIB, expectDoError, tierEnv } from './registry-support.js';

let berth: BerthProcess;
let admin: Api;
const layer = randomBytes(150 * KIB);
const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux' }));
const manifest = Buffer.from(JSON.stringify(imageManifest(descriptorOf(config, MT.ociConfig), [descriptorOf(layer, MT.ociLayer)])));
const storage = config.length + layer.length + manifest.length;
const month = new Date().toISOString().slice(0, 7);
const today = new Date().toISOString().slice(0, 10);
const cents = (bytes: number, perKib: number) => Math.round((bytes / KIB) * perKib * 100) / 100;

async function pushTestImage(repo: string): Promise<void> {
  await pushBlob(berth.url, admin.auth!, repo, config);
  await pushBlob(berth.url, admin.auth!, repo, layer);
  expect((await putManifest(berth.url, admin.auth!, repo, 'v1', manifest)).status).toBe(201);
}

/** Pulls the layer whole, two ranges and a HEAD; returns the body bytes received. */
async function pull(repo: string): Promise<number> {
  const path = `/v2/${repo}/blobs/${sha256(layer)}`;
  let received = 0;
  for (const range of [undefined, 'bytes=0-99', 'bytes=-10']) {
    const res = await send(berth.url, { path, auth: admin.auth, headers: range ? { range } : {} });
    expect(res.status).toBe(range ? 206 : 200);
    received += (await res.arrayBuffer()).byteLength;
  }
  expect((await send(berth.url, { method: 'HEAD', path, auth: admin.auth })).status).toBe(200);
  expect((await send(berth.url, { path: `/v2/${repo}/manifests/v1`, auth: admin.auth })).status).toBe(200); // manifests are not metered
  return received;
}

function flushedTransfer(registry: string): number {
  const db = new Database(join(berth.dataDir, 'metadata.db'), { readonly: true, fileMustExist: true });
  try {
    const row = db
      .prepare('select t.bytes from transfer_usage t join registries g on g.id = t.registry_id where g.name = ? and t.month = ?')
      .get(registry, month) as { bytes: number } | undefined;
    return row?.bytes ?? 0;
  } finally {
    db.close();
  }
}

beforeAll(async () => {
  berth = await startBerth({ adminPassword: ADMIN_PASSWORD, env: tierEnv() });
  admin = new Api(berth.url, basic('admin', ADMIN_PASSWORD));
  await admin.ok('POST', '/registries', { name: 'metered', subscription_tier_slug: 'basic' });
  await admin.ok('POST', '/registries', { name: 'chargeback', subscription_tier_slug: 'unlimited' });
  for (const u of ['ro', 'nobody']) await admin.createUser(u);
  await admin.grant('metered', 'user', 'ro', 'read-only');
  await pushTestImage('metered/app');
  await pushTestImage('chargeback/app');
});

afterAll(() => stopAndClean(berth));

describe('GET /registries/{registry}/usage', () => {
  let sent = 0;

  it('counts exactly the bytes sent by blob GETs, ranges included, HEAD and manifests not', async () => {
    sent = await pull('metered/app');
    expect(sent).toBe(layer.length + 100 + 10);
    const { usage } = await admin.ok('GET', '/registries/metered/usage');
    expect(usage).toMatchObject({
      registry: 'metered',
      repositories: 1,
      storage_usage_bytes: storage,
      month,
      transfer_bytes: sent,
      transfer_by_month: [{ month, bytes: sent }],
      storage_history: [{ date: today, storage_bytes: storage }],
    });
    expect(usage.subscription_tier.slug).toBe('basic');
  });

  it('estimates the cost: tier price, storage over the included bytes at its overage rate, transfer over the included bandwidth', async () => {
    const { estimated_cost: cost } = (await admin.ok('GET', '/registries/metered/usage')).usage;
    // basic here: 128 KiB included with overage at 2 cents/KiB, 32 KiB of transfer included, 3 cents/KiB beyond.
    const overStorage = storage - 128 * KIB;
    const overTransfer = sent - 32 * KIB;
    expect(cost).toEqual({
      month,
      currency: 'USD',
      subscription_in_cents: 500,
      billable_storage_bytes: overStorage,
      storage_price_per_gb_in_cents: 2 * 1024 * 1024,
      storage_in_cents: cents(overStorage, 2),
      billable_transfer_bytes: overTransfer,
      transfer_price_per_gb_in_cents: 3 * 1024 * 1024,
      transfer_in_cents: cents(overTransfer, 3),
      total_in_cents: Math.round((500 + cents(overStorage, 2) + cents(overTransfer, 3)) * 100) / 100,
    });
  });

  it('a tier without limits has all its storage and transfer metered at the configured prices', async () => {
    const pulled = await pull('chargeback/app');
    const { usage } = await admin.ok('GET', '/registries/chargeback/usage');
    expect(usage.transfer_bytes).toBe(pulled);
    expect(usage.estimated_cost).toMatchObject({
      subscription_in_cents: 0,
      billable_storage_bytes: storage,
      storage_in_cents: cents(storage, 1),
      billable_transfer_bytes: pulled,
      transfer_in_cents: cents(pulled, 3),
      total_in_cents: Math.round((cents(storage, 1) + cents(pulled, 3)) * 100) / 100,
    });
    // The other registry's figures did not move.
    expect((await admin.ok('GET', '/registries/metered/usage')).usage.transfer_bytes).toBe(sent);
  });

  it('transfer reaches the database within seconds, without a write per request', async () => {
    const deadline = Date.now() + 15_000;
    while (flushedTransfer('metered') < sent && Date.now() < deadline) await new Promise((r) => setTimeout(r, 250));
    expect(flushedTransfer('metered')).toBe(sent);
  });

  it('what was counted but not yet written is written at shutdown', async () => {
    const more = await pull('metered/app');
    await berth.stop();
    berth = await startBerth({ adminPassword: ADMIN_PASSWORD, env: tierEnv(), dataDir: berth.dataDir });
    admin = new Api(berth.url, admin.auth);
    expect(flushedTransfer('metered')).toBe(sent + more);
    expect((await admin.ok('GET', '/registries/metered/usage')).usage.transfer_bytes).toBe(sent + more);
  });

  it('?days= bounds the history (1-366); storage history starts when the registry was created', async () => {
    const { usage } = await admin.ok('GET', '/registries/metered/usage?days=7');
    expect(usage.storage_history).toEqual([{ date: today, storage_bytes: storage }]);
    expectDoError(await admin.call('GET', '/registries/metered/usage?days=0'), 422, 'unprocessable_entity');
    expectDoError(await admin.call('GET', '/registries/metered/usage?days=367'), 422, 'unprocessable_entity');
  });

  it('is for registry admins: 403 for read-only members, 404 for outsiders and unknown registries', async () => {
    expectDoError(await admin.as(basic('ro', passwordOf('ro'))).call('GET', '/registries/metered/usage'), 403, 'forbidden');
    expectDoError(await admin.as(basic('nobody', passwordOf('nobody'))).call('GET', '/registries/metered/usage'), 404, 'not_found');
    expectDoError(await admin.call('GET', '/registries/nothing-here/usage'), 404, 'not_found');
  });
});
