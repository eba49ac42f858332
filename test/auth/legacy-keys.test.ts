/**
 * Upgrading a server that kept its signing keys in <data>/keys: the keys are
 * imported into the metadata store at start, so tokens it issued before the
 * upgrade stay valid and it goes on signing with the same key.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { SignJWT, decodeProtectedHeader, exportJWK, generateKeyPair, type KeyLike } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startBerth, tempDir, type BerthProcess } from '../support/berth-process.js';
import { ADMIN_PASSWORD, basic, bearer, send, stopAndClean } from './helpers.js';

const KID = 'legacy-key-0001';
let berth: BerthProcess;
let legacyKey: KeyLike;

beforeAll(async () => {
  const dataDir = join(tempDir(), 'data');
  mkdirSync(join(dataDir, 'keys'), { recursive: true, mode: 0o700 });
  const { privateKey } = await generateKeyPair('ES256', { extractable: true });
  legacyKey = privateKey;
  const file = { kid: KID, createdAt: Date.now() - 86_400_000, privateJwk: { ...(await exportJWK(privateKey)), kid: KID, alg: 'ES256' } };
  writeFileSync(join(dataDir, 'keys', `${KID}.jwk.json`), JSON.stringify(file), { mode: 0o600 });
  berth = await startBerth({ dataDir, adminPassword: ADMIN_PASSWORD });
});
afterAll(() => stopAndClean(berth));

describe('signing keys kept in <data>/keys by an older Berth', () => {
  it('a token signed before the upgrade is still accepted', async () => {
    const now = Math.floor(Date.now() / 1000);
    const token = await new SignJWT({ access: [], kind: 'user' })
      .setProtectedHeader({ alg: 'ES256', kid: KID, typ: 'JWT' })
      .setIssuer('berth')
      .setAudience('berth')
      .setSubject('admin')
      .setIssuedAt(now - 10)
      .setNotBefore(now - 11)
      .setExpirationTime(now + 290)
      .sign(legacyKey);
    expect((await send(berth.url, { path: '/v2/', auth: bearer(token) })).status).toBe(200);
  });

  it('the server goes on signing with the imported key', async () => {
    const res = await send(berth.url, { path: '/token?service=berth&scope=registry:catalog:*', auth: basic('admin', ADMIN_PASSWORD) });
    expect(res.status).toBe(200);
    const { token } = (await res.json()) as { token: string };
    expect(decodeProtectedHeader(token).kid).toBe(KID);
    expect((await send(berth.url, { path: '/v2/', auth: bearer(token) })).status).toBe(200);
  });
});
