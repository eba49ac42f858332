/**
 * The access-control matrix: every kind of principal × every kind of request
 * × a repository it may or may not touch, with the exact status expected.
 * Basic credentials straight on /v2/ (no token dance) and on /api/v2.
 */
import Database from 'better-sqlite3';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startBerth, type BerthProcess } from '../support/berth-process.js';
import { randomBlob } from '../conformance/helpers.js';
import { ADMIN_PASSWORD, Api, basic, errorCode, passwordOf, pushBlob, pushImage, putManifest, rand, send, stopAndClean, type Image, type Req } from './helpers.js';

const WEB = 'alpha/app/web';
const OTHER = 'alpha/other';
const PUB = 'pub/base';
const HIDDEN = 'beta/secret'; // a private registry none of the test users has a grant in
const REPOS = [WEB, OTHER, PUB] as const;
type Repo = (typeof REPOS)[number];

const WHO = ['anonymous', 'admin', 'ro', 'rw', 'adm', 'teamuser', 'patterned', 'nobody', 'robot-ro', 'robot-rw', 'pat-pull', 'pat-widen'] as const;
type Who = (typeof WHO)[number] | 'disabled' | 'revoked' | 'expired' | 'wrong-owner' | 'creator' | `late${number}`;

let berth: BerthProcess;
let admin: Api;
const auth = {} as Record<Who, string | undefined>;
const seeded = {} as Record<string, Image>;

beforeAll(async () => {
  berth = await startBerth({ adminPassword: ADMIN_PASSWORD });
  admin = new Api(berth.url, basic('admin', ADMIN_PASSWORD));
  await admin.createRegistry('alpha');
  await admin.createRegistry('pub');
  await admin.ok('PATCH', '/registries/pub', { public: true });
  await Promise.all(['ro', 'rw', 'adm', 'teamuser', 'patterned', 'nobody', 'gone', 'spare'].map((u) => admin.createUser(u)));
  await admin.createUser('creator', { can_create_registries: true });
  await admin.ok('PATCH', '/users/gone', { disabled: true });
  await admin.ok('POST', '/teams', { name: 'devs' });
  await admin.ok('PUT', '/teams/devs/members/teamuser');
  await admin.grant('alpha', 'user', 'ro', 'read-only');
  await admin.grant('alpha', 'user', 'rw', 'read-write');
  await admin.grant('alpha', 'user', 'adm', 'admin');
  await admin.grant('alpha', 'team', 'devs', 'read-write');
  await admin.grant('alpha', 'user', 'patterned', 'read-write', 'alpha/app/*');
  const robotRo = await admin.robot('alpha', 'ro-bot', 'read-only');
  const robotRw = await admin.robot('alpha', 'rw-bot', 'read-write');

  for (const u of ['ro', 'rw', 'adm', 'teamuser', 'patterned', 'nobody', 'creator'] as const) auth[u] = basic(u, passwordOf(u));
  auth.admin = admin.auth;
  auth.disabled = basic('gone', passwordOf('gone'));
  auth['robot-ro'] = basic(robotRo.username, robotRo.secret);
  auth['robot-rw'] = basic(robotRw.username, robotRw.secret);
  const asRw = admin.as(auth.rw);
  const asRo = admin.as(auth.ro);
  const patPull = await asRw.token('pull-only', { scopes: [{ registry: 'alpha', actions: ['pull'] }] });
  auth['pat-pull'] = basic('rw', patPull.secret);
  auth['wrong-owner'] = basic('teamuser', patPull.secret); // rw's token under another user's name
  // A scope asking for more than the owner has must not widen anything.
  auth['pat-widen'] = basic('ro', (await asRo.token('asks-push', { scopes: [{ registry: 'alpha', actions: ['pull', 'push', 'delete'] }] })).secret);

  // Expiry can't be waited for (the minimum is 60 s): check it is recorded, that the token works, then
  // move its expiry into the past in the database (the revocation below clears the credential cache).
  const expiring = await asRw.token('expiring', { expires_in_seconds: 60 });
  expect(Date.parse(expiring.expiresAt!) - Date.now()).toBeGreaterThan(50_000);
  expect(Date.parse(expiring.expiresAt!) - Date.now()).toBeLessThanOrEqual(60_000);
  auth.expired = basic('rw', expiring.secret);
  expect((await send(berth.url, { path: '/v2/', auth: auth.expired })).status).toBe(200);
  const db = new Database(join(berth.dataDir, 'metadata.db'));
  db.pragma('busy_timeout = 5000');
  expect(db.prepare('UPDATE tokens SET expires_at = ? WHERE id = ?').run(Date.now() - 1000, expiring.id).changes).toBe(1);
  db.close();

  // Revoked right after a successful use: the 10 s credential cache must not keep it alive.
  const revoked = await asRo.token('to-revoke');
  auth.revoked = basic('ro', revoked.secret);
  expect((await send(berth.url, { path: '/v2/', auth: auth.revoked })).status).toBe(200);
  await asRo.ok('DELETE', `/tokens/${revoked.id}`);

  for (const repo of [...REPOS, HIDDEN]) seeded[repo] = await pushImage(berth.url, admin.auth!, repo, 'v1');
});
afterAll(() => stopAndClean(berth));

