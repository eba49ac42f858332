/**
 * GET /api/openapi.json: an OpenAPI 3.1 document of the whole management API,
 * made from the zod schemas the handlers validate with. Checked against the
 * routes the server registered and the route calls in the source, against the
 * server's own validation (what the document forbids is answered with 422), and
 * against docs/api-reference.md, which must be what the document renders to.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { renderApiReference } from '../../src/http/api/openapi-markdown.js';
import { Api, basic, send, stopAndClean } from '../auth/helpers.js';
import { startBerth, type BerthProcess } from '../support/berth-process.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const ADMIN_PASSWORD = 'openapi-test-pass';
const METHODS = ['get', 'put', 'post', 'patch', 'delete'] as const;

let berth: BerthProcess;
let admin: Api;
let doc: any;

beforeAll(async () => {
  berth = await startBerth({ adminPassword: ADMIN_PASSWORD });
  admin = new Api(berth.url, basic('admin', ADMIN_PASSWORD));
  const res = await send(berth.url, { path: '/api/openapi.json' }); // no credentials
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toMatch(/^application\/json/);
  doc = await res.json();
});

afterAll(() => stopAndClean(berth));

/** `METHOD /path/{param}` of every operation in the document. */
const documented = (): string[] =>
  Object.entries<any>(doc.paths).flatMap(([path, item]) => METHODS.filter((m) => item[m]).map((m) => `${m.toUpperCase()} ${path}`));

const toOpenApi = (url: string) => url.replace(/:([A-Za-z0-9_]+)/g, '{$1}');

