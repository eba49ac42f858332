// Just the blob pushes (monolithic and chunked, 256 MiB) and the 50 concurrent image pushes,
// Berth against Distribution, with each server's RSS sampled every 50 ms: for quick A/B
// runs of the push path and its memory without the whole benchmark.
//   node --import tsx bench/pushes.ts [ROUNDS]        (npm run build first)
// NODE_OPTIONS reaches Berth's process too (only BERTH_* is stripped), for trying V8 flags.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BigBlobFactory } from './blobdata.js';
import { flushDirtyPages } from './machine.js';
import { pushChunked, pushMonolithic } from './registry.js';
import { median } from './report.js';
import { rssMiB as readRss } from './rss.js';
import { startBerth, startDistribution, type Server } from './servers.js';
import { WORKLOADS, type Context } from './workloads.js';

/** The process's resident memory; 0 once it has gone (sampling may outlive a stop by one tick). */
const rssMiB = (pid: number) => readRss(pid) ?? 0;
const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const rounds = Number(process.argv[2] ?? 3);
const MiB = 1 << 20;
const images = WORKLOADS.find((w) => w.name === 'concurrent image pushes')!;
const ctx = { params: { images: 50, layersPerImage: 5, layerBytes: MiB }, phase() {} } as unknown as Context;

const mbps = (bytes: number, ms: number) => bytes / 1e6 / (ms / 1000);

const dir = mkdtempSync(join(tmpdir(), 'berth-bench-pushes-'));
const big = BigBlobFactory.create(join(dir, 'big.bin'), 256 * MiB);
const servers: Server[] = [await startBerth(ROOT, join(dir, 'berth')), await startDistribution(join(dir, 'distribution'))];
const idle = Object.fromEntries(servers.map((s) => [s.name, rssMiB(s.pid)]));
const results: Record<string, Record<string, number[]>> = {};
const peaks: Record<string, Record<string, number>> = {};
let phase = 'start';
const sampler = setInterval(() => {
  for (const s of servers) {
    const p = (peaks[s.name] ??= {});
    p[phase] = Math.max(p[phase] ?? 0, rssMiB(s.pid));
  }
}, 50);
const record = (s: Server, name: string, value: number) => ((results[s.name] ??= {})[name] ??= []).push(value);
try {
  for (let round = 0; round < rounds; round++) {
    // Alternate who goes first: the machine's state drifts between runs.
    for (const s of round % 2 ? [...servers].reverse() : servers) {
      phase = 'monolithic';
      let blob = big.fresh();
      flushDirtyPages();
      let t0 = performance.now();
      await pushMonolithic(s.port, 'bench/big', blob);
      record(s, 'monolithic MB/s', mbps(blob.size, performance.now() - t0));
      phase = 'chunked';
      blob = big.fresh();
      flushDirtyPages();
      t0 = performance.now();
      await pushChunked(s.port, 'bench/chunked', blob, 8 * MiB);
      record(s, 'chunked MB/s', mbps(blob.size, performance.now() - t0));
      phase = 'images';
      const m = await images.run(ctx, s, round);
      if (m.images_errors) throw new Error(`${s.name}: ${m.images_errors} failed pushes in round ${round}`);
      record(s, 'images wall s', m.images_wall_s!);
    }
  }
} finally {
  clearInterval(sampler);
  for (const s of servers) await s.stop();
  rmSync(dir, { recursive: true, force: true });
}
for (const s of servers) {
  const figures = Object.entries(results[s.name]!).map(([k, v]) => `${k} ${median(v).toFixed(k.endsWith('s') && !k.includes('/') ? 2 : 0)} [${v.map((x) => x.toFixed(1)).join(' ')}]`);
  const rss = Object.entries(peaks[s.name]!).map(([k, v]) => `${k} ${v.toFixed(0)}`);
  console.log(`${s.name.padEnd(13)} ${figures.join(' · ')}\n${''.padEnd(13)} RSS MiB: idle ${idle[s.name]!.toFixed(0)}, peak by phase: ${rss.join(', ')}`);
}
