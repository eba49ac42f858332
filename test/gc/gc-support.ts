/**
 * A small registry client for the GC tests: pushes that behave like real
 * clients (HEAD before upload, optional cross-repository mount), pulls that
 * verify every byte, and the garbage-collection API.
 */
import Sqlite from 'better-sqlite3';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'vitest';
import { ADMIN_PASSWORD, basic } from '../auth/helpers.js';
import { MT } from '../conformance/helpers.js';
import { startBerth, type BerthProcess } from '../support/berth-process.js';

export { ADMIN_PASSWORD };
export const ADMIN = basic('admin', ADMIN_PASSWORD);
export const sha256 = (data: Uint8Array | string): string => `sha256:${createHash('sha256').update(data).digest('hex')}`;
export const rand = (): string => randomBytes(4).toString('hex');

export interface Blob {
  digest: string;
  size: number;
  mediaType: string;
}
export interface Pushed {
  repo: string;
  digest: string;
  size: number;
  /** Every blob the manifest references (config first). */
  blobs: Blob[];
}

export function startGcBerth(env: Record<string, string> = { BERTH_GC_GRACE_PERIOD: '0s' }, dataDir?: string): Promise<BerthProcess> {
  return startBerth({ adminPassword: ADMIN_PASSWORD, env, dataDir });
}

export const blobFile = (berth: BerthProcess, digest: string): string => {
  const hex = digest.slice('sha256:'.length);
  return join(berth.dataDir, 'blobs', 'sha256', hex.slice(0, 2), hex);
};
export const hasFile = (berth: BerthProcess, digest: string): boolean => existsSync(blobFile(berth, digest));

/** A client of one server, signed in as `auth` (Basic works on /v2/ and /api/v2). */
export class Client {
  constructor(
    readonly base: string,
    readonly auth: string = ADMIN,
  ) {}

  req(method: string, path: string, body?: Buffer | string, headers: Record<string, string> = {}): Promise<Response> {
    return fetch(this.base + path, { method, body: body as BodyInit | undefined, headers: { authorization: this.auth, ...headers } });
  }

  async api(method: string, path: string, body?: object): Promise<{ status: number; body: any }> {
    const res = await this.req(method, `/api/v2${path}`, body === undefined ? undefined : JSON.stringify(body), body === undefined ? {} : { 'content-type': 'application/json' });
    const text = await res.text();
    return { status: res.status, body: text && (res.headers.get('content-type') ?? '').includes('json') ? JSON.parse(text) : text };
  }

  async ok(method: string, path: string, body?: object): Promise<any> {
    const r = await this.api(method, path, body);
    expect(r.status, `${method} ${path}: ${JSON.stringify(r.body)}`).toBeLessThan(300);
    return r.body;
  }

  /** Pushes a blob: HEAD first (skip when present), else a mount from `mountFrom` if given, else a monolithic upload. */
  async pushBlob(repo: string, data: Buffer, mediaType: string = MT.ociLayer, mountFrom?: string): Promise<Blob> {
    const digest = sha256(data);
    const blob = { digest, size: data.length, mediaType };
    if ((await this.req('HEAD', `/v2/${repo}/blobs/${digest}`)).status === 200) return blob;
    if (mountFrom) {
      const res = await this.req('POST', `/v2/${repo}/blobs/uploads/?mount=${digest}&from=${mountFrom}`);
      await res.arrayBuffer();
      if (res.status === 201) return blob;
      if (res.status === 202) {
        const location = new URL(res.headers.get('location')!, this.base);
        location.searchParams.set('digest', digest);
        const put = await this.req('PUT', location.pathname + location.search, data, { 'content-type': 'application/octet-stream' });
        await put.arrayBuffer();
        if (put.status !== 201) throw new Error(`PUT upload ${repo} ${digest}: ${put.status}`);
        return blob;
      }
    }
    const res = await this.req('POST', `/v2/${repo}/blobs/uploads/?digest=${digest}`, data, { 'content-type': 'application/octet-stream' });
    const text = await res.text();
    if (res.status !== 201) throw new Error(`push blob ${repo} ${digest}: ${res.status} ${text}`);
    return blob;
  }

  async putManifest(repo: string, reference: string, body: Buffer, mediaType: string): Promise<Response> {
    return this.req('PUT', `/v2/${repo}/manifests/${reference}`, body, { 'content-type': mediaType });
  }