/** The routes the handlers register, read from the source: `api.get('/x', …)` and the like. */
function routesInSource(): string[] {
  const dir = join(ROOT, 'src/http/api');
  return readdirSync(dir)
    .filter((f) => f.endsWith('.ts') && !f.endsWith('.test.ts'))
    .flatMap((f) => [...readFileSync(join(dir, f), 'utf8').matchAll(/\bapi\.(get|put|post|patch|delete)\(\s*'([^']+)'/g)])
    .map((m) => `${m[1]!.toUpperCase()} /api/v2${toOpenApi(m[2]!)}`);
}

const op = (method: (typeof METHODS)[number], path: string) => {
  const found = doc.paths[path]?.[method];
  expect(found, `${method.toUpperCase()} ${path} is documented`).toBeDefined();
  return found;
};
const param = (operation: any, name: string) => operation.parameters?.find((p: any) => p.name === name);

describe('the document', () => {
  it('is OpenAPI 3.1 with bearer and basic security and a shared Error schema', () => {
    expect(doc.openapi).toMatch(/^3\.1\.\d+$/);
    expect(doc.info).toMatchObject({ title: expect.any(String), version: expect.any(String) });
    expect(doc.components.securitySchemes).toMatchObject({ bearer: { type: 'http', scheme: 'bearer' }, basic: { type: 'http', scheme: 'basic' } });
    expect(doc.security).toEqual([{ bearer: [] }, { basic: [] }]);
    expect(doc.components.schemas.Error).toMatchObject({ type: 'object', required: ['id', 'message', 'request_id'] });
    const users = op('post', '/api/v2/users');
    for (const code of ['401', '403', '409', '422']) expect(users.responses[code].content['application/json'].schema).toEqual({ $ref: '#/components/schemas/Error' });
    // The document itself needs no credentials.
    expect(op('get', '/api/openapi.json').security).toEqual([]);
  });

  it('has an operation, with a summary and a tag, for every route the server registered under /api/v2', () => {
    const served: string[] = doc['x-berth-routes'].filter((r: string) => r.split(' ')[1]!.startsWith('/api/v2/'));
    expect(served.length).toBeGreaterThan(40);
    const ops = new Set(documented());
    for (const route of served) {
      const [method, url] = route.split(' ') as [string, string];
      expect(ops, route).toContain(`${method} ${toOpenApi(url)}`);
      const operation = doc.paths[toOpenApi(url)][method.toLowerCase()];
      expect(operation['x-berth-undocumented'], `${route} has its openapi config`).toBeUndefined();
      expect(operation.summary, route).toMatch(/\w/);
      expect(operation.tags?.length, route).toBeGreaterThan(0);
    }
    expect(new Set(served.map((r) => toOpenApi(r)))).toEqual(new Set(documented().filter((o) => o.includes(' /api/v2/'))));
  });

  it('matches the route registrations in src/http/api', () => {
    expect(new Set(documented().filter((o) => o.includes(' /api/v2/')))).toEqual(new Set(routesInSource()));
  });

  it('describes POST /api/v2/users with a body requiring username and password', () => {
    const body = op('post', '/api/v2/users').requestBody;
    expect(body.required).toBe(true);
    const schema = body.content['application/json'].schema;
    expect(schema.type).toBe('object');
    expect(schema.required).toEqual(expect.arrayContaining(['username', 'password']));
    expect(schema.required).not.toContain('server_admin');
    expect(schema.properties.server_admin).toMatchObject({ type: 'boolean', default: false });
    expect(schema.additionalProperties).toBe(false);
  });

  it('describes the repositories listing with page and per_page query parameters', () => {
    const list = op('get', '/api/v2/registries/{registry}/repositoriesV2');
    expect(param(list, 'registry')).toMatchObject({ in: 'path', required: true });
    expect(param(list, 'page')).toMatchObject({ in: 'query', required: false, schema: { type: 'integer', minimum: 1, default: 1 } });
    expect(param(list, 'per_page')).toMatchObject({ in: 'query', required: false, schema: { type: 'integer', minimum: 1, maximum: 200 } });
    expect(param(list, 'page_token')).toMatchObject({ in: 'query', schema: { type: 'string' } });
  });

  it('describes starting garbage collection with its optional body', () => {
    const gc = op('post', '/api/v2/registries/{registry}/garbage-collection');
    expect(gc.tags).toEqual(['Garbage collection']);
    expect(gc.requestBody.required).toBe(false);
    const schema = gc.requestBody.content['application/json'].schema;
    expect(schema.properties.type.enum).toContain('unreferenced blobs only');
    expect(schema.properties.dry_run).toMatchObject({ type: 'boolean', default: false });
    expect(Object.keys(gc.responses)).toEqual(expect.arrayContaining(['201', '409', '422']));
  });

  it('grants nothing: the API still wants credentials', async () => {
    const res = await send(berth.url, { path: '/api/v2/users' });
    expect(res.status).toBe(401);
  });
});

describe('the server validates with the documented schemas', () => {
  it('refuses a POST /api/v2/users body missing each required field, or with a field the schema does not allow: 422', async () => {
    const schema = op('post', '/api/v2/users').requestBody.content['application/json'].schema;
    const valid = { username: 'openapi-user', password: 'a-long-enough-password-1' };
    for (const field of schema.required as string[]) {
      const body: Record<string, unknown> = { ...valid };
      delete body[field];
      const r = await admin.call('POST', '/users', body);
      expect(r.status, `without ${field}`).toBe(422);
      expect(r.body).toMatchObject({ id: 'unprocessable_entity', message: expect.stringContaining(field), request_id: expect.any(String) });
    }
    expect((await admin.call('POST', '/users', { ...valid, not_in_the_schema: true })).status).toBe(422);
    expect((await admin.call('POST', '/users', { ...valid, server_admin: 'yes' })).status).toBe(422);
    // And what the schema allows is accepted.
    expect((await admin.call('POST', '/users', valid)).status).toBe(201);
  });

  it('refuses query parameters outside their documented bounds: 422', async () => {
    await admin.ok('POST', '/registries', { name: 'openapi-reg' });
    const perPage = param(op('get', '/api/v2/registries/{registry}/repositoriesV2'), 'per_page').schema;
    const at = (q: string) => admin.call('GET', `/registries/openapi-reg/repositoriesV2?${q}`);
    expect((await at(`per_page=${perPage.maximum}`)).status).toBe(200);
    expect((await at(`per_page=${perPage.maximum + 1}`)).status).toBe(422);
    expect((await at(`page=${param(op('get', '/api/v2/registries/{registry}/repositoriesV2'), 'page').schema.minimum - 1}`)).status).toBe(422);
  });

  it('refuses a garbage collection type outside the documented enum: 422', async () => {
    const r = await admin.call('POST', '/registries/openapi-reg/garbage-collection', { type: 'everything' });
    expect(r.status).toBe(422);
    expect(r.body.id).toBe('unprocessable_entity');
  });
});

describe('docs/api-reference.md', () => {
  it('is what the served document renders to (run `npm run docs:api` after changing the API)', () => {
    const onDisk = readFileSync(join(ROOT, 'docs/api-reference.md'), 'utf8');
    expect(onDisk).toBe(renderApiReference(doc));
  });

  it('has a section per tag and every operation', () => {
    const onDisk = readFileSync(join(ROOT, 'docs/api-reference.md'), 'utf8');
    for (const tag of doc.tags) expect(onDisk).toContain(`\n## ${tag.name}\n`);
    for (const operation of documented()) expect(onDisk).toContain(`\n### ${operation}\n`);
  });
});
