// `npm run bench`: Berth against CNCF Distribution on loopback, with the machine's
// own ceilings (SHA-256, nginx) measured in the same run. See bench/README.md.
//   node --import tsx bench/run.ts [--quick] [--rounds N] [--scale-out]    (or BENCH_QUICK=1, BENCH_ROUNDS=N, BENCH_SCALE_OUT=1)
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import os, { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BigBlobFactory } from './blobdata.js';
import { fileWriteMBps, nginxPulls, nginxPush, nodeReceiverPushes, nodeReceiverRoundTrips, nodeSha256MBps, opensslSha256MBps } from './ceilings.js';
import { agent } from './http.js';
import { createFixture } from './fixtures.js';
import { environment, ensureTools } from './machine.js';
import { createPullPool, type PullPool } from './pull.js';
import { buildRows, markdown, median, rowDefs, writeResults, type Ceilings, type Samples } from './report.js';
import { authMarkdown, buildAuthRows } from './report-auth.js';
import { RssSampler } from './rss.js';
import { SCALE_OUT, scaleOutMarkdown, startScaleOutBackends, type ScaleOutBackends } from './scale-out.js';
import { startBerth, startBerthWithAuth, startDistribution, startNginx, startNodeReceiver, stopAll, type Server } from './servers.js';
import { WORKLOADS, type Context, type Params } from './workloads.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const MiB = 1 << 20;

function options() {
  const argv = process.argv.slice(2);
  const quick = argv.includes('--quick') || process.env.BENCH_QUICK === '1';
  // Also a Berth node on PostgreSQL + S3 (s3rver), reported beside the embedded default.
  const scaleOut = argv.includes('--scale-out') || process.env.BENCH_SCALE_OUT === '1';
  const i = argv.indexOf('--rounds');
  const rounds = Number(i >= 0 ? argv[i + 1] : (process.env.BENCH_ROUNDS ?? (quick ? 1 : 5)));
  if (!Number.isInteger(rounds) || rounds < 1 || rounds > 20) throw new Error(`rounds must be 1..20, got ${rounds}`);
  const maxMinutes = Number(process.env.BENCH_MAX_MINUTES ?? 90); // the whole run's time bound
  const params: Params = quick
    ? { blobBytes: 32 * MiB, chunkBytes: 8 * MiB, loadSeconds: 3, connections: 32, images: 10, layersPerImage: 5, layerBytes: MiB, tags: 1_000, repos: 500, pageSize: 100, setupConcurrency: 8 }
    : { blobBytes: 256 * MiB, chunkBytes: 8 * MiB, loadSeconds: 10, connections: 32, images: 50, layersPerImage: 5, layerBytes: MiB, tags: 10_000, repos: 5_000, pageSize: 100, setupConcurrency: 8 };
  return { quick, rounds, maxMinutes, params, scaleOut };
}

const started = Date.now();
const log = (msg: string) => process.stderr.write(`[bench ${((Date.now() - started) / 1000).toFixed(0).padStart(4)}s] ${msg}\n`);

