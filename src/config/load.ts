import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { configSchema, type Config } from './schema.js';

export class ConfigError extends Error {
  override name = 'ConfigError';
}

export interface ConfigSources {
  /** Path of a YAML config file. */
  file?: string;
  /** The process environment; BERTH_* variables are read from it. */
  env?: NodeJS.ProcessEnv;
  /** Values from command-line flags, as nested objects (highest precedence). */
  flags?: Record<string, unknown>;
}

/**
 * Builds the configuration from defaults < file < environment < flags, and
 * validates it with a message that says which value is wrong and where it came from.
 */
export function loadConfig(sources: ConfigSources = {}): Config {
  const origin = new Map<string, string>();
  const merged: Record<string, unknown> = {};
  if (sources.file) merge(merged, readConfigFile(sources.file), `config file ${sources.file}`, origin);
  merge(merged, fromEnv(sources.env ?? {}), 'environment', origin);
  merge(merged, sources.flags ?? {}, 'command line', origin);

  const result = configSchema.safeParse(merged);
  if (result.success) return result.data;
  const lines = result.error.issues.map((issue) => {
    const path = issue.path.join('.');
    const from = origin.get(path);
    const where = path === '' ? 'configuration' : path;
    return `  ${where}${from ? ` (from ${from})` : ''}: ${issue.message}`;
  });
  throw new ConfigError(`invalid configuration:\n${lines.join('\n')}`);
}

function readConfigFile(file: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError(`cannot read config file ${file}: ${(err as Error).message}`);
  }
  let parsed: unknown;
  try {
    parsed = parseYaml(text);
  } catch (err) {
    throw new ConfigError(`config file ${file} is not valid YAML: ${(err as Error).message}`);
  }
  if (parsed === null || parsed === undefined) return {};
  if (typeof parsed !== 'object' || Array.isArray(parsed)) throw new ConfigError(`config file ${file} must hold a mapping of settings`);
  return parsed as Record<string, unknown>;
}

/** Every leaf setting with its environment variable: `http.idleTimeoutSeconds` ↔ BERTH_HTTP_IDLE_TIMEOUT_SECONDS. */
type EnvKind = 'number' | 'string' | 'boolean' | 'list';

export function environmentVariables(): { path: string[]; variable: string; kind: EnvKind }[] {
  const out: { path: string[]; variable: string; kind: EnvKind }[] = [];
  const walk = (schema: z.ZodTypeAny, path: string[]) => {
    const inner = unwrap(schema);
    if (inner instanceof z.ZodObject) {
      for (const [key, child] of Object.entries(inner.shape as Record<string, z.ZodTypeAny>)) walk(child, [...path, key]);
      return;
    }
    const variable = 'BERTH_' + path.map((p) => p.replace(/([a-z])([A-Z])/g, '$1_$2').toUpperCase()).join('_');
    const kind: EnvKind = inner instanceof z.ZodNumber ? 'number' : inner instanceof z.ZodBoolean ? 'boolean' : inner instanceof z.ZodArray ? 'list' : 'string';
    out.push({ path, variable, kind });
  };
  walk(configSchema, []);
  return out;
}

function fromEnv(env: NodeJS.ProcessEnv): Record<string, unknown> {
  const known = environmentVariables();
  const result: Record<string, unknown> = {};
  for (const { path, variable, kind } of known) {
    const raw = env[variable];
    if (raw === undefined) continue;
    setPath(result, path, parseEnvValue(raw, kind));
  }
  const unknown = Object.keys(env).filter((k) => k.startsWith('BERTH_') && !known.some((v) => v.variable === k) && !IGNORED_ENV.has(k));
  if (unknown.length > 0) {
    throw new ConfigError(`unknown environment variable${unknown.length > 1 ? 's' : ''} ${unknown.join(', ')}; known: ${known.map((k) => k.variable).join(', ')}`);
  }
  return result;
}

/** Lists come as JSON (`[...]`, for lists of objects) or comma-separated strings. */
function parseEnvValue(raw: string, kind: EnvKind): unknown {
  const v = raw.trim();
  if (kind === 'list') {
    if (!v.startsWith('[')) return v.split(',').map((x) => x.trim()).filter((x) => x !== '');
    try {
      return JSON.parse(v);
    } catch {
      return raw; // the schema reports it
    }
  }
  if (kind === 'number' && /^-?\d+(\.\d+)?$/.test(v)) return Number(v);
  if (kind === 'boolean' && /^(true|false|1|0)$/i.test(v)) return /^(true|1)$/i.test(v);
  return raw;
}

/** BERTH_* variables read elsewhere (not settings of the schema). */
/** (The CLI's own variables: a server may share an environment with the client.) */
const IGNORED_ENV = new Set(['BERTH_CONFIG', 'BERTH_ADMIN_PASSWORD', 'BERTH_CONFIG_DIR', 'BERTH_SERVER', 'BERTH_TOKEN', 'BERTH_CONTEXT']);

function unwrap(schema: z.ZodTypeAny): z.ZodTypeAny {
  let s = schema;
  while (s instanceof z.ZodDefault || s instanceof z.ZodOptional || s instanceof z.ZodEffects) {
    s = s instanceof z.ZodEffects ? s.innerType() : s._def.innerType;
  }
  return s;
}

function setPath(target: Record<string, unknown>, path: string[], value: unknown): void {
  let node = target;
  for (const key of path.slice(0, -1)) {
    if (typeof node[key] !== 'object' || node[key] === null) node[key] = {};
    node = node[key] as Record<string, unknown>;
  }
  node[path[path.length - 1]!] = value;
}

function merge(target: Record<string, unknown>, source: Record<string, unknown>, from: string, origin: Map<string, string>, prefix: string[] = []): void {
  for (const [key, value] of Object.entries(source)) {
    const path = [...prefix, key];
    if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
      if (typeof target[key] !== 'object' || target[key] === null) target[key] = {};
      merge(target[key] as Record<string, unknown>, value as Record<string, unknown>, from, origin, path);
    } else if (value !== undefined) {
      target[key] = value;
      origin.set(path.join('.'), from);
    }
  }
}

/** Splits `HOST:PORT` (IPv6 hosts in brackets). */
export function splitListen(listen: string): { host: string; port: number } {
  const colon = listen.lastIndexOf(':');
  const host = listen.slice(0, colon).replace(/^\[|\]$/g, '') || '0.0.0.0';
  return { host, port: Number(listen.slice(colon + 1)) };
}