/** Fresh content for requests that destroy something, so one cell never depends on another. */
const fresh = {
  tag: async (repo: string) => {
    const tag = `t-${rand()}`;
    expect((await putManifest(berth.url, admin.auth, repo, tag, seeded[repo]!.body)).status).toBe(201);
    return tag;
  },
  manifest: async (repo: string) => (await pushImage(berth.url, admin.auth!, repo)).digest,
  blob: (repo: string) => pushBlob(berth.url, admin.auth!, repo, randomBlob(100)),
};

/** The /v2/ requests, in the column order of the tables below. */
const OPS: [string, (repo: string) => Promise<Req>][] = [
  ['GET manifest', async (r) => ({ path: `/v2/${r}/manifests/v1` })],
  ['HEAD blob', async (r) => ({ method: 'HEAD', path: `/v2/${r}/blobs/${seeded[r]!.config}` })],
  ['GET tags/list', async (r) => ({ path: `/v2/${r}/tags/list` })],
  ['GET referrers', async (r) => ({ path: `/v2/${r}/referrers/${seeded[r]!.digest}` })],
  ['POST blob upload', async (r) => ({ method: 'POST', path: `/v2/${r}/blobs/uploads/` })],
  ['PUT manifest', async (r) => ({ method: 'PUT', path: `/v2/${r}/manifests/p-${rand()}`, body: seeded[r]!.body, headers: { 'content-type': 'application/vnd.oci.image.manifest.v1+json' } })],
  ['DELETE tag (untag)', async (r) => ({ method: 'DELETE', path: `/v2/${r}/manifests/${await fresh.tag(r)}` })],
  ['DELETE manifest by digest', async (r) => ({ method: 'DELETE', path: `/v2/${r}/manifests/${await fresh.manifest(r)}` })],
  ['DELETE blob', async (r) => ({ method: 'DELETE', path: `/v2/${r}/blobs/${await fresh.blob(r)}` })],
];

// Rows of expected statuses, one per column of OPS:
//           pull-ish: manifest  blob  tags  refs | push: upload  put | untag | delete: manifest  blob
const ALL = [200, 200, 200, 200, 202, 201, 202, 202, 202]; // pull + push + delete
const RW = [200, 200, 200, 200, 202, 201, 202, 403, 403]; // untag is a push, deleting content is not
const RO = [200, 200, 200, 200, 403, 403, 403, 403, 403];
const NONE = [403, 403, 403, 403, 403, 403, 403, 403, 403];
const CHALLENGE = [401, 401, 401, 401, 401, 401, 401, 401, 401]; // anonymous: 401 + Bearer challenge, never 403
const PUBLIC = [200, 200, 200, 200, 401, 401, 401, 401, 401]; // anonymous on a public registry

