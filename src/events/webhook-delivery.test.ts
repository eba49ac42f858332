import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backoffMs, classify, nextStep, parseRetryAfter, postOnce, type HttpAttempt, type RetryPolicy } from './webhook-delivery.js';

const allow = { allowPrivateTargets: true };
const attempt = (status: number | null, extra: Partial<HttpAttempt> = {}): HttpAttempt => ({ status, latencyMs: 1, excerpt: null, ...extra });

describe('classify', () => {
  const now = Date.parse('2026-01-01T00:00:00Z');
  it('delivers on 2xx', () => {
    for (const s of [200, 201, 202, 204]) expect(classify(attempt(s), now)).toEqual({ kind: 'delivered' });
  });
  it('retries 5xx, 408, 429, timeouts and connection errors', () => {
    for (const s of [500, 502, 503, 504, 408, 429]) expect(classify(attempt(s), now).kind).toBe('retry');
    expect(classify(attempt(null, { error: 'connect ECONNREFUSED' }), now)).toEqual({ kind: 'retry', why: 'connect ECONNREFUSED' });
  });
  it('does not retry other 4xx, redirects, or refused targets', () => {
    for (const s of [400, 401, 403, 404, 410, 422]) expect(classify(attempt(s), now).kind).toBe('failed');
    expect(classify(attempt(301), now)).toMatchObject({ kind: 'failed', why: /redirects are not followed/ });
    expect(classify(attempt(307), now).kind).toBe('failed');
    expect(classify(attempt(null, { refused: true, error: 'loopback' }), now).kind).toBe('failed');
  });
  it('honours Retry-After, in seconds or as a date', () => {
    expect(classify(attempt(429, { retryAfter: '7' }), now)).toEqual({ kind: 'retry', why: 'answered 429', retryAfterMs: 7000 });
    expect(classify(attempt(503, { retryAfter: new Date(now + 30_000).toUTCString() }), now)).toMatchObject({ retryAfterMs: 30_000 });
    expect(parseRetryAfter('nonsense', now)).toBeUndefined();
    expect(parseRetryAfter(new Date(now - 5000).toUTCString(), now)).toBe(0);
  });
});

describe('backoff', () => {
  const policy: RetryPolicy = { baseMs: 10_000, maxMs: 3_600_000, forMs: 86_400_000 };
  it('doubles from the base up to the maximum, with jitter between half and all of it', () => {
    expect(backoffMs(1, policy, () => 0)).toBe(5_000);
    expect(backoffMs(1, policy, () => 1)).toBe(10_000);
    expect(backoffMs(4, policy, () => 1)).toBe(80_000);
    expect(backoffMs(30, policy, () => 0.5)).toBe(2_700_000);
    for (let i = 0; i < 100; i++) {
      const d = backoffMs(3, policy);
      expect(d).toBeGreaterThanOrEqual(20_000);
      expect(d).toBeLessThanOrEqual(40_000);
    }
  });

  it('gives up once the next attempt would fall past the retry window (24 h by default)', () => {
    const first = 0;
    const late = policy.forMs - 1000;
    expect(nextStep({ kind: 'retry', why: 'answered 503' }, 3, first, 60_000, policy, () => 0)).toEqual({ outcome: { kind: 'retry', at: 80_000 }, error: 'answered 503' });
    expect(nextStep({ kind: 'retry', why: 'answered 503' }, 30, first, late, policy)).toMatchObject({ outcome: { kind: 'failed' }, error: /gave up after 30 attempt/ });
    expect(nextStep({ kind: 'retry', why: 'answered 429', retryAfterMs: 2 * policy.forMs }, 1, first, 1000, policy)).toMatchObject({ outcome: { kind: 'failed' } });
    expect(nextStep({ kind: 'failed', why: 'answered 404' }, 1, first, 1000, policy)).toEqual({ outcome: { kind: 'failed' }, error: 'answered 404; not retried' });
    expect(nextStep({ kind: 'delivered' }, 1, first, 1000, policy)).toEqual({ outcome: { kind: 'delivered' }, error: null });
  });
});