  /** An image: a unique config plus `layers`; tagged `tag`, or pushed by digest when tag is undefined. Throws unless accepted. */
  async pushImage(repo: string, tag: string | undefined, layers: Buffer[], extra: { subject?: Pushed; artifactType?: string; mountFrom?: string } = {}): Promise<Pushed> {
    const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', nonce: rand() }));
    const blobs = [await this.pushBlob(repo, config, MT.ociConfig, extra.mountFrom)];
    for (const layer of layers) blobs.push(await this.pushBlob(repo, layer, MT.ociLayer, extra.mountFrom));
    const manifest: Record<string, unknown> = {
      schemaVersion: 2,
      mediaType: MT.ociManifest,
      config: { mediaType: MT.ociConfig, digest: blobs[0]!.digest, size: blobs[0]!.size },
      layers: blobs.slice(1).map((b) => ({ mediaType: b.mediaType, digest: b.digest, size: b.size })),
    };
    if (extra.artifactType) manifest.artifactType = extra.artifactType;
    if (extra.subject) manifest.subject = { mediaType: MT.ociManifest, digest: extra.subject.digest, size: extra.subject.size };
    const body = Buffer.from(JSON.stringify(manifest));
    const digest = sha256(body);
    const res = await this.putManifest(repo, tag ?? digest, body, MT.ociManifest);
    const text = await res.text();
    if (res.status !== 201) throw new Error(`put manifest ${repo}:${tag ?? digest}: ${res.status} ${text}`);
    return { repo, digest, size: body.length, blobs };
  }

  /** An index of `children` (already pushed to `repo`). */
  async pushIndex(repo: string, tag: string | undefined, children: Pushed[]): Promise<Pushed> {
    const body = Buffer.from(JSON.stringify({
      schemaVersion: 2,
      mediaType: MT.ociIndex,
      manifests: children.map((c, i) => ({ mediaType: MT.ociManifest, digest: c.digest, size: c.size, platform: { architecture: `arch${i}`, os: 'linux' } })),
    }));
    const digest = sha256(body);
    const res = await this.putManifest(repo, tag ?? digest, body, MT.ociIndex);
    expect(res.status, await res.text()).toBe(201);
    return { repo, digest, size: body.length, blobs: [] };
  }

  manifestStatus(repo: string, reference: string): Promise<number> {
    return this.req('HEAD', `/v2/${repo}/manifests/${reference}`, undefined, { accept: `${MT.ociManifest}, ${MT.ociIndex}` }).then((r) => r.status);
  }

  blobStatus(repo: string, digest: string): Promise<number> {
    return this.req('HEAD', `/v2/${repo}/blobs/${digest}`).then((r) => r.status);
  }

  /** Pulls `reference` and every blob it names; returns problems (empty: every byte hashes to its digest). */
  async verify(image: Pushed, reference = image.digest): Promise<string[]> {
    const res = await this.req('GET', `/v2/${image.repo}/manifests/${reference}`, undefined, { accept: MT.ociManifest });
    const body = Buffer.from(await res.arrayBuffer());
    if (res.status !== 200) return [`${image.repo}@${reference}: manifest ${res.status}`];
    if (sha256(body) !== image.digest) return [`${image.repo}@${reference}: manifest digest ${sha256(body)}`];
    const problems: string[] = [];
    for (const blob of image.blobs) {
      const r = await this.req('GET', `/v2/${image.repo}/blobs/${blob.digest}`);
      const bytes = Buffer.from(await r.arrayBuffer());
      if (r.status !== 200) problems.push(`${image.repo} blob ${blob.digest}: ${r.status}`);
      else if (sha256(bytes) !== blob.digest) problems.push(`${image.repo} blob ${blob.digest}: hashes to ${sha256(bytes)}`);
    }
    return problems;
  }

  /** Starts a run; returns its view. */
  async startGc(registry: string, type: string, dryRun = false): Promise<any> {
    return (await this.ok('POST', `/registries/${registry}/garbage-collection`, { type, dry_run: dryRun })).garbage_collection;
  }

  /** Waits until the run finishes; returns its final view. */
  async waitGc(registry: string, uuid: string, timeoutMs = 30_000): Promise<any> {
    const until = Date.now() + timeoutMs;
    for (;;) {
      const run = (await this.ok('GET', `/registries/${registry}/garbage-collection/${uuid}`)).garbage_collection;
      if (['succeeded', 'failed', 'cancelled'].includes(run.status)) return run;
      if (Date.now() > until) throw new Error(`gc ${uuid} still ${run.status} after ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  async gc(registry: string, type: string, dryRun = false): Promise<any> {
    const run = await this.waitGc(registry, (await this.startGc(registry, type, dryRun)).uuid);
    expect(run.status, JSON.stringify(run)).toBe('succeeded');
    return run;
  }
}

/** A registry's storage usage: the API's figure when it reports one, else the metadata's. */
export async function storageUsage(client: Client, berth: BerthProcess, registry: string): Promise<number> {
  const r = await client.api('GET', `/registries/${registry}`);
  const reported = r.body?.registry?.storage_usage_bytes;
  if (typeof reported === 'number') return reported;
  return withDb(berth, (db) => Number((db.prepare('select storage_bytes from registries where name = ?').get(registry) as { storage_bytes: number }).storage_bytes));
}

/** The server's metadata database, opened beside it (WAL allows a second connection). */
export function withDb<T>(berth: BerthProcess, work: (db: Sqlite.Database) => T): T {
  const db = new Sqlite(join(berth.dataDir, 'metadata.db'), { timeout: 5000 });
  try {
    return work(db);
  } finally {
    db.close();
  }
}
