/**
 * Shared helpers for the conformance suite: a thin client for the OCI
 * Distribution API (v1.1) written from the spec, so the tests read as the
 * protocol does. Raw node:http / node:net helpers cover what fetch cannot send
 * (lying Content-Length, unnormalised paths, aborted bodies, huge headers).
 */
import { createHash, randomBytes } from 'node:crypto';
import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { connect } from 'node:net';
import { rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { BerthProcess } from '../support/berth-process.js';
import { expect } from 'vitest';

export const MT = {
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  ociConfig: 'application/vnd.oci.image.config.v1+json',
  ociLayer: 'application/vnd.oci.image.layer.v1.tar+gzip',
  ociEmpty: 'application/vnd.oci.empty.v1+json',
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  dockerConfig: 'application/vnd.docker.container.image.v1+json',
  dockerLayer: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
  dockerSchema1Signed: 'application/vnd.docker.distribution.manifest.v1+prettyjws',
} as const;

/** Node Buffers backed by a plain ArrayBuffer: what fetch accepts as a body. */
export type Bytes = Buffer<ArrayBuffer>;

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  artifactType?: string;
  annotations?: Record<string, string>;
  platform?: Record<string, string>;
}

export const sha256 = (data: Uint8Array | string): string => `sha256:${createHash('sha256').update(data).digest('hex')}`;
export const sha512 = (data: Uint8Array | string): string => `sha512:${createHash('sha512').update(data).digest('hex')}`;
export const randomBlob = (size: number): Bytes => randomBytes(size);
/** A digest nothing hashes to in practice. */
export const randomDigest = (): string => sha256(randomBytes(32));
/** A fresh repository name, so tests sharing one server never see each other's state. */
export const uniqueName = (prefix: string): string => `${prefix}/r${randomBytes(5).toString('hex')}`;

export const descriptorOf = (data: Bytes, mediaType: string, extra: Partial<Descriptor> = {}): Descriptor => ({
  mediaType,
  digest: sha256(data),
  size: data.length,
  ...extra,
});

/** Resolves a (possibly relative) Location against the registry and sets query parameters. */
export function resolveLocation(base: string, location: string | null, query: Record<string, string> = {}): string {
  expect(location, 'Location header').toBeTruthy();
  const url = new URL(location!, base);
  for (const [k, v] of Object.entries(query)) url.searchParams.set(k, v);
  return url.toString();
}

/** Asserts the spec's error shape: {"errors":[{code, message, detail?}]} with the expected status and code. */
export async function expectOciError(res: Response, status: number, code: string | string[]): Promise<void> {
  const text = await res.text();
  expect(res.status, `status (body: ${text.slice(0, 300)})`).toBe(status);
  expect(res.headers.get('content-type') ?? '').toMatch(/^application\/json/);
  const body = JSON.parse(text) as { errors?: { code: unknown; message?: unknown }[] };
  expect(Array.isArray(body.errors) && body.errors.length > 0, 'errors array').toBe(true);
  const codes = body.errors!.map((e) => e.code);
  for (const e of body.errors!) {
    expect(e.code).toMatch(/^[A-Z_]+$/); // "only uppercase alphabetic characters and underscores"
    if (e.message !== undefined) expect(typeof e.message).toBe('string');
  }
  expect(Array.isArray(code) ? code : [code], `error codes ${JSON.stringify(codes)}`).toContain(codes[0]);
}

/** Opens an upload session (POST /v2/<name>/blobs/uploads/) and returns its absolute location. */
export async function startUpload(base: string, name: string): Promise<string> {
  const res = await fetch(`${base}/v2/${name}/blobs/uploads/`, { method: 'POST', headers: { 'content-length': '0' } });
  expect(res.status).toBe(202);
  return resolveLocation(base, res.headers.get('location'));
}

/** Single-request monolithic push: POST /v2/<name>/blobs/uploads/?digest=. */
export async function pushBlob(base: string, name: string, data: Bytes, digest = sha256(data)): Promise<string> {
  const res = await fetch(`${base}/v2/${name}/blobs/uploads/?digest=${digest}`, {
    method: 'POST',
    headers: { 'content-type': 'application/octet-stream' },
    body: data,
  });
  expect(res.status, await res.clone().text()).toBe(201);
  return digest;
}

export async function patchChunk(location: string, data: Bytes, start: number): Promise<Response> {
  return fetch(location, {
    method: 'PATCH',
    headers: { 'content-type': 'application/octet-stream', 'content-range': `${start}-${start + data.length - 1}` },
    body: data,
  });
}

/** POST, then PATCH chunks in order with Content-Range, then PUT ?digest= without a body. */
export async function pushBlobChunked(base: string, name: string, data: Bytes, chunkSize: number, digest = sha256(data)): Promise<string> {
  let location = await startUpload(base, name);
  for (let start = 0; start < data.length; start += chunkSize) {
    const res = await patchChunk(location, data.subarray(start, start + chunkSize), start);
    expect(res.status).toBe(202);
    location = resolveLocation(base, res.headers.get('location'));
  }
  const res = await fetch(resolveLocation(base, location, { digest }), { method: 'PUT' });
  expect(res.status, await res.clone().text()).toBe(201);
  return digest;
}

export async function putManifest(base: string, name: string, reference: string, body: Bytes | string, contentType: string): Promise<Response> {
  return fetch(`${base}/v2/${name}/manifests/${reference}`, { method: 'PUT', headers: { 'content-type': contentType }, body });
}

