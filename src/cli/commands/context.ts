import type { Command } from 'commander';
import { ApiClient, CliError, UsageError } from '../api-client.js';
import type { AccountView, RegistryView } from '../api-types.js';
import { loadCliConfig, parseServer, resolveTarget, saveCliConfig, setGlobalOptions, type ConnectOptions } from '../cli-config.js';
import { act, examples, group, listOptions, printList, say, type Column, type ListFlags } from '../output.js';
import { promptHidden, readStdin } from '../prompt.js';

/** Context names must not look like a host (no dots or colons), so they never shadow `berth login <host>` entries. */
const CONTEXT_NAME = /^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$/;

/**
 * --context, --server and --token for every command (anywhere on the line), like
 * doctl's global flags. Commands read them through connect().
 */
export function registerGlobalOptions(program: Command): void {
  program
    .option('--context <name>', 'use this context (see `berth auth list`; also $BERTH_CONTEXT)')
    .option('--server <url>', 'server URL or host:port (default: the current context, else $BERTH_SERVER, else the last `berth login`)')
    .option('--token <token>', 'use this personal access token (also $BERTH_TOKEN)')
    .hook('preAction', () => setGlobalOptions(program.opts<ConnectOptions>()));
}

/**
 * The registry a command is about: named on the line, else the context's default
 * registry, else the only registry the caller can see.
 */
export async function resolveRegistry(client: ApiClient, options: ConnectOptions, named?: string): Promise<string> {
  if (named) return named;
  const fallback = resolveTarget(options).login?.registry;
  if (fallback) return fallback;
  const { registries } = await client.get<{ registries: RegistryView[] }>('/api/v2/registries');
  if (registries.length === 1) return registries[0]!.name;
  throw new UsageError(
    registries.length === 0 ? 'you can see no registry; create one with `berth registry create NAME`' : `name a registry (one of ${registries.map((r) => r.name).join(', ')}), or set a default with \`berth auth init --registry\``,
  );
}

interface InitFlags {
  tokenStdin?: boolean;
  registry?: string;
}

interface ContextRow {
  name: string;
  url: string;
  username: string;
  registry?: string;
  current: boolean;
}

const columns: Column<ContextRow>[] = [
  { name: 'Name', header: 'NAME', value: (c) => c.name },
  { name: 'Server', header: 'SERVER', value: (c) => c.url },
  { name: 'User', header: 'USER', value: (c) => c.username },
  { name: 'Registry', header: 'REGISTRY', value: (c) => c.registry },
  { name: 'Current', header: 'CURRENT', value: (c) => (c.current ? '*' : '') },
];

/** `berth auth ...`: named contexts (server + token + default registry), as `doctl auth` keeps them. */
export function registerContextCommands(program: Command): void {
  const auth = examples(group(program, 'auth', 'manage contexts: named servers with a token and a default registry'), [
    'berth auth init --context prod --server https://registry.example.com',
    'berth --context prod repository list team-a',
    'berth auth switch --context prod',
  ]);

  examples(
    auth
      .command('init')
      .description('create or update a context from a personal access token (prompted for, --token, or --token-stdin) and make it current')
      .option('--token-stdin', 'read the token from stdin')
      .option('--registry <name>', 'the registry commands use when none is named')
      .action(
        act(async (flags: InitFlags) => {
          const { context, server, token: given } = program.opts<ConnectOptions>();
          if (!context) throw new UsageError('name the context: berth auth init --context NAME --server URL');
          if (!CONTEXT_NAME.test(context)) throw new UsageError('context names are letters, digits, "-" and "_" (no dots or colons: those are for hosts)');
          const config = loadCliConfig();
          const existing = config.servers[context];
          const url = server ? parseServer(server).url : existing?.url;
          if (!url) throw new UsageError(`context ${context} is new: give its server with --server URL`);
          const token = given ?? (flags.tokenStdin ? (await readStdin()).trim() : await askToken());
          const { account } = await new ApiClient(url, { kind: 'bearer', token }).get<{ account: AccountView }>('/api/v2/account');
          config.servers[context] = { url, username: account.username, token, registry: flags.registry ?? existing?.registry };
          config.current = context;
          saveCliConfig(config);
          say(`Context ${context}: ${url} as ${account.username}${flags.registry ? `, registry ${flags.registry}` : ''}. It is now the current context.`);
        }),
      ),
    ['berth auth init --context prod --server https://registry.example.com --registry team-a', 'echo "$TOKEN" | berth auth init --context ci --server 127.0.0.1:5000 --token-stdin'],
  );

  examples(
    listOptions(auth.command('list').description('list contexts and logins; * marks the current one'), columns).action(
      act(async (flags: ListFlags) => {
        const config = loadCliConfig();
        const rows = Object.entries(config.servers).map(([name, s]) => ({ name, url: s.url, username: s.username, registry: s.registry, current: config.current === name }));
        printList(flags, columns, rows);
      }),
    ),
    ['berth auth list', 'berth auth list --format Name,Server'],
  );

  examples(
    auth
      .command('switch')
      .description('make --context NAME the current context')
      .action(
        act(async () => {
          const { context } = program.opts<ConnectOptions>();
          const config = loadCliConfig();
          if (!context || !config.servers[context]) throw new UsageError(`no such context ${context ?? '(none given)'}; see \`berth auth list\``);
          config.current = context;
          saveCliConfig(config);
          say(`Switched to context ${context} (${config.servers[context].url}).`);
        }),
      ),
    ['berth auth switch --context prod'],
  );

  examples(
    auth
      .command('remove')
      .description('forget --context NAME (its token is not revoked: `berth token revoke` does that)')
      .action(
        act(async () => {
          const { context } = program.opts<ConnectOptions>();
          const config = loadCliConfig();
          if (!context || !config.servers[context]) throw new CliError(`no such context ${context ?? '(none given)'}`);
          delete config.servers[context];
          if (config.current === context) config.current = Object.keys(config.servers)[0];
          saveCliConfig(config);
          say(`Removed context ${context}.`);
        }),
      ),
    ['berth auth remove --context old'],
  );
}

async function askToken(): Promise<string> {
  if (!process.stdin.isTTY) throw new UsageError('no token: pass --token, or --token-stdin, or run on a terminal to be prompted');
  const token = (await promptHidden('Personal access token: ')).trim();
  if (!token) throw new UsageError('no token given');
  return token;
}