async function main(): Promise<void> {
  const { quick, rounds, maxMinutes, params, scaleOut } = options();
  const deadline = started + maxMinutes * 60_000;
  ensureTools(log);
  const tmp = mkdtempSync(join(tmpdir(), 'berth-bench-'));
  let pool: PullPool | undefined;
  let sampler: RssSampler | undefined;
  let backends: ScaleOutBackends | undefined;
  const cleanup = async () => {
    const t0 = Date.now();
    sampler?.stop();
    await pool?.close().catch(() => undefined);
    agent.destroy();
    await stopAll();
    await backends?.stop();
    rmSync(tmp, { recursive: true, force: true });
    log(`stopped every process and removed ${tmp} in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  };
  // Ctrl-C, a kill or a stray error still stops the servers and removes the temp dirs
  // (servers.ts also SIGKILLs any child left at exit).
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.once(sig, () => {
      log(`${sig}: stopping servers, removing ${tmp}`);
      void cleanup().finally(() => process.exit(130));
    });
  }
  const fatal = (err: unknown) => {
    log(`FATAL: ${(err as Error)?.stack ?? String(err)}`);
    void cleanup().finally(() => process.exit(1));
  };
  process.once('uncaughtException', fatal);
  process.once('unhandledRejection', fatal);
  process.once('exit', () => rmSync(tmp, { recursive: true, force: true }));
  try {
    const loadBefore = os.loadavg();
    log(`${quick ? 'QUICK' : 'full'} run, ${rounds} round(s), temp dir ${tmp}, load average ${loadBefore.map((l) => l.toFixed(2)).join(' ')}`);
    const env = environment(ROOT); // now: src/ may change while the run goes on
    // Ceilings first, while nothing else runs.
    const nodeSha = nodeSha256MBps();
    const opensslSha = await opensslSha256MBps();
    const fileWrite = fileWriteMBps(tmp); // same disk as the servers' data dirs
    log(`SHA-256: node ${nodeSha.toFixed(0)} MB/s, openssl ${opensslSha?.toFixed(0) ?? 'n/a'} MB/s; file write ${fileWrite.write.toFixed(0)} MB/s, with fsync ${fileWrite.writeFsync.toFixed(0)} MB/s (each file deleted before the next); new files kept, back to back: ${fileWrite.writeKeptAll.map((r) => r.toFixed(0)).join(' ')} (median of the second half ${fileWrite.writeKept.toFixed(0)}), with fsync ${fileWrite.writeFsyncKeptAll.map((r) => r.toFixed(0)).join(' ')} (${fileWrite.writeFsyncKept.toFixed(0)})`);

    const www = join(tmp, 'www');
    mkdirSync(www);
    const big = BigBlobFactory.create(join(www, 'blob.bin'), params.blobBytes);
    const berth = await startBerth(ROOT, join(tmp, 'berth-data'));
    // Access control on, for the acceptance "bearer-token rates within 20% of auth off".
    const berthAuth = await startBerthWithAuth(ROOT, join(tmp, 'berth-auth-data'));
    const dist = await startDistribution(join(tmp, 'distribution'));
    const nginx = await startNginx(join(tmp, 'nginx'), www);
    const receiver = await startNodeReceiver(ROOT, join(tmp, 'node-receiver'));
    // berth and berth-auth side by side, so in every round the two Berths run back to back
    // (and swap who goes first); berth-auth runs only the workloads marked withAuth.
    const servers: Server[] = [berth, berthAuth, dist];
    if (scaleOut) {
      backends = await startScaleOutBackends(ROOT);
      servers.push(await startBerth(ROOT, join(tmp, 'berth-pg-s3-data'), SCALE_OUT, backends.env));
    }
    log(`berth pid ${berth.pid} :${berth.port}, berth-auth pid ${berthAuth.pid} :${berthAuth.port}, distribution pid ${dist.pid} :${dist.port}, nginx pid ${nginx.pid} :${nginx.port}`);

    sampler = new RssSampler(Object.fromEntries(servers.map((s) => [s.name, s.pid])));
    sampler.start(100);
    await new Promise((r) => setTimeout(r, 1000)); // let start-up settle before "idle"
    const samples: Samples = { berth: {}, distribution: {}, nginx: {}, node: {} };
    const add = (server: string, metrics: Record<string, number>) => {
      const s = (samples[server] ??= {});
      for (const [k, v] of Object.entries(metrics)) (s[k] ??= []).push(v);
    };
    for (const s of servers) add(s.name, { rss_idle_MiB: await sampler.idle(s.name) });

    pool = createPullPool(4);
    const ctx: Context = { params, big, pool, fixtures: {}, phase: (name) => sampler?.setPhase(name) };
    for (const s of servers) {
      sampler.setPhase('setup');
      log(`setup on ${s.name}: ${params.tags} tags, ${params.repos} repositories`);
      ctx.fixtures[s.name] = await createFixture(s.port, { tags: params.tags, repos: params.repos, concurrency: params.setupConcurrency }, log);
    }

    const errors: string[] = [];
    for (let round = 1; round <= rounds; round++) {
      // Alternate who goes first, so warm-up and drift don't favour one server.
      const order = round % 2 === 1 ? servers : [...servers].reverse();
      for (const w of WORKLOADS) {
        for (const s of order) {
          if (s.credentials && !w.withAuth) continue;
          if (Date.now() > deadline) throw new Error(`run exceeded BENCH_MAX_MINUTES=${maxMinutes}`);
          ctx.phase(w.name);
          const t0 = Date.now();
          try {
            const metrics = await w.run(ctx, s, round);
            add(s.name, metrics);
            log(`round ${round} ${w.name} on ${s.name}: ${summary(metrics)} (${((Date.now() - t0) / 1000).toFixed(1)} s)`);
          } catch (err) {
            errors.push(`round ${round}, ${w.name}, ${s.name}: ${(err as Error).message}`);
            log(`round ${round} ${w.name} on ${s.name}: ERROR ${(err as Error).message}`);
          }
        }
        if (w.name.startsWith('monolithic')) {
          sampler.setPhase('nginx');
          const m = { ...(await nginxPush(nginx.port, big)), ...(await nginxPulls(nginx.port, big, pool, 'blob.bin')) };
          add('nginx', m);
          log(`round ${round} nginx pulls: ${summary(m)}`);
          sampler.setPhase('node-receiver');
          const r = { ...(await nodeReceiverPushes(receiver.port, big, params.chunkBytes)), ...(await nodeReceiverRoundTrips(receiver.port)) };
          add('node', r);
          log(`round ${round} bare node receiver: ${summary(r)}`);
        }
      }
    }
    sampler.setPhase('end');
    const requestsPhase = WORKLOADS.find((w) => w.withAuth)?.name ?? '';
    for (const s of servers) add(s.name, { rss_peak_MiB: sampler.peak(s.name), rss_peak_requests_MiB: sampler.peaks[s.name]?.[requestsPhase] ?? NaN });

    const ceilings: Ceilings = {
      cores: env.cores,
      nodeSha256MBps: nodeSha,
      opensslSha256MBps: opensslSha,
      fileWrite,
      nginx: Object.fromEntries(Object.entries(samples.nginx ?? {}).map(([k, v]) => [k, median(v)])),
      nodeReceiver: Object.fromEntries(Object.entries(samples.node ?? {}).map(([k, v]) => [k, median(v)])),
    };
    const defs = rowDefs({ blobMiB: params.blobBytes / MiB, chunkMiB: params.chunkBytes / MiB, images: params.images, tags: params.tags, repos: params.repos, connections: params.connections });
    const rows = buildRows(defs, samples, ceilings);
    const header = [
      `# Berth vs CNCF Distribution${quick ? ' (QUICK smoke run: smaller sizes, not comparable to full runs)' : ''}`,
      '',
      `${new Date().toISOString()} · Berth ${env.berth} · ${env.cpu} × ${env.cores} cores · ${env.memGiB} GiB · Node ${env.node} · ${env.distribution} · ${env.nginx}`,
      `Medians of ${rounds} round(s), servers alternating first; RSS idle/peak are single values for the whole run. MB/s = 10^6 bytes/s.`,
    ];
    const notes = [
      ...errors.map((e) => `ERROR ${e}`),
      `setup (once per server, s): ${Object.entries(ctx.fixtures).map(([n, f]) => `${n} ${f.setupSeconds.tags?.toFixed(1)} for tags + ${f.setupSeconds.repos?.toFixed(1)} for repos`).join('; ')}`,
      `RSS peak first reached (within 2%) during: ${servers.map((s) => `${s.name} "${sampler?.peakPhase(s.name)}" (${sampler?.peak(s.name).toFixed(0)} MiB)`).join(', ')}`,
      `RSS peak by phase (MiB): ${Object.entries(sampler.peaks).map(([n, p]) => `${n} ${Object.entries(p).map(([ph, v]) => `${ph} ${v.toFixed(0)}`).join(', ')}`).join(' | ')}`,
      'Berth runs on its embedded default (filesystem + SQLite) with access control off (BERTH_AUTH_ENABLED=false), as Distribution runs with no auth configured.',
      'Berth auth on ("berth-auth"): a second Berth, same build and settings but access control on (its default) with BERTH_ADMIN_PASSWORD; seeded with the same fixture over HTTP Basic as admin; measured only on manifest GET / HEAD blob, with `Authorization: Bearer <JWT>` on every request, the JWT fetched per round from `GET /token?service=berth&scope=repository:bench/base:pull` with Basic admin credentials.',
      ...distributionQuirks(samples),
      `Load average (1/5/15 min) at start ${loadBefore.map((l) => l.toFixed(2)).join(' ')}, at end ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}: anything else running on the machine skews the numbers.`,
      `The load tool (autocannon), the pulling clients and the servers share the same ${env.cores} cores.`,
    ];
    const authRows = buildAuthRows(samples, berthAuth.name, berth.name, params.connections);
    const extra = [...authMarkdown(authRows), ...(scaleOut ? scaleOutMarkdown(samples, { connections: params.connections, blobMiB: params.blobBytes / MiB, chunkMiB: params.chunkBytes / MiB }) : [])];
    const md = markdown(rows, ceilings, header, notes, extra);
    const paths = writeResults(join(ROOT, 'bench/results'), md, { quick, rounds, params, environment: env, ceilings, rows, authRows, samples, errors, rssPeaksByPhase: sampler.peaks, rssPeakPhase: Object.fromEntries(servers.map((s) => [s.name, sampler?.peakPhase(s.name)])), fixtures: ctx.fixtures });
    process.stdout.write('\n' + md + '\n');
    log(`wrote ${paths.md} and ${paths.json}`);
  } finally {
    await cleanup();
  }
}

/** Things Distribution does differently that change how a row reads. */
function distributionQuirks(samples: Samples): string[] {
  const notes: string[] = [];
  if (median(samples.distribution?.tags_pages) === 1) {
    notes.push('Distribution 2.8 ignores `n` on tags/list: it returned every tag in one page with no Link header, so its tag walk is a single request.');
  }
  return notes;
}

function summary(m: Record<string, number>): string {
  return Object.entries(m).map(([k, v]) => `${k}=${Number.isInteger(v) ? v : v.toFixed(1)}`).join(' ');
}

main().then(
  () => process.exit(0),
  (err: Error) => {
    log(`FAILED: ${err.stack ?? err.message}`);
    process.exit(1);
  },
);
