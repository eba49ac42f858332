#!/usr/bin/env node
/**
 * docker-credential-berth: Docker's credential-helper protocol
 * (https://github.com/docker/docker-credential-helpers), keeping credentials in
 * the berth CLI's config directory (a 0600 file) instead of inline in Docker's
 * config.json. `berth registry login --use-credential-helper` points Docker here.
 *
 *   get    stdin: a server URL      stdout: {"ServerURL","Username","Secret"}
 *   store  stdin: {"ServerURL","Username","Secret"}
 *   erase  stdin: a server URL
 *   list   stdout: {"<ServerURL>": "<Username>", …}
 */
import { realpathSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { cliConfigPath, isObject, readJsonFile, writePrivateJson } from './cli-config.js';

export interface StoredCredential {
  Username: string;
  Secret: string;
}

type Store = Record<string, StoredCredential>;

/** Docker's helpers answer this exact message for a miss; docker treats it as "no credentials", not an error. */
export const NOT_FOUND = 'credentials not found in native keychain';

export function credentialStorePath(env = process.env): string {
  return join(dirname(cliConfigPath(env)), 'docker-credentials.json');
}

function load(path: string): Store {
  const raw = readJsonFile(path);
  const creds = isObject(raw) && isObject(raw.credentials) ? raw.credentials : {};
  const out: Store = {};
  for (const [url, c] of Object.entries(creds)) {
    if (isObject(c) && typeof c.Username === 'string' && typeof c.Secret === 'string') out[url] = { Username: c.Username, Secret: c.Secret };
  }
  return out;
}

const save = (path: string, store: Store) => writePrivateJson(path, { credentials: store });

/** `https://host:5000/v1/` and `host:5000` name the same registry. */
function hostOf(serverUrl: string): string {
  const s = serverUrl.trim();
  try {
    return new URL(/^[a-z][a-z0-9+.-]*:\/\//i.test(s) ? s : `https://${s}`).host;
  } catch {
    return s;
  }
}

/** The stored entry for a URL: the exact key first, else the same host. */
function find(store: Store, serverUrl: string): string | undefined {
  const url = serverUrl.trim();
  if (store[url]) return url;
  const host = hostOf(url);
  return Object.keys(store).find((k) => hostOf(k) === host);
}

export function storeCredential(serverUrl: string, credential: StoredCredential, path = credentialStorePath()): void {
  const store = load(path);
  const existing = find(store, serverUrl);
  if (existing !== undefined) delete store[existing];
  store[serverUrl.trim()] = credential;
  save(path, store);
}

export function getCredential(serverUrl: string, path = credentialStorePath()): (StoredCredential & { ServerURL: string }) | undefined {
  const store = load(path);
  const key = find(store, serverUrl);
  return key === undefined ? undefined : { ServerURL: serverUrl.trim(), ...store[key]! };
}

export function eraseCredential(serverUrl: string, path = credentialStorePath()): boolean {
  const store = load(path);
  const key = find(store, serverUrl);
  if (key === undefined) return false;
  delete store[key];
  save(path, store);
  return true;
}

export function listCredentials(path = credentialStorePath()): Record<string, string> {
  return Object.fromEntries(Object.entries(load(path)).map(([url, c]) => [url, c.Username]));
}

async function stdinText(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8').trim();
}

/** Runs one protocol action; returns the exit code. Errors go to stdout, as Docker reads them from there. */
export async function runHelper(action: string | undefined): Promise<number> {
  const fail = (message: string) => {
    process.stdout.write(`${message}\n`);
    return 1;
  };
  try {
    switch (action) {
      case 'get': {
        const found = getCredential(await stdinText());
        if (!found) return fail(NOT_FOUND);
        process.stdout.write(`${JSON.stringify({ ServerURL: found.ServerURL, Username: found.Username, Secret: found.Secret })}\n`);
        return 0;
      }
      case 'store': {
        const input = JSON.parse(await stdinText()) as Partial<StoredCredential & { ServerURL: string }>;
        if (typeof input.ServerURL !== 'string' || input.ServerURL.trim() === '' || typeof input.Username !== 'string' || typeof input.Secret !== 'string') {
          return fail('store needs {"ServerURL","Username","Secret"} on stdin');
        }
        storeCredential(input.ServerURL, { Username: input.Username, Secret: input.Secret });
        return 0;
      }
      case 'erase':
        return eraseCredential(await stdinText()) ? 0 : fail(NOT_FOUND);
      case 'list':
        process.stdout.write(`${JSON.stringify(listCredentials())}\n`);
        return 0;
      case 'version':
        process.stdout.write('docker-credential-berth 0.1.0\n');
        return 0;
      default:
        process.stderr.write('usage: docker-credential-berth get|store|erase|list|version (Docker runs this; see `berth registry login --use-credential-helper`)\n');
        return 2;
    }
  } catch (err) {
    // Never echo stdin: it may hold a secret.
    return fail(err instanceof SyntaxError ? 'stdin is not valid JSON' : (err as Error).message);
  }
}

/** Run only as the program itself (npm links bins, hence realpath), not when imported by `berth`. */
const entry = (() => {
  try {
    return process.argv[1] ? realpathSync(process.argv[1]) : undefined;
  } catch {
    return undefined;
  }
})();
if (entry === fileURLToPath(import.meta.url)) {
  process.exitCode = await runHelper(process.argv[2]);
}
