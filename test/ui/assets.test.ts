/**
 * How Berth serves the built control panel (web/dist) beside /v2/ and /api/v2:
 * index.html for every non-API path, never cached without revalidation; hashed
 * files under /assets/ cached for a year as immutable and sent compressed when
 * the client accepts it, byte for byte the built files; a missing asset is a
 * 404, not index.html; and the JavaScript of the first load stays under its
 * budget of 300 KB gzip, computed from the files on disk and checked against
 * what Chromium actually fetches.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { request, type IncomingHttpHeaders } from 'node:http';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { brotliDecompressSync, gunzipSync, gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_VIEWPORT, startUiEnv, watchPageErrors, type UiEnv } from './support/index.js';

const ROOT = resolve(fileURLToPath(new URL('../..', import.meta.url)));
const DIST = join(ROOT, 'web', 'dist');
/** The first load's JavaScript, gzip-compressed: under 300 KB. */
const BUDGET_BYTES = 300_000;
const IMMUTABLE = ['public', 'max-age=31536000', 'immutable'];

let env: UiEnv;
let indexHtml: string;

interface RawAnswer {
  status: number;
  headers: IncomingHttpHeaders;
  /** The body as sent (still compressed when content-encoding says so). */
  raw: Buffer;
  /** The body decoded from its content-encoding. */
  body: Buffer;
}

