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
  /** The registry commands use when none is named (`berth auth init --registry`). */
  registry?: string;
}

/**
 * `servers` holds logins by host (`berth login`) and named contexts (`berth auth
 * init --context`) alike; `current` names one of them.
 */
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
  /** A named context (`berth auth init --context`). */
  context?: string;
  token?: string;
}

/** The global --context/--server/--token, set once per run by main.ts before the action runs. */
let globalOptions: ConnectOptions = {};
export function setGlobalOptions(options: ConnectOptions): void {
  globalOptions = options;
}

export interface Target {
  url: string;
  /** The servers entry (host or context name) in use. */
  key: string;
  token: string;
  login?: ServerLogin;
  hint: string;
}

/**
 * Where a command goes: the context from --context (or BERTH_CONTEXT), else the
 * server from --server, BERTH_SERVER or the current context/login; the token
 * from --token, BERTH_TOKEN or the stored login.
 */
export function resolveTarget(options: ConnectOptions, env = process.env): Target {
  const o: ConnectOptions = { ...globalOptions };
  for (const [k, v] of Object.entries(options)) if (v !== undefined) o[k as keyof ConnectOptions] = v as string;
  const config = loadCliConfig();
  const contextName = o.context ?? (o.server ? undefined : env.BERTH_CONTEXT);
  if (contextName !== undefined && !config.servers[contextName]) {
    throw new CliError(`no context ${contextName}: create it with \`berth auth init --context ${contextName} --server URL\` (see \`berth auth list\`)`);
  }
  const input = contextName ?? o.server ?? env.BERTH_SERVER ?? config.current;
  if (!input) throw new CliError('not logged in: run `berth login <server>` or `berth auth init` (or pass --server and --token)');
  const named = config.servers[input];
  const target = named ? { url: named.url, key: input } : parseServer(input);
  const login = config.servers[target.key];
  const token = o.token || env.BERTH_TOKEN || login?.token;
  if (!token) throw new CliError(`not logged in to ${target.key}: run \`berth login ${target.key}\` (or pass --token, or set BERTH_TOKEN)`);
  // A stored login remembers the scheme chosen at login time; an explicit URL wins.
  const explicit = /^[a-z][a-z0-9+.-]*:\/\//i.test(input);
  const url = !explicit && login ? login.url : target.url;
  const hint = o.token ? 'check --token' : env.BERTH_TOKEN ? 'check BERTH_TOKEN' : `run \`berth login ${target.key}\` again`;
  return { url, key: target.key, token, login, hint };
}

export function connect(options: ConnectOptions, env = process.env): ApiClient {
  const t = resolveTarget(options, env);
  return new ApiClient(t.url, { kind: 'bearer', token: t.token }, t.hint);
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
