import { InvalidArgumentError, type Command } from 'commander';
import { ACTIONS, type Action } from '../../auth/scopes.js';
import { tokenStatus, type CreatedSecret, type TokenScope, type TokenView } from '../api-types.js';
import { connect } from '../cli-config.js';
import { act, group, positiveInt, printJson, printTable, say, serverCommand, when } from '../output.js';

interface Flags {
  server?: string;
  json?: boolean;
  scope: TokenScope[];
  expiresIn?: number;
}

/**
 * `registry[/repoGlob]:actions`, e.g. `team-a:pull,push` or `team-b/app/*:pull`.
 * The glob is over whole repository names, so it keeps the registry prefix.
 */
export function parseScope(value: string): TokenScope {
  const colon = value.lastIndexOf(':');
  const where = value.slice(0, colon);
  const actions = value.slice(colon + 1).split(',').filter((a) => a !== '');
  const registry = where.split('/', 1)[0];
  if (colon < 0 || !registry || actions.length === 0) throw new InvalidArgumentError('expected registry[/repository-glob]:actions, e.g. team-a:pull,push or team-b/app/*:pull');
  const unknown = actions.filter((a) => !(ACTIONS as readonly string[]).includes(a));
  if (unknown.length > 0) throw new InvalidArgumentError(`unknown action ${unknown.join(',')}; actions are ${ACTIONS.join(', ')}`);
  const scope: TokenScope = { registry, actions: [...new Set(actions)] as Action[] };
  if (where.includes('/')) scope.repositories = where;
  return scope;
}

export function scopeText(scopes: TokenScope[] | null): string {
  if (scopes === null) return 'all (unscoped)';
  return scopes.map((s) => `${s.repositories ?? s.registry}:${s.actions.join(',')}`).join(' ');
}

/** `berth token ...`: your personal access tokens, for scripts, CI and docker. */
export function registerTokenCommands(program: Command): void {
  const token = group(program, 'token', 'manage your personal access tokens');

  serverCommand(token, 'list', 'list your tokens (secrets are never shown again)')
    .option('--json', 'print JSON')
    .action(
      act(async (flags: Flags) => {
        const { tokens } = await connect(flags).get<{ tokens: TokenView[] }>('/api/v2/tokens');
        if (flags.json) return printJson(tokens);
        printTable(
          ['ID', 'NAME', 'SCOPES', 'STATUS', 'EXPIRES', 'LAST USED', 'CREATED'],
          tokens.map((t) => [t.id, t.name, scopeText(t.scopes), tokenStatus(t), when(t.expires_at) ?? 'never', when(t.last_used_at), when(t.created_at)]),
        );
      }),
    );

  serverCommand(token, 'create <name>', 'create a token and print its secret once')
    .option('--scope <registry[/glob]:actions>', 'limit the token (repeatable), e.g. team-a:pull,push or team-b/app/*:pull', (v: string, prev: TokenScope[]) => [...prev, parseScope(v)], [])
    .option('--expires-in <seconds>', 'expire the token after this long (default: never)', positiveInt)
    .option('--json', 'print JSON (the token and its secret)')
    .action(
      act(async (name: string, flags: Flags) => {
        const body = { name, scopes: flags.scope.length > 0 ? flags.scope : null, expires_in_seconds: flags.expiresIn };
        const created = await connect(flags).post<CreatedSecret>('/api/v2/tokens', body);
        if (flags.json) return printJson(created);
        const t = created.token;
        say(`Created token ${t.name} (id ${t.id}; scopes: ${scopeText(t.scopes)}; expires: ${when(t.expires_at) ?? 'never'}).`);
        say(`Secret: ${created.secret}`);
        say('Copy it now: this secret will not be shown again.');
      }),
    );

  serverCommand(token, 'revoke <id>', 'revoke a token (server administrators may revoke anyone’s)').action(
    act(async (id: string, flags: Flags) => {
      await connect(flags).delete(`/api/v2/tokens/${encodeURIComponent(id)}`);
      say(`Revoked token ${id}.`);
    }),
  );
}
