/**
 * Forged and tampered registry tokens must be refused (401) on /v2/. The
 * test mints its own tokens, some with the server's real private key (read
 * from the metadata store, as anyone who can read the store could),
 * to show that signature, algorithm, audience, issuer and validity window are
 * each checked on their own. Then: key rotation keeps old tokens working.
 */
import Sqlite from 'better-sqlite3';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { SignJWT, decodeProtectedHeader, exportSPKI, generateKeyPair, importJWK, type JWK, type KeyLike } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startBerth, type BerthProcess } from '../support/berth-process.js';
import { ADMIN_PASSWORD, Api, basic, bearer, passwordOf, pushImage, putManifest, send, stopAndClean, type Image } from './helpers.js';

const WEB = 'alpha/app/web';
const PULL = [{ type: 'repository', name: WEB, actions: ['pull'] }];

let berth: BerthProcess;
let admin: Api;
let web: Image;
let server: { kid: string; privateKey: KeyLike; publicJwk: JWK };

interface SigningKeyRow {
  kid: string;
  private_jwk: string;
}

/** The keys still signing, newest first, straight from the server's metadata store (the embedded SQLite file). */
async function signingKeyRows(): Promise<SigningKeyRow[]> {
  const db = new Sqlite(join(berth.dataDir, 'metadata.db'), { readonly: true, fileMustExist: true });
  try {
    return db.prepare('select kid, private_jwk from signing_keys where retired_at is null order by created_at desc').all() as SigningKeyRow[];
  } finally {
    db.close();
  }
}

/** The server's current signing key. */
async function signingKey(): Promise<typeof server> {
  const stored = (await signingKeyRows())[0]!;
  const privateJwk = JSON.parse(stored.private_jwk) as JWK;
  const { d: _private, ...publicJwk } = privateJwk;
  return { kid: stored.kid, privateKey: (await importJWK(privateJwk, 'ES256')) as KeyLike, publicJwk };
}

beforeAll(async () => {
  berth = await startBerth({ adminPassword: ADMIN_PASSWORD });
  admin = new Api(berth.url, basic('admin', ADMIN_PASSWORD));
  await admin.createRegistry('alpha');
  await admin.createUser('ro');
  await admin.grant('alpha', 'user', 'ro', 'read-only');
  web = await pushImage(berth.url, admin.auth!, WEB, 'v1');
  server = await signingKey();
});
afterAll(() => stopAndClean(berth));

const now = () => Math.floor(Date.now() / 1000);

interface Mint {
  key?: KeyLike | Uint8Array;
  header?: Record<string, unknown>;
  iss?: string;
  aud?: string;
  exp?: number;
  nbf?: number;
  iat?: number;
  access?: object[];
  omit?: 'exp';
}

/** A token like the server's own; by default valid, so each case changes exactly one thing. */
async function mint(m: Mint = {}): Promise<string> {
  const jwt = new SignJWT({ access: m.access ?? PULL, kind: 'user' })
    .setProtectedHeader({ alg: 'ES256', kid: server.kid, typ: 'JWT', ...m.header })
    .setIssuer(m.iss ?? 'berth')
    .setAudience(m.aud ?? 'berth')
    .setSubject('ro')
    .setIssuedAt(m.iat ?? now())
    .setNotBefore(m.nbf ?? now() - 1);
  if (m.omit !== 'exp') jwt.setExpirationTime(m.exp ?? now() + 300);
  return jwt.sign(m.key ?? server.privateKey);
}

const b64 = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');
const parts = (token: string) => token.split('.') as [string, string, string];
const payloadOf = (token: string) => JSON.parse(Buffer.from(parts(token)[1], 'base64url').toString()) as Record<string, unknown>;

const pull = (token: string) => send(berth.url, { path: `/v2/${WEB}/tags/list`, auth: bearer(token) });

async function expectRefused(res: Response): Promise<void> {
  expect(res.status).toBe(401);
  expect(res.headers.get('www-authenticate')).toMatch(/^Bearer realm="[^"]+\/token",service="berth"/);
}

describe('the control: a token minted like the server mints them is accepted', () => {
  it('→ 200, so every refusal below is down to the one thing that changed', async () => {
    expect((await pull(await mint())).status).toBe(200);
  });
});

