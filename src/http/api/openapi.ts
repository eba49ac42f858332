import { readFileSync } from 'node:fs';
import type { FastifyInstance, RouteOptions } from 'fastify';
import { z, type ZodTypeAny } from 'zod';
import { zodToJsonSchema } from 'zod-to-json-schema';

/**
 * What a management API route documents about itself. The zod schemas here are the
 * very objects the handler parses the request with, so the OpenAPI document cannot
 * drift from what the server accepts.
 */
export interface OpenApiSpec {
  summary: string;
  description?: string;
  /** Tag names; see TAGS. */
  tags: TagName[];
  /** The JSON request body; the handler parses `req.body` with this schema. */
  body?: ZodTypeAny;
  /** The body may be left out (the handler parses `req.body ?? {}`). */
  bodyOptional?: boolean;
  /** The query string; the handler parses `req.query` with this schema. */
  query?: ZodTypeAny;
  /** Path parameters, when they need more than "a string" (default: from the URL, described by PARAMS). */
  params?: ZodTypeAny;
  /** Status code → description. Codes of 400 and up are answered with the Error body. */
  responses: Record<string, string>;
  /** Media type of the success response; default application/json. */
  produces?: string;
  /** No credentials needed. */
  public?: boolean;
}

declare module 'fastify' {
  interface FastifyContextConfig {
    openapi?: OpenApiSpec;
  }
}

/** Route options carrying the route's OpenAPI description: e.g. `api.post(url, doc({...}), handler)`. */
export const doc = (openapi: OpenApiSpec) => ({ config: { openapi } });

export const TAGS = {
  Account: 'The signed-in caller.',
  Users: 'User accounts, managed by server administrators.',
  Teams: 'Teams and their members, managed by server administrators.',
  Registries: "DigitalOcean's registries API: list, create, get, update, delete, validate-name.",
  Grants: 'Who may do what in a registry: roles for users, teams and robots, optionally limited to a repository glob.',
  Subscriptions: 'Subscription tiers and regions, a registry\'s tier, and its usage and estimated cost.',
  Repositories: 'Repositories, tags and manifests of a registry. `{repo}` is the path inside the registry with `/` sent as `%2F`.',
  'Garbage collection': 'Online garbage collection runs of a registry, for its admins.',
  Tokens: 'Personal access tokens. Secrets are shown once.',
  Robots: 'Robot accounts of a registry and their secrets. Secrets are shown once.',
  'Docker credentials': 'Docker config.json files holding a new registry-scoped token.',
  Audit: 'The audit log, newest first.',
  Vulnerabilities: 'Vulnerability scans of manifests, their SBOMs, and registries\' pull policies on vulnerable images.',
  'Vulnerability database': 'The OSV vulnerability records scans are matched against.',
  'Immutable tags': 'Rules that make tags immutable: such a tag never moves and is never deleted, nor the manifest it names.',
  Retention: "A registry's retention policies (ECR lifecycle rules plus keep rules), their dry runs, and runs that delete what they expire, for its admins.",
  Webhooks: "A registry's webhooks: signed HTTP deliveries of its events (CloudEvents 1.0), with a delivery log. Secrets are shown once.",
  'Signing keys': 'The keys that sign registry tokens.',
  Meta: 'This document.',
} as const;
export type TagName = keyof typeof TAGS;

/** Descriptions of path parameters, by name. */
const PARAMS: Record<string, string> = {
  registry: 'The registry name.',
  repo: 'The repository path inside the registry, with `/` sent as `%2F`.',
  tag: 'A tag.',
  digest: 'A manifest digest (algorithm:hex).',
  uuid: 'A garbage collection run id.',
  username: 'A username.',
  team: 'A team name.',
  name: 'A robot name.',
  id: 'The id.',
  delivery: 'A webhook delivery id.',
  run: 'A retention run id.',
};

/** DigitalOcean's error body, as every error response carries it. */
export const errorSchema = z
  .object({
    id: z.string().describe('A machine-readable error id, e.g. not_found, unprocessable_entity, forbidden.'),
    message: z.string().describe('What went wrong, for people.'),
    request_id: z.string().describe('The request id, also in the x-request-id header and the server log.'),
  })
  .strict();

export interface CollectedRoute {
  method: string;
  url: string;
  openapi?: OpenApiSpec;
}

/** An onRoute hook that records every route registered after it, in order. */
export function collectRoutes(into: CollectedRoute[]): (route: RouteOptions) => void {
  return (route) => {
    for (const method of [route.method].flat()) {
      if (method === 'HEAD' && route.config?.openapi === undefined) continue;
      into.push({ method, url: route.url, openapi: route.config?.openapi });
    }
  };
}

type Json = Record<string, unknown>;

/** zod → JSON Schema 2019-09 (what OpenAPI 3.1's 2020-12 dialect reads the same), as the input the server accepts. */
export function jsonSchemaOf(schema: ZodTypeAny): Json {
  const { $schema: _ignored, ...rest } = zodToJsonSchema(schema, {
    target: 'jsonSchema2019-09',
    $refStrategy: 'none',
    effectStrategy: 'input',
    pipeStrategy: 'output',
    // zod's default (strip) accepts unknown keys and drops them: additionalProperties true, not false.
    removeAdditionalStrategy: 'strict',
  }) as Json;
  return rest;
}

