import type { Command } from 'commander';
import { InvalidArgumentError } from 'commander';
import type { ApiClient } from '../api-client.js';
import { CliError } from '../api-client.js';
import { connect, isObject, readJsonFile, writePrivateJson, type ConnectOptions } from '../cli-config.js';
import { credentialStorePath, eraseCredential, getCredential, storeCredential } from '../credential-helper.js';
import { dockerConfigPath, removeDockerAuth } from '../docker-config.js';
import { act, examples, printJson, say, serverCommand, warn } from '../output.js';
import { resolveRegistry } from './context.js';

/** What the CLI asks for unless told otherwise: credentials that expire (30 days) rather than live forever. */
export const DEFAULT_EXPIRY_SECONDS = 30 * 86_400;

export interface DockerConfig {
  auths: Record<string, { auth: string }>;
}

/** `--expiry-seconds N`; 0 means never. */
export function expirySeconds(value: string): number {
  if (!/^\d+$/.test(value)) throw new InvalidArgumentError('expected a whole number of seconds (0: never expires)');
  return Number(value);
}

interface CredentialFlags extends ConnectOptions {
  readWrite?: boolean;
  readOnly?: boolean;
  expirySeconds: number;
  useCredentialHelper?: boolean;
}

/** A fresh Docker config.json from the server, holding a token scoped to one registry. */
export async function fetchDockerConfig(client: ApiClient, registry: string, readWrite: boolean, expiry: number): Promise<DockerConfig> {
  return client.get<DockerConfig>(`/api/v2/registries/${encodeURIComponent(registry)}/docker-credentials`, {
    read_write: String(readWrite),
    expiry_seconds: expiry > 0 ? String(expiry) : undefined,
  });
}

/** The one host entry of a config the server made (keyed by the address the CLI used). */
export function onlyAuth(config: DockerConfig): { host: string; username: string; secret: string } {
  const [entry] = Object.entries(config.auths ?? {});
  if (!entry) throw new CliError('the server answered without credentials');
  const decoded = Buffer.from(entry[1].auth, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  return { host: entry[0], username: decoded.slice(0, colon), secret: decoded.slice(colon + 1) };
}

const expiryOption = (c: Command, fallback: number, what: string) =>
  c.option('--expiry-seconds <n>', `make the token expire after this long; 0 = never (default: ${what})`, expirySeconds, fallback);

/** `berth registry docker-config` and `berth registry login`: Docker credentials minted by the server. */
export function registerRegistryCredentialCommands(registry: Command): void {
  examples(
    expiryOption(serverCommand(registry, 'docker-config [name]', 'print a Docker config.json with a new token for a registry (read-only unless --read-write)'), DEFAULT_EXPIRY_SECONDS, '30 days')
      .option('--read-write', 'allow push too')
      .action(
        act(async (named: string | undefined, flags: CredentialFlags) => {
          const client = connect(flags);
          const name = await resolveRegistry(client, flags, named);
          printJson(await fetchDockerConfig(client, name, flags.readWrite ?? false, flags.expirySeconds));
        }),
      ),
    [
      'berth registry docker-config team-a > config.json && skopeo inspect --authfile config.json docker://HOST/team-a/app:v1',
      'berth registry docker-config team-a --read-write --expiry-seconds 3600',
      'berth registry docker-config team-a --expiry-seconds 0   # never expires',
    ],
  );

  examples(
    expiryOption(serverCommand(registry, 'login [name]', "log docker in to a registry with a new token (read-write unless --read-only), in Docker's config"), DEFAULT_EXPIRY_SECONDS, '30 days')
      .option('--read-only', 'pull only')
      .option('--use-credential-helper', 'keep the token in the berth credential store and have docker ask docker-credential-berth for it')
      .action(
        act(async (named: string | undefined, flags: CredentialFlags) => {
          const client = connect(flags);
          const name = await resolveRegistry(client, flags, named);
          const { host, username, secret } = onlyAuth(await fetchDockerConfig(client, name, !flags.readOnly, flags.expirySeconds));
          const path = dockerConfigPath();
          const raw = readJsonFile(path);
          if (raw !== undefined && !isObject(raw)) throw new CliError(`${path} is not a JSON object; fix or remove it`);
          const config: Record<string, unknown> = raw ?? {};
          const auths = isObject(config.auths) ? config.auths : {};
          const helpers = isObject(config.credHelpers) ? config.credHelpers : {};
          if (flags.useCredentialHelper) {
            storeCredential(host, { Username: username, Secret: secret });
            helpers[host] = 'berth';
            delete auths[host]; // docker would ignore it anyway; do not leave a secret behind
          } else {
            auths[host] = { auth: Buffer.from(`${username}:${secret}`).toString('base64') };
            if (helpers[host] === 'berth') delete helpers[host];
          }
          config.auths = auths;
          if (Object.keys(helpers).length > 0) config.credHelpers = helpers;
          else delete config.credHelpers;
          writePrivateJson(path, config);
          const expiry = flags.expirySeconds > 0 ? `expires in ${Math.round(flags.expirySeconds / 86_400)} day(s)` : 'never expires';
          say(`Logged docker in to ${host} for registry ${name} as ${username} (${flags.readOnly ? 'read-only' : 'read-write'}; ${expiry}).`);
          if (flags.useCredentialHelper) say(`Token in ${credentialStorePath()}; ${path} names credential helper "berth" (docker-credential-berth must be on PATH).`);
          else if (typeof config.credsStore === 'string' && config.credsStore !== '' && !helpers[host]) {
            warn(`${path} names credential store "${config.credsStore}", which docker asks instead of the file; use --use-credential-helper`);
          }
        }),
      ),
    ['berth registry login team-a', 'berth registry login team-a --use-credential-helper', 'berth registry login team-a --read-only --expiry-seconds 0'],
  );

  examples(
    serverCommand(registry, 'logout', "undo `berth registry login`: revoke its token and remove it from Docker's config and the berth credential store").action(
      act(async (flags: ConnectOptions) => {
        const client = connect(flags);
        const host = new URL(client.baseUrl).host;
        const path = dockerConfigPath();
        const raw = readJsonFile(path);
        const config: Record<string, unknown> = isObject(raw) ? raw : {};
        const inline = isObject(config.auths) && isObject(config.auths[host]) ? String((config.auths[host] as { auth?: unknown }).auth ?? '') : '';
        const secret = inline ? Buffer.from(inline, 'base64').toString('utf8').split(':').slice(1).join(':') : getCredential(host)?.Secret ?? '';
        // The token's id is part of its secret: revoke it so a copy left elsewhere stops working too.
        const id = secret.match(/^berth_pat_([A-Za-z0-9]{16})_/)?.[1];
        if (id) await client.delete(`/api/v2/tokens/${id}`).catch((err: Error) => warn(`could not revoke the token: ${err.message}`));
        const removedInline = removeDockerAuth(host, path);
        const removedHelper = eraseCredential(host);
        const after = readJsonFile(path);
        if (isObject(after) && isObject(after.credHelpers) && after.credHelpers[host] === 'berth') {
          delete after.credHelpers[host];
          writePrivateJson(path, after);
        }
        say(removedInline || removedHelper || id ? `Logged docker out of ${host}${id ? ' and revoked its token' : ''}.` : `docker was not logged in to ${host} by berth.`);
      }),
    ),
    ['berth registry logout', 'berth --context prod registry logout'],
  );
}
