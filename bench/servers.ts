// Starting and stopping the processes under test: Berth, CNCF Distribution and nginx.
// Every process is spawned directly (no shell), so its PID is the server's own and
// /proc/PID/status gives the server's RSS, not a wrapper's.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { basicAuthorization, newAdminCredentials, type Credentials } from './auth.js';
import { request, setDefaultAuthorization } from './http.js';

export interface Server {
  name: string;
  port: number;
  pid: number;
  /** Set on a server with access control on: its admin, for setup and for /token. */
  credentials?: Credentials;
  /** Output of the process (stderr and stdout), kept for error messages. */
  output(): string;
  stop(): Promise<void>;
}

const running = new Set<Server>();
const children = new Set<ChildProcess>();

// Last resort: if the bench dies without running its cleanup (an uncaught error,
// process.exit), no server may outlive it. 'exit' handlers must be synchronous.
process.on('exit', () => {
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
});

/** A free loopback port: bind port 0, read it back, release it. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

function launch(name: string, cmd: string, args: string[], port: number, env?: NodeJS.ProcessEnv): Server {
  const child: ChildProcess = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], env: env ?? process.env });
  let out = '';
  const keep = (d: Buffer) => {
    out = (out + d.toString()).slice(-20_000); // bounded: only the tail matters for errors
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  children.add(child);
  const exited = new Promise<void>((res) =>
    child.once('exit', () => {
      children.delete(child);
      res();
    }),
  );
  const server: Server = {
    name,
    port,
    pid: child.pid ?? -1,
    output: () => out,
    async stop() {
      running.delete(server);
      if (child.exitCode !== null || child.signalCode !== null) return;
      const t0 = Date.now();
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000); // never wait forever
      await exited;
      clearTimeout(timer);
      if (process.env.BENCH_DEBUG) process.stderr.write(`${name} stopped in ${Date.now() - t0} ms\n`);
    },
  };
  running.add(server);
  return server;
}

/** Polls `path` until it answers `status`; bounded by `timeoutMs`. */
async function waitReady(server: Server, path: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    try {
      const res = await request(server.port, 'GET', path, { timeoutMs: 2_000 });
      if (res.status === 200) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  await server.stop();
  throw new Error(`${server.name} did not become ready in ${timeoutMs} ms:\n${server.output()}`);
}

/** Berth on its embedded default (filesystem blobs + SQLite), fresh data dir, access control off. */
export async function startBerth(root: string, dataDir: string, name = 'berth', backendEnv: Record<string, string> = {}): Promise<Server> {
  // Access control is off, like Distribution here (no auth configured): both serve
  // anonymous clients, so the comparison is of the registries, not of token checks.
  // Scanning on push is off too: Distribution has none, and the bench's layers are random bytes, not filesystems.
  return launchBerth(name, root, dataDir, { BERTH_AUTH_ENABLED: 'false', BERTH_SCAN_ON_PUSH: 'false', ...backendEnv });
}

/**
 * Berth with access control on (its default): the first start creates `admin` with
 * BERTH_ADMIN_PASSWORD. Everything else is as in startBerth, so the two differ only in auth.
 */
export async function startBerthWithAuth(root: string, dataDir: string): Promise<Server> {
  const credentials = newAdminCredentials();
  const server = await launchBerth('berth-auth', root, dataDir, { BERTH_ADMIN_PASSWORD: credentials.password, BERTH_SCAN_ON_PUSH: 'false' }, credentials);
  server.credentials = credentials;
  return server;
}

async function launchBerth(name: string, root: string, dataDir: string, berthEnv: Record<string, string>, credentials?: Credentials): Promise<Server> {
  const port = await freePort();
  const bin = join(root, 'dist/cli/main.js');
  const nodeFlags = (process.env.BENCH_BERTH_NODE_FLAGS ?? '').split(' ').filter(Boolean);
  const args = [...nodeFlags, bin, 'serve', '--listen', `127.0.0.1:${port}`, '--data', dataDir, '--log-level', 'error'];
  // Strip BERTH_* from the environment so a developer's settings can't skew the run; an A/B
  // names the settings it varies in BENCH_BERTH_ENV ("BERTH_A=1 BERTH_B=2").
  const env = {
    ...Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('BERTH_'))),
    ...berthEnv,
    ...Object.fromEntries((process.env.BENCH_BERTH_ENV ?? '').split(' ').filter(Boolean).map((pair) => pair.split('=', 2) as [string, string])),
  };
  const server = launch(name, process.execPath, args, port, env);
  if (!credentials) {
    await waitReady(server, '/v2/');
    return server;
  }
  // Auth on: prove it is (an anonymous /v2/ must be refused), then let every setup request
  // carry the admin's Basic credentials and check they are accepted.
  await waitReady(server, '/healthz');
  const anonymous = await request(port, 'GET', '/v2/');
  if (anonymous.status !== 401) throw new Error(`${name}: anonymous GET /v2/ answered ${anonymous.status}, expected 401 (is access control on?)`);
  setDefaultAuthorization(port, basicAuthorization(credentials));
  await waitReady(server, '/v2/', 5_000);
  return server;
}

