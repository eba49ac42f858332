// The measured workloads. Each runs against one server and returns named metrics;
// run.ts calls them round by round, alternating which server goes first.
import { randomBytes } from 'node:crypto';
import { registryToken } from './auth.js';
import type { BigBlobFactory, BlobSource } from './blobdata.js';
import { bufferBlob } from './blobdata.js';
import { expect } from './http.js';
import { load } from './load.js';
import { flushDirtyPages } from './machine.js';
import type { PullPool } from './pull.js';
import { ACCEPT_MANIFESTS, imageConfig, pushBlobIfMissing, pushChunked, pushMonolithic, putManifest, schema2Manifest } from './registry.js';
import type { Server } from './servers.js';
import { walkPages, type Fixture } from './fixtures.js';

export interface Params {
  blobBytes: number;
  chunkBytes: number;
  loadSeconds: number;
  connections: number;
  images: number;
  layersPerImage: number;
  layerBytes: number;
  tags: number;
  repos: number;
  pageSize: number;
  setupConcurrency: number;
}

export interface Context {
  params: Params;
  big: BigBlobFactory;
  pool: PullPool;
  /** What the one-off setup left on each server, by server name. */
  fixtures: Record<string, Fixture>;
  /** Names what runs now, so RSS peaks can be told apart by phase. */
  phase(name: string): void;
}

export type Metrics = Record<string, number>;

export interface Workload {
  name: string;
  /** Also run against the auth-on Berth (the others compare with Distribution, which has no auth). */
  withAuth?: boolean;
  run(ctx: Context, server: Server, round: number): Promise<Metrics>;
}

const mbps = (bytes: number, ms: number) => bytes / 1e6 / (ms / 1000);

/** Monolithic push of a fresh big blob, then pulls of it: 1 and 4 clients, with and without verifying. */
const blobs: Workload = {
  name: 'monolithic push + pulls',
  async run(ctx, server) {
    const blob = ctx.big.fresh();
    ctx.phase('monolithic push');
    flushDirtyPages();
    const t0 = performance.now();
    await pushMonolithic(server.port, 'bench/big', blob);
    const metrics: Metrics = { push_mono_MBps: mbps(blob.size, performance.now() - t0) };
    const path = `/v2/bench/big/blobs/${blob.digest}`;
    ctx.phase('pulls');
    for (const clients of [1, 4]) {
      for (const verify of [false, true]) {
        const r = await ctx.pool.run(clients, { port: server.port, path, size: blob.size, digest: blob.digest, verify });
        if (r.errors.length > 0) throw new Error(`pull by ${clients} client(s): ${r.errors.join('; ')}`);
        metrics[`pull_${clients}${verify ? '_verify' : ''}_MBps`] = r.mbps;
      }
    }
    return metrics;
  },
};

const chunked: Workload = {
  name: 'chunked push',
  async run(ctx, server) {
    const blob = ctx.big.fresh();
    flushDirtyPages();
    const t0 = performance.now();
    await pushChunked(server.port, 'bench/chunked', blob, ctx.params.chunkBytes);
    return { push_chunked_MBps: mbps(blob.size, performance.now() - t0) };
  },
};

/**
 * GET manifest by tag and HEAD blob, each at fixed concurrency for a fixed time. On the
 * auth-on Berth every request carries `Authorization: Bearer <registry JWT>`, fetched
 * fresh for the round (tokens live 300 s; one round's load takes 2 × loadSeconds).
 */
