import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

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
  const child = spawn(
    process.execPath,
    [BERTH_BIN, 'serve', '--listen', `127.0.0.1:${options.port ?? 0}`, '--data', dataDir, ...(options.args ?? [])],
    {
      env: {
        ...process.env,
        BERTH_LOG_LEVEL: 'info',
        ...(options.adminPassword === undefined ? { BERTH_AUTH_ENABLED: 'false' } : { BERTH_ADMIN_PASSWORD: options.adminPassword }),
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
