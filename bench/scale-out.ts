// The scale-out backends in the same run: one Berth node on PostgreSQL (the local
// server, a schema of its own, dropped at the end) + S3 (s3rver in its own process),
// measured with the same workloads, reported beside the embedded default.
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import pg from 'pg';
import { scaleOutEnv, type S3Endpoint } from '../test/support/scale-out-env.js';
import { fmt, median, type Samples } from './report.js';

export const SCALE_OUT = 'berth-pg-s3';
const POSTGRES_URL = process.env.BENCH_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

export interface ScaleOutBackends {
  env: Record<string, string>;
  stop(): Promise<void>;
}

/** Starts s3rver and makes a fresh PostgreSQL schema; `env` configures a Berth node for both. */
export async function startScaleOutBackends(root: string): Promise<ScaleOutBackends> {
  const schema = `berth_bench_${Date.now()}`;
  await adminQuery(`create schema ${schema}`);
  const child: ChildProcess = spawn(process.execPath, ['--import', 'tsx', join(root, 'bench/s3-server-process.ts')], { stdio: ['ignore', 'pipe', 'inherit'] });
  const s3 = await new Promise<Record<string, string>>((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('\n')) resolve(JSON.parse(out.split('\n')[0]!) as Record<string, string>);
    });
    child.once('exit', (code) => reject(new Error(`s3rver exited with ${code}`)));
  });
  return {
    env: scaleOutEnv(POSTGRES_URL, schema, { ...(s3 as unknown as S3Endpoint), forcePathStyle: true }),
    async stop() {
      child.kill('SIGTERM');
      await adminQuery(`drop schema if exists ${schema} cascade`).catch(() => undefined);
    },
  };
}

async function adminQuery(statement: string): Promise<void> {
  const client = new pg.Client({ connectionString: POSTGRES_URL });
  await client.connect();
  try {
    await client.query(statement);
  } finally {
    await client.end();
  }
}

/** Rows: Berth on PostgreSQL + S3 beside the embedded default and Distribution; the one target is manifest GET ≥ 5× Distribution. */
export function scaleOutMarkdown(samples: Samples, p: { connections: number; blobMiB: number; chunkMiB: number }): string[] {
  const connections = p.connections;
  const med = (server: string, metric: string) => median(samples[server]?.[metric]);
  const rows: [string, string, 'higher' | 'lower'][] = [
    [`monolithic push ${p.blobMiB} MiB (MB/s)`, 'push_mono_MBps', 'higher'],
    ['pull, 1 client (MB/s)', 'pull_1_MBps', 'higher'],
    ['pull, 4 clients, aggregate (MB/s)', 'pull_4_MBps', 'higher'],
    [`chunked push ${p.blobMiB} MiB in ${p.chunkMiB} MiB PATCHes (MB/s)`, 'push_chunked_MBps', 'higher'],
    [`GET manifest by tag, ${connections} conns (req/s)`, 'manifest_get_rps', 'higher'],
    ['GET manifest p99 (ms)', 'manifest_get_p99_ms', 'lower'],
    [`HEAD blob, ${connections} conns (req/s)`, 'head_blob_rps', 'higher'],
    ['50 concurrent 5-layer image pushes, wall (s)', 'images_wall_s', 'lower'],
    ['walk _catalog, n=100 (s)', 'catalog_walk_s', 'lower'],
    ['RSS peak, whole run (MiB)', 'rss_peak_MiB', 'lower'],
  ];
  const lines = ['', '**Scale-out backends: one Berth node on PostgreSQL + S3 (s3rver) beside the embedded default (same run)**', ''];
  lines.push('| workload | Berth PG+S3, median | Berth embedded, median | Distribution, median | PG+S3 vs Distribution, >1 = Berth better | target | result |');
  lines.push('| --- | ---: | ---: | ---: | ---: | --- | --- |');
  for (const [label, metric, better] of rows) {
    const s = med(SCALE_OUT, metric);
    const e = med('berth', metric);
    const d = med('distribution', metric);
    const ratio = better === 'higher' ? s / d : d / s;
    const target = metric === 'manifest_get_rps' ? { text: '≥ 5×', pass: ratio >= 5 } : undefined;
    lines.push(`| ${label} | ${fmt(s)} | ${fmt(e)} | ${fmt(d)} | ${Number.isFinite(ratio) ? `${fmt(ratio)}×` : '—'} | ${target?.text ?? '—'} | ${target ? (target.pass ? 'PASS' : 'FAIL') : '—'} |`);
  }
  lines.push('', 'Blob figures on this backend are bound by s3rver (a JavaScript S3 fake that writes every object to files), not by Berth; a real S3, MinIO or Ceph gives different numbers.');
  return lines;
}
