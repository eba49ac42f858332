/**
 * Helpers for the access-control acceptance tests: requests with an
 * Authorization header, a small management-API client, and authenticated
 * variants of the conformance suite's push helpers.
 */
import { randomBytes } from 'node:crypto';
import { expect } from 'vitest';
import { MT, descriptorOf, imageManifest, sha256, type Bytes } from '../conformance/helpers.js';

export { stopAndClean } from '../conformance/helpers.js';

export const ADMIN_PASSWORD = 'admin-password-1';
/** Every test user's password (12+ characters, unique per user). */
export const passwordOf = (user: string): string => `pw-${user}-0123456789`;
export const rand = (): string => randomBytes(4).toString('hex');

export const basic = (user: string, secret: string): string => `Basic ${Buffer.from(`${user}:${secret}`).toString('base64')}`;
export const bearer = (token: string): string => `Bearer ${token}`;

export interface Req {
  method?: string;
  path: string;
  /** The Authorization header; none for an anonymous request. */
  auth?: string;
  /** Bytes or a string are sent as is; anything else as JSON. */
  body?: Bytes | string | object;
  headers?: Record<string, string>;
}

export function send(base: string, r: Req): Promise<Response> {
  const headers: Record<string, string> = { ...r.headers };
  if (r.auth) headers.authorization = r.auth;
  let body: Bytes | string | undefined;
  if (r.body === undefined || typeof r.body === 'string' || Buffer.isBuffer(r.body)) body = r.body as Bytes | string | undefined;
  else {
    body = JSON.stringify(r.body);
    headers['content-type'] ??= 'application/json';
  }
  return fetch(base + r.path, { method: r.method ?? 'GET', headers, body });
}

export interface ApiAnswer {
  status: number;
  headers: Headers;
  body: any;
}

/** The management API (/api/v2) as one caller. */
export class Api {
  constructor(
    readonly base: string,
    readonly auth?: string,
  ) {}

  as(auth: string | undefined): Api {
    return new Api(this.base, auth);
  }

  async call(method: string, path: string, body?: object): Promise<ApiAnswer> {
    const res = await send(this.base, { method, path: `/api/v2${path}`, auth: this.auth, body });
    const text = await res.text();
    const json = (res.headers.get('content-type') ?? '').startsWith('application/json');
    return { status: res.status, headers: res.headers, body: json && text ? JSON.parse(text) : text };
  }

  /** Asserts a 2xx answer and returns its body. */
  async ok(method: string, path: string, body?: object): Promise<any> {
    const r = await this.call(method, path, body);
    expect(r.status, `${method} /api/v2${path}: ${JSON.stringify(r.body)}`).toBeGreaterThanOrEqual(200);
    expect(r.status, `${method} /api/v2${path}: ${JSON.stringify(r.body)}`).toBeLessThan(300);
    return r.body;
  }

  createUser(username: string, extra: { can_create_registries?: boolean; server_admin?: boolean } = {}) {
    return this.ok('POST', '/users', { username, password: passwordOf(username), ...extra });
  }

  createRegistry(name: string, isPublic = false) {
    return this.ok('POST', '/registries', { name, public: isPublic });
  }

  grant(registry: string, subjectKind: 'user' | 'team' | 'robot', subject: string, role: string, pattern: string | null = null) {
    return this.ok('POST', `/registries/${registry}/grants`, { subject_kind: subjectKind, subject, role, repository_pattern: pattern });
  }

  /** Creates a robot; returns its login name and secret. */
  async robot(registry: string, name: string, role: string): Promise<{ username: string; secret: string }> {
    const body = await this.ok('POST', `/registries/${registry}/robots`, { name, role });
    return { username: body.username, secret: body.secret };
  }

  /** A personal access token of the caller; returns its id, secret and view. */
  async token(name: string, options: { scopes?: object[]; expires_in_seconds?: number } = {}): Promise<{ id: string; secret: string; expiresAt: string | null }> {
    const body = await this.ok('POST', '/tokens', { name, ...options });
    return { id: body.token.id, secret: body.secret, expiresAt: body.token.expires_at };
  }
}

/** Monolithic blob push (POST ?digest=) → 201. */
export async function pushBlob(base: string, auth: string, repo: string, data: Bytes): Promise<string> {
  const digest = sha256(data);
  const res = await send(base, { method: 'POST', path: `/v2/${repo}/blobs/uploads/?digest=${digest}`, auth, body: data, headers: { 'content-type': 'application/octet-stream' } });
  expect(res.status, `push blob to ${repo}: ${await res.text()}`).toBe(201);
  return digest;
}

export interface Image {
  repo: string;
  digest: string;
  body: Bytes;
  config: string;
  layer: string;
}

/** Pushes a small unique image (config + one layer + manifest) under `tag` (or by digest). */
export async function pushImage(base: string, auth: string, repo: string, tag?: string): Promise<Image> {
  const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', nonce: rand() }));
  const layer = randomBytes(64);
  await pushBlob(base, auth, repo, config);
  await pushBlob(base, auth, repo, layer);
  const body = Buffer.from(JSON.stringify(imageManifest(descriptorOf(config, MT.ociConfig), [descriptorOf(layer, MT.ociLayer)])));
  const digest = sha256(body);
  const res = await putManifest(base, auth, repo, tag ?? digest, body);
  expect(res.status, `push manifest to ${repo}: ${await res.text()}`).toBe(201);
  return { repo, digest, body, config: sha256(config), layer: sha256(layer) };
}

export function putManifest(base: string, auth: string | undefined, repo: string, reference: string, body: Bytes): Promise<Response> {
  return send(base, { method: 'PUT', path: `/v2/${repo}/manifests/${reference}`, auth, body, headers: { 'content-type': MT.ociManifest } });
}

/** The first OCI error code of a response body (undefined for none, e.g. HEAD). */
export async function errorCode(res: Response): Promise<string | undefined> {
  const text = await res.text();
  try {
    return (JSON.parse(text) as { errors?: { code: string }[] }).errors?.[0]?.code;
  } catch {
    return undefined;
  }
}