describe('tokens refused on /v2/ (401)', () => {
  const cases: [string, () => Promise<string>][] = [
    ['alg: none, no signature', async () => `${b64({ alg: 'none', typ: 'JWT', kid: server.kid })}.${b64(payloadOf(await mint()))}.`],
    ['alg: none, keeping a real signature', async () => {
      const [, payload, sig] = parts(await mint());
      return `${b64({ alg: 'none', typ: 'JWT', kid: server.kid })}.${payload}.${sig}`;
    }],
    ['ES256 with another key under the same kid', async () => mint({ key: (await generateKeyPair('ES256')).privateKey })],
    ['RS256 with another key', async () => mint({ key: (await generateKeyPair('RS256')).privateKey, header: { alg: 'RS256' } })],
    ['HS256 keyed with the public key as PEM (algorithm confusion)', async () => {
      const pem = await exportSPKI((await importJWK(server.publicJwk, 'ES256')) as KeyLike);
      return mint({ key: new TextEncoder().encode(pem), header: { alg: 'HS256' } });
    }],
    ['HS256 keyed with the public JWK as JSON', async () => mint({ key: new TextEncoder().encode(JSON.stringify(server.publicJwk)), header: { alg: 'HS256' } })],
    ['the right key, an unknown kid', async () => mint({ header: { kid: 'not-a-key' } })],
    ['the right key, no kid', async () => mint({ header: { kid: undefined } })],
    ['the right key, wrong aud', async () => mint({ aud: 'another-registry' })],
    ['the right key, wrong iss', async () => mint({ iss: 'someone-else' })],
    ['the right key, expired a minute ago', async () => mint({ iat: now() - 400, nbf: now() - 400, exp: now() - 60 })],
    ['the right key, nbf two minutes ahead', async () => mint({ nbf: now() + 120 })],
    ['the right key, no exp', async () => mint({ omit: 'exp' })],
    ['a real token whose access claim was widened (signature no longer matches)', async () => {
      const real = await mint();
      const [header, , sig] = parts(real);
      return `${header}.${b64({ ...payloadOf(real), access: [{ type: 'repository', name: WEB, actions: ['pull', 'push', 'delete'] }] })}.${sig}`;
    }],
    ['a real token with its signature cut off', async () => parts(await mint()).slice(0, 2).join('.') + '.'],
    ['garbage', async () => 'not-a-jwt'],
    ['three dots of garbage', async () => 'a.b.c'],
  ];
  it.each(cases)('%s', async (_name, make) => {
    await expectRefused(await pull(await make()));
  });

  it('a widened token cannot push either (401, not an authorised push)', async () => {
    const real = await mint();
    const [header, , sig] = parts(real);
    const forged = `${header}.${b64({ ...payloadOf(real), access: [{ type: 'repository', name: WEB, actions: ['pull', 'push'] }] })}.${sig}`;
    await expectRefused(await putManifest(berth.url, bearer(forged), WEB, 'forged', web.body));
    expect((await send(berth.url, { path: `/v2/${WEB}/manifests/forged`, auth: admin.auth })).status).toBe(404);
  });
});

describe('key rotation', () => {
  it('POST /api/v2/auth/keys/rotate: tokens issued before still work; new tokens carry the new kid', async () => {
    const getToken = async () => {
      const res = await send(berth.url, { path: `/token?service=berth&scope=repository:${WEB}:pull`, auth: basic('ro', passwordOf('ro')) });
      return ((await res.json()) as { token: string }).token;
    };
    const before = await getToken(); // not used until after the rotation, so no verification is cached
    const oldKid = decodeProtectedHeader(before).kid!;
    expect(oldKid).toBe(server.kid);

    const rotated = await admin.call('POST', '/auth/keys/rotate');
    expect(rotated.status).toBe(201);
    const newKid: string = rotated.body.kid;
    expect(newKid).not.toBe(oldKid);
    const keys = (await admin.ok('GET', '/auth/keys')).keys as { kid: string; retired_at: string | null }[];
    expect(keys.find((k) => k.kid === newKid)?.retired_at).toBeNull();
    expect(keys.find((k) => k.kid === oldKid)?.retired_at).toEqual(expect.any(String));

    expect((await pull(before)).status).toBe(200);
    const after = await getToken();
    expect(decodeProtectedHeader(after).kid).toBe(newKid);
    expect((await pull(after)).status).toBe(200);

    // The new key is stored like the first, in the metadata store every node shares (no key files any more).
    expect((await signingKey()).kid).toBe(newKid);
    expect(await signingKeyRows()).toHaveLength(1);
    expect(existsSync(join(berth.dataDir, 'keys'))).toBe(false);
    // A token the test mints with the retired key still verifies while tokens it signed may live.
    expect((await pull(await mint())).status).toBe(200);
  });
});
