/**
 * Runs the real registry clients (Debian's skopeo, podman, buildah, docker,
 * containerd's ctr) for the end-to-end tests. Every failure throws with the
 * command line, exit status, stdout and stderr, so a red test says why.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { accessSync, chmodSync, constants, existsSync, mkdirSync, openSync, closeSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { delimiter, join } from 'node:path';
import { tempDir } from './berth-process.js';

export interface RunOptions {
  env?: Record<string, string>;
  /** Default 5 minutes: vfs copies on 2 cores are slow. */
  timeoutMs?: number;
  cwd?: string;
  /** Written to the command's stdin, which is then closed (e.g. `--password-stdin`). */
  input?: string;
}

export interface RunResult {
  stdout: string;
  stderr: string;
}

export class CommandError extends Error {
  constructor(
    readonly command: string,
    readonly code: number | string | null,
    readonly stdout: string,
    readonly stderr: string,
  ) {
    super(`\`${command}\` failed (${code}):\n--- stdout ---\n${tail(stdout)}\n--- stderr ---\n${tail(stderr)}`);
  }
}

function tail(s: string, max = 6000): string {
  return s.length > max ? `…${s.slice(-max)}` : s;
}

/** Runs a command to completion; rejects with a CommandError on a non-zero exit or a timeout. */
export function run(cmd: string, args: string[], options: RunOptions = {}): Promise<RunResult> {
  const line = [cmd, ...args].join(' ');
  return new Promise((resolve, reject) => {
    const child = execFile(
      cmd,
      args,
      {
        env: { ...process.env, ...options.env },
        timeout: options.timeoutMs ?? 300_000,
        killSignal: 'SIGKILL',
        maxBuffer: 64 * 1024 * 1024,
        cwd: options.cwd,
        encoding: 'utf8',
      },
      (err, stdout, stderr) => {
        if (!err) return resolve({ stdout, stderr });
        const e = err as NodeJS.ErrnoException & { code?: number | string; killed?: boolean; signal?: string };
        const code = e.killed ? `killed after timeout, ${e.signal}` : (e.code ?? null);
        reject(new CommandError(line, code, stdout ?? '', stderr || e.message));
      },
    );
    if (options.input !== undefined) {
      child.stdin?.on('error', () => undefined); // the command may exit before reading everything
      child.stdin?.end(options.input);
    }
  });
}

// --- tools -----------------------------------------------------------------

/** Debian package that ships each binary this suite runs. */
const PACKAGES: Record<string, string> = {
  skopeo: 'skopeo',
  podman: 'podman',
  buildah: 'buildah',
  dockerd: 'docker.io',
  '/usr/bin/docker': 'docker.io',
  containerd: 'containerd',
  ctr: 'containerd',
  busybox: 'busybox-static',
  chromium: 'chromium',
};

/** Full path of an executable, or undefined. Absolute names are checked as they are. */
export function findTool(name: string): string | undefined {
  const candidates = name.startsWith('/') ? [name] : (process.env.PATH ?? '').split(delimiter).concat(['/usr/sbin', '/sbin']).map((d) => join(d, name));
  for (const c of candidates) {
    try {
      accessSync(c, constants.X_OK);
      return c;
    } catch {
      // next
    }
  }
  return undefined;
}

/**
 * Returns the path of `name`. When it is missing: in CI (CI=true) throws, so
 * the run fails loudly instead of skipping; elsewhere installs its Debian
 * package (with services kept from starting) and fails if that does not work.
 */
export async function requireTool(name: string, pkg = PACKAGES[name] ?? name): Promise<string> {
  const found = findTool(name);
  if (found) return found;
  if (process.env.CI === 'true') {
    throw new Error(`${name} is required by the end-to-end tests but is not installed: CI must install the Debian package ${pkg}`);
  }
  await aptInstall(pkg);
  const installed = findTool(name);
  if (!installed) throw new Error(`apt-get installed ${pkg}, but ${name} is still not on PATH`);
  return installed;
}

async function aptInstall(pkg: string): Promise<void> {
  // policy-rc.d exit 101 keeps packages such as docker.io from starting their services.
  const policy = '/usr/sbin/policy-rc.d';
  const ownPolicy = !existsSync(policy);
  if (ownPolicy) {
    writeFileSync(policy, '#!/bin/sh\nexit 101\n');
    chmodSync(policy, 0o755);
  }
  const install = () =>
    run('apt-get', ['-o', 'DPkg::Lock::Timeout=300', 'install', '-y', '--no-install-recommends', pkg], {
      env: { DEBIAN_FRONTEND: 'noninteractive' },
      timeoutMs: 600_000,
    });
  try {
    try {
      await install();
    } catch {
      await run('apt-get', ['-o', 'DPkg::Lock::Timeout=300', 'update'], { timeoutMs: 600_000 });
      await install();
    }
  } catch (err) {
    throw new Error(`could not install ${pkg} for the end-to-end tests: ${(err as Error).message}`);
  } finally {
    if (ownPolicy) rmSync(policy, { force: true });
  }
}

