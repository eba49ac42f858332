// One-off setup on each server (not per round: it is slow on Distribution), made of
// real API calls: a base image, one repository with many tags, many repositories.
import { randomBytes } from 'node:crypto';
import { bufferBlob } from './blobdata.js';
import { expect, nextLink } from './http.js';
import { boundedAll, imageConfig, mountBlob, pushMonolithic, putManifest, schema2Manifest } from './registry.js';

export interface Fixture {
  baseRepo: string;
  tagsRepo: string;
  layerDigest: string;
  /** How long each part of the setup took, in seconds (informative). */
  setupSeconds: Record<string, number>;
}

export interface FixtureSize {
  tags: number;
  repos: number;
  concurrency: number;
}

const pad = (i: number, width: number) => String(i).padStart(width, '0');

export async function createFixture(port: number, size: FixtureSize, log: (msg: string) => void): Promise<Fixture> {
  const baseRepo = 'bench/base';
  const tagsRepo = 'bench/tags';
  const layer = bufferBlob(randomBytes(4096));
  const config = bufferBlob(imageConfig('base', [layer.digest]));
  const manifest = schema2Manifest(config, [layer]);
  const setupSeconds: Record<string, number> = {};

  await pushMonolithic(port, baseRepo, layer);
  await pushMonolithic(port, baseRepo, config);
  await putManifest(port, baseRepo, 'latest', manifest);

  // Many tags on one repository: the same image under each tag, one manifest PUT per tag.
  let t0 = performance.now();
  await mountBlob(port, tagsRepo, baseRepo, layer.digest);
  await mountBlob(port, tagsRepo, baseRepo, config.digest);
  await boundedAll(size.tags, size.concurrency, (i) => putManifest(port, tagsRepo, `t${pad(i, 5)}`, manifest));
  setupSeconds.tags = (performance.now() - t0) / 1000;
  log(`    ${size.tags} tags in ${setupSeconds.tags.toFixed(1)} s`);

  // Many repositories: each gets the blobs by cross-repository mount, then the manifest.
  t0 = performance.now();
  await boundedAll(size.repos, size.concurrency, async (i) => {
    const repo = `catalog/r${pad(i, 5)}`;
    await mountBlob(port, repo, baseRepo, layer.digest);
    await mountBlob(port, repo, baseRepo, config.digest);
    await putManifest(port, repo, 'latest', manifest);
  });
  setupSeconds.repos = (performance.now() - t0) / 1000;
  log(`    ${size.repos} repositories in ${setupSeconds.repos.toFixed(1)} s`);

  return { baseRepo, tagsRepo, layerDigest: layer.digest, setupSeconds };
}

export interface Walk {
  pages: number;
  items: number;
  totalMs: number;
  firstMs: number;
  lastMs: number;
}

/** Follows `Link: rel="next"` from `path` to the end; bounded in pages and time. */
export async function walkPages(port: number, path: string, key: 'tags' | 'repositories', maxPages = 10_000, maxMs = 600_000): Promise<Walk> {
  const walk: Walk = { pages: 0, items: 0, totalMs: 0, firstMs: 0, lastMs: 0 };
  const t0 = performance.now();
  let next: string | undefined = path;
  while (next !== undefined) {
    if (walk.pages >= maxPages || performance.now() - t0 > maxMs) throw new Error(`walk of ${path} exceeded ${maxPages} pages or ${maxMs} ms`);
    const p0 = performance.now();
    const res = await expect(200, port, 'GET', next);
    const ms = performance.now() - p0;
    const body = JSON.parse(res.body.toString()) as Record<string, unknown>;
    const items = body[key];
    walk.items += Array.isArray(items) ? items.length : 0;
    if (walk.pages === 0) walk.firstMs = ms;
    walk.lastMs = ms;
    walk.pages++;
    next = nextLink(res);
  }
  walk.totalMs = performance.now() - t0;
  return walk;
}
