// Credentials for the auth-on Berth: the bootstrap admin's password, HTTP Basic, and a
// registry JWT fetched the way docker does (GET /token with Basic credentials).
import { randomBytes } from 'node:crypto';
import { expect } from './http.js';

export interface Credentials {
  username: string;
  password: string;
}

/** A fresh admin password per run (Berth asks for 12+ characters; this is 32). */
export function newAdminCredentials(): Credentials {
  return { username: 'admin', password: randomBytes(24).toString('base64url') };
}

export function basicAuthorization(c: Credentials): string {
  return `Basic ${Buffer.from(`${c.username}:${c.password}`).toString('base64')}`;
}

/**
 * `GET /token?service=berth&scope=repository:<repo>:pull` with Basic credentials, as
 * docker does after a 401 from /v2/. Tokens live 300 s by default, so the bench fetches
 * one per round, just before the load, instead of stretching the server's TTL.
 */
export async function registryToken(port: number, c: Credentials, repo: string, service = 'berth'): Promise<string> {
  const query = new URLSearchParams({ service, scope: `repository:${repo}:pull` });
  const res = await expect(200, port, 'GET', `/token?${query}`, { headers: { authorization: basicAuthorization(c) } });
  const token = (JSON.parse(res.body.toString()) as { token?: unknown }).token;
  if (typeof token !== 'string' || token === '') throw new Error(`/token answered without a token: ${res.body.toString().slice(0, 200)}`);
  return token;
}
