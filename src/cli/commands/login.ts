import type { Command } from 'commander';
import { hostname } from 'node:os';
import { ApiClient, CliError } from '../api-client.js';
import type { AccountView, CreatedSecret } from '../api-types.js';
import { cliConfigPath, loadCliConfig, parseServer, saveCliConfig, type ServerLogin } from '../cli-config.js';
import { dockerConfigPath, removeDockerAuth, setDockerAuth } from '../docker-config.js';
import { act, exitOnUsageError, positiveInt, say, warn } from '../output.js';
import { promptLine, readPassword } from '../prompt.js';

interface LoginFlags {
  username?: string;
  passwordStdin?: boolean;
  expiresIn?: number;
}

/** `berth login` and `berth logout`: a personal access token kept for the CLI and for docker/podman. */
export function registerLoginCommands(program: Command): void {
  program
    .command('login')
    .description('sign in to a Berth server: stores a personal access token for berth and for docker/podman')
    .argument('<server>', 'host:port or URL (http:// is assumed for loopback addresses, https:// otherwise)')
    .option('-u, --username <user>', 'user name (prompted on a terminal if missing)')
    .option('--password-stdin', 'read the password from stdin')
    .option('--expires-in <seconds>', 'make the token expire (default: never)', positiveInt)
    .exitOverride(exitOnUsageError)
    .action(act(login));

  program
    .command('logout')
    .description('revoke the stored token and remove it from the berth and docker configs')
    .argument('[server]', 'host:port or URL (default: $BERTH_SERVER, else the last login)')
    .exitOverride(exitOnUsageError)
    .action(act(logout));
}

async function login(server: string, flags: LoginFlags): Promise<void> {
  const target = parseServer(server);
  const username = flags.username ?? (process.stdin.isTTY && !flags.passwordStdin ? await promptLine('Username: ') : undefined);
  if (!username) throw new CliError('no user name: pass -u USER', 2);
  const password = await readPassword(flags.passwordStdin, 'Password: ');
  const basic = new ApiClient(target.url, { kind: 'basic', username, password });

  // Check the password first, so a typo reads as such rather than as a token error.
  const { account } = await basic.get<{ account: AccountView }>('/api/v2/account');
  let login: ServerLogin;
  if (account.robot) {
    // Robots cannot mint tokens; their secret already is one.
    login = { url: target.url, username: account.username, token: password };
  } else {
    const created = await basic.post<CreatedSecret>('/api/v2/tokens', { name: `berth-cli@${hostname()}`, expires_in_seconds: flags.expiresIn });
    login = { url: target.url, username: account.username, token: created.secret, tokenId: created.token.id };
  }

  const config = loadCliConfig();
  const previous = config.servers[target.key];
  config.servers[target.key] = login;
  config.current = target.key;
  saveCliConfig(config);
  const dockerWarning = setDockerAuth(target.key, login.username, login.token);
  if (previous?.tokenId && previous.tokenId !== login.tokenId) await revokeQuietly(previous);

  say(`Logged in to ${target.url} as ${login.username}${account.server_admin ? ' (server administrator)' : ''}.`);
  say(`Token stored in ${cliConfigPath()}; docker/podman credentials in ${dockerConfigPath()}.`);
  if (dockerWarning) warn(dockerWarning);
}

async function logout(server: string | undefined): Promise<void> {
  const config = loadCliConfig();
  const input = server ?? process.env.BERTH_SERVER ?? config.current;
  if (!input) throw new CliError('not logged in to any server');
  const { key } = parseServer(input);
  const login = config.servers[key];
  const hadDocker = removeDockerAuth(key);
  if (!login) {
    if (hadDocker) return say(`Removed the docker credentials for ${key}.`);
    throw new CliError(`not logged in to ${key}`);
  }
  if (login.tokenId) {
    const revoked = await revokeQuietly(login);
    if (!revoked) warn(`could not revoke token ${login.tokenId} on ${login.url}; revoke it there with \`berth token revoke ${login.tokenId}\``);
  }
  delete config.servers[key];
  if (config.current === key) config.current = Object.keys(config.servers)[0];
  saveCliConfig(config);
  say(`Logged out of ${key}.`);
}

/** Revokes a stored login's token with itself. A token that no longer works counts as revoked. */
async function revokeQuietly(login: ServerLogin): Promise<boolean> {
  try {
    await new ApiClient(login.url, { kind: 'bearer', token: login.token }).delete(`/api/v2/tokens/${encodeURIComponent(login.tokenId!)}`);
    return true;
  } catch (err) {
    return (err as { status?: number }).status === 401 || (err as { status?: number }).status === 404;
  }
}
