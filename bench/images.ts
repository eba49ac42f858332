// Just the "N concurrent image pushes" workload, Berth against Distribution, with each
// server's RSS sampled every 50 ms and its JS memory breakdown where we can read it:
// for quick A/B runs of the push path without the whole benchmark.
//   node --import tsx bench/images.ts [ROUNDS]        (npm run build first)
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { median } from './report.js';
import { rssMiB as readRss } from './rss.js';
import { startBerth, startDistribution, type Server } from './servers.js';
import { WORKLOADS, type Context } from './workloads.js';

/** The process's resident memory; 0 once it has gone (sampling may outlive a stop by one tick). */
const rssMiB = (pid: number) => readRss(pid) ?? 0;
const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const rounds = Number(process.argv[2] ?? 5);
const workload = WORKLOADS.find((w) => w.name === 'concurrent image pushes')!;
const ctx = { params: { images: 50, layersPerImage: 5, layerBytes: 1 << 20 }, phase() {} } as unknown as Context;


const dir = mkdtempSync(join(tmpdir(), 'berth-bench-images-'));
const servers: Server[] = [await startBerth(ROOT, join(dir, 'berth')), await startDistribution(join(dir, 'distribution'))];
const walls: Record<string, number[]> = {};
const peaks: Record<string, number> = {};
const sampler = setInterval(() => {
  for (const s of servers) peaks[s.name] = Math.max(peaks[s.name] ?? 0, rssMiB(s.pid));
}, 50);
try {
  for (let round = 0; round < rounds; round++) {
    // Alternate who goes first: the machine's state drifts between runs.
    for (const s of round % 2 ? [...servers].reverse() : servers) {
      const m = await workload.run(ctx, s, round);
      if (m.images_errors) throw new Error(`${s.name}: ${m.images_errors} failed pushes in round ${round}`);
      (walls[s.name] ??= []).push(m.images_wall_s!);
    }
  }
} finally {
  clearInterval(sampler);
  for (const s of servers) await s.stop();
  rmSync(dir, { recursive: true, force: true });
}
const [berth, distribution] = servers.map((s) => median(walls[s.name]!));
for (const s of servers) console.log(`${s.name.padEnd(13)} wall s: ${walls[s.name]!.map((w) => w.toFixed(2)).join(' ')}  median ${median(walls[s.name]!).toFixed(2)}  RSS peak ${peaks[s.name]!.toFixed(0)} MiB`);
console.log(`ratio (Distribution / Berth wall, >1 = Berth faster): ${(distribution! / berth!).toFixed(2)}x`);
