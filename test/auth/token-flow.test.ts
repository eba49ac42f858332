/**
 * The Docker token protocol: the 401 challenge on /v2/, the token endpoint
 * (GET with Basic or anonymous, POST with the OAuth2 password and
 * refresh_token grants), and how /v2/ treats the bearer tokens it issues.
 */
import { decodeJwt, decodeProtectedHeader } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startBerth, type BerthProcess } from '../support/berth-process.js';
import { randomBlob, sha256 } from '../conformance/helpers.js';
import { ADMIN_PASSWORD, Api, basic, bearer, errorCode, passwordOf, pushBlob, pushImage, putManifest, send, stopAndClean, type Image } from './helpers.js';

const WEB = 'alpha/app/web';
const OTHER = 'alpha/other';
const PUB = 'pub/base';

let berth: BerthProcess;
let admin: Api;
let web: Image;
const auth: Record<string, string | undefined> = {};

beforeAll(async () => {
  berth = await startBerth({ adminPassword: ADMIN_PASSWORD });
  admin = new Api(berth.url, basic('admin', ADMIN_PASSWORD));
  auth.admin = admin.auth;
  for (const [name, isPublic] of [['alpha', false], ['pub', true], ['beta', false]] as const) await admin.createRegistry(name, isPublic);
  await Promise.all(['ro', 'rw', 'adm'].map((u) => admin.createUser(u)));
  for (const [user, role] of [['ro', 'read-only'], ['rw', 'read-write'], ['adm', 'admin']]) {
    await admin.grant('alpha', 'user', user!, role!);
    auth[user!] = basic(user!, passwordOf(user!));
  }
  // Token credentials at the token endpoint: a scoped PAT, a PAT asking for more than its owner has, a robot.
  auth['pat-pull'] = basic('rw', (await admin.as(auth.rw).token('pull', { scopes: [{ registry: 'alpha', actions: ['pull'] }] })).secret);
  auth['pat-widen'] = basic('ro', (await admin.as(auth.ro).token('widen', { scopes: [{ registry: '*', actions: ['pull', 'push', 'delete'] }] })).secret);
  const robot = await admin.robot('alpha', 'ci', 'read-only');
  auth.robot = basic(robot.username, robot.secret);
  web = await pushImage(berth.url, admin.auth!, WEB, 'v1');
  await pushImage(berth.url, admin.auth!, OTHER, 'v1');
  await pushImage(berth.url, admin.auth!, PUB, 'v1');
  await pushImage(berth.url, admin.auth!, 'beta/x', 'v1');
});
afterAll(() => stopAndClean(berth));

interface TokenAnswer {
  token: string;
  access_token: string;
  expires_in: number;
  issued_at: string;
  refresh_token?: string;
}

/** GET /token?service=berth&scope=… as `who` (anonymous when undefined). */
async function getToken(who: string | undefined, scopes: string[], extra = ''): Promise<TokenAnswer> {
  const q = new URLSearchParams([['service', 'berth'], ...scopes.map((s) => ['scope', s])]);
  const res = await send(berth.url, { path: `/token?${q}${extra}`, auth: who === undefined ? undefined : auth[who] });
  expect(res.status, await res.clone().text()).toBe(200);
  expect(res.headers.get('cache-control')).toBe('no-store');
  return (await res.json()) as TokenAnswer;
}

const postToken = (form: Record<string, string>) =>
  send(berth.url, { method: 'POST', path: '/token', body: new URLSearchParams({ service: 'berth', ...form }).toString(), headers: { 'content-type': 'application/x-www-form-urlencoded' } });

const accessOf = (token: string) => decodeJwt(token).access;
const repo = (name: string, actions: string[]) => ({ type: 'repository', name, actions });

describe('the challenge', () => {
  it('GET /v2/ anonymous → 401 UNAUTHORIZED with WWW-Authenticate: Bearer realm="<url>/token",service="berth"', async () => {
    const res = await send(berth.url, { path: '/v2/' });
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toBe(`Bearer realm="${berth.url}/token",service="berth"`);
    expect(await errorCode(res)).toBe('UNAUTHORIZED');
  });

  it.each([
    ['GET', `/v2/${WEB}/manifests/v1`, `repository:${WEB}:pull`],
    ['POST', `/v2/${WEB}/blobs/uploads/`, `repository:${WEB}:pull,push`],
    ['DELETE', `/v2/${WEB}/manifests/${'sha256:' + '0'.repeat(64)}`, `repository:${WEB}:delete`],
  ])('%s %s anonymous → the challenge names scope %s', async (method, path, scope) => {
    const res = await send(berth.url, { method, path });
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toBe(`Bearer realm="${berth.url}/token",service="berth",scope="${scope}"`);
  });
});