/** A statically linked busybox (usable inside an image without libc), or undefined. */
export async function staticBusybox(): Promise<string | undefined> {
  let path = findTool('busybox');
  if (!path && process.env.CI !== 'true') {
    path = await requireTool('busybox').catch(() => undefined);
  }
  if (!path) return undefined;
  const ldd = await run('ldd', [path]).catch((e: CommandError) => e);
  const text = ldd instanceof CommandError ? ldd.stdout + ldd.stderr : ldd.stdout + ldd.stderr;
  return /not a dynamic executable|statically linked/.test(text) ? path : undefined;
}

// --- podman / buildah --------------------------------------------------------

/** A private containers-storage (vfs) root, so tools never share state with each other or the host. */
export interface Storage {
  root: string;
  runroot: string;
  dir: string;
}

export function newStorage(prefix: string): Storage {
  const dir = tempDir(prefix);
  return { dir, root: join(dir, 'root'), runroot: join(dir, 'run') };
}

export function removeStorage(s: Storage): void {
  rmSync(s.dir, { recursive: true, force: true });
}

export function podman(s: Storage, args: string[], options?: RunOptions): Promise<RunResult> {
  const global = ['--root', s.root, '--runroot', s.runroot, '--storage-driver', 'vfs', '--cgroup-manager', 'cgroupfs', '--events-backend', 'file'];
  return run('podman', [...global, ...args], { ...options, env: { TMPDIR: s.dir, ...options?.env } });
}

export function buildah(s: Storage, args: string[], options?: RunOptions): Promise<RunResult> {
  return run('buildah', ['--root', s.root, '--runroot', s.runroot, '--storage-driver', 'vfs', ...args], {
    ...options,
    env: { TMPDIR: s.dir, ...options?.env },
  });
}

// --- docker ------------------------------------------------------------------

export interface Dockerd {
  dir: string;
  /** unix socket of the Docker API */
  socket: string;
  /** the containerd that dockerd started */
  containerdSocket: string;
  pid: number;
  /** Runs Debian's docker CLI (/usr/bin/docker) against this daemon, with a private config dir. */
  docker(args: string[], options?: RunOptions): Promise<RunResult>;
  logs(): string;
  stop(): Promise<void>;
}

