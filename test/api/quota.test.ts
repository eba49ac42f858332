/**
 * Tier quotas enforced at push, at each boundary: the repository count, storage
 * refused before the bytes are accepted (monolithic, PATCH or PUT with a length),
 * at commit (unknown length) and at manifest put, with nothing left behind;
 * overage tiers; unlimited; concurrent pushes; tier changes.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MT, descriptorOf, imageManifest, resolveLocation, sha256, type Bytes } from '../conformance/helpers.js';
import { startBerth, type BerthProcess } from '../support/berth-process.js';
import { ADMIN_PASSWORD, Api, basic, pushBlob, pushImage, putManifest, send, stopAndClean } from '../auth/helpers.js';
import { KIB, chunkedBody, expectDoError, ociError, tierEnv, tryPushBlob } from './registry-support.js';

let berth: BerthProcess;
let admin: Api;
let auth: string;
const LIMIT = 64 * KIB; // starter's storage in the test tiers

const storageOf = async (registry: string): Promise<number> => (await admin.ok('GET', `/registries/${registry}`)).registry.storage_usage_bytes;
const repositoriesOf = async (registry: string): Promise<number> => (await admin.ok('GET', `/registries/${registry}/usage`)).usage.repositories;
const blobStatus = async (repo: string, digest: string) => (await send(berth.url, { method: 'HEAD', path: `/v2/${repo}/blobs/${digest}`, auth })).status;

async function startSession(repo: string): Promise<string> {
  const res = await send(berth.url, { method: 'POST', path: `/v2/${repo}/blobs/uploads/`, auth });
  expect(res.status).toBe(202);
  return resolveLocation(berth.url, res.headers.get('location'));
}

beforeAll(async () => {
  // Registries created by a push get starter here.
  berth = await startBerth({ adminPassword: ADMIN_PASSWORD, env: tierEnv({ BERTH_REGISTRIES_DEFAULT_TIER: 'starter' }) });
  admin = new Api(berth.url, basic('admin', ADMIN_PASSWORD));
  auth = admin.auth!;
});

afterAll(() => stopAndClean(berth));

describe('repository count', () => {
  it('starter: the second repository is denied, however it would be created; the first keeps working', async () => {
    await admin.ok('POST', '/registries', { name: 'one-repo', subscription_tier_slug: 'starter' });
    const first = await pushImage(berth.url, auth, 'one-repo/first', 'v1');
    const message = /^registry one-repo on tier starter allows 1 repository; it has 1/;
    const session = await send(berth.url, { method: 'POST', path: '/v2/one-repo/second/blobs/uploads/', auth });
    expect(await ociError(session)).toMatchObject({ status: 403, code: 'DENIED', message: expect.stringMatching(message) });
    expect(await ociError(await tryPushBlob(berth.url, auth, 'one-repo/second', randomBytes(10)))).toMatchObject({ status: 403, code: 'DENIED' });
    const mount = await send(berth.url, { method: 'POST', path: `/v2/one-repo/second/blobs/uploads/?mount=${first.layer}&from=one-repo/first`, auth });
    expect(await ociError(mount)).toMatchObject({ status: 403, code: 'DENIED' });
    expect(await ociError(await putManifest(berth.url, auth, 'one-repo/second', 'v1', first.body))).toMatchObject({ status: 403, code: 'DENIED' });

    expect(await repositoriesOf('one-repo')).toBe(1);
    const catalog = await (await send(berth.url, { path: '/v2/_catalog', auth })).json();
    expect(catalog.repositories.filter((r: string) => r.startsWith('one-repo/'))).toEqual(['one-repo/first']);
    await pushImage(berth.url, auth, 'one-repo/first', 'v2');
    const denied = (await admin.ok('GET', '/audit?registry=one-repo&outcome=failure')).events;
    expect(denied.some((e: { reason: string }) => e.reason === 'DENIED')).toBe(true);
  });

  it('upgrading makes room: on basic the second repository is accepted, the sixth is not', async () => {
    await admin.ok('POST', '/registries/one-repo/subscription', { tier_slug: 'basic' });
    for (const n of [2, 3, 4, 5]) await pushImage(berth.url, auth, `one-repo/r${n}`, 'v1');
    const sixth = await tryPushBlob(berth.url, auth, 'one-repo/r6', randomBytes(10));
    expect(await ociError(sixth)).toMatchObject({ status: 403, code: 'DENIED', message: expect.stringMatching(/on tier basic allows 5 repositories; it has 5/) });
  });

  it('concurrent pushes into new repositories take the last place once', async () => {
    await admin.ok('POST', '/registries', { name: 'race-repos', subscription_tier_slug: 'starter' });
    const results = await Promise.all([1, 2, 3, 4, 5, 6].map((n) => tryPushBlob(berth.url, auth, `race-repos/r${n}`, randomBytes(100))));
    expect(results.filter((r) => r.status === 201)).toHaveLength(1);
    expect(results.filter((r) => r.status === 403)).toHaveLength(5);
    expect(await repositoriesOf('race-repos')).toBe(1);
  });

  it('a registry created by a push gets the configured default tier (starter here)', async () => {
    await pushImage(berth.url, auth, 'auto-made/app', 'v1');
    expect((await admin.ok('GET', '/registries/auto-made')).registry.subscription.tier.slug).toBe('starter');
    expect((await tryPushBlob(berth.url, auth, 'auto-made/other', randomBytes(10))).status).toBe(403);
  });
});

describe('storage (starter: 64 KiB, no overage)', () => {
  const repo = 'full/app';
  const big = randomBytes(60 * KIB);
  const extra = randomBytes(8 * KIB);
  let used = 0;
  let rest: Bytes;

  beforeAll(async () => {
    await admin.ok('POST', '/registries', { name: 'full', subscription_tier_slug: 'starter' });
    await pushBlob(berth.url, auth, repo, big);
    used = await storageOf('full');
    expect(used).toBe(big.length);
  });

  it('a monolithic push that would exceed it is refused before any byte is taken, naming limit, usage and tier', async () => {
    const res = await tryPushBlob(berth.url, auth, repo, extra);
    expect(await ociError(res)).toEqual({
      status: 403,
      code: 'DENIED',
      message: expect.stringMatching(/^registry full on tier starter allows 65536 bytes \(64 KiB\) of storage; it uses 61440 bytes \(60 KiB\) and this push needs 8192 bytes \(8 KiB\) more/),
    });
  });

  it('a PATCH with a length that cannot fit is refused, and its session discarded', async () => {
    const location = await startSession(repo);
    const res = await send(berth.url, { method: 'PATCH', path: new URL(location).pathname, auth, body: extra, headers: { 'content-type': 'application/octet-stream' } });
    expect(await ociError(res)).toMatchObject({ status: 403, code: 'DENIED' });
    expect((await send(berth.url, { path: new URL(location).pathname, auth })).status).toBe(404);
  });

  it('a PUT whose final chunk declares its length is refused before it is read', async () => {
    const location = await startSession(repo);
    const url = resolveLocation(berth.url, location, { digest: sha256(extra) });
    const res = await fetch(url, { method: 'PUT', headers: { authorization: auth, 'content-type': 'application/octet-stream' }, body: extra });
    expect(await ociError(res)).toMatchObject({ status: 403, code: 'DENIED' });
    expect((await send(berth.url, { path: new URL(location).pathname, auth })).status).toBe(404);
  });

  it('bytes of unknown length are refused at commit; the session is discarded and the blob never appears', async () => {
    const location = await startSession(repo);
    const patched = await fetch(location, { method: 'PATCH', headers: { authorization: auth, 'content-type': 'application/octet-stream' }, ...chunkedBody(extra) } as RequestInit);
    expect(patched.status).toBe(202);
    const put = await fetch(resolveLocation(berth.url, patched.headers.get('location'), { digest: sha256(extra) }), { method: 'PUT', headers: { authorization: auth } });
    expect(await ociError(put)).toMatchObject({ status: 403, code: 'DENIED' });
    expect((await send(berth.url, { path: new URL(location).pathname, auth })).status).toBe(404);
  });

  it('nothing is left behind: storage unchanged, the refused blob not pullable', async () => {
    expect(await storageOf('full')).toBe(used);
    expect(await blobStatus(repo, sha256(extra))).toBe(404);
    expect(await repositoriesOf('full')).toBe(1);
  });

  it('exactly the limit is allowed; a blob the registry already holds costs nothing, even when full', async () => {
    rest = randomBytes(LIMIT - used);
    expect((await tryPushBlob(berth.url, auth, repo, rest)).status).toBe(201);
    expect(await storageOf('full')).toBe(LIMIT);
    expect((await tryPushBlob(berth.url, auth, repo, big)).status).toBe(201);
    expect(await storageOf('full')).toBe(LIMIT);
  });

  it('a manifest whose own bytes would exceed the limit is refused as a whole', async () => {
    const manifest = Buffer.from(JSON.stringify(imageManifest(descriptorOf(big, MT.ociConfig), [descriptorOf(rest, MT.ociLayer)])));
    const res = await putManifest(berth.url, auth, repo, 'v1', manifest);
    expect(await ociError(res)).toMatchObject({ status: 403, code: 'DENIED', message: expect.stringMatching(/this push needs \d+ bytes more/) });
    expect((await send(berth.url, { path: `/v2/${repo}/manifests/v1`, auth })).status).toBe(404);
    expect(await storageOf('full')).toBe(LIMIT);
  });

  it('deleting content makes room again', async () => {
    expect((await send(berth.url, { method: 'DELETE', path: `/v2/${repo}/blobs/${sha256(big)}`, auth })).status).toBe(202);
    expect((await tryPushBlob(berth.url, auth, repo, extra)).status).toBe(201);
    expect(await storageOf('full')).toBe(LIMIT - big.length + extra.length);
  });
});

describe('concurrent pushes', () => {
  const blob = 8 * KIB;
  // 1 byte already stored: 7 blobs of 8 KiB fit (57345 bytes), an 8th would not.
  const fits = Math.floor((LIMIT - 1) / blob);

  it.each(['monolithic', 'chunked, checked at commit'])('%s: the limit is never overshot by more than one blob', async (mode) => {
    const registry = mode === 'monolithic' ? 'race-mono' : 'race-chunked';
    await admin.ok('POST', '/registries', { name: registry, subscription_tier_slug: 'starter' });
    await pushBlob(berth.url, auth, `${registry}/app`, Buffer.from('x'));
    const push = async (data: Bytes) => {
      if (mode === 'monolithic') return (await tryPushBlob(berth.url, auth, `${registry}/app`, data)).status;
      const location = await startSession(`${registry}/app`);
      const patched = await fetch(location, { method: 'PATCH', headers: { authorization: auth }, ...chunkedBody(data) } as RequestInit);
      if (patched.status !== 202) return patched.status;
      return (await fetch(resolveLocation(berth.url, patched.headers.get('location'), { digest: sha256(data) }), { method: 'PUT', headers: { authorization: auth } })).status;
    };
    const statuses = await Promise.all(Array.from({ length: 12 }, () => push(randomBytes(blob))));
    const accepted = statuses.filter((s) => s === 201).length;
    expect(statuses.filter((s) => s !== 201).every((s) => s === 403)).toBe(true);
    const stored = await storageOf(registry);
    expect(stored).toBe(1 + accepted * blob);
    expect(stored).toBeLessThanOrEqual(LIMIT + blob);
    expect(accepted).toBe(fits); // checked against committed usage inside the commit: in fact never over
  });
});

describe('overage and unlimited', () => {
  it('basic allows storage beyond what it includes; it is then not eligible for starter', async () => {
    await admin.ok('POST', '/registries', { name: 'over', subscription_tier_slug: 'basic' });
    await pushBlob(berth.url, auth, 'over/one', randomBytes(200 * KIB));
    await pushBlob(berth.url, auth, 'over/two', randomBytes(KIB));
    expect(await storageOf('over')).toBe(201 * KIB);
    const tiers = (await admin.ok('GET', '/registries/options?registry=over')).options.subscription_tiers;
    expect(tiers.map((t: { slug: string; eligibility_reasons: string[] }) => [t.slug, t.eligibility_reasons])).toEqual([
      ['starter', ['OverRepositoryLimit', 'OverStorageLimit']],
      ['basic', []],
      ['professional', []],
      ['unlimited', []],
    ]);
    expectDoError(
      await admin.call('POST', '/registries/over/subscription', { tier_slug: 'starter' }),
      412,
      'precondition_failed',
      /it has 2 repositories and starter allows 1 \(OverRepositoryLimit\); it stores 205824 bytes \(201 KiB\) and starter allows 65536 bytes \(64 KiB\) without overage \(OverStorageLimit\)/,
    );
  });

  it('unlimited never blocks', async () => {
    await admin.ok('POST', '/registries', { name: 'boundless', subscription_tier_slug: 'unlimited' });
    for (let n = 0; n < 7; n++) expect((await tryPushBlob(berth.url, auth, `boundless/r${n}`, randomBytes(40 * KIB))).status).toBe(201);
    expect(await repositoriesOf('boundless')).toBe(7);
  });
});

describe('with access control off', () => {
  let open: BerthProcess | undefined;
  afterAll(() => stopAndClean(open));

  it('registries created by a push still get the default tier, and its limits', async () => {
    open = await startBerth({ env: tierEnv({ BERTH_REGISTRIES_DEFAULT_TIER: 'starter' }) });
    const push = (repo: string) => fetch(`${open!.url}/v2/${repo}/blobs/uploads/?digest=${sha256('a')}`, { method: 'POST', body: 'a' });
    expect((await push('free/one')).status).toBe(201);
    expect(await ociError(await push('free/two'))).toMatchObject({ status: 403, code: 'DENIED', message: expect.stringMatching(/tier starter allows 1 repository/) });
  });
});