/** Serialises a manifest object, pushes it and asserts 201; returns its bytes and digest. */
export async function pushManifest(base: string, name: string, reference: string | undefined, manifest: object, mediaType?: string) {
  const body = Buffer.from(JSON.stringify(manifest));
  const digest = sha256(body);
  const type = mediaType ?? (manifest as { mediaType?: string }).mediaType ?? MT.ociManifest;
  const res = await putManifest(base, name, reference ?? digest, body, type);
  expect(res.status, await res.clone().text()).toBe(201);
  return { body, digest, res };
}

export function imageManifest(config: Descriptor, layers: Descriptor[], extra: Record<string, unknown> = {}) {
  return { schemaVersion: 2, mediaType: MT.ociManifest, config, layers, ...extra };
}

export function indexManifest(manifests: Descriptor[], extra: Record<string, unknown> = {}) {
  return { schemaVersion: 2, mediaType: MT.ociIndex, manifests, ...extra };
}

/** Pushes a small OCI image (config + layers) and its manifest; returns everything needed to pull it back. */
export async function pushImage(base: string, name: string, tag?: string, layerSizes: number[] = [1024, 2048]) {
  const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', nonce: randomBytes(8).toString('hex') }));
  const layers = layerSizes.map((n) => randomBlob(n));
  await pushBlob(base, name, config);
  for (const l of layers) await pushBlob(base, name, l);
  const manifest = imageManifest(
    descriptorOf(config, MT.ociConfig),
    layers.map((l) => descriptorOf(l, MT.ociLayer)),
  );
  const pushed = await pushManifest(base, name, tag, manifest);
  return { ...pushed, config, layers, manifest };
}

/** Bytes of a fetch response. */
export const bytes = async (res: Response): Promise<Bytes> => Buffer.from(await res.arrayBuffer());

export interface RawResponse {
  status: number;
  headers: IncomingHttpHeaders;
  body: Bytes;
  json<T = unknown>(): T;
}

/**
 * node:http request with exactly the given path and headers: no URL
 * normalisation, no Content-Length computed for us. `body` may be written in
 * parts; with `abortAfter`, the socket is destroyed after writing that many body bytes.
 */
export function rawRequest(
  url: string,
  method: string,
  path: string,
  options: { headers?: Record<string, string | number>; body?: Bytes; abortAfter?: number } = {},
): Promise<RawResponse> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: hostname, port, method, path, headers: options.headers, agent: false }, (res) => {
      const chunks: Bytes[] = [];
      res.on('data', (c: Bytes) => chunks.push(c));
      res.on('end', () => {
        const body = Buffer.concat(chunks);
        resolve({ status: res.statusCode!, headers: res.headers, body, json: () => JSON.parse(body.toString()) });
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    if (options.abortAfter !== undefined) {
      req.write(options.body!.subarray(0, options.abortAfter), () => setTimeout(() => req.destroy(new Error('aborted by test')), 50));
      return;
    }
    req.end(options.body);
  });
}

/**
 * Writes raw bytes to a TCP socket and collects everything the server sends
 * until it closes (or `timeoutMs`). After writing, `then` may half-close our side
 * ('end') or drop the connection with a TCP reset ('reset'), as a crashing client would.
 */
export function rawSocket(url: string, data: Bytes | string, timeoutMs = 5000, then?: 'end' | 'reset'): Promise<string> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname);
    const chunks: Bytes[] = [];
    const timer = setTimeout(() => socket.destroy(), timeoutMs);
    socket.on('data', (c: Bytes) => chunks.push(c));
    // A server that answers and closes while we are still writing resets the connection: keep what it said.
    socket.on('error', (err) => (chunks.length ? undefined : reject(err)));
    socket.on('close', () => {
      clearTimeout(timer);
      resolve(Buffer.concat(chunks).toString('latin1'));
    });
    socket.write(data, () => {
      if (then === 'end') socket.end();
      if (then === 'reset') socket.resetAndDestroy();
    });
  });
}

/** Asserts a raw error answer has the spec's JSON error shape with `code`. */
export function expectRawOciError(res: RawResponse, status: number, code: string | string[]): void {
  expect(res.status, res.body.toString().slice(0, 300)).toBe(status);
  expect(String(res.headers['content-type'] ?? '')).toMatch(/^application\/json/);
  const body = res.json<{ errors: { code: string }[] }>();
  expect(Array.isArray(code) ? code : [code]).toContain(body.errors[0]!.code);
}

/** GET the upload status and return its Range header (or the status code on failure). */
export async function uploadRange(location: string): Promise<string | null> {
  const res = await fetch(location);
  expect(res.status).toBe(204);
  return res.headers.get('range');
}

/** Every regular file under `dir`, recursively (empty when it does not exist). */
export { listFiles } from '../support/berth-process.js';

/** The registry still answers the version check: used after abuse to prove the server survived. */
export async function expectHealthy(base: string): Promise<void> {
  const res = await fetch(`${base}/v2/`);
  expect(res.status).toBe(200);
}

/** afterAll: stop the server (SIGTERM) and remove the temporary directory startBerth made for its data. */
export async function stopAndClean(berth: BerthProcess | undefined): Promise<void> {
  if (!berth) return;
  await berth.stop();
  rmSync(dirname(berth.dataDir), { recursive: true, force: true });
}