/** CNCF Distribution (Debian's docker-registry) on filesystem storage with deletes enabled. */
export async function startDistribution(dir: string): Promise<Server> {
  const port = await freePort();
  const dataDir = join(dir, 'data');
  mkdirSync(dataDir, { recursive: true });
  const config = join(dir, 'config.yml');
  // Access logs are separate from log.level in Distribution; off, like Berth's at level error.
  writeFileSync(
    config,
    [
      'version: 0.1',
      'log:',
      '  level: error',
      '  accesslog:',
      '    disabled: true',
      'storage:',
      '  filesystem:',
      `    rootdirectory: ${dataDir}`,
      '  delete:',
      '    enabled: true',
      '  cache:',
      '    blobdescriptor: inmemory',
      'http:',
      `  addr: 127.0.0.1:${port}`,
      '',
    ].join('\n'),
  );
  const server = launch('distribution', '/usr/bin/docker-registry', ['serve', config], port);
  await waitReady(server, '/v2/');
  return server;
}

/** nginx in the foreground, one process, sendfile on, serving `docroot` (and taking PUTs under /upload/); all paths under `dir`. */
/** The bare Node receiver (node-receiver.ts) on its own port, in its own process. */
export async function startNodeReceiver(root: string, dir: string): Promise<Server> {
  const port = await freePort();
  mkdirSync(dir, { recursive: true });
  const server = launch('node-receiver', process.execPath, ['--import', 'tsx', join(root, 'bench/node-receiver.ts'), String(port), dir], port);
  await waitReady(server, '/');
  return server;
}

export async function startNginx(dir: string, docroot: string): Promise<Server> {
  const port = await freePort();
  mkdirSync(join(dir, 'tmp'), { recursive: true });
  const conf = join(dir, 'nginx.conf');
  const tmp = join(dir, 'tmp');
  writeFileSync(
    conf,
    `daemon off;
master_process off;
worker_processes 1;
pid ${join(dir, 'nginx.pid')};
error_log ${join(dir, 'error.log')} error;
events { worker_connections 256; }
http {
  access_log off;
  sendfile on;
  tcp_nopush on;
  keepalive_requests 100000;
  client_body_temp_path ${tmp}/body;
  proxy_temp_path ${tmp}/proxy;
  fastcgi_temp_path ${tmp}/fastcgi;
  uwsgi_temp_path ${tmp}/uwsgi;
  scgi_temp_path ${tmp}/scgi;
  default_type application/octet-stream;
  server {
    listen 127.0.0.1:${port};
    root ${docroot};
    location = /healthz { return 200 "ok"; }
    # The push ceiling: WebDAV PUT streams the body to a temp file, then renames it.
    location /upload/ {
      client_max_body_size 0;
      client_body_buffer_size 1m;
      dav_methods PUT DELETE;
      create_full_put_path on;
    }
  }
}
`,
  );
  const server = launch('nginx', '/usr/sbin/nginx', ['-p', dir, '-c', conf, '-e', join(dir, 'error.log')], port);
  await waitReady(server, '/healthz');
  return server;
}

/** Stops everything still running; used in `finally` and on signals. */
export async function stopAll(): Promise<void> {
  await Promise.all([...running].map((s) => s.stop().catch(() => undefined)));
}