const V2_MATRIX: Record<(typeof WHO)[number], Record<Repo, number[]>> = {
  //            alpha/app/web  alpha/other  pub/base
  anonymous: { [WEB]: CHALLENGE, [OTHER]: CHALLENGE, [PUB]: PUBLIC },
  admin: { [WEB]: ALL, [OTHER]: ALL, [PUB]: ALL },
  ro: { [WEB]: RO, [OTHER]: RO, [PUB]: RO },
  rw: { [WEB]: RW, [OTHER]: RW, [PUB]: RO },
  adm: { [WEB]: ALL, [OTHER]: ALL, [PUB]: RO },
  teamuser: { [WEB]: RW, [OTHER]: RW, [PUB]: RO },
  patterned: { [WEB]: RW, [OTHER]: NONE, [PUB]: RO }, // read-write on alpha/app/* only
  nobody: { [WEB]: NONE, [OTHER]: NONE, [PUB]: RO },
  'robot-ro': { [WEB]: RO, [OTHER]: RO, [PUB]: RO },
  'robot-rw': { [WEB]: RW, [OTHER]: RW, [PUB]: RO },
  // rw's token scoped to pull on alpha. A credential never gets less than anonymous: public pull stays allowed.
  'pat-pull': { [WEB]: RO, [OTHER]: RO, [PUB]: RO },
  'pat-widen': { [WEB]: RO, [OTHER]: RO, [PUB]: RO }, // ro's token asking for push+delete: still only pull
};

/** Status, plus the shape a client relies on: 401 carries a Bearer challenge, 403 is DENIED. */
async function expectStatus(res: Response, expected: number, what: string, method = 'GET'): Promise<void> {
  const code = await errorCode(res);
  expect(res.status, `${what} (${code ?? 'no error code'})`).toBe(expected);
  if (expected === 401) expect(res.headers.get('www-authenticate') ?? '').toMatch(/^Bearer realm="[^"]+\/token",service="berth"/);
  if (expected === 403 && method !== 'HEAD') expect(code).toBe('DENIED');
}

describe('/v2/ with Basic credentials: principal × request × repository', () => {
  const cells = WHO.flatMap((who) => REPOS.flatMap((repo) => OPS.map(([op, build], i) => ({ who, repo, op, build, expected: V2_MATRIX[who][repo][i]! }))));
  it.each(cells)('$who: $op on $repo → $expected', async ({ who, repo, build, expected }) => {
    const req = await build(repo);
    await expectStatus(await send(berth.url, { ...req, auth: auth[who] }), expected, `${req.method ?? 'GET'} ${req.path}`, req.method);
  });
});

describe('credentials that are wrong are refused outright (401), even for public content', () => {
  // Each of these counts as a failed login for the throttle (50 per source), so a few cells each.
  const cells = (['disabled', 'revoked', 'expired', 'wrong-owner'] as const).flatMap((who) => [
    { who, req: { method: 'GET', path: `/v2/${WEB}/manifests/v1` } },
    { who, req: { method: 'GET', path: `/v2/${PUB}/manifests/v1` } },
    { who, req: { method: 'POST', path: `/v2/${WEB}/blobs/uploads/` } },
  ]);
  it.each(cells)('$who: $req.method $req.path → 401', async ({ who, req }) => {
    await expectStatus(await send(berth.url, { ...req, auth: auth[who] }), 401, req.path);
  });
  it.each(['disabled', 'revoked', 'expired', 'wrong-owner'] as const)('%s: the management API → 401', async (who) => {
    const r = await admin.as(auth[who]).call('GET', '/tokens');
    expect(r.status).toBe(401);
    expect(r.body.id).toBe('unauthorized');
  });
});

