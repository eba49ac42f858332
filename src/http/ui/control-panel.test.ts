import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { brotliCompressSync, brotliDecompressSync, gzipSync, gunzipSync } from 'node:zlib';
import Fastify, { type FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ControlPanel } from './control-panel.js';

describe('ControlPanel: serving the built panel', () => {
  let dir: string;
  let app: FastifyInstance;
  const script = 'console.log("panel");'.repeat(100);
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'berth-panel-'));
    mkdirSync(join(dir, 'assets'));
    writeFileSync(join(dir, 'index.html'), '<!doctype html><title>Berth</title><script type="module" src="/assets/index-abc123.js"></script>');
    writeFileSync(join(dir, 'assets/index-abc123.js'), script);
    writeFileSync(join(dir, 'assets/index-abc123.js.br'), brotliCompressSync(script));
    writeFileSync(join(dir, 'assets/index-abc123.js.gz'), gzipSync(script));
    writeFileSync(join(dir, 'favicon.svg'), '<svg xmlns="http://www.w3.org/2000/svg"/>');
    const panel = ControlPanel.load(dir)!;
    app = Fastify();
    app.setNotFoundHandler((req, reply) => {
      if (!panel.serve(req, reply)) reply.code(404).send({ missing: true });
    });
    await app.ready();
  });
  afterAll(async () => {
    await app.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('is undefined where nothing was built', () => {
    expect(ControlPanel.load(join(dir, 'nowhere'))).toBeUndefined();
  });

  it('hashed assets: cached for a year, brotli or gzip as accepted, identity otherwise', async () => {
    const br = await app.inject({ url: '/assets/index-abc123.js', headers: { 'accept-encoding': 'gzip, deflate, br' } });
    expect(br.statusCode).toBe(200);
    expect(br.headers['cache-control']).toBe('public, max-age=31536000, immutable');
    expect(br.headers['content-encoding']).toBe('br');
    expect(br.headers['content-type']).toMatch(/^text\/javascript/);
    expect(br.headers.vary).toBe('accept-encoding');
    expect(brotliDecompressSync(br.rawPayload).toString()).toBe(script);

    const gz = await app.inject({ url: '/assets/index-abc123.js', headers: { 'accept-encoding': 'gzip' } });
    expect(gz.headers['content-encoding']).toBe('gzip');
    expect(gunzipSync(gz.rawPayload).toString()).toBe(script);

    const plain = await app.inject({ url: '/assets/index-abc123.js', headers: { 'accept-encoding': 'identity' } });
    expect(plain.headers['content-encoding']).toBeUndefined();
    expect(plain.body).toBe(script);
    expect(Number(plain.headers['content-length'])).toBe(script.length);
  });

  it('page paths get index.html (no-cache, CSP, no framing); a missing asset or file is a 404', async () => {
    for (const url of ['/', '/registries/acme', '/registries/acme/repositories/tools%2Fdebian?x=1', '/registries/acme/repositories/web.frontend']) {
      const page = await app.inject({ url, headers: { accept: 'text/html' } });
      expect(page.statusCode, url).toBe(200);
      expect(page.body).toContain('<title>Berth</title>');
      expect(page.headers['cache-control']).toBe('no-cache');
      expect(page.headers['content-security-policy']).toContain("frame-ancestors 'none'");
      expect(page.headers['x-frame-options']).toBe('DENY');
    }
    expect((await app.inject({ url: '/assets/index-old999.js' })).statusCode).toBe(404);
    expect((await app.inject({ url: '/robots.txt', headers: { accept: 'text/html' } })).statusCode).toBe(404);
    expect((await app.inject({ url: '/registries', headers: { accept: 'application/json' } })).statusCode).toBe(404);
    expect((await app.inject({ method: 'POST', url: '/' })).statusCode).toBe(404);
    const icon = await app.inject({ url: '/favicon.svg' });
    expect(icon.headers['content-type']).toBe('image/svg+xml');
    expect(icon.headers['cache-control']).toBe('no-cache');
  });

  it('revalidation: the ETag answers 304 without a body', async () => {
    const first = await app.inject({ url: '/assets/index-abc123.js' });
    const again = await app.inject({ url: '/assets/index-abc123.js', headers: { 'if-none-match': String(first.headers.etag) } });
    expect(again.statusCode).toBe(304);
    expect(again.body).toBe('');
  });
});
