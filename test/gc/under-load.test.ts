/**
 * GC under load: concurrent clients push images sharing layers (HEAD before
 * upload, cross-repository mounts), delete and untag, while garbage collection
 * runs back to back with no grace period. A few "flip" layers per loop go from
 * garbage to pushed and back all the time, so pushes of bytes GC is deleting
 * at that moment are common (identical bytes found and not rewritten, mounts).
 * Every acknowledged image must pull with every byte intact — flips at once,
 * long-lived images after every loop and at the end — and no link or manifest
 * reference may point at a missing file.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { stopAndClean } from '../conformance/helpers.js';
import type { BerthProcess } from '../support/berth-process.js';
import { Client, hasFile, rand, startGcBerth, withDb, type Pushed } from './gc-support.js';

const LOOPS = 20;
const WORKERS = 8;
const IMAGES_PER_WORKER = 1;
const FLIPS_PER_WORKER = 3;
const FLIP_LAYERS = 3;

let berth: BerthProcess;
let c: Client;
beforeAll(async () => {
  // Power-loss durability of metadata commits is not what this is about; fewer fsyncs keep it quick.
  berth = await startGcBerth({ BERTH_GC_GRACE_PERIOD: '0s', BERTH_STORAGE_SQLITE_SYNCHRONOUS: 'NORMAL' });
  c = new Client(berth.url);
});
afterAll(() => stopAndClean(berth));

type Acked = Pushed & { tag: string; loop: number; worker: number };

it(`${LOOPS} loops of GC concurrent with a burst of pushes, deletes and untags: no acknowledged image loses a byte`, async () => {
  const reg = `load-${rand()}`;
  const repos = [0, 1, 2, 3].map((i) => `${reg}/app${i}`);
  const churnRepos = [0, 1].map((i) => `${reg}/churn${i}`);
  const base = [0, 1, 2].map(() => randomBytes(2048));
  // One layer per loop: garbage in its own loop, pushed again by keepers in the next while GC deletes it.
  const churn = Array.from({ length: LOOPS }, () => randomBytes(1024));
  const flipLayers = Array.from({ length: LOOPS }, () => Array.from({ length: FLIP_LAYERS }, () => randomBytes(1024)));
  const acked: Acked[] = [];
  const flipProblems: string[] = [];
  const stats = { acked: 0, flips: 0, refused: 0, untagged: 0, gcRuns: 0, blobsDeleted: 0, manifestsDeleted: 0 };

  const tryPush = async (loop: number, worker: number, repo: string, tag: string, layers: Buffer[], mountFrom?: string) => {
    try {
      const image = await c.pushImage(repo, tag, layers, { mountFrom });
      acked.push({ ...image, tag, loop, worker });
      stats.acked++;
    } catch {
      stats.refused++; // e.g. MANIFEST_BLOB_UNKNOWN: GC took an unreferenced link first (no grace); the push was never acknowledged
    }
  };

  const worker = async (loop: number, w: number) => {
    for (let k = 0; k < IMAGES_PER_WORKER; k++) {
      const repo = repos[(w + k + loop) % repos.length]!;
      const mountFrom = k === 2 ? repos[(w + k + loop + 1) % repos.length] : undefined;
      await tryPush(loop, w, repo, `l${loop}-w${w}-${k}`, [base[(w + k) % base.length]!, randomBytes(256)], mountFrom);
    }
    // Flips: pushed, pulled back at once (an acknowledged push must be whole), then deleted: garbage again.
    for (let f = 0; f < FLIPS_PER_WORKER; f++) {
      const repo = repos[(w + f + loop) % repos.length]!;
      const mountFrom = f % 2 === 1 ? repos[(w + f + loop + 1) % repos.length] : undefined;
      let image: Pushed;
      try {
        image = await c.pushImage(repo, `flip-l${loop}-w${w}-${f}`, [flipLayers[loop]![(w + f) % FLIP_LAYERS]!], { mountFrom });
      } catch {
        stats.refused++;
        continue;
      }
      stats.flips++;
      flipProblems.push(...(await c.verify(image, `flip-l${loop}-w${w}-${f}`)));
      await (await c.req('DELETE', `/v2/${repo}/manifests/${image.digest}`)).arrayBuffer();
    }
    // Garbage: an untagged image in a churn repository, deleted at once.
    try {
      const garbage = await c.pushImage(churnRepos[w % 2]!, undefined, [churn[loop]!, base[w % base.length]!]);
      await (await c.req('DELETE', `/v2/${garbage.repo}/manifests/${garbage.digest}`)).arrayBuffer();
    } catch {
      stats.refused++;
    }
    // Keepers of last loop's garbage layer, half of them by mount from where it was garbage.
    if (loop > 0 && w % 2 === 0) {
      await tryPush(loop, w, repos[w % repos.length]!, `keep-l${loop}-w${w}`, [churn[loop - 1]!], w % 4 === 0 ? churnRepos[(w / 2) % 2] : undefined);
    }
    // Untag one of this loop's images: it becomes garbage too.
    if (w % 4 === 1) {
      const mine = acked.findIndex((a) => a.loop === loop && a.worker === w);
      if (mine >= 0) {
        const [gone] = acked.splice(mine, 1);
        await (await c.req('DELETE', `/v2/${gone!.repo}/manifests/${gone!.tag}`)).arrayBuffer();
        stats.untagged++;
      }
    }
  };

  // Created up front: the first GC request is sent together with the first pushes, and GC on a
  // registry that no push has created yet is rightly a 404.
  await c.ok('POST', '/registries', { name: reg });
  const started = Date.now();
  for (let loop = 0; loop < LOOPS; loop++) {
    let done = false;
    const burst = Promise.all(Array.from({ length: WORKERS }, (_, w) => worker(loop, w))).finally(() => (done = true));
    // GC back to back until the burst is over: at least one run overlaps it.
    do {
      const run = await c.gc(reg, 'untagged manifests and unreferenced blobs');
      stats.gcRuns++;
      stats.blobsDeleted += run.blobs_deleted;
      stats.manifestsDeleted += run.manifests_deleted;
    } while (!done);
    await burst;
    const problems = (await Promise.all(acked.filter((a) => a.loop === loop).map((a) => c.verify(a, a.tag)))).flat();
    expect([...flipProblems, ...problems], `loop ${loop}`).toEqual([]);
  }

  // Later runs must not have taken anything from earlier loops' images either.
  const all = (await Promise.all(acked.map((a) => c.verify(a, a.tag)))).flat();
  expect(all).toEqual([]);
  // The invariant itself: every link and every manifest reference has its bytes.
  const needed = withDb(berth, (db) =>
    (db.prepare(`select digest from repository_blobs union select digest from manifest_references where kind = 'blob'`).all() as { digest: string }[]).map((r) => r.digest),
  );
  expect(needed.filter((d) => !hasFile(berth, d))).toEqual([]);

  console.log(`gc under load: ${JSON.stringify(stats)} in ${Date.now() - started} ms`);
  // With no grace, GC may take a pushed blob's link before its manifest arrives: such pushes are refused, never acknowledged.
  expect(stats.acked).toBeGreaterThan(LOOPS * WORKERS / 2);
  expect(stats.flips).toBeGreaterThan(LOOPS * WORKERS);
  expect(stats.blobsDeleted).toBeGreaterThan(0);
  expect(stats.manifestsDeleted).toBeGreaterThan(0);
});