describe('changes take effect at once, even for a credential the server remembers (10 s cache)', () => {
  // Each case: a request that works, an admin change, the same request again.
  const cases: { change: string; who: Who; req: Req; act: () => Promise<unknown>; after: number }[] = [
    { change: 'user disabled', who: 'late1', req: { path: `/v2/${WEB}/tags/list` }, act: () => admin.ok('PATCH', '/users/late1', { disabled: true }), after: 401 },
    { change: 'grant deleted', who: 'late2', req: { path: `/v2/${WEB}/tags/list` }, after: 403, act: async () => {
      const grants = (await admin.ok('GET', '/registries/alpha/grants')).grants as { id: number; subject: string }[];
      await admin.ok('DELETE', `/registries/alpha/grants/${grants.find((g) => g.subject === 'late2')!.id}`);
    } },
    { change: 'removed from the team', who: 'late3', req: { method: 'POST', path: `/v2/${WEB}/blobs/uploads/` }, act: () => admin.ok('DELETE', '/teams/devs/members/late3'), after: 403 },
    { change: 'password changed', who: 'late4', req: { path: '/v2/' }, act: () => admin.ok('PATCH', '/users/late4', { password: 'a-brand-new-password' }), after: 401 },
  ];
  beforeAll(async () => {
    for (const u of ['late1', 'late2', 'late3', 'late4']) {
      await admin.createUser(u);
      auth[u as Who] = basic(u, passwordOf(u));
    }
    await admin.grant('alpha', 'user', 'late1', 'read-only');
    await admin.grant('alpha', 'user', 'late2', 'read-only');
    await admin.ok('PUT', '/teams/devs/members/late3');
  });
  it.each(cases)('$change → $who gets $after', async ({ who, req, act, after }) => {
    expect((await send(berth.url, { ...req, auth: auth[who] })).status).toBeLessThan(300);
    await act();
    await expectStatus(await send(berth.url, { ...req, auth: auth[who] }), after, req.path, req.method);
  });
  it('robot deleted → its secret is refused (401)', async () => {
    const bot = await admin.robot('alpha', 'short-lived', 'read-only');
    const req = { path: `/v2/${WEB}/tags/list`, auth: basic(bot.username, bot.secret) };
    expect((await send(berth.url, req)).status).toBe(200);
    await admin.ok('DELETE', '/registries/alpha/robots/short-lived');
    expect((await send(berth.url, req)).status).toBe(401);
  });
  it("one robot secret revoked by the registry's admin (not a server admin) → refused (401); the robot's other secret still works", async () => {
    const bot = await admin.robot('alpha', 'two-keys', 'read-only');
    const second = await admin.ok('POST', '/registries/alpha/robots/two-keys/secrets', { name: 'second' });
    const first = { path: `/v2/${WEB}/tags/list`, auth: basic(bot.username, bot.secret) };
    const other = { path: `/v2/${WEB}/tags/list`, auth: basic(second.username, second.secret) };
    expect((await send(berth.url, first)).status).toBe(200);
    const firstId = bot.secret.split('_')[2]!;
    // Neither a member without admin nor an outsider may: 404, as for a token that is not theirs.
    expect((await admin.as(auth.rw).call('DELETE', `/tokens/${firstId}`)).status).toBe(404);
    expect((await admin.as(auth.nobody).call('DELETE', `/tokens/${firstId}`)).status).toBe(404);
    expect((await admin.as(auth.adm).call('DELETE', `/tokens/${firstId}`)).status).toBe(204);
    expect((await send(berth.url, first)).status).toBe(401);
    expect((await send(berth.url, other)).status).toBe(200);
  });
});

describe('repository_pattern alpha/app/* stays within one path component', () => {
  it.each([
    ['alpha/app/new', 202],
    ['alpha/app/web/deeper', 403],
    ['alpha/application', 403],
    ['alpha/app', 403],
  ] as const)('patterned: push to %s → %i', async (repo, expected) => {
    await expectStatus(await send(berth.url, { method: 'POST', path: `/v2/${repo}/blobs/uploads/`, auth: auth.patterned }), expected, repo, 'POST');
  });
});

