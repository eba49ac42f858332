/**
 * The DigitalOcean-compatible registries API over HTTP: create, list (paged), get,
 * delete, validate-name, options, subscription, with DigitalOcean's error shape and
 * each role's view. Usage and cost figures are in usage.test.ts.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startBerth, type BerthProcess } from '../support/berth-process.js';
import { ADMIN_PASSWORD, Api, basic, passwordOf, pushImage, send, stopAndClean } from '../auth/helpers.js';
import { expectDoError } from './registry-support.js';

let berth: BerthProcess;
let admin: Api;
const as = {} as Record<'creator' | 'ro' | 'owner' | 'nobody' | 'robot', Api>;

beforeAll(async () => {
  berth = await startBerth({ adminPassword: ADMIN_PASSWORD, env: { BERTH_REGISTRIES_REGIONS: 'local,nyc3' } });
  admin = new Api(berth.url, basic('admin', ADMIN_PASSWORD));
  await admin.createUser('creator', { can_create_registries: true });
  for (const u of ['ro', 'owner', 'nobody']) await admin.createUser(u);
  for (const u of ['creator', 'ro', 'owner', 'nobody'] as const) as[u] = admin.as(basic(u, passwordOf(u)));
  await admin.ok('POST', '/registries', { name: 'team-a', subscription_tier_slug: 'basic', region: 'nyc3' });
  await admin.grant('team-a', 'user', 'ro', 'read-only');
  await admin.grant('team-a', 'user', 'owner', 'admin');
  const robot = await admin.robot('team-a', 'ci', 'read-write');
  as.robot = admin.as(basic(robot.username, robot.secret));
});

afterAll(() => stopAndClean(berth));

describe('POST /registries', () => {
  it('creates a registry with a tier and a region: 201 in DigitalOcean\'s shape', async () => {
    const r = await admin.call('POST', '/registries', { name: 'made-1', subscription_tier_slug: 'starter', region: 'local' });
    expect(r.status).toBe(201);
    const reg = r.body.registry;
    expect(reg).toMatchObject({ name: 'made-1', region: 'local', storage_usage_bytes: 0, public: false });
    expect(Date.parse(reg.created_at)).toBeGreaterThan(Date.now() - 60_000);
    expect(reg.storage_usage_bytes_updated_at).toBe(reg.created_at);
    expect(reg.subscription).toEqual({
      tier: {
        name: 'Starter',
        slug: 'starter',
        included_repositories: 1,
        included_storage_bytes: 524288000,
        allow_storage_overage: false,
        included_bandwidth_bytes: 524288000,
        monthly_price_in_cents: 0,
        storage_overage_price_in_cents: 0,
      },
      created_at: reg.created_at,
      updated_at: reg.created_at,
    });
  });

  it('without a tier or region: the configured default tier (unlimited) and the first region', async () => {
    const reg = (await admin.ok('POST', '/registries', { name: 'made-2' })).registry;
    expect(reg.region).toBe('local');
    expect(reg.subscription.tier).toMatchObject({ slug: 'unlimited', included_repositories: null, included_storage_bytes: null });
  });

  it.each([
    ['upper case', { name: 'Team' }],
    ['a leading digit', { name: '1team' }],
    ['64 characters', { name: `a${'b'.repeat(63)}` }],
    ['a trailing hyphen', { name: 'team-' }],
    ['a reserved path', { name: 'options' }],
    ['no name', {}],
    ['an unknown tier', { name: 'made-3', subscription_tier_slug: 'gold' }],
    ['an unknown region', { name: 'made-3', region: 'mars1' }],
    ['a non-boolean public', { name: 'made-3', public: 'yes' }],
  ])('422 for %s', async (_what, body) => {
    expectDoError(await admin.call('POST', '/registries', body), 422, 'unprocessable_entity');
    expect((await admin.call('GET', '/registries/made-3')).status).toBe(404);
  });

  it('409 when the name is taken, 400 for a body that is not JSON', async () => {
    expectDoError(await admin.call('POST', '/registries', { name: 'team-a' }), 409, 'conflict', /team-a already exists/);
    const res = await send(berth.url, { method: 'POST', path: '/api/v2/registries', auth: admin.auth, body: '{nope', headers: { 'content-type': 'application/json' } });
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ id: 'bad_request', request_id: res.headers.get('x-request-id') });
  });

  it('needs a creator: 403 for users without the permission, 401 anonymous; a creator becomes its admin', async () => {
    expectDoError(await as.nobody.call('POST', '/registries', { name: 'made-4' }), 403, 'forbidden');
    expectDoError(await admin.as(undefined).call('POST', '/registries', { name: 'made-4' }), 401, 'unauthorized');
    expect((await as.creator.call('POST', '/registries', { name: 'made-4', subscription_tier_slug: 'professional' })).status).toBe(201);
    expect((await as.creator.ok('GET', '/registries/made-4/grants')).grants).toEqual([expect.objectContaining({ subject: 'creator', role: 'admin' })]);
  });
});

describe('POST /registries/validate-name', () => {
  it('204 free, 409 taken, 422 invalid, 401 anonymous', async () => {
    expect((await admin.call('POST', '/registries/validate-name', { name: 'free-name' })).status).toBe(204);
    expect((await as.nobody.call('POST', '/registries/validate-name', { name: 'free-name' })).status).toBe(204);
    expectDoError(await admin.call('POST', '/registries/validate-name', { name: 'team-a' }), 409, 'conflict');
    expectDoError(await admin.call('POST', '/registries/validate-name', { name: 'Bad_Name' }), 422, 'unprocessable_entity');
    expectDoError(await admin.call('POST', '/registries/validate-name', {}), 422, 'unprocessable_entity');
    expectDoError(await admin.as(undefined).call('POST', '/registries/validate-name', { name: 'x' }), 401, 'unauthorized');
  });
});

describe('GET /registries/{registry}', () => {
  it('members see it; others get 404 as if it did not exist', async () => {
    for (const who of [admin, as.ro, as.owner, as.robot]) expect((await who.ok('GET', '/registries/team-a')).registry).toMatchObject({ name: 'team-a', region: 'nyc3' });
    expectDoError(await as.nobody.call('GET', '/registries/team-a'), 404, 'not_found');
    expectDoError(await admin.call('GET', '/registries/no-such'), 404, 'not_found', /registry no-such not found/);
  });

  it('PATCH {public} still works for registry admins, 403 for read-only members', async () => {
    expect((await as.owner.ok('PATCH', '/registries/team-a', { public: true })).registry).toMatchObject({ name: 'team-a', public: true, region: 'nyc3' });
    expect((await as.nobody.ok('GET', '/registries/team-a')).registry.public).toBe(true); // public: visible to all
    await as.owner.ok('PATCH', '/registries/team-a', { public: false });
    expectDoError(await as.ro.call('PATCH', '/registries/team-a', { public: true }), 403, 'forbidden');
  });
});

describe('GET /registries (paged)', () => {
  const names = ['page-a', 'page-b', 'page-c', 'page-d', 'page-e'];
  beforeAll(async () => {
    await admin.createUser('pager');
    for (const n of names) {
      await admin.ok('POST', '/registries', { name: n });
      await admin.grant(n, 'user', 'pager', 'read-only');
    }
    await pushImage(berth.url, admin.auth!, 'page-c/app', 'v1');
  });
  const pager = () => admin.as(basic('pager', passwordOf('pager')));

  it('pages of per_page with links.pages and meta.total; total_storage_usage_bytes covers every page', async () => {
    const first = await pager().ok('GET', '/registries?per_page=2');
    expect(first.registries.map((r: { name: string }) => r.name)).toEqual(['page-a', 'page-b']);
    expect(first.meta).toEqual({ total: 5 });
    expect(first.links.pages).toEqual({ next: '/api/v2/registries?page=2&per_page=2', last: '/api/v2/registries?page=3&per_page=2' });
    const storage = (await pager().ok('GET', '/registries/page-c')).registry.storage_usage_bytes;
    expect(storage).toBeGreaterThan(0);
    expect(first.total_storage_usage_bytes).toBe(storage);

    const middle = await pager().ok('GET', '/registries?page=2&per_page=2');
    expect(middle.registries.map((r: { name: string }) => r.name)).toEqual(['page-c', 'page-d']);
    expect(middle.links.pages).toEqual({
      first: '/api/v2/registries?page=1&per_page=2',
      prev: '/api/v2/registries?page=1&per_page=2',
      next: '/api/v2/registries?page=3&per_page=2',
      last: '/api/v2/registries?page=3&per_page=2',
    });
    const last = await pager().ok('GET', '/registries?page=3&per_page=2');
    expect(last.registries.map((r: { name: string }) => r.name)).toEqual(['page-e']);
    expect(last.links.pages).toEqual({ first: '/api/v2/registries?page=1&per_page=2', prev: '/api/v2/registries?page=2&per_page=2' });
  });

  it('a page beyond the last is empty, and points back at the last page', async () => {
    const beyond = await pager().ok('GET', '/registries?page=9&per_page=2');
    expect(beyond.registries).toEqual([]);
    expect(beyond.meta.total).toBe(5);
    expect(beyond.links.pages).toEqual({
      first: '/api/v2/registries?page=1&per_page=2',
      prev: '/api/v2/registries?page=3&per_page=2',
      last: '/api/v2/registries?page=3&per_page=2',
    });
  });

  it('one page holds everything by default (20) and up to 200; no links when there is one page', async () => {
    const all = await pager().ok('GET', '/registries');
    expect(all.registries).toHaveLength(5);
    expect(all.links).toEqual({ pages: {} });
    expect((await pager().ok('GET', '/registries?per_page=200')).registries).toHaveLength(5);
  });

  it.each(['per_page=0', 'per_page=201', 'page=0', 'page=-1', 'page=abc', 'per_page=2.5'])('422 for %s', async (query) => {
    expectDoError(await pager().call('GET', `/registries?${query}`), 422, 'unprocessable_entity', /^(page|per_page): /);
  });

  it('lists only the registries the caller may see', async () => {
    const seen = (await as.ro.ok('GET', '/registries')).registries.map((r: { name: string }) => r.name);
    expect(seen).toEqual(['team-a']);
    expect((await as.nobody.ok('GET', '/registries')).registries).toEqual([]);
    const everything = (await admin.ok('GET', '/registries?per_page=200')).registries.map((r: { name: string }) => r.name);
    expect(everything).toEqual(expect.arrayContaining(['team-a', 'made-1', ...names]));
  });
});

describe('options and subscription', () => {
  it('GET /registries/options: regions and DigitalOcean\'s tiers, all eligible for a new registry', async () => {
    const { options } = await as.nobody.ok('GET', '/registries/options');
    expect(options.available_regions).toEqual(['local', 'nyc3']);
    expect(options.subscription_tiers.map((t: { slug: string }) => t.slug)).toEqual(['starter', 'basic', 'professional', 'unlimited']);
    expect(options.subscription_tiers[1]).toEqual({
      name: 'Basic',
      slug: 'basic',
      included_repositories: 5,
      included_storage_bytes: 5368709120,
      allow_storage_overage: true,
      included_bandwidth_bytes: 5368709120,
      monthly_price_in_cents: 500,
      storage_overage_price_in_cents: 2,
      eligible: true,
      eligibility_reasons: [],
    });
    for (const t of options.subscription_tiers) expect(t.eligible).toBe(true);
  });

  it('?registry= judges each tier against that registry: two repositories are over starter\'s limit', async () => {
    await pushImage(berth.url, admin.auth!, 'team-a/one', 'v1');
    await pushImage(berth.url, admin.auth!, 'team-a/two', 'v1');
    const tiers = (await as.ro.ok('GET', '/registries/options?registry=team-a')).options.subscription_tiers;
    expect(tiers[0]).toMatchObject({ slug: 'starter', eligible: false, eligibility_reasons: ['OverRepositoryLimit'] });
    expect(tiers[1]).toMatchObject({ slug: 'basic', eligible: true, eligibility_reasons: [] });
    expectDoError(await as.nobody.call('GET', '/registries/options?registry=team-a'), 404, 'not_found');
  });

  it('GET subscription for members; POST changes the tier for registry admins', async () => {
    const before = (await as.ro.ok('GET', '/registries/team-a/subscription')).subscription;
    expect(before.tier.slug).toBe('basic');
    const after = (await as.owner.ok('POST', '/registries/team-a/subscription', { tier_slug: 'professional' })).subscription;
    expect(after.tier).toMatchObject({ slug: 'professional', included_repositories: null, monthly_price_in_cents: 2000 });
    expect(after.created_at).toBe(before.created_at);
    expect(Date.parse(after.updated_at)).toBeGreaterThanOrEqual(Date.parse(before.updated_at));
    expect((await admin.ok('GET', '/registries/team-a')).registry.subscription.tier.slug).toBe('professional');
    const events = (await admin.ok('GET', '/audit?action=registry.subscription&registry=team-a')).events;
    expect(events[0]).toMatchObject({ actor: 'owner', outcome: 'success', detail: { from: 'basic', tier_slug: 'professional' } });
  });

  it('a downgrade below current usage is refused with 412, naming the limit; unknown tiers 422', async () => {
    expectDoError(
      await as.owner.call('POST', '/registries/team-a/subscription', { tier_slug: 'starter' }),
      412,
      'precondition_failed',
      /team-a cannot move to tier starter: it has 2 repositories and starter allows 1 \(OverRepositoryLimit\)/,
    );
    expect((await admin.ok('GET', '/registries/team-a/subscription')).subscription.tier.slug).toBe('professional');
    expectDoError(await as.owner.call('POST', '/registries/team-a/subscription', { tier_slug: 'gold' }), 422, 'unprocessable_entity', /tier_slug/);
    expectDoError(await as.owner.call('POST', '/registries/team-a/subscription', {}), 422, 'unprocessable_entity');
  });

  it('changing the tier needs a registry admin: 403 for read-only members and robots, 404 for outsiders', async () => {
    expectDoError(await as.ro.call('POST', '/registries/team-a/subscription', { tier_slug: 'basic' }), 403, 'forbidden');
    expectDoError(await as.robot.call('POST', '/registries/team-a/subscription', { tier_slug: 'basic' }), 403, 'forbidden');
    expectDoError(await as.nobody.call('POST', '/registries/team-a/subscription', { tier_slug: 'basic' }), 404, 'not_found');
    expectDoError(await as.nobody.call('GET', '/registries/team-a/subscription'), 404, 'not_found');
  });
});

describe('DELETE /registries/{registry}', () => {
  it('403 for read-only members and robots, 404 for outsiders and unknown registries', async () => {
    expectDoError(await as.ro.call('DELETE', '/registries/team-a'), 403, 'forbidden');
    expectDoError(await as.robot.call('DELETE', '/registries/team-a'), 403, 'forbidden');
    expectDoError(await as.nobody.call('DELETE', '/registries/team-a'), 404, 'not_found');
    expectDoError(await admin.call('DELETE', '/registries/never-was'), 404, 'not_found');
  });

  it('a registry admin removes it with its repositories, manifests, tags and robots: 204', async () => {
    await admin.ok('POST', '/registries', { name: 'doomed', subscription_tier_slug: 'basic' });
    await admin.grant('doomed', 'user', 'owner', 'admin');
    const robot = await admin.robot('doomed', 'bot', 'read-only');
    const image = await pushImage(berth.url, admin.auth!, 'doomed/app', 'v1');
    expect((await send(berth.url, { path: '/v2/doomed/app/manifests/v1', auth: basic(robot.username, robot.secret) })).status).toBe(200);

    const r = await as.owner.call('DELETE', '/registries/doomed');
    expect(r.status).toBe(204);
    expectDoError(await admin.call('GET', '/registries/doomed'), 404, 'not_found');
    for (const path of ['/v2/doomed/app/manifests/v1', `/v2/doomed/app/manifests/${image.digest}`, `/v2/doomed/app/blobs/${image.layer}`, '/v2/doomed/app/tags/list']) {
      expect((await send(berth.url, { path, auth: admin.auth })).status, path).toBe(404);
    }
    expect((await send(berth.url, { path: '/v2/doomed/app/manifests/v1', auth: basic(robot.username, robot.secret) })).status).toBe(401);
    const catalog = await (await send(berth.url, { path: '/v2/_catalog', auth: admin.auth })).json();
    expect(catalog.repositories).not.toContain('doomed/app');
    expect((await admin.ok('GET', '/audit?action=registry.delete&registry=doomed')).events[0]).toMatchObject({ actor: 'owner', outcome: 'success' });

    // The name is free again, and starts from nothing; the blob's bytes are still there for another registry to use.
    const again = (await admin.ok('POST', '/registries', { name: 'doomed' })).registry;
    expect(again.storage_usage_bytes).toBe(0);
    expect((await admin.ok('GET', '/registries/doomed/grants')).grants).toEqual([]);
  });
});
