#!/usr/bin/env node
// Writes docs/api-reference.md from the management API's OpenAPI document.
// The document comes from the built server modules (run `npm run build` first, or
// `npm run docs:api`): the management API is registered on an in-process fastify
// instance, never listening, and GET /api/openapi.json is injected.
import { writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Fastify from 'fastify';
import { registerManagementApi } from '../dist/http/api/plugin.js';
import { renderApiReference } from '../dist/http/api/openapi-markdown.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const out = process.argv[2] ?? join(root, 'docs/api-reference.md');

// Registering routes touches no services; handlers (never called here) would.
const unused = {};
// As the server's app: no automatic HEAD routes.
const app = Fastify({ logger: false, exposeHeadRoutes: false });
registerManagementApi(app, unused, { store: unused, authenticator: unused, authorizer: unused });
await app.ready();
const res = await app.inject({ method: 'GET', url: '/api/openapi.json' });
await app.close();
if (res.statusCode !== 200) throw new Error(`GET /api/openapi.json answered ${res.statusCode}: ${res.body}`);
writeFileSync(out, renderApiReference(res.json()));
console.log(`wrote ${out}`);