describe('_catalog lists only what the caller may pull', () => {
  const visible: [Who, string[]][] = [
    ['admin', [WEB, OTHER, PUB, HIDDEN]],
    ['ro', [WEB, OTHER, PUB]],
    ['adm', [WEB, OTHER, PUB]],
    ['teamuser', [WEB, OTHER, PUB]],
    ['patterned', [WEB, PUB]],
    ['nobody', [PUB]],
    ['robot-ro', [WEB, OTHER, PUB]],
  ];
  it.each(visible)('%s sees %j', async (who, repos) => {
    const res = await send(berth.url, { path: '/v2/_catalog?n=1000', auth: auth[who] });
    expect(res.status).toBe(200);
    const listed = ((await res.json()) as { repositories: string[] }).repositories;
    expect(listed.filter((r) => [WEB, OTHER, PUB, HIDDEN].includes(r)).sort()).toEqual([...repos].sort());
  });
  it.each(['patterned', 'nobody'] as const)('%s: paging with n=1 through the Link headers gives the same list', async (who) => {
    const seen: string[] = [];
    let next: string | undefined = '/v2/_catalog?n=1';
    while (next) {
      const res = await send(berth.url, { path: next, auth: auth[who] });
      expect(res.status).toBe(200);
      const page = ((await res.json()) as { repositories: string[] }).repositories;
      expect(page.length).toBeLessThanOrEqual(1);
      seen.push(...page);
      next = res.headers.get('link')?.match(/^<([^>]+)>/)?.[1];
    }
    const all = ((await (await send(berth.url, { path: '/v2/_catalog', auth: auth[who] })).json()) as { repositories: string[] }).repositories;
    expect(seen).toEqual(all);
    expect(all).not.toContain(OTHER);
  });
  it('anonymous → 401 with a catalog scope in the challenge', async () => {
    const res = await send(berth.url, { path: '/v2/_catalog' });
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toContain('scope="registry:catalog:*"');
  });
});

describe('cross-repository mount takes a blob only from a repository the caller may pull', () => {
  // `from` is where a fresh blob is seeded; without `from` only a server admin may mount from anywhere.
  const cells: { who: Who; into: string; from?: string; expected: number }[] = [
    { who: 'rw', into: WEB, from: OTHER, expected: 201 },
    { who: 'rw', into: WEB, from: HIDDEN, expected: 202 }, // falls back to an upload session
    { who: 'patterned', into: WEB, from: OTHER, expected: 202 },
    { who: 'robot-rw', into: WEB, from: HIDDEN, expected: 202 },
    { who: 'rw', into: WEB, from: PUB, expected: 201 },
    { who: 'admin', into: WEB, from: HIDDEN, expected: 201 },
    { who: 'ro', into: WEB, from: OTHER, expected: 403 },
    { who: 'nobody', into: PUB, from: WEB, expected: 403 },
    { who: 'anonymous', into: PUB, from: WEB, expected: 401 },
  ];
  it.each(cells)('$who: mount into $into from $from → $expected', async ({ who, into, from, expected }) => {
    const digest = await pushBlob(berth.url, admin.auth!, from!, randomBlob(200));
    const res = await send(berth.url, { method: 'POST', path: `/v2/${into}/blobs/uploads/?mount=${digest}&from=${from}`, auth: auth[who] });
    await expectStatus(res, expected, 'mount');
    const linked = await send(berth.url, { method: 'HEAD', path: `/v2/${into}/blobs/${digest}`, auth: admin.auth });
    expect(linked.status, 'blob in the target afterwards').toBe(expected === 201 ? 200 : 404);
  });
  it.each([
    ['rw', 202],
    ['admin', 201],
  ] as const)('%s: mount without from → %i', async (who, expected) => {
    const digest = await pushBlob(berth.url, admin.auth!, HIDDEN, randomBlob(200));
    await expectStatus(await send(berth.url, { method: 'POST', path: `/v2/${WEB}/blobs/uploads/?mount=${digest}`, auth: auth[who] }), expected, 'mount');
  });
});

