import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, statSync } from 'node:fs';
import { ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

import { POSTGRES_URL } from './postgres.js';
import { scaleOutEnv } from './scale-out-env.js';
import { startS3Server, type S3TestServer } from './s3-server.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
export const BERTH_BIN = join(ROOT, 'dist/cli/main.js');

export interface BerthProcess {
  /** e.g. http://127.0.0.1:41234 */
  url: string;
  /** e.g. 127.0.0.1:41234, as registry clients want it */
  host: string;
  port: number;
  dataDir: string;
  child: ChildProcess;
  /** Everything the server logged so far (JSON lines). */
  logs(): string;
  /** SIGTERM and wait for exit. */
  stop(): Promise<number | null>;
  /** SIGKILL and wait for exit: a crash. */
  kill(): Promise<void>;
}

export interface StartOptions {
  dataDir?: string;
  /** Fixed port (for restarting on the same address); default: a free one. */
  port?: number;
  env?: Record<string, string>;
  args?: string[];
  /**
   * Access control on (the product's default) with this admin password. Without it the
   * server runs with auth.enabled=false, for suites about the protocol rather than access.
   */
  adminPassword?: string;
}

export function tempDir(prefix = 'berth-test-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

/**
 * Starts `berth serve` (the built CLI, as a user would) on 127.0.0.1 and waits
 * until it logs the address it bound.
 */
export async function startBerth(options: StartOptions = {}): Promise<BerthProcess> {
  const dataDir = options.dataDir ?? join(tempDir(), 'data');
  const backend = await backendEnv(dataDir);
  const child = spawn(
    process.execPath,
    [BERTH_BIN, 'serve', '--listen', `127.0.0.1:${options.port ?? 0}`, '--data', dataDir, ...(options.args ?? [])],
    {
      env: {
        // The harness's own BERTH_TEST_* variables are not settings: Berth would refuse them as unknown.
        ...Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('BERTH_TEST_'))),
        BERTH_LOG_LEVEL: 'info',
        ...(options.adminPassword === undefined ? { BERTH_AUTH_ENABLED: 'false' } : { BERTH_ADMIN_PASSWORD: options.adminPassword }),
        ...backend,
        ...options.env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let output = '';
  child.stdout!.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (output += d.toString()));
  const exited = new Promise<number | null>((res) => child.once('exit', (code) => res(code)));

  const port = await new Promise<number>((res, rej) => {
    const timer = setTimeout(() => rej(new Error(`berth did not start in 20 s:\n${output}`)), 20_000);
    const check = () => {
      const m = output.match(/"listen":"127\.0\.0\.1:(\d+)"/);
      if (m) {
        clearTimeout(timer);
        child.stdout!.off('data', check);
        res(Number(m[1]));
      }
    };
    child.stdout!.on('data', check);
    void exited.then((code) => {
      clearTimeout(timer);
      rej(new Error(`berth exited with ${code} before serving:\n${output}`));
    });
  });

  return {
    url: `http://127.0.0.1:${port}`,
    host: `127.0.0.1:${port}`,
    port,
    dataDir,
    child,
    logs: () => output,
    async stop() {
      if (child.exitCode !== null) return child.exitCode;
      child.kill('SIGTERM');
      return exited;
    },
    async kill() {
      if (child.exitCode === null) {
        child.kill('SIGKILL');
        await exited;
      }
    },
  };
}

/** The backends the suites run on: `embedded` (SQLite + filesystem, the default) or `postgres-s3`. */
export const TEST_BACKEND = process.env.BERTH_TEST_BACKEND === 'postgres-s3' ? 'postgres-s3' : 'embedded';

/** PostgreSQL schemas of these servers: `berth_t_<run>_<server>`, dropped by test/support/global-setup.ts. */
const TEST_SCHEMA_PREFIX = `berth_t_${process.env.BERTH_TEST_RUN ?? Math.floor(Date.now() / 1000)}_`;

let sharedS3: Promise<S3TestServer> | undefined;

/**
 * With BERTH_TEST_BACKEND=postgres-s3, every Berth a test starts keeps its
 * metadata in PostgreSQL and its blobs in S3 (s3rver, or the server named by
 * BERTH_TEST_S3_*), so the same suites run on the scale-out backends. The schema
 * and key prefix come from the data directory, so a restart on the same
 * directory finds its data.
 */
async function backendEnv(dataDir: string): Promise<Record<string, string>> {
  if (TEST_BACKEND !== 'postgres-s3') return {};
  const s3 = await (sharedS3 ??= startS3Server({ partCopy: true }));
  const id = createHash('sha256').update(resolve(dataDir)).digest('hex').slice(0, 12);
  return scaleOutEnv(POSTGRES_URL, `${TEST_SCHEMA_PREFIX}${id}`, s3, `t-${id}/`);
}

/**
 * The stored blob objects of a server started on `dataDir`, as paths or keys ending in
 * the digest's hex: files under <data>/blobs, or, on the postgres-s3 backend, the
 * objects under the server's key prefix.
 */
export async function storedBlobs(dataDir: string): Promise<string[]> {
  if (TEST_BACKEND !== 'postgres-s3') return listFiles(join(dataDir, 'blobs'));
  const s3 = await sharedS3!;
  const env = await backendEnv(dataDir);
  const client = new S3Client({ endpoint: s3.endpoint, region: s3.region, forcePathStyle: s3.forcePathStyle, credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey } });
  try {
    const keys: string[] = [];
    let token: string | undefined;
    do {
      const page = await client.send(new ListObjectsV2Command({ Bucket: s3.bucket, Prefix: `${env.BERTH_STORAGE_S3_PREFIX}blobs/`, ContinuationToken: token }));
      keys.push(...(page.Contents ?? []).map((o) => o.Key!));
      token = page.NextContinuationToken;
    } while (token);
    return keys;
  } finally {
    client.destroy();
  }
}

/** Every file under `dir`, recursively (none when it does not exist). */
export function listFiles(dir: string): string[] {
  let entries: string[];
  try {
    entries = readdirSync(dir);
  } catch {
    return [];
  }
  return entries.flatMap((e) => {
    const p = join(dir, e);
    return statSync(p).isDirectory() ? listFiles(p) : [p];
  });
}