const version = (): string => {
  try {
    return (JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
  } catch {
    return '0.0.0';
  }
};

const errorRef = { $ref: '#/components/schemas/Error' };

/** `/registries/:registry/grants/:id` → `/registries/{registry}/grants/{id}` and its parameter names. */
export function openApiPath(url: string): { path: string; names: string[] } {
  const names: string[] = [];
  const path = url.replace(/:([A-Za-z0-9_]+)/g, (_m, name: string) => {
    names.push(name);
    return `{${name}}`;
  });
  return { path, names };
}

function operationId(method: string, path: string): string {
  const words = path
    .replace(/^\/api\/v2\//, '/')
    .split(/[^A-Za-z0-9]+/)
    .filter(Boolean);
  return [method.toLowerCase(), ...words.map((w) => w[0]!.toUpperCase() + w.slice(1))].join('');
}

function objectParameters(schema: ZodTypeAny, where: 'query' | 'path', fallback: Record<string, string> = {}): Json[] {
  const json = jsonSchemaOf(schema);
  const properties = (json.properties ?? {}) as Record<string, Json>;
  const required = new Set((json.required ?? []) as string[]);
  return Object.entries(properties).map(([name, s]) => {
    const { description, ...rest } = s;
    const parameter: Json = { name, in: where, required: where === 'path' || required.has(name), schema: rest };
    const text = (description as string | undefined) ?? fallback[name];
    if (text) parameter.description = text;
    return parameter;
  });
}

function operationOf(route: CollectedRoute): Json {
  const spec = route.openapi;
  const { path, names } = openApiPath(route.url);
  if (!spec) {
    return {
      operationId: operationId(route.method, path),
      summary: '(undocumented)',
      'x-berth-undocumented': true,
      parameters: names.map((name) => ({ name, in: 'path', required: true, schema: { type: 'string' } })),
      responses: { default: { description: 'An error.', content: { 'application/json': { schema: errorRef } } } },
    };
  }
  const op: Json = { operationId: operationId(route.method, path), summary: spec.summary, tags: spec.tags };
  if (spec.description) op.description = spec.description;

  const pathParams = spec.params
    ? objectParameters(spec.params, 'path', PARAMS)
    : names.map((name) => ({ name, in: 'path', required: true, description: PARAMS[name] ?? name, schema: { type: 'string' } }));
  const parameters = [...pathParams, ...(spec.query ? objectParameters(spec.query, 'query') : [])];
  if (parameters.length > 0) op.parameters = parameters;

  if (spec.body) {
    op.requestBody = { required: !spec.bodyOptional, content: { 'application/json': { schema: jsonSchemaOf(spec.body) } } };
  }

  const responses: Record<string, string> = { ...spec.responses };
  if (spec.body) responses['400'] ??= 'The request body is not valid JSON.';
  if (!spec.public) responses['401'] ??= 'No credentials, or credentials that are not valid here.';
  if (spec.body || spec.query) responses['422'] ??= 'The request violates the schema documented here.';
  const out: Record<string, Json> = {};
  for (const code of Object.keys(responses).sort()) {
    const description = responses[code]!;
    const status = Number(code);
    if (status >= 400) out[code] = { description, content: { 'application/json': { schema: errorRef } } };
    else if (status === 204) out[code] = { description };
    else out[code] = { description, content: { [spec.produces ?? 'application/json']: {} } };
  }
  out.default = { description: 'Any other error.', content: { 'application/json': { schema: errorRef } } };
  op.responses = out;
  if (spec.public) op.security = [];
  return op;
}

/** The OpenAPI 3.1 document of the routes collected (registration order is kept). */
export function buildOpenApiDocument(routes: readonly CollectedRoute[]): Json {
  const paths: Record<string, Record<string, Json>> = {};
  for (const route of routes) {
    const { path } = openApiPath(route.url);
    (paths[path] ??= {})[route.method.toLowerCase()] = operationOf(route);
  }
  const used = new Set(routes.flatMap((r) => r.openapi?.tags ?? []));
  return {
    openapi: '3.1.0',
    info: {
      title: 'Berth management API',
      version: version(),
      description:
        'The REST API that manages a Berth registry server: users, teams, registries, grants, tokens, robots, repositories, garbage collection and the audit log. ' +
        "Its registries part follows DigitalOcean's container registry API. Errors carry DigitalOcean's `{id, message, request_id}` body.",
    },
    jsonSchemaDialect: 'https://spec.openapis.org/oas/3.1/dialect/base',
    tags: (Object.keys(TAGS) as TagName[]).filter((t) => used.has(t)).map((name) => ({ name, description: TAGS[name] })),
    security: [{ bearer: [] }, { basic: [] }],
    paths,
    components: {
      securitySchemes: {
        bearer: { type: 'http', scheme: 'bearer', description: 'A personal access token (`Authorization: Bearer <token>`). Registry tokens from /token are not accepted.' },
        basic: { type: 'http', scheme: 'basic', description: 'A username and password, or a robot username and secret.' },
      },
      schemas: { Error: jsonSchemaOf(errorSchema) },
    },
    'x-berth-routes': routes.map((r) => `${r.method} ${r.url}`),
  };
}

export const OPENAPI_PATH = '/api/openapi.json';

const documentSpec: OpenApiSpec = {
  summary: 'This OpenAPI 3.1 document of the management API',
  tags: ['Meta'],
  public: true,
  responses: { '200': 'The document.' },
};

/** GET /api/openapi.json: the document of every route collected into `routes` (built once, on first request). */
export function registerOpenApiRoute(app: FastifyInstance, routes: CollectedRoute[]): void {
  let built: Json | undefined;
  app.get(OPENAPI_PATH, doc(documentSpec), async (_req, reply) => {
    built ??= buildOpenApiDocument([...routes, { method: 'GET', url: OPENAPI_PATH, openapi: documentSpec }]);
    reply.header('cache-control', 'no-cache').type('application/json');
    return built;
  });
}
