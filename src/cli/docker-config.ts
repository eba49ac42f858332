import { homedir } from 'node:os';
import { join } from 'node:path';
import { CliError } from './api-client.js';
import { isObject, readJsonFile, writePrivateJson } from './cli-config.js';

/** Docker's client config, which podman, buildah, skopeo and crane also read. */
export function dockerConfigPath(env = process.env): string {
  return join(env.DOCKER_CONFIG || join(homedir(), '.docker'), 'config.json');
}

/**
 * Stores `user:secret` for a registry host, keeping every other setting and entry.
 * Returns a warning when a credential store will shadow the file's entry.
 */
export function setDockerAuth(host: string, username: string, secret: string, path = dockerConfigPath()): string | undefined {
  const config = readConfig(path);
  const auths = isObject(config.auths) ? config.auths : {};
  auths[host] = { auth: Buffer.from(`${username}:${secret}`).toString('base64') };
  config.auths = auths;
  writePrivateJson(path, config);
  const helpers = isObject(config.credHelpers) ? config.credHelpers : {};
  const store = helpers[host] ?? config.credsStore;
  if (typeof store === 'string' && store !== '') {
    return `${path} names credential helper "${store}", which docker asks instead of the file; run \`docker login ${host}\` with this token if docker cannot authenticate`;
  }
  return undefined;
}

/** Removes a registry host's entry; returns whether there was one. */
export function removeDockerAuth(host: string, path = dockerConfigPath()): boolean {
  const config = readConfig(path);
  if (!isObject(config.auths) || !(host in config.auths)) return false;
  delete config.auths[host];
  writePrivateJson(path, config);
  return true;
}

function readConfig(path: string): Record<string, unknown> {
  const raw = readJsonFile(path);
  if (raw === undefined) return {};
  if (!isObject(raw)) throw new CliError(`${path} is not a JSON object; fix or remove it`);
  return raw;
}