describe('GET /token: the access claim is the intersection of what was asked and what is allowed', () => {
  const cases: [who: string | undefined, scopes: string[], access: object[]][] = [
    ['ro', [`repository:${WEB}:pull,push`], [repo(WEB, ['pull'])]],
    ['ro', ['repository:beta/x:pull'], [repo('beta/x', [])]], // another registry: nothing
    ['ro', [`repository:${WEB}:pull`, `repository:${PUB}:pull,push`], [repo(WEB, ['pull']), repo(PUB, ['pull'])]],
    ['rw', [`repository:${WEB}:pull,push,delete`], [repo(WEB, ['pull', 'push'])]],
    ['rw', [`repository:${WEB}:*`], [repo(WEB, ['pull', 'push'])]],
    ['adm', [`repository:${WEB}:*`], [repo(WEB, ['pull', 'push', 'delete'])]],
    ['admin', ['repository:beta/x:pull,delete'], [repo('beta/x', ['pull', 'delete'])]],
    [undefined, [`repository:${PUB}:pull,push`], [repo(PUB, ['pull'])]], // anonymous on a public registry
    [undefined, [`repository:${WEB}:pull`], [repo(WEB, [])]],
    ['pat-pull', [`repository:${WEB}:pull,push`], [repo(WEB, ['pull'])]],
    ['pat-widen', [`repository:${WEB}:*`, 'repository:beta/x:pull'], [repo(WEB, ['pull']), repo('beta/x', [])]],
    ['robot', [`repository:${WEB}:pull,push`, 'repository:beta/x:pull'], [repo(WEB, ['pull']), repo('beta/x', [])]],
    ['ro', ['registry:catalog:*'], [{ type: 'registry', name: 'catalog', actions: ['*'] }]],
    ['ro', [], []],
  ];
  it.each(cases)('%s asking %j → %j', async (who, scopes, access) => {
    expect(accessOf((await getToken(who, scopes)).token)).toEqual(access);
  });

  it('the token is an ES256 JWT with kid, issuer and audience "berth", the subject, and exp = iat + expires_in', async () => {
    const answer = await getToken('ro', [`repository:${WEB}:pull`]);
    expect(answer.access_token).toBe(answer.token);
    const header = decodeProtectedHeader(answer.token);
    expect(header.alg).toBe('ES256');
    expect(header.kid).toEqual(expect.any(String));
    const claims = decodeJwt(answer.token);
    expect(claims).toMatchObject({ iss: 'berth', aud: 'berth', sub: 'ro' });
    expect(claims.exp! - claims.iat!).toBe(answer.expires_in);
    expect(Math.abs(Date.parse(answer.issued_at) / 1000 - claims.iat!)).toBeLessThanOrEqual(1);
  });

  it('bad credentials → 401 (not an anonymous token); another service → 400', async () => {
    const res = await send(berth.url, { path: `/token?service=berth&scope=repository:${PUB}:pull`, auth: basic('ro', 'wrong-password-123') });
    expect(res.status).toBe(401);
    expect((await send(berth.url, { path: '/token?service=other', auth: auth.ro })).status).toBe(400);
  });
});

describe('POST /token (OAuth2 grants)', () => {
  it('grant_type=password → a token with the intersected access; no refresh_token unless access_type=offline', async () => {
    const res = await postToken({ grant_type: 'password', username: 'ro', password: passwordOf('ro'), scope: `repository:${WEB}:pull,push repository:${OTHER}:pull` });
    expect(res.status).toBe(200);
    const body = (await res.json()) as TokenAnswer;
    expect(accessOf(body.access_token)).toEqual([repo(WEB, ['pull']), repo(OTHER, ['pull'])]);
    expect(body.refresh_token).toBeUndefined();
  });

  it('a wrong password → 401; an unknown grant_type → 400', async () => {
    expect((await postToken({ grant_type: 'password', username: 'ro', password: 'not-the-password' })).status).toBe(401);
    expect((await postToken({ grant_type: 'client_credentials' })).status).toBe(400);
  });

  it('access_type=offline returns a refresh_token that works until revoked; garbage → 401', async () => {
    const first = (await (await postToken({ grant_type: 'password', username: 'ro', password: passwordOf('ro'), access_type: 'offline', client_id: 'docker' })).json()) as TokenAnswer;
    expect(first.refresh_token).toMatch(/^berth_rft_/);
    const refresh = first.refresh_token!;

    const res = await postToken({ grant_type: 'refresh_token', refresh_token: refresh, scope: `repository:${WEB}:pull,push` });
    expect(res.status).toBe(200);
    const token = ((await res.json()) as TokenAnswer).token;
    expect(decodeJwt(token).sub).toBe('ro');
    expect(accessOf(token)).toEqual([repo(WEB, ['pull'])]);

    // A refresh token is for the token endpoint only: it is not a password on /v2/.
    expect((await send(berth.url, { path: '/v2/', auth: basic('ro', refresh) })).status).toBe(401);
    expect((await postToken({ grant_type: 'refresh_token', refresh_token: 'berth_rft_garbage' })).status).toBe(401);

    const id = refresh.split('_')[2]!;
    expect((await admin.as(auth.ro).call('DELETE', `/tokens/${id}`)).status).toBe(204);
    expect((await postToken({ grant_type: 'refresh_token', refresh_token: refresh })).status).toBe(401);
  });

  it('GET /token with offline_token=true and a password also returns a refresh_token', async () => {
    expect((await getToken('rw', [], '&offline_token=true')).refresh_token).toMatch(/^berth_rft_/);
  });
});