describe('pushing into a registry that does not exist', () => {
  it.each(['nobody', 'ro', 'pat-pull'] as const)('%s → 403 DENIED saying how to have it created; nothing is created', async (who) => {
    const res = await send(berth.url, { method: 'POST', path: `/v2/nowhere/app/blobs/uploads/`, auth: auth[who] });
    expect(res.status).toBe(403);
    const body = (await res.json()) as { errors: { code: string; message: string }[] };
    expect(body.errors[0]!.code).toBe('DENIED');
    expect(body.errors[0]!.message).toMatch(/registry "nowhere" does not exist/);
    expect(body.errors[0]!.message).toContain('berth registry create nowhere');
    expect((await admin.call('GET', '/registries/nowhere')).status).toBe(404);
  });
  it('a user with can_create_registries → allowed; the registry exists, private, with them as its admin', async () => {
    const img = await pushImage(berth.url, auth.creator!, 'made/app', 'v1');
    expect((await admin.ok('GET', '/registries/made')).registry).toMatchObject({ name: 'made', public: false });
    const grants = (await admin.ok('GET', '/registries/made/grants')).grants;
    expect(grants).toEqual([expect.objectContaining({ subject_kind: 'user', subject: 'creator', role: 'admin', repository_pattern: null })]);
    // As its admin the creator may delete there and manage it; others may not even pull.
    expect((await send(berth.url, { method: 'DELETE', path: `/v2/made/app/manifests/${img.digest}`, auth: auth.creator })).status).toBe(202);
    expect((await admin.as(auth.creator).call('GET', '/registries/made/robots')).status).toBe(200);
    expect((await send(berth.url, { path: '/v2/made/app/tags/list', auth: auth.rw })).status).toBe(403);
  });
});

describe('management API: principal × call', () => {
  const CALLS: [string, () => Req][] = [
    ['GET /users', () => ({ path: '/users' })],
    ['POST /users', () => ({ method: 'POST', path: '/users', body: { username: `u-${rand()}`, password: 'a-long-password-1' } })],
    ['POST /teams', () => ({ method: 'POST', path: '/teams', body: { name: `team-${rand()}` } })],
    ['POST grant on alpha', () => ({ method: 'POST', path: '/registries/alpha/grants', body: { subject_kind: 'user', subject: 'spare', role: 'read-only' } })],
    ['POST robot in alpha', () => ({ method: 'POST', path: '/registries/alpha/robots', body: { name: `bot-${rand()}` } })],
    ['POST /tokens', () => ({ method: 'POST', path: '/tokens', body: { name: 'mine' } })],
    ['GET /audit', () => ({ path: '/audit' })],
    ['GET /audit?registry=alpha', () => ({ path: '/audit?registry=alpha' })],
    ['POST /auth/keys/rotate', () => ({ method: 'POST', path: '/auth/keys/rotate' })],
  ];
  //           users: list create | team | grant robot (alpha) | token | audit: all alpha | rotate
  const MGMT: Record<(typeof WHO)[number], number[]> = {
    anonymous: [401, 401, 401, 401, 401, 401, 401, 401, 401],
    admin: [200, 201, 201, 201, 201, 201, 200, 200, 201],
    adm: [403, 403, 403, 201, 201, 201, 403, 200, 403], // registry admin of alpha
    ro: [403, 403, 403, 403, 403, 201, 403, 403, 403],
    rw: [403, 403, 403, 403, 403, 201, 403, 403, 403],
    teamuser: [403, 403, 403, 403, 403, 201, 403, 403, 403],
    patterned: [403, 403, 403, 403, 403, 201, 403, 403, 403],
    nobody: [403, 403, 403, 404, 404, 201, 403, 403, 403], // alpha is not even visible to them
    'robot-ro': [403, 403, 403, 403, 403, 403, 403, 403, 403], // robots make no tokens
    'robot-rw': [403, 403, 403, 403, 403, 403, 403, 403, 403],
    'pat-pull': [403, 403, 403, 403, 403, 403, 403, 403, 403], // scoped tokens never manage
    'pat-widen': [403, 403, 403, 403, 403, 403, 403, 403, 403],
  };
  const ID: Record<number, string> = { 401: 'unauthorized', 403: 'forbidden', 404: 'not_found' };
  const cells = WHO.flatMap((who) => CALLS.map(([call, build], i) => ({ who, call, build, expected: MGMT[who][i]! })));
  it.each(cells)('$who: $call → $expected', async ({ who, build, expected }) => {
    const req = build();
    const r = await admin.as(auth[who]).call(req.method ?? 'GET', req.path, req.body as object | undefined);
    expect(r.status, JSON.stringify(r.body)).toBe(expected);
    if (ID[expected]) expect(r.body.id).toBe(ID[expected]);
  });
});
