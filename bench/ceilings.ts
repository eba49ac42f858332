// The machine's own ceilings, measured in the same run: how fast this CPU hashes
// SHA-256 (every push must hash every byte) and how fast nginx with sendfile serves
// the same file (about as fast as loopback HTTP gets), and how fast nginx takes a PUT
// of it into a file (the same client code as the registry pushes, so its ceiling too),
// and how fast a bare Node HTTP server takes the same PUT (node-receiver.ts): the
// runtime's own ceiling for a push, with and without the hashing and writing.
import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { closeSync, fsyncSync, openSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { BigBlobFactory } from './blobdata.js';
import { flushDirtyPages } from './machine.js';
import { median, type FileWriteCeilings } from './report.js';
import { expect } from './http.js';
import type { PullPool } from './pull.js';
import type { Metrics } from './workloads.js';

const MiB = 1 << 20;

/** Node crypto hashing `totalMiB` in 1 MiB updates, MB/s; the best of `repeats` (a ceiling, so noise from
 * anything else on the machine should not lower it). */
export function nodeSha256MBps(totalMiB = 256, repeats = 5): number {
  const chunk = randomBytes(MiB);
  const runs: number[] = [];
  for (let r = 0; r < repeats; r++) {
    const hash = createHash('sha256');
    const t0 = performance.now();
    for (let i = 0; i < totalMiB; i++) hash.update(chunk);
    hash.digest();
    runs.push((totalMiB * MiB) / 1e6 / ((performance.now() - t0) / 1000));
  }
  return Math.max(...runs);
}

/**
 * Writing `totalMiB` to a new file in 1 MiB writes, MB/s, without and with a final fsync
 * (Berth fsyncs each blob before making it visible; Distribution does not).
 *
 * `write` and `writeFsync` are the best of `repeats`, each file deleted before the next: the
 * next file reuses the pages the last one freed, which is the fastest this disk and memory go.
 *
 * The `kept` figures are what a registry taking push after push can sustain: it keeps what
 * it is pushed, so every push needs page-cache pages no file has just freed. On a VM that
 * hands free memory back to its host (free page reporting), the first touch of such a page
 * is a fault on the host, and writing new data runs at a fraction of the recycled speed
 * (2026-11-28: 7,000 MB/s recycled, ~500 kept; 1,450 and ~400 with fsync). `keptFiles`
 * files are written back to back without fsync, then as many with an fsync each; all are
 * kept until the last; each figure is the median of its second half, since the first files
 * still find memory that something freed a moment before.
 */
export function fileWriteMBps(dir: string, totalMiB = 256, repeats = 3, keptFiles = 12): FileWriteCeilings {
  const chunk = randomBytes(MiB);
  const writeFile = (file: string, fsync: boolean) => {
    const t0 = performance.now();
    const fd = openSync(file, 'w');
    try {
      for (let i = 0; i < totalMiB; i++) writeSync(fd, chunk);
      if (fsync) fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    return (totalMiB * MiB) / 1e6 / ((performance.now() - t0) / 1000);
  };
  const recycled = (fsync: boolean) => {
    const file = join(dir, `write-ceiling-${fsync ? 'fsync' : 'plain'}.bin`);
    const mbps = writeFile(file, fsync);
    rmSync(file, { force: true });
    return mbps;
  };
  const best = (fsync: boolean) => Math.max(...Array.from({ length: repeats }, () => recycled(fsync)));
  const write = best(false);
  const writeFsync = best(true);
  const kept: string[] = [];
  const keptSeries = (fsync: boolean) =>
    Array.from({ length: keptFiles }, (_, i) => {
      const file = join(dir, `write-ceiling-kept-${fsync ? 'fsync' : 'plain'}-${i}.bin`);
      kept.push(file);
      return writeFile(file, fsync);
    });
  const secondHalf = (rates: number[]) => median(rates.slice(Math.floor(rates.length / 2)));
  try {
    const plain = keptSeries(false);
    flushDirtyPages(); // the unsynced series' writeback is not the fsynced series' to wait for
    const synced = keptSeries(true);
    return { write, writeFsync, writeKept: secondHalf(plain), writeKeptAll: plain, writeFsyncKept: secondHalf(synced), writeFsyncKeptAll: synced };
  } finally {
    for (const file of kept) rmSync(file, { force: true });
  }
}

/** `openssl speed -evp sha256 -bytes 16384`, MB/s; undefined if openssl is missing or says nothing useful. */
export async function opensslSha256MBps(seconds = 3): Promise<number | undefined> {
  try {
    const { stdout } = await promisify(execFile)('openssl', ['speed', '-seconds', String(seconds), '-evp', 'sha256', '-bytes', '16384'], {
      timeout: (seconds + 30) * 1000,
    });
    // The result line: "sha256  123456.78k" (thousands of bytes per second).
    const line = stdout.split('\n').find((l) => /^sha256\s/.test(l));
    const m = line?.match(/([\d.]+)k\s*$/);
    return m ? (Number(m[1]) * 1000) / 1e6 : undefined;
  } catch {
    return undefined;
  }
}

/** nginx serving the big file: 1 and 4 clients, with and without verifying, like the registry pulls. */
export async function nginxPulls(port: number, big: BigBlobFactory, pool: PullPool, fileName: string): Promise<Metrics> {
  const metrics: Metrics = {};
  for (const clients of [1, 4]) {
    for (const verify of [false, true]) {
      const r = await pool.run(clients, { port, path: `/${fileName}`, size: big.size, digest: big.fileDigest, verify });
      if (r.errors.length > 0) throw new Error(`nginx pull by ${clients} client(s): ${r.errors.join('; ')}`);
      metrics[`pull_${clients}${verify ? '_verify' : ''}_MBps`] = r.mbps;
    }
  }
  return metrics;
}

/** nginx WebDAV PUT of a fresh big blob (written to a temp file, renamed), MB/s; the file is deleted after. */
export async function nginxPush(port: number, big: BigBlobFactory): Promise<Metrics> {
  const blob = big.fresh();
  const path = '/upload/push.bin';
  const t0 = performance.now();
  await expect(201, port, 'PUT', path, { headers: { 'content-length': blob.size }, body: () => blob.chunks() });
  const ms = performance.now() - t0;
  await expect(204, port, 'DELETE', path);
  return { push_MBps: (blob.size * 1000) / 1e6 / ms };
}

/**
 * Pushes a fresh big blob to each mode of the bare Node receiver (node-receiver.ts), MB/s per
 * mode; then the same blob in `chunkBytes` PUTs one after another to /discard, as a chunked push
 * sends its PATCHes (each waits for the answer to the one before): the client's own ceiling for
 * a chunked push, round trips included (over a kept-alive connection, which is generous).
 */
export async function nodeReceiverPushes(port: number, big: BigBlobFactory, chunkBytes: number): Promise<Metrics> {
  const metrics: Metrics = {};
  const chunked = big.fresh();
  const t0 = performance.now();
  for (let start = 0; start < chunked.size; start += chunkBytes) {
    const end = Math.min(start + chunkBytes, chunked.size);
    await expect(201, port, 'PUT', '/discard', { headers: { 'content-length': end - start }, body: () => chunked.chunks(start, end) });
  }
  metrics.push_discard_chunked_MBps = (chunked.size * 1000) / 1e6 / (performance.now() - t0);
  for (const mode of ['discard', 'hash', 'store']) {
    const blob = big.fresh();
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    await expect(201, port, 'PUT', `/${mode}`, { headers: { 'content-length': blob.size }, body: () => blob.chunks() });
    metrics[`push_${mode}_MBps`] = (blob.size * 1000) / 1e6 / (performance.now() - t0);
    if (mode === 'discard') {
      // The client is this process: its CPU time (all threads) per MB sent, for the push's CPU budget.
      const cpu = process.cpuUsage(cpu0);
      metrics.push_client_cpu_ms_per_MB = (cpu.user + cpu.system) / 1000 / (blob.size / 1e6);
    }
  }
  return metrics;
}

/**
 * 100 GETs one after another (a 2-byte body each) to the bare Node receiver, with the client
 * that walks tags and catalog pages: the least 100 pages can take on this runtime and machine,
 * whatever the server does per page. (Distribution answers a whole tag list in one page.)
 */
export async function nodeReceiverRoundTrips(port: number, count = 100): Promise<Metrics> {
  await expect(200, port, 'GET', '/'); // connection up, outside the clock
  const t0 = performance.now();
  for (let i = 0; i < count; i++) await expect(200, port, 'GET', '/');
  return { get_100_sequential_ms: ((performance.now() - t0) * 100) / count };
}