describe('/v2/ with a bearer token', () => {
  it('allowed requests succeed; a repository not in the token → 401 insufficient_scope naming it; in the token without the action → 403 DENIED', async () => {
    const token = bearer((await getToken('ro', [`repository:${WEB}:pull,push`])).token);
    expect((await send(berth.url, { path: `/v2/${WEB}/manifests/v1`, auth: token })).status).toBe(200);
    expect((await send(berth.url, { method: 'HEAD', path: `/v2/${WEB}/blobs/${web.layer}`, auth: token })).status).toBe(200);
    expect((await send(berth.url, { path: `/v2/${WEB}/tags/list`, auth: token })).status).toBe(200);
    expect((await send(berth.url, { path: '/v2/', auth: token })).status).toBe(200);

    const other = await send(berth.url, { path: `/v2/${OTHER}/manifests/v1`, auth: token });
    expect(other.status).toBe(401);
    expect(other.headers.get('www-authenticate')).toBe(`Bearer realm="${berth.url}/token",service="berth",scope="repository:${OTHER}:pull",error="insufficient_scope"`);

    const push = await putManifest(berth.url, token, WEB, 'nope', web.body);
    expect(push.status).toBe(403);
    expect(await errorCode(push)).toBe('DENIED');
    expect((await send(berth.url, { method: 'POST', path: `/v2/${WEB}/blobs/uploads/`, auth: token })).status).toBe(403);
  });

  it('a push token pushes; delete is not in it', async () => {
    const token = bearer((await getToken('rw', [`repository:${WEB}:pull,push,delete`])).token);
    const img = await pushImage(berth.url, token, WEB, 'pushed-with-bearer');
    expect((await send(berth.url, { method: 'DELETE', path: `/v2/${WEB}/manifests/pushed-with-bearer`, auth: token })).status).toBe(202);
    expect((await send(berth.url, { method: 'DELETE', path: `/v2/${WEB}/manifests/${img.digest}`, auth: token })).status).toBe(403);
  });

  it('an anonymous token pulls a public repository; anything else asks to sign in (401)', async () => {
    const token = bearer((await getToken(undefined, [`repository:${PUB}:pull,push`])).token);
    expect((await send(berth.url, { path: `/v2/${PUB}/manifests/v1`, auth: token })).status).toBe(200);
    // Holding an anonymous token is still being anonymous: the answer is "sign in" (401), not 403.
    const push = await send(berth.url, { method: 'POST', path: `/v2/${PUB}/blobs/uploads/`, auth: token });
    expect(push.status).toBe(401);
    expect(push.headers.get('www-authenticate')).toContain(`scope="repository:${PUB}:pull,push"`);
    expect((await send(berth.url, { path: `/v2/${WEB}/manifests/v1`, auth: token })).status).toBe(401);
  });

  it('a catalog token lists only what its subject may pull', async () => {
    const token = bearer((await getToken('ro', ['registry:catalog:*'])).token);
    const res = await send(berth.url, { path: '/v2/_catalog?n=1000', auth: token });
    expect(res.status).toBe(200);
    expect(((await res.json()) as { repositories: string[] }).repositories.sort()).toEqual([OTHER, WEB, PUB].sort());
  });

  it('a personal access token as Bearer works on the management API; scoped, it cannot manage', async () => {
    const full = (await admin.token('automation')).secret;
    expect((await admin.as(bearer(full)).call('GET', '/users')).status).toBe(200);
    const scoped = (await admin.token('scoped', { scopes: [{ registry: '*', actions: ['pull', 'push', 'delete'] }] })).secret;
    expect((await admin.as(bearer(scoped)).call('GET', '/users')).status).toBe(403);
    expect((await send(berth.url, { path: `/v2/${WEB}/tags/list`, auth: bearer(scoped) })).status).toBe(200);
  });

  it('registry tokens are refused by the management API and the token endpoint', async () => {
    const token = bearer((await getToken('admin', [`repository:${WEB}:*`])).token);
    expect((await admin.as(token).call('GET', '/users')).status).toBe(401);
    expect((await send(berth.url, { path: '/token?service=berth', auth: token })).status).toBe(401);
  });

  it('a Docker-style client: challenge → token for the challenged scope → retry succeeds', async () => {
    const path = `/v2/${WEB}/blobs/uploads/?digest=`;
    const data = randomBlob(300);
    const digest = sha256(data);
    const challenge = (await send(berth.url, { method: 'POST', path: path + digest, body: data })).headers.get('www-authenticate')!;
    const params = Object.fromEntries([...challenge.matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1]!, m[2]!]));
    const res = await send(berth.url, { path: `${new URL(params.realm!).pathname}?service=${params.service}&scope=${params.scope}`, auth: auth.rw });
    const token = bearer(((await res.json()) as TokenAnswer).token);
    expect((await send(berth.url, { method: 'POST', path: path + digest, auth: token, body: data })).status).toBe(201);
    expect(await pushBlob(berth.url, token, WEB, randomBlob(10))).toMatch(/^sha256:/);
  });
});
