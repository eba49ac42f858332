/** http.trustedProxies: behind a TLS-terminating load balancer, the token realm must be the client's https URL. */
import { afterAll, describe, expect, it } from 'vitest';
import { startBerth, type BerthProcess } from '../support/berth-process.js';

const started: BerthProcess[] = [];
afterAll(async () => {
  await Promise.all(started.map((b) => b.stop()));
});

async function challengeVia(trusted: string | undefined): Promise<string> {
  const berth = await startBerth({ adminPassword: 'proxy-test-password-1', env: trusted ? { BERTH_HTTP_TRUSTED_PROXIES: trusted } : {} });
  started.push(berth);
  const res = await fetch(`${berth.url}/v2/`, { headers: { 'x-forwarded-proto': 'https', 'x-forwarded-host': 'registry.example.com', 'x-forwarded-for': '203.0.113.9' } });
  expect(res.status).toBe(401);
  return res.headers.get('www-authenticate')!;
}

describe('X-Forwarded-* from load balancers', () => {
  it('are believed from a trusted proxy: the realm is the address the client used', async () => {
    expect(await challengeVia('127.0.0.1')).toContain('realm="https://registry.example.com/token"');
  });

  it('are ignored from anyone else (a client cannot redirect its own token requests)', async () => {
    const challenge = await challengeVia(undefined);
    expect(challenge).toMatch(/realm="http:\/\/127\.0\.0\.1:\d+\/token"/);
  });
});
