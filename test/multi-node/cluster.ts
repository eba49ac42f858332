/**
 * A scale-out Berth for the multi-node acceptance test: N `berth serve`
 * processes sharing ONE PostgreSQL schema and ONE S3 bucket + key prefix, with
 * access control on, behind nginx (round-robin). Each node has its own port and
 * data directory (which stays empty: the nodes keep no local state).
 */
import { scaleOutEnv } from '../support/scale-out-env.js';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { startBerth, type BerthProcess } from '../support/berth-process.js';
import { dropSchema, POSTGRES_URL } from '../support/postgres.js';
import { startS3Server, type S3TestServer } from '../support/s3-server.js';
import { startLateNotifyProxy, type LateNotifyProxy } from './late-notify-proxy.js';

export interface ClusterOptions {
  /** Where the nodes' data directories go. */
  workDir: string;
  adminPassword: string;
  nodes: number;
  /**
   * This node (0-based) reaches PostgreSQL through a proxy that hands it every
   * LISTEN/NOTIFY notification `delayMs` late (everything else as is).
   */
  lateNotify?: { node: number; delayMs: number };
}

export interface Cluster {
  nodes: BerthProcess[];
  s3: S3TestServer;
  schema: string;
  prefix: string;
  /** The environment every node gets (backends and pool size), for starting another one. */
  env: Record<string, string>;
  /** Starts node `i` again (after a kill) on its old port and data directory. */
  restart(i: number): Promise<BerthProcess>;
  stop(): Promise<void>;
}

/**
 * PostgreSQL schemas named `berth_t_<run>_…` are dropped by test/support/global-setup.ts
 * at the end of the run (and, if this run is killed, by a run a day later).
 */
function schemaName(): string {
  const run = process.env.BERTH_TEST_RUN ?? String(Math.floor(Date.now() / 1000));
  return `berth_t_${run}_multinode_${process.pid}`;
}

/**
 * Starts the nodes concurrently on an empty schema: they race to run the
 * migrations (under PostgreSQL's advisory lock) and to create the admin.
 */
export async function startCluster(options: ClusterOptions): Promise<Cluster> {
  const s3 = await startS3Server({ partCopy: true });
  const schema = schemaName();
  const prefix = `multinode-${process.pid}-${Date.now()}/`;
  const env: Record<string, string> = {
    ...scaleOutEnv(POSTGRES_URL, schema, s3, prefix),
    // 3 nodes × (5 + the LISTEN connection) stays far below max_connections (100 by default),
    // even with other suites using the same server.
    BERTH_STORAGE_POSTGRES_POOL_SIZE: '5',
    // The smallest part S3 allows: the test's few-MiB layers then span several parts.
    BERTH_STORAGE_S3_PART_SIZE_MIB: '5',
  };
  let proxy: LateNotifyProxy | undefined;
  if (options.lateNotify) proxy = await startLateNotifyProxy(POSTGRES_URL, options.lateNotify.delayMs);
  const envOf = (i: number) => (proxy && i === options.lateNotify?.node ? { ...env, BERTH_STORAGE_POSTGRES_URL: proxy.url } : env);
  const start = (i: number, port?: number) =>
    startBerth({ dataDir: join(options.workDir, `node-${i + 1}`), adminPassword: options.adminPassword, env: envOf(i), port });

  const started = await Promise.allSettled(Array.from({ length: options.nodes }, (_, i) => start(i)));
  const nodes = started.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
  const failed = started.flatMap((r) => (r.status === 'rejected' ? [r.reason as Error] : []));
  if (failed.length > 0) {
    await Promise.all(nodes.map((n) => n.stop()));
    await proxy?.close();
    await s3.stop();
    await dropSchema(schema).catch(() => undefined);
    throw new Error(`${failed.length} of ${options.nodes} nodes starting concurrently on one schema failed:\n${failed.map((e) => e.message).join('\n---\n')}`);
  }

  return {
    nodes,
    s3,
    schema,
    prefix,
    env,
    async restart(i) {
      const old = nodes[i]!;
      nodes[i] = await start(i, old.port);
      return nodes[i];
    },
    async stop() {
      await Promise.all(nodes.map((n) => n.stop()));
      await proxy?.close();
      await s3.stop();
      await dropSchema(schema).catch(() => undefined);
    },
  };
}

/** A loopback port nothing listens on right now. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/**
 * Bytes a process has read so far, from any file or socket (`rchar` in
 * /proc/PID/io): how the test tells which node is receiving a large upload.
 */
export function bytesRead(pid: number): number {
  try {
    const m = readFileSync(`/proc/${pid}/io`, 'utf8').match(/^rchar:\s*(\d+)$/m);
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}

/** The nodes' logs, for failure messages: the last lines of each. */
export function logTails(nodes: BerthProcess[], chars = 3000): string {
  return nodes.map((n, i) => `--- node ${i + 1} (${n.host}) ---\n${n.logs().slice(-chars)}`).join('\n');
}
