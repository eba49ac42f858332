/** Runs the built `berth` CLI as a child process, as a user would, with its own config directories. */
import { spawn } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { BERTH_BIN, tempDir } from '../support/berth-process.js';

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** A user's machine: where the CLI keeps its login and where docker reads credentials. */
export interface Home {
  dir: string;
  configDir: string;
  dockerDir: string;
}

export function newHome(): Home {
  const dir = tempDir('berth-cli-');
  const home = { dir, configDir: join(dir, 'berth'), dockerDir: join(dir, 'docker') };
  mkdirSync(home.dockerDir);
  return home;
}

export function berthCli(home: Home, args: string[], options: { input?: string; env?: Record<string, string> } = {}): Promise<CliResult> {
  const env: Record<string, string | undefined> = { ...process.env, BERTH_CONFIG_DIR: home.configDir, DOCKER_CONFIG: home.dockerDir, HOME: home.dir, ...options.env };
  for (const k of ['BERTH_SERVER', 'BERTH_TOKEN'] as const) if (!options.env?.[k]) delete env[k];
  const child = spawn(process.execPath, [BERTH_BIN, ...args], { env, stdio: [options.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  if (options.input !== undefined) child.stdin!.end(options.input);
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** Runs and expects success; returns stdout (parsed when `--json` was passed). */
export async function ok(home: Home, args: string[], options?: { input?: string; env?: Record<string, string> }): Promise<any> {
  const r = await berthCli(home, args, options);
  if (r.code !== 0) throw new Error(`berth ${args.join(' ')} exited ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
  return args.includes('--json') ? JSON.parse(r.stdout) : r.stdout;
}