describe('postOnce', () => {
  let server: Server;
  let base: string;
  const seen: { path: string; headers: IncomingMessage['headers']; body: string }[] = [];
  const routes: Record<string, (req: IncomingMessage, res: ServerResponse) => void> = {
    '/ok': (_req, res) => res.end('thanks'),
    '/big': (_req, res) => res.end('x'.repeat(5000)),
    '/redirect': (_req, res) => res.writeHead(302, { location: '/ok' }).end(),
    '/busy': (_req, res) => res.writeHead(429, { 'retry-after': '3' }).end('slow down'),
    '/slow': () => undefined, // never answers
  };

  beforeAll(async () => {
    server = createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        seen.push({ path: req.url!, headers: req.headers, body });
        routes[req.url!]!(req, res);
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => {
    server.closeAllConnections();
    return new Promise<void>((resolve) => server.close(() => resolve()));
  });

  it('POSTs the body with the headers given, and keeps the status, latency and answer', async () => {
    const result = await postOnce(`${base}/ok`, Buffer.from('{"a":1}'), { 'content-type': 'application/json', 'x-test': 'yes' }, { timeoutMs: 5000, policy: allow });
    expect(result).toMatchObject({ status: 200, excerpt: 'thanks' });
    expect(result.latencyMs).toBeGreaterThanOrEqual(0);
    const request = seen.find((s) => s.path === '/ok')!;
    expect(request.body).toBe('{"a":1}');
    expect(request.headers).toMatchObject({ 'content-type': 'application/json', 'x-test': 'yes', 'content-length': '7' });
  });

  it('keeps only the first KiB of the answer', async () => {
    const result = await postOnce(`${base}/big`, Buffer.from('{}'), {}, { timeoutMs: 5000, policy: allow });
    expect(result.status).toBe(200);
    expect(result.excerpt).toBe('x'.repeat(1024));
  });

  it('does not follow redirects', async () => {
    const before = seen.filter((s) => s.path === '/ok').length;
    const result = await postOnce(`${base}/redirect`, Buffer.from('{}'), {}, { timeoutMs: 5000, policy: allow });
    expect(result.status).toBe(302);
    expect(classify(result, Date.now()).kind).toBe('failed');
    expect(seen.filter((s) => s.path === '/ok').length).toBe(before);
  });

  it('reports Retry-After', async () => {
    const result = await postOnce(`${base}/busy`, Buffer.from('{}'), {}, { timeoutMs: 5000, policy: allow });
    expect(result).toMatchObject({ status: 429, retryAfter: '3', excerpt: 'slow down' });
  });

  it('gives up on a receiver that does not answer in time', async () => {
    const started = Date.now();
    const result = await postOnce(`${base}/slow`, Buffer.from('{}'), {}, { timeoutMs: 300, policy: allow });
    expect(result).toMatchObject({ status: null, error: expect.stringMatching(/no answer within 300 ms/) });
    expect(Date.now() - started).toBeLessThan(3000);
    expect(classify(result, Date.now()).kind).toBe('retry');
  });

  it('reports a refused connection as retryable', async () => {
    const probe = createServer();
    await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
    const port = (probe.address() as AddressInfo).port;
    await new Promise<void>((resolve) => probe.close(() => resolve()));
    const result = await postOnce(`http://127.0.0.1:${port}/`, Buffer.from('{}'), {}, { timeoutMs: 2000, policy: allow });
    expect(result).toMatchObject({ status: null, error: expect.stringMatching(/ECONNREFUSED/) });
    expect(classify(result, Date.now()).kind).toBe('retry');
  });

  it('stops when its signal aborts (the worker shuts down)', async () => {
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 100);
    const result = await postOnce(`${base}/slow`, Buffer.from('{}'), {}, { timeoutMs: 10_000, policy: allow, signal: controller.signal });
    expect(result).toMatchObject({ status: null, error: /interrupted/ });
  });
});
