import { chmodSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { ApiClient, CliError, UsageError } from './api-client.js';

/** One server the CLI is logged in to. `token` is a personal access token secret (or a robot secret). */
export interface ServerLogin {
  url: string;
  username: string;
  token: string;
  /** The token's id, so `berth logout` can revoke it. */
  tokenId?: string;
}

export interface CliConfig {
  current?: string;
  servers: Record<string, ServerLogin>;
}

export function cliConfigPath(env = process.env): string {
  if (env.BERTH_CONFIG_DIR) return join(env.BERTH_CONFIG_DIR, 'config.json');
  return join(env.XDG_CONFIG_HOME || join(homedir(), '.config'), 'berth', 'config.json');
}

export function loadCliConfig(path = cliConfigPath()): CliConfig {
  const raw = readJsonFile(path);
  if (raw === undefined) return { servers: {} };
  const config = raw as Partial<CliConfig>;
  return { current: typeof config.current === 'string' ? config.current : undefined, servers: isObject(config.servers) ? (config.servers as Record<string, ServerLogin>) : {} };
}

export function saveCliConfig(config: CliConfig, path = cliConfigPath()): void {
  writePrivateJson(path, config);
}

/**
 * A server as typed by the user: a URL, or `host[:port]`. Without a scheme,
 * loopback addresses get http:// (a local test server) and anything else https://.
 */
export function parseServer(input: string): { url: string; key: string } {
  const hasScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(input);
  let url: URL;
  try {
    url = new URL(hasScheme ? input : `http://${input}`);
  } catch {
    throw new UsageError(`not a server address: ${input} (use host:port or a URL)`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new UsageError(`unsupported scheme ${url.protocol} in ${input}`);
  if (!hasScheme && !isLoopback(url.hostname)) url.protocol = 'https:';
  const path = url.pathname.replace(/\/+$/, '');
  return { url: `${url.protocol}//${url.host}${path}`, key: url.host };
}

function isLoopback(hostname: string): boolean {
  return hostname === 'localhost' || hostname === '[::1]' || /^127\.\d+\.\d+\.\d+$/.test(hostname);
}

export interface ConnectOptions {
  server?: string;
}

/**
 * The client for a command: the server from --server, BERTH_SERVER or the
 * last login; the token from BERTH_TOKEN or the stored login for that server.
 */
export function connect(options: ConnectOptions, env = process.env): ApiClient {
  const config = loadCliConfig();
  const input = options.server ?? env.BERTH_SERVER ?? config.current;
  if (!input) throw new CliError('not logged in: run `berth login <server>` (or pass --server and set BERTH_TOKEN)');
  const target = parseServer(input);
  const login = config.servers[target.key];
  const token = env.BERTH_TOKEN || login?.token;
  if (!token) throw new CliError(`not logged in to ${target.key}: run \`berth login ${target.key}\` (or set BERTH_TOKEN)`);
  // A stored login remembers the scheme chosen at login time; an explicit URL wins.
  const explicit = /^[a-z][a-z0-9+.-]*:\/\//i.test(input);
  const url = !explicit && login ? login.url : target.url;
  const hint = env.BERTH_TOKEN ? 'check BERTH_TOKEN' : `run \`berth login ${target.key}\` again`;
  return new ApiClient(url, { kind: 'bearer', token }, hint);
}

// ---- files holding secrets: written whole (temp file + rename) and readable by the owner only ----

export function readJsonFile(path: string): unknown {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new CliError(`cannot read ${path}: ${(err as Error).message}`);
  }
  if (text.trim() === '') return undefined;
  try {
    return JSON.parse(text);
  } catch {
    // Never overwrite a file we cannot understand: it may hold someone else's credentials.
    throw new CliError(`${path} is not valid JSON; fix or remove it`);
  }
}

export function writePrivateJson(path: string, value: unknown): void {
  try {
    mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
    const temp = `${path}.${process.pid}.tmp`;
    writeFileSync(temp, `${JSON.stringify(value, null, 2)}\n`, { mode: 0o600 });
    chmodSync(temp, 0o600); // the mode above is filtered by the umask
    renameSync(temp, path);
  } catch (err) {
    throw new CliError(`cannot write ${path}: ${(err as Error).message}`);
  }
}

export function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
