/**
 * Login throttling (brute force gets 429 + Retry-After, even with the right
 * password) and the audit log: what is recorded, the filters and paging, the
 * JSON-lines export, who may read it, and that no credential reaches the server log.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startBerth, type BerthProcess } from '../support/berth-process.js';
import { randomBlob } from '../conformance/helpers.js';
import { ADMIN_PASSWORD, Api, basic, errorCode, passwordOf, pushBlob, pushImage, putManifest, rand, send, stopAndClean, type Image } from './helpers.js';

const WEB = 'alpha/app/web';
const VICTIM = `victim-${rand()}`; // only ever sent in credentials, so it must not show up in the server log
const WRONG = (i: number) => `wrong-guess-${i}-${rand()}`;

interface AuditView {
  id: number;
  time: string;
  actor: string;
  actor_kind: string;
  source: string | null;
  action: string;
  registry: string | null;
  resource: string | null;
  outcome: string;
  reason: string | null;
  detail: Record<string, unknown> | null;
}

let berth: BerthProcess;
let admin: Api;
let img: Image;
const secrets: string[] = [];
let changesDone: string; // ISO time between the account changes and the pushes
let allDone: string; // ISO time after everything the audit tests look at

const audit = async (query: string, as = admin): Promise<AuditView[]> => (await as.ok('GET', `/audit?${query}`)).events;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

beforeAll(async () => {
  berth = await startBerth({ adminPassword: ADMIN_PASSWORD });
  admin = new Api(berth.url, basic('admin', ADMIN_PASSWORD));
  await admin.createRegistry('alpha');
  await admin.ok('PATCH', '/registries/alpha', { public: false });
  await Promise.all([VICTIM, 'snoop', 'radm', 'rw', 'temp', 'fresh'].map((u) => admin.createUser(u)));
  await admin.ok('PATCH', '/users/temp', { disabled: true });
  await admin.grant('alpha', 'user', 'radm', 'admin');
  await admin.grant('alpha', 'user', 'rw', 'read-write');
  const extra = await admin.grant('alpha', 'user', 'temp', 'read-only');
  await admin.ok('DELETE', `/registries/alpha/grants/${extra.grant.id}`);
  await admin.ok('POST', '/teams', { name: 'devs' });
  await admin.ok('PUT', '/teams/devs/members/rw');
  const robot = await admin.robot('alpha', 'ci', 'read-write');
  await admin.ok('DELETE', '/registries/alpha/robots/ci');
  const token = await admin.as(basic('rw', passwordOf('rw'))).token('laptop');
  await admin.as(basic('rw', passwordOf('rw'))).ok('DELETE', `/tokens/${token.id}`);
  await admin.ok('POST', '/auth/keys/rotate');
  const offline = await send(berth.url, { path: '/token?service=berth&offline_token=true', auth: basic('rw', passwordOf('rw')) });
  const { token: jwt, refresh_token: refresh } = (await offline.json()) as { token: string; refresh_token: string };
  secrets.push(robot.secret, token.secret, jwt, refresh);
  await sleep(20);
  changesDone = new Date().toISOString();
  await sleep(20);
});
afterAll(() => stopAndClean(berth));

describe('login throttling', () => {
  it(`after 10 failed logins for one user, even the right password gets 429 TOOMANYREQUESTS with Retry-After`, async () => {
    for (let i = 0; i < 10; i++) {
      const res = await send(berth.url, { path: '/v2/', auth: basic(VICTIM, WRONG(i)) });
      expect(res.status, `failed login #${i + 1}`).toBe(401);
    }
    const right = basic(VICTIM, passwordOf(VICTIM));
    const throttled = [
      await send(berth.url, { path: '/v2/', auth: right }),
      await send(berth.url, { path: '/token?service=berth', auth: right }),
      await send(berth.url, { method: 'POST', path: '/token', body: `grant_type=password&username=${VICTIM}&password=${passwordOf(VICTIM)}`, headers: { 'content-type': 'application/x-www-form-urlencoded' } }),
    ];
    for (const res of throttled) {
      expect(res.status).toBe(429);
      expect(await errorCode(res)).toBe('TOOMANYREQUESTS');
      const wait = Number(res.headers.get('retry-after'));
      expect(wait).toBeGreaterThan(0);
      expect(wait).toBeLessThanOrEqual(900);
    }
    const api = await admin.as(right).call('GET', '/account');
    expect(api.status).toBe(429);
    expect(api.body.id).toBe('too_many_requests');
  });

  it('other users are not affected', async () => {
    expect((await send(berth.url, { path: '/v2/', auth: basic('snoop', passwordOf('snoop')) })).status).toBe(200);
  });
});

describe('the audit log', () => {
  beforeAll(async () => {
    const rw = basic('rw', passwordOf('rw'));
    img = await pushImage(berth.url, rw, WEB, 'v1');
    expect((await putManifest(berth.url, rw, WEB, 'old', img.body)).status).toBe(201);
    expect((await send(berth.url, { method: 'DELETE', path: `/v2/${WEB}/manifests/old`, auth: rw })).status).toBe(202);
    const other = await pushImage(berth.url, admin.auth!, WEB);
    expect((await send(berth.url, { method: 'DELETE', path: `/v2/${WEB}/manifests/${other.digest}`, auth: admin.auth })).status).toBe(202);
    const blob = await pushBlob(berth.url, admin.auth!, WEB, randomBlob(50));
    expect((await send(berth.url, { method: 'DELETE', path: `/v2/${WEB}/blobs/${blob}`, auth: admin.auth })).status).toBe(202);
    // Denials: a signed-in user without access, an anonymous caller, a non-admin on the management API.
    expect((await send(berth.url, { path: `/v2/${WEB}/manifests/v1`, auth: basic('snoop', passwordOf('snoop')) })).status).toBe(403);
    expect((await send(berth.url, { path: `/v2/${WEB}/manifests/v1` })).status).toBe(401);
    expect((await send(berth.url, { method: 'DELETE', path: `/v2/${WEB}/manifests/${img.digest}`, auth: rw })).status).toBe(403);
    expect((await admin.as(basic('snoop', passwordOf('snoop'))).call('GET', '/users')).status).toBe(403);
    await sleep(20);
    allDone = new Date().toISOString();
    await sleep(20);
  });

  const expected: [string, Partial<AuditView> | (() => Partial<AuditView>)][] = [
    ['login failures, with the source address', { action: 'login', outcome: 'failure', actor: 'anonymous', resource: VICTIM, source: '127.0.0.1' } as Partial<AuditView>],
    ['throttled logins', { action: 'login', outcome: 'denied', reason: 'throttled', resource: VICTIM }],
    ['a push, with its digest', () => ({ action: 'manifest.push', outcome: 'success', actor: 'rw', registry: 'alpha', resource: `${WEB}:v1`, detail: { digest: img.digest } })],
    ['an untag', { action: 'tag.delete', outcome: 'success', actor: 'rw', resource: `${WEB}:old` }],
    ['a manifest delete', { action: 'manifest.delete', outcome: 'success', actor: 'admin' }],
    ['a blob delete', { action: 'blob.delete', outcome: 'success', actor: 'admin' }],
    ['a blob push', { action: 'blob.push', outcome: 'success', actor: 'rw', registry: 'alpha' }],
    ['a denied pull', { action: 'repository.pull', outcome: 'denied', actor: 'snoop', actor_kind: 'user', registry: 'alpha', resource: WEB }],
    ['a denied anonymous pull', { action: 'repository.pull', outcome: 'denied', actor: 'anonymous', actor_kind: 'anonymous', resource: WEB }],
    ['a denied delete', { action: 'repository.delete', outcome: 'denied', actor: 'rw', resource: WEB }],
    ['a denied management call', { action: 'api.denied', outcome: 'denied', actor: 'snoop' }],
    ['user created', { action: 'user.create', actor: 'admin', resource: 'snoop' }],
    ['user changed', { action: 'user.update', actor: 'admin', resource: 'temp', detail: { changed: ['disabled=true'] } }],
    ['registry created', { action: 'registry.create', actor: 'admin', resource: 'alpha' }],
    ['registry changed', { action: 'registry.update', actor: 'admin', resource: 'alpha' }],
    ['team created', { action: 'team.create', actor: 'admin', resource: 'devs' }],
    ['team member added', { action: 'team.member.add', actor: 'admin', resource: 'devs/rw' }],
    ['grant added', { action: 'grant.create', actor: 'admin', registry: 'alpha', resource: 'user:radm' }],
    ['grant removed', { action: 'grant.delete', actor: 'admin', registry: 'alpha' }],
    ['robot created', { action: 'robot.create', actor: 'admin', resource: 'alpha+ci' }],
    ['robot deleted', { action: 'robot.delete', actor: 'admin', resource: 'alpha+ci' }],
    ['token created', { action: 'token.create', actor: 'rw' }],
    ['token revoked', { action: 'token.revoke', actor: 'rw' }],
    ['signing key rotated', { action: 'auth.key.rotate', actor: 'admin' }],
  ];
  it.each(expected)('records %s', async (_what, want) => {
    const event = typeof want === 'function' ? want() : want;
    expect(await audit(`per_page=1000&action=${event.action}`)).toContainEqual(expect.objectContaining(event));
  });

  it('counts each failed login, then each throttled one', async () => {
    const mine = (await audit('per_page=1000&action=login')).filter((e) => e.resource === VICTIM);
    expect(mine.filter((e) => e.outcome === 'failure')).toHaveLength(10);
    expect(mine.filter((e) => e.outcome === 'denied').length).toBeGreaterThanOrEqual(4);
  });

  const filters: [string, (e: AuditView) => boolean][] = [
    ['actor=snoop', (e) => e.actor === 'snoop'],
    ['registry=alpha', (e) => e.registry === 'alpha'],
    ['action=token.', (e) => e.action.startsWith('token.')],
    ['action=login', (e) => e.action === 'login'],
    ['outcome=denied', (e) => e.outcome === 'denied'],
  ];
  it.each(filters)('filter %s returns only (and some) matching events', async (query, matches) => {
    const events = await audit(`per_page=1000&${query}`);
    expect(events.length).toBeGreaterThan(0);
    expect(events.filter((e) => !matches(e))).toEqual([]);
  });

  it('since / until split the log in time', async () => {
    const after = await audit(`per_page=1000&since=${changesDone}`);
    const before = await audit(`per_page=1000&until=${changesDone}`);
    expect(after.every((e) => e.time >= changesDone) && before.every((e) => e.time <= changesDone)).toBe(true);
    expect(after.map((e) => e.action)).toContain('manifest.push');
    expect(after.map((e) => e.action)).not.toContain('team.create');
    expect(before.map((e) => e.action)).toContain('team.create');
    expect(before.map((e) => e.action)).not.toContain('manifest.push');
  });

  it('per_page pages newest first through links.pages.next, covering everything exactly once', async () => {
    const all = await audit(`per_page=1000&until=${allDone}`);
    expect(all.length).toBeGreaterThan(20);
    const seen: number[] = [];
    let next: string | undefined = `/api/v2/audit?per_page=7&until=${encodeURIComponent(allDone)}`;
    while (next) {
      const res = await send(berth.url, { path: next, auth: admin.auth });
      const page = (await res.json()) as { events: AuditView[]; links: { pages?: { next?: string } } };
      expect(page.events.length).toBeLessThanOrEqual(7);
      seen.push(...page.events.map((e) => e.id));
      next = page.links.pages?.next;
    }
    expect(seen).toEqual(all.map((e) => e.id));
    expect([...seen].sort((a, b) => b - a)).toEqual(seen);
  });

  it('/api/v2/audit/export returns the same events as JSON lines', async () => {
    const res = await send(berth.url, { path: `/api/v2/audit/export?until=${encodeURIComponent(allDone)}`, auth: admin.auth });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^application\/x-ndjson/);
    const lines = (await res.text()).trimEnd().split('\n').map((l) => JSON.parse(l) as AuditView);
    expect(lines.map((e) => e.id)).toEqual((await audit(`per_page=1000&until=${allDone}`)).map((e) => e.id));
  });

  const readers: [string, string | undefined, string, number][] = [
    ['a user without roles', 'snoop', '/audit', 403],
    ['a user without roles, for a registry', 'snoop', '/audit?registry=alpha', 403],
    ['a user without roles, export', 'snoop', '/audit/export', 403],
    ['a registry admin, without ?registry', 'radm', '/audit', 403],
    ['a registry admin, for their registry', 'radm', '/audit?registry=alpha', 200],
    ['a registry admin, export of their registry', 'radm', '/audit/export?registry=alpha', 200],
    ['a read-write user, for their registry', 'rw', '/audit?registry=alpha', 403],
    ['anonymous', undefined, '/audit', 401],
  ];
  it.each(readers)('%s (%s): GET %s → %i', async (_who, user, path, status) => {
    const r = await admin.as(user && basic(user, passwordOf(user))).call('GET', path);
    expect(r.status).toBe(status);
    if (status !== 200) return;
    const events: AuditView[] = typeof r.body === 'string' ? r.body.trimEnd().split('\n').map((l) => JSON.parse(l)) : r.body.events;
    expect(events.length).toBeGreaterThan(0);
    expect(events.filter((e) => e.registry !== 'alpha')).toEqual([]);
  });
});

describe('the server log', () => {
  it('holds request lines but no username of a failed login, password, token secret, JWT or Basic credential', () => {
    const log = berth.logs();
    expect(log).toContain('"path":"/v2/"');
    const basics = [basic(VICTIM, passwordOf(VICTIM)), basic('rw', passwordOf('rw')), basic('admin', ADMIN_PASSWORD)].map((b) => b.slice(6));
    const forbidden = [VICTIM, ADMIN_PASSWORD, ...[VICTIM, 'snoop', 'radm', 'rw', 'temp'].map(passwordOf), ...Array.from({ length: 10 }, (_, i) => `wrong-guess-${i}-`), ...secrets, ...basics];
    expect(forbidden.filter((s) => log.includes(s))).toEqual([]);
    expect(log).not.toMatch(/berth_(pat|rbt|rft)_/);
  });
});

describe('login throttling per source address (runs last: it locks this address out)', () => {
  it('after 50 failures from one address, across any usernames, every login from it gets 429', async () => {
    // 10 failures so far (the victim's); 40 more, spread over usernames that each stay under the per-user limit.
    await Promise.all(Array.from({ length: 40 }, (_, i) => send(berth.url, { path: '/v2/', auth: basic(`guess-${i % 8}`, WRONG(i)) })));
    const res = await send(berth.url, { path: '/v2/', auth: basic('fresh', passwordOf('fresh')) }); // never signed in, so not remembered
    expect(res.status).toBe(429);
    expect(Number(res.headers.get('retry-after'))).toBeGreaterThan(0);
  });
});
