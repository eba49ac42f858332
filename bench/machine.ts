// What the bench needs from the machine: Debian's docker-registry (CNCF Distribution)
// and nginx, installed on demand, plus a description of the machine for the report.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';

const TOOLS: Array<{ bin: string; pkg: string }> = [
  { bin: '/usr/bin/docker-registry', pkg: 'docker-registry' },
  { bin: '/usr/sbin/nginx', pkg: 'nginx' },
];

const POLICY = '/usr/sbin/policy-rc.d';

/** Installs what's missing with apt-get; a policy-rc.d keeps the packages' services from starting. */
export function ensureTools(log: (msg: string) => void): void {
  const missing = TOOLS.filter((t) => !existsSync(t.bin)).map((t) => t.pkg);
  if (missing.length === 0) return;
  log(`installing ${missing.join(', ')} with apt-get`);
  const ownPolicy = !existsSync(POLICY);
  if (ownPolicy) writeFileSync(POLICY, '#!/bin/sh\nexit 101\n', { mode: 0o755 });
  try {
    const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
    const opts = { stdio: 'inherit' as const, env, timeout: 600_000 };
    let r = spawnSync('apt-get', ['install', '-y', ...missing], opts);
    if (r.status !== 0) {
      spawnSync('apt-get', ['update'], opts); // stale package lists are the usual cause
      r = spawnSync('apt-get', ['install', '-y', ...missing], opts);
    }
    if (r.status !== 0) throw new Error(`apt-get install ${missing.join(' ')} failed`);
  } finally {
    if (ownPolicy) rmSync(POLICY, { force: true });
  }
}

function version(cmd: string, args: string[]): string {
  try {
    const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: 10_000 });
    return `${r.stdout ?? ''}${r.stderr ?? ''}`.trim().split('\n')[0] ?? cmd;
  } catch {
    return `${cmd}: unknown`;
  }
}

/** The commit Berth was built from, and whether src/ had uncommitted changes then. */
function gitState(root: string): string {
  try {
    const git = (...args: string[]) => execFileSync('git', ['-C', root, ...args], { encoding: 'utf8', timeout: 10_000 }).trim();
    const dirty = git('status', '--porcelain', '--', 'src') !== '';
    return `${git('rev-parse', '--short', 'HEAD')}${dirty ? ' + uncommitted src/ changes' : ''}`;
  } catch {
    return 'unknown';
  }
}

export function environment(root: string) {
  const cpuinfo = readFileSync('/proc/cpuinfo', 'utf8');
  const flags = cpuinfo.match(/^flags\s*:(.*)$/m)?.[1] ?? '';
  let kernel = os.release();
  try {
    kernel = execFileSync('uname', ['-r'], { encoding: 'utf8' }).trim();
  } catch {
    // os.release() is good enough
  }
  return {
    cpu: cpuinfo.match(/^model name\s*:\s*(.*)$/m)?.[1]?.trim() ?? 'unknown CPU',
    cores: os.cpus().length,
    shaExtensions: / sha_ni( |$)/.test(flags),
    memGiB: Math.round(os.totalmem() / 2 ** 30),
    kernel,
    node: process.versions.node,
    berth: gitState(root),
    distribution: `Distribution ${version('/usr/bin/docker-registry', ['--version']).match(/\d+\.\d+\.\d+\S*/)?.[0] ?? '?'}`,
    nginx: `nginx ${version('/usr/sbin/nginx', ['-v']).match(/\d+\.\d+\.\d+/)?.[0] ?? '?'}`,
  };
}

/**
 * Writes every dirty page out (sync(1)) before a timed push. Distribution never fsyncs, so
 * its pushes leave hundreds of MiB dirty that the kernel writes back later: into the next
 * server's timed push, where Berth's fsyncs queue behind them on the same disk (monolithic
 * push 243 MB/s right after Distribution's, 446–711 MB/s otherwise, in one run). Each timed
 * push now starts on a clean page cache, whoever went before; its own writes are its own.
 */
export function flushDirtyPages(): void {
  execFileSync('sync');
}