const requests: Workload = {
  name: 'manifest GET / HEAD blob',
  withAuth: true,
  async run(ctx, server) {
    const f = ctx.fixtures[server.name];
    if (!f) throw new Error(`no fixture for ${server.name}`);
    const { connections, loadSeconds: seconds } = ctx.params;
    const auth: Record<string, string> = server.credentials
      ? { authorization: `Bearer ${await registryToken(server.port, server.credentials, f.baseRepo)}` }
      : {};
    const manifest = { method: 'GET' as const, path: `/v2/${f.baseRepo}/manifests/latest`, headers: { ...auth, accept: ACCEPT_MANIFESTS } };
    const blob = { method: 'HEAD' as const, path: `/v2/${f.baseRepo}/blobs/${f.layerDigest}`, headers: auth };
    // One request of each first, outside the clock: a wrong token fails here with its status
    // and body, instead of as 10 s of fast 401s.
    for (const r of [manifest, blob]) await expect(200, server.port, r.method, r.path, { headers: r.headers });
    const get = await load({ port: server.port, ...manifest, connections, seconds });
    const head = await load({ port: server.port, ...blob, connections, seconds });
    return {
      manifest_get_rps: get.rps,
      manifest_get_p50_ms: get.p50ms,
      manifest_get_p99_ms: get.p99ms,
      manifest_get_errors: get.errors,
      head_blob_rps: head.rps,
      head_blob_p50_ms: head.p50ms,
      head_blob_p99_ms: head.p99ms,
      head_blob_errors: head.errors,
    };
  },
};

/** Distinct small images: each layer is random bytes under a unique header. */
function makeImages(p: Params, seed: string): Array<{ layers: BlobSource[]; config: BlobSource }> {
  const filler = randomBytes(p.layerBytes);
  return Array.from({ length: p.images }, (_, i) => {
    const layers = Array.from({ length: p.layersPerImage }, (_, l) => {
      const data = Buffer.from(filler);
      data.write(`${seed}/${i}/${l}/`.padEnd(64, '.'), 0, 'latin1');
      randomBytes(64).copy(data, 64);
      return bufferBlob(data);
    });
    const config = bufferBlob(imageConfig(`${seed}/${i}`, layers.map((l) => l.digest)));
    return { layers, config };
  });
}

/** N concurrent image pushes; each pushes its layers in parallel (as docker does), then config and manifest. */
const images: Workload = {
  name: 'concurrent image pushes',
  async run(ctx, server, round) {
    const list = makeImages(ctx.params, `${server.name}-${round}`); // digests computed before the clock starts
    let errors = 0;
    flushDirtyPages();
    const t0 = performance.now();
    await Promise.all(
      list.map(async (img, i) => {
        const repo = `bench/img-${i}`;
        try {
          await Promise.all(img.layers.map((l) => pushBlobIfMissing(server.port, repo, l)));
          await pushBlobIfMissing(server.port, repo, img.config);
          await putManifest(server.port, repo, `r${round}`, schema2Manifest(img.config, img.layers));
        } catch {
          errors++;
        }
      }),
    );
    return { images_wall_s: (performance.now() - t0) / 1000, images_errors: errors };
  },
};

/** Walk every page of the big tag list and of the catalog, following Link headers. */
const listings: Workload = {
  name: 'tags / catalog walk',
  async run(ctx, server) {
    const f = ctx.fixtures[server.name];
    if (!f) throw new Error(`no fixture for ${server.name}`);
    const n = ctx.params.pageSize;
    const tags = await walkPages(server.port, `/v2/${f.tagsRepo}/tags/list?n=${n}`, 'tags');
    if (tags.items < ctx.params.tags) throw new Error(`tag walk saw ${tags.items} tags, expected ${ctx.params.tags}`);
    const catalog = await walkPages(server.port, `/v2/_catalog?n=${n}`, 'repositories');
    if (catalog.items < ctx.params.repos) throw new Error(`catalog walk saw ${catalog.items} repositories, expected ≥ ${ctx.params.repos}`);
    return {
      tags_walk_s: tags.totalMs / 1000,
      tags_first_page_ms: tags.firstMs,
      tags_last_page_ms: tags.lastMs,
      tags_pages: tags.pages,
      catalog_walk_s: catalog.totalMs / 1000,
      catalog_first_page_ms: catalog.firstMs,
      catalog_last_page_ms: catalog.lastMs,
      catalog_pages: catalog.pages,
      catalog_repos: catalog.items,
    };
  },
};

export const WORKLOADS: Workload[] = [blobs, chunked, requests, images, listings];