/** Starts a private dockerd (vfs, no networking set-up) and waits until it answers /_ping. */
export async function startDockerd(): Promise<Dockerd> {
  const dockerdBin = await requireTool('dockerd');
  const dockerBin = await requireTool('/usr/bin/docker');
  await requireTool('containerd');
  // Short paths: unix socket paths are limited to 108 bytes.
  const dir = tempDir('bd-');
  const [data, exec, sock, config] = ['data', 'exec', 'sock', 'config'].map((d) => join(dir, d)) as [string, string, string, string];
  for (const d of [data, exec, sock, config]) mkdirSync(d, { recursive: true });
  const socket = join(sock, 'docker.sock');
  const logFile = join(dir, 'dockerd.log');
  const out = openSync(logFile, 'a');
  const child: ChildProcess = spawn(
    dockerdBin,
    [
      '--data-root', data, '--exec-root', exec, '--pidfile', join(dir, 'docker.pid'), '-H', `unix://${socket}`,
      '--bridge=none', '--iptables=false', '--ip6tables=false', '--ip-masq=false', '--userland-proxy=false', '--storage-driver', 'vfs',
    ],
    { stdio: ['ignore', out, out] },
  );
  closeSync(out);
  const logs = () => (existsSync(logFile) ? readFileSync(logFile, 'utf8') : '');
  const pid = child.pid!;
  const exited = new Promise<void>((res) => child.once('exit', () => res()));
  // Safety net if the test process ends without stop(): SIGTERM lets dockerd stop its containerd too.
  const onExit = () => child.kill('SIGTERM');
  process.once('exit', onExit);
  const stop = async () => {
    process.off('exit', onExit);
    if (child.exitCode === null && child.signalCode === null) {
      process.kill(pid, 'SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
      await exited;
      clearTimeout(timer);
    }
    rmSync(dir, { recursive: true, force: true, maxRetries: 3 });
  };

  const deadline = Date.now() + 60_000;
  while (!(await ping(socket))) {
    const exitedEarly = child.exitCode !== null || child.signalCode !== null;
    if (exitedEarly || Date.now() > deadline) {
      const why = exitedEarly ? `exited with ${child.exitCode ?? child.signalCode}` : `did not answer on ${socket} in 60 s`;
      const text = logs();
      await stop();
      throw new Error(`dockerd ${why}:\n${tail(text)}`);
    }
    await sleep(250);
  }

  const env = { DOCKER_HOST: `unix://${socket}`, DOCKER_CONFIG: config, DOCKER_CLI_EXPERIMENTAL: 'enabled' };
  return {
    dir,
    socket,
    containerdSocket: join(exec, 'containerd', 'containerd.sock'),
    pid,
    logs,
    docker: (args, options) => run(dockerBin, args, { ...options, env: { ...env, ...options?.env } }),
    stop,
  };
}

function ping(socketPath: string): Promise<boolean> {
  if (!existsSync(socketPath)) return Promise.resolve(false);
  return new Promise((resolve) => {
    const req = request({ socketPath, path: '/_ping', timeout: 2000 }, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    });
    req.on('error', () => resolve(false));
    req.on('timeout', () => req.destroy());
    req.end();
  });
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

// --- ctr ---------------------------------------------------------------------

/** Runs `ctr -a SOCKET -n NAMESPACE …`. */
export async function ctr(socket: string, namespace: string, args: string[], options?: RunOptions): Promise<RunResult> {
  return run(await requireTool('ctr'), ['-a', socket, '-n', namespace, ...args], options);
}

// --- the registry, read directly -------------------------------------------------

export const ALL_MANIFEST_TYPES = [
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.oci.image.index.v1+json',
  'application/vnd.docker.distribution.manifest.v2+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
].join(', ');

export interface FetchedManifest {
  /** Docker-Content-Digest */
  digest: string;
  mediaType: string;
  body: Buffer;
  json: {
    mediaType?: string;
    config?: { digest: string };
    layers?: { digest: string; mediaType: string }[];
    manifests?: { digest: string; mediaType: string; platform?: { os: string; architecture: string } }[];
  };
}

/** GETs a manifest from Berth with every manifest type accepted: what the registry really holds. */
export async function fetchManifest(baseUrl: string, repo: string, reference: string): Promise<FetchedManifest> {
  const res = await fetch(`${baseUrl}/v2/${repo}/manifests/${reference}`, { headers: { accept: ALL_MANIFEST_TYPES } });
  const body = Buffer.from(await res.arrayBuffer());
  if (res.status !== 200) throw new Error(`GET ${repo}/manifests/${reference}: ${res.status} ${body.toString('utf8').slice(0, 500)}`);
  return {
    digest: res.headers.get('docker-content-digest') ?? '',
    mediaType: res.headers.get('content-type') ?? '',
    body,
    json: JSON.parse(body.toString('utf8')) as FetchedManifest['json'],
  };
}

/** Digest of `image` (an architecture) in an index held by Berth. */
export function childDigest(index: FetchedManifest, architecture: string): string {
  const child = index.json.manifests?.find((m) => m.platform?.architecture === architecture);
  if (!child) throw new Error(`no ${architecture} child in index ${index.digest}`);
  return child.digest;
}

/**
 * Pushes a test layout's image and index to `host/repo` with skopeo, digests
 * preserved: the starting point for clients that cannot read an OCI layout.
 */
export async function seedWithSkopeo(layout: { dir: string; image: { tag: string }; index: { tag: string } }, host: string, repo: string): Promise<void> {
  await requireTool('skopeo');
  const copy = ['copy', '--quiet', '--preserve-digests', '--dest-tls-verify=false'];
  await run('skopeo', [...copy, `oci:${layout.dir}:${layout.image.tag}`, `docker://${host}/${repo}:${layout.image.tag}`]);
  await run('skopeo', [...copy, '--all', `oci:${layout.dir}:${layout.index.tag}`, `docker://${host}/${repo}:${layout.index.tag}`]);
}

// --- credentials on stdin ----------------------------------------------------------

/**
 * Like run(), but writes `input` to the command's stdin and closes it: for
 * `docker login --password-stdin` and `podman login --password-stdin`.
 */
export function runWithInput(cmd: string, args: string[], input: string, options: RunOptions = {}): Promise<RunResult> {
  return run(cmd, args, { ...options, input });
}
