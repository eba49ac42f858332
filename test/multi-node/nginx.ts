/**
 * nginx as the load balancer in front of the Berth nodes, in a private prefix
 * (its own config, logs, pid and temp directories). The configuration is the
 * one docs/deployment.md recommends, minus TLS; keep the two in step.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir } from '../support/berth-process.js';

export interface Nginx {
  /** e.g. 127.0.0.1:41234, as registry clients want it */
  host: string;
  url: string;
  prefix: string;
  /** The access log: one line per request with the node (`upstream=`) that served it. */
  accessLog(): string;
  errorLog(): string;
  /** Stops nginx and removes its prefix. */
  stop(): Promise<void>;
}

/** The nginx.conf for `upstreams` (host:port each), listening on `listen`. */
export function nginxConf(prefix: string, listen: string, upstreams: string[]): string {
  const servers = upstreams.map((u) => `    server ${u} max_fails=1 fail_timeout=5s;`).join('\n');
  return `# Berth behind nginx: every node is stateless, so plain round-robin, no sticky sessions.
worker_processes 2;
pid ${prefix}/nginx.pid;
error_log ${prefix}/error.log warn;

events {
  worker_connections 1024;
}

http {
  log_format upstream '$remote_addr "$request" $status $body_bytes_sent in=$request_length '
                      'upstream=$upstream_addr upstream_status=$upstream_status time=$request_time';
  access_log ${prefix}/access.log upstream;
  # Temp files stay inside the prefix (with buffering off below they are hardly used).
  client_body_temp_path ${prefix}/temp/body;
  proxy_temp_path ${prefix}/temp/proxy;
  fastcgi_temp_path ${prefix}/temp/fastcgi;
  uwsgi_temp_path ${prefix}/temp/uwsgi;
  scgi_temp_path ${prefix}/temp/scgi;

  upstream berth {
    # Round-robin (the default). Any node can serve any request, including the next
    # chunk of an upload another node started: sessions live in PostgreSQL + S3.
    # A node that refuses a connection is skipped for fail_timeout.
${servers}
    # Reused connections to the nodes (needs HTTP/1.1 and an empty Connection header below).
    keepalive 32;
  }

  server {
    listen ${listen};

    # Layers are as large as they are: the default (1m) would refuse them with 413.
    client_max_body_size 0;
    # Stream upload bodies to a node as they arrive, instead of spooling a whole
    # layer to nginx's disk first (which doubles the I/O, needs disk the size of the
    # largest layer, and stalls the client while nginx writes).
    proxy_request_buffering off;
    # Stream blobs to pullers as the node sends them, no temp files.
    proxy_buffering off;
    # Clients PATCH with Transfer-Encoding: chunked; unbuffered, nginx can only pass
    # that on over HTTP/1.1 (1.0 would answer 411). Also needed for keepalive.
    proxy_http_version 1.1;
    proxy_set_header Connection "";
    # The Host the client used, port included ($host would drop the port): Berth
    # builds the token realm of its WWW-Authenticate challenges from it, so clients
    # come back through nginx for their token.
    proxy_set_header Host $http_host;
    proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
    proxy_set_header X-Forwarded-Proto $scheme;
    # Completing a large upload can take a while (a node that did not see the
    # earlier chunks re-reads them from S3 to hash them): do not cut it at 60s.
    proxy_read_timeout 900s;
    proxy_send_timeout 900s;
    proxy_connect_timeout 5s;
    # The default, spelled out: a request that could not reach a node (refused,
    # reset, connect timeout) goes to the next one, but only for idempotent methods
    # (GET, HEAD, PUT, DELETE...). POST and PATCH are never replayed: a PATCH sent
    # twice would append its chunk twice. With request buffering off nginx cannot
    # replay a body it already started sending anyway: that request fails with 502
    # and the client retries it (docker does; skopeo is rerun).
    proxy_next_upstream error timeout;
    proxy_next_upstream_tries 3;

    location / {
      proxy_pass http://berth;
    }
  }
}
`;
}

/**
 * Starts nginx in the foreground (`daemon off`) in a temporary prefix of its own
 * and waits until it answers /v2/ through a node.
 */
export async function startNginx(nginxBin: string, listen: string, upstreams: string[]): Promise<Nginx> {
  // Workers run as `nobody` when nginx starts as root: they must reach the prefix.
  const prefix = tempDir('berth-nginx-');
  mkdirSync(join(prefix, 'temp'), { recursive: true });
  chmodSync(prefix, 0o755);
  chmodSync(join(prefix, 'temp'), 0o755);
  const conf = join(prefix, 'nginx.conf');
  writeFileSync(conf, nginxConf(prefix, listen, upstreams));
  const child: ChildProcess = spawn(nginxBin, ['-p', prefix, '-e', join(prefix, 'error.log'), '-c', conf, '-g', 'daemon off;'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout!.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (output += d.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const read = (file: string) => (existsSync(join(prefix, file)) ? readFileSync(join(prefix, file), 'utf8') : '');
  const url = `http://${listen}`;
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      await exited;
    }
    rmSync(prefix, { recursive: true, force: true });
  };

  const deadline = Date.now() + 15_000;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`nginx exited with ${child.exitCode ?? child.signalCode}:\n${output}\n${read('error.log')}`);
    const status = await fetch(`${url}/v2/`).then(
      (r) => r.status,
      () => 0,
    );
    if (status === 401 || status === 200) break;
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`nginx did not answer /v2/ at ${url} in 15 s (last status ${status}):\n${output}\n${read('error.log')}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return { host: listen, url, prefix, accessLog: () => read('access.log'), errorLog: () => read('error.log'), stop };
}