/** A GET (or HEAD) with exactly these headers (Node adds no Accept-Encoding of its own), body not decoded. */
function get(path: string, headers: Record<string, string> = {}, method = 'GET'): Promise<RawAnswer> {
  const url = new URL(env.baseUrl);
  return new Promise((resolvePromise, reject) => {
    const req = request({ host: url.hostname, port: url.port, path, method, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const raw = Buffer.concat(chunks);
        const encoding = res.headers['content-encoding'];
        let body = raw;
        if (encoding === 'br') body = brotliDecompressSync(raw);
        else if (encoding === 'gzip') body = gunzipSync(raw);
        else if (encoding && encoding !== 'identity') return reject(new Error(`${path}: unexpected content-encoding ${encoding}`));
        resolvePromise({ status: res.statusCode ?? 0, headers: res.headers, raw, body });
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

const directives = (value: string | undefined) => (value ?? '').split(',').map((d) => d.trim().toLowerCase()).filter(Boolean);

/** `src` of every <script> and `href` of every <link rel="modulepreload"> in index.html. */
function entryScripts(html: string): string[] {
  const found: string[] = [];
  for (const tag of html.match(/<script\b[^>]*>/gi) ?? []) {
    const src = /\bsrc\s*=\s*["']([^"']+)["']/i.exec(tag)?.[1];
    if (src) found.push(src);
  }
  for (const tag of html.match(/<link\b[^>]*>/gi) ?? []) {
    if (!/\brel\s*=\s*["']?modulepreload\b/i.test(tag)) continue;
    const href = /\bhref\s*=\s*["']([^"']+)["']/i.exec(tag)?.[1];
    if (href) found.push(href);
  }
  return found;
}

/** Every stylesheet <link> in index.html. */
function stylesheets(html: string): string[] {
  return (html.match(/<link\b[^>]*>/gi) ?? [])
    .filter((tag) => /\brel\s*=\s*["']?stylesheet\b/i.test(tag))
    .map((tag) => /\bhref\s*=\s*["']([^"']+)["']/i.exec(tag)?.[1])
    .filter((h): h is string => !!h);
}

/** A URL path of the panel (`/assets/x.js`) as a file under web/dist. */
function distFile(urlPath: string): string {
  const path = new URL(urlPath, 'http://panel/').pathname;
  const file = resolve(DIST, `.${decodeURIComponent(path)}`);
  if (!file.startsWith(DIST)) throw new Error(`${urlPath} is outside web/dist`);
  return file;
}

/**
 * The scripts of index.html and, transitively, the modules they import
 * statically (`import … from "./x.js"`, `import "./x.js"`, `export … from`):
 * all of it is fetched before the panel runs. Dynamic `import()`s are not.
 */
function firstLoadScripts(html: string): string[] {
  const seen = new Set<string>();
  const queue = entryScripts(html).map((s) => new URL(s, 'http://panel/').pathname);
  while (queue.length > 0) {
    const path = queue.shift()!;
    if (seen.has(path)) continue;
    seen.add(path);
    const source = readFileSync(distFile(path), 'utf8');
    for (const m of source.matchAll(/(?:\bfrom\s*|\bimport\s*)["']([^"'\s]+\.m?js)["']/g)) {
      queue.push(new URL(m[1]!, `http://panel${path}`).pathname);
    }
  }
  return [...seen];
}

const gzipSize = (data: Buffer) => gzipSync(data, { level: 9 }).length;
const kb = (bytes: number) => `${(bytes / 1000).toFixed(1)} KB (${(bytes / 1024).toFixed(1)} KiB)`;

beforeAll(async () => {
  if (!existsSync(join(DIST, 'index.html'))) throw new Error(`${DIST}/index.html is missing: build the panel first (npm run build)`);
  indexHtml = readFileSync(join(DIST, 'index.html'), 'utf8');
  env = await startUiEnv();
});

afterAll(async () => {
  await env?.close();
});

describe('index.html', () => {
  it('is what / and every other non-API path answer, with cache-control no-cache', async () => {
    const scripts = entryScripts(indexHtml);
    expect(scripts.length, 'index.html names no script').toBeGreaterThan(0);
    const pages = [
      '/',
      '/sign-in',
      '/registries/acme',
      '/registries/acme/repositories/tools%2Fdebian',
      '/registries/acme/repositories/tools%2Fdebian/manifests/sha256:0a23a419de58d2a2fdc72115e421e13d2b3e80ec75cca0cf7d4fbf6fac355c1a',
      '/tokens?page=2',
      '/some/unknown/page',
    ];
    for (const path of pages) {
      for (const acceptEncoding of [undefined, 'br, gzip']) {
        const res = await get(path, acceptEncoding ? { 'accept-encoding': acceptEncoding } : {});
        const what = `GET ${path} (accept-encoding: ${acceptEncoding ?? 'none'})`;
        expect(res.status, what).toBe(200);
        expect(res.headers['content-type'], what).toMatch(/^text\/html\b/);
        expect(directives(res.headers['cache-control']), `${what}: cache-control ${res.headers['cache-control']}`).toContain('no-cache');
        expect(directives(res.headers['cache-control']), what).not.toContain('immutable');
        const html = res.body.toString('utf8');
        for (const src of [...scripts, ...stylesheets(indexHtml)]) expect(html, `${what} does not reference ${src}`).toContain(src);
        expect(html).toMatch(/<div id="root">/);
      }
    }
  });

  it('is the answer to a page path with a dot in it (a repository named web.frontend): a page path is not a file name', async () => {
    // Repository names may hold dots (OCI allows `web.frontend`, `api.v2`); their pages must load when opened directly.
    for (const path of ['/registries/acme/repositories/web.frontend', '/registries/acme/repositories/tools%2Fapi.v2']) {
      const res = await get(path, { accept: 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8' });
      expect(res.status, `GET ${path}`).toBe(200);
      expect(res.headers['content-type'], `GET ${path}`).toMatch(/^text\/html\b/);
      expect(res.body.toString('utf8'), `GET ${path}`).toMatch(/<div id="root">/);
    }
  });

  it('is never the answer to an API or registry path', async () => {
    const apiMissing = await get('/api/v2/no-such-endpoint');
    expect(apiMissing.status).toBe(404);
    expect(apiMissing.headers['content-type']).toMatch(/^application\/json\b/);
    const session = await get('/api/v2/session');
    expect(session.status).toBe(401);
    expect(session.headers['content-type']).toMatch(/^application\/json\b/);
    const v2 = await get('/v2/no/such/repo/manifests/latest');
    expect(v2.status).toBe(401);
    expect(v2.headers['content-type'] ?? '').not.toMatch(/html/);
    const openapi = await get('/api/openapi.json');
    expect(openapi.status).toBe(200);
    expect(openapi.headers['content-type']).toMatch(/^application\/json\b/);
  });
});

describe('hashed assets under /assets/', () => {
  const builtAssets = () =>
    readdirSync(join(DIST, 'assets'))
      .filter((f) => !/\.(br|gz)$/.test(f) && statSync(join(DIST, 'assets', f)).isFile())
      .map((f) => `/assets/${f}`);

  it('are cached for a year as immutable and sent compressed, byte for byte the built files', async () => {
    const assets = builtAssets();
    expect(assets.length).toBeGreaterThan(0);
    for (const path of [...entryScripts(indexHtml), ...stylesheets(indexHtml)]) expect(assets, `index.html names ${path}, which is not a hashed asset`).toContain(path);
    const report: string[] = [];
    for (const path of assets) {
      expect(path, 'asset names carry a content hash').toMatch(/[-.][A-Za-z0-9_-]{8,}\.[a-z0-9]+$/);
      const onDisk = readFileSync(distFile(path));
      const compressible = /\.(js|mjs|css|svg|json|html|txt)$/.test(path) && onDisk.length >= 1024;

      const plain = await get(path);
      expect(plain.status, `GET ${path}`).toBe(200);
      expect(plain.headers['content-encoding'] ?? 'identity', `GET ${path} without accept-encoding`).toBe('identity');
      expect(plain.raw.equals(onDisk), `GET ${path}: the body differs from web/dist${path}`).toBe(true);
      expect(directives(plain.headers['cache-control']), `GET ${path}: cache-control ${plain.headers['cache-control']}`).toEqual(expect.arrayContaining(IMMUTABLE));
      if (path.endsWith('.js')) expect(plain.headers['content-type'], path).toMatch(/^(text|application)\/javascript\b/);
      if (path.endsWith('.css')) expect(plain.headers['content-type'], path).toMatch(/^text\/css\b/);

      for (const accept of ['br, gzip', 'gzip, deflate', 'gzip']) {
        const res = await get(path, { 'accept-encoding': accept });
        const what = `GET ${path} (accept-encoding: ${accept})`;
        expect(res.status, what).toBe(200);
        expect(directives(res.headers['cache-control']), `${what}: cache-control ${res.headers['cache-control']}`).toEqual(expect.arrayContaining(IMMUTABLE));
        expect(res.body.equals(onDisk), `${what}: the decoded body differs from web/dist${path}`).toBe(true);
        if (!compressible) continue;
        const allowed = accept.includes('br') ? ['br', 'gzip'] : ['gzip'];
        expect(allowed, `${what}: content-encoding ${res.headers['content-encoding']}`).toContain(res.headers['content-encoding']);
        expect(res.raw.length, `${what}: compressed body is not smaller`).toBeLessThan(onDisk.length);
        // A shared cache must not give a compressed copy to a client that did not ask for it.
        expect(directives(res.headers.vary), `${what}: vary ${res.headers.vary}`).toContain('accept-encoding');
        if (accept === 'br, gzip') report.push(`${path}: ${onDisk.length} B, sent ${res.raw.length} B as ${res.headers['content-encoding']}`);
      }
    }
    console.log(`assets served:\n  ${report.join('\n  ')}`);
  });

  it('answers 404, not index.html, for a file that does not exist', async () => {
    for (const path of ['/assets/does-not-exist.js', '/assets/does-not-exist.css', '/assets/nested/missing.js']) {
      const res = await get(path, { 'accept-encoding': 'br, gzip' });
      expect(res.status, `GET ${path}`).toBe(404);
      expect(res.headers['content-type'] ?? '', `GET ${path}`).not.toMatch(/text\/html/);
      expect(res.body.toString('utf8'), `GET ${path}`).not.toContain('<div id="root">');
      expect(directives(res.headers['cache-control']), `GET ${path} must not be cached as immutable`).not.toContain('immutable');
    }
  });

  it('never serves a file from outside web/dist', async () => {
    for (const path of ['/assets/../../package.json', '/assets/%2e%2e/%2e%2e/package.json', '/assets/..%2f..%2fpackage.json', '/..%2fpackage.json']) {
      const res = await get(path);
      const text = res.body.toString('utf8');
      expect(text, `GET ${path} served the project's package.json`).not.toContain('"devDependencies"');
      expect(res.status, `GET ${path}`).not.toBe(500);
    }
  });
});

describe('the first load', () => {
  it(`keeps the JavaScript of index.html (scripts, modulepreloads and their static imports) under ${BUDGET_BYTES / 1000} KB gzip`, () => {
    const scripts = firstLoadScripts(indexHtml);
    const sizes = scripts.map((path) => {
      const data = readFileSync(distFile(path));
      return { path, raw: data.length, gzip: gzipSize(data) };
    });
    const total = sizes.reduce((n, s) => n + s.gzip, 0);
    console.log(
      `first-load JavaScript: ${kb(total)} gzip of ${kb(BUDGET_BYTES)} allowed\n` +
        sizes.map((s) => `  ${s.path}: ${kb(s.raw)} raw, ${kb(s.gzip)} gzip`).join('\n'),
    );
    expect(scripts.length).toBeGreaterThan(0);
    expect(total, `first-load JavaScript is ${kb(total)} gzip, over the ${kb(BUDGET_BYTES)} budget`).toBeLessThan(BUDGET_BYTES);
  });

  it('in Chromium fetches only built assets, all of them successfully, within the same budget', async () => {
    const context = await env.browser.newContext({ viewport: DEFAULT_VIEWPORT });
    try {
      const page = await context.newPage();
      const errors = watchPageErrors(page);
      const scripts = new Map<string, { status: number; encoding?: string; cacheControl?: string }>();
      const failed: string[] = [];
      page.on('response', (res) => {
        const url = new URL(res.url());
        if (url.origin !== env.baseUrl) return;
        if (res.request().resourceType() === 'script') {
          const h = res.headers();
          scripts.set(url.pathname, { status: res.status(), encoding: h['content-encoding'], cacheControl: h['cache-control'] });
        }
        if (res.status() >= 400 && !url.pathname.startsWith('/api/')) failed.push(`${res.status()} ${url.pathname}`);
      });
      page.on('requestfailed', (req) => failed.push(`failed ${req.url()}: ${req.failure()?.errorText}`));
      await page.goto(`${env.baseUrl}/`, { waitUntil: 'networkidle' });
      await page.getByRole('button', { name: 'Sign in', exact: true }).waitFor();
      expect(failed, 'requests that failed').toEqual([]);
      errors.assertNoPageErrors();

      expect(scripts.size, 'Chromium fetched no script').toBeGreaterThan(0);
      let total = 0;
      for (const [path, info] of scripts) {
        expect(info.status, path).toBe(200);
        expect(path, 'a script outside /assets/').toMatch(/^\/assets\//);
        expect(directives(info.cacheControl), `${path}: cache-control ${info.cacheControl}`).toEqual(expect.arrayContaining(IMMUTABLE));
        const data = readFileSync(distFile(path));
        if (data.length >= 1024) expect(['br', 'gzip'], `${path}: content-encoding ${info.encoding} to Chromium`).toContain(info.encoding);
        total += gzipSize(data);
      }
      console.log(`JavaScript Chromium fetched for the sign-in page: ${[...scripts.keys()].join(', ')}: ${kb(total)} gzip`);
      expect(total, `Chromium fetched ${kb(total)} gzip of JavaScript on first load, over the ${kb(BUDGET_BYTES)} budget`).toBeLessThan(BUDGET_BYTES);
    } finally {
      await context.close();
    }
  });
});
