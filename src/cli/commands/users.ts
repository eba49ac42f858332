import type { Command } from 'commander';
import { CliError } from '../api-client.js';
import type { UserView } from '../api-types.js';
import { connect } from '../cli-config.js';
import { act, group, printJson, printTable, say, serverCommand, when } from '../output.js';
import { readPassword, readStdin } from '../prompt.js';

interface Flags {
  server?: string;
  json?: boolean;
  admin?: boolean;
  canCreateRegistries?: boolean;
  passwordStdin?: boolean;
}

const userPath = (name: string) => `/api/v2/users/${encodeURIComponent(name)}`;

/** `berth user ...`: accounts, managed by server administrators (and `passwd` for yourself). */
export function registerUserCommands(program: Command): void {
  const user = group(program, 'user', 'manage users (server administrators; `passwd` for anyone)');

  serverCommand(user, 'list', 'list users')
    .option('--json', 'print JSON')
    .action(
      act(async (flags: Flags) => {
        const { users } = await connect(flags).get<{ users: UserView[] }>('/api/v2/users');
        if (flags.json) return printJson(users);
        printTable(
          ['USERNAME', 'SERVER ADMIN', 'CAN CREATE REGISTRIES', 'DISABLED', 'CREATED'],
          users.map((u) => [u.username, u.server_admin, u.can_create_registries, u.disabled, when(u.created_at)]),
        );
      }),
    );

  serverCommand(user, 'create <name>', 'create a user (the password is prompted for, or read from stdin)')
    .option('--admin', 'make the user a server administrator')
    .option('--can-create-registries', 'let the user create registries')
    .option('--password-stdin', 'read the password from stdin')
    .option('--json', 'print JSON')
    .action(
      act(async (name: string, flags: Flags) => {
        const client = connect(flags);
        const password = await readPassword(flags.passwordStdin, `Password for ${name}: `, true);
        const body = { username: name, password, server_admin: flags.admin ?? false, can_create_registries: flags.canCreateRegistries ?? false };
        const created = await client.post<{ user: UserView }>('/api/v2/users', body);
        if (flags.json) return printJson(created.user);
        say(`Created user ${created.user.username}${created.user.server_admin ? ' (server administrator)' : ''}.`);
      }),
    );

  serverCommand(user, 'delete <name>', 'delete a user and everything it owns (tokens, grants)').action(
    act(async (name: string, flags: Flags) => {
      await connect(flags).delete(userPath(name));
      say(`Deleted user ${name}.`);
    }),
  );

  const toggles = [
    ['disable', true, "disable a user: its password and tokens stop working until it is enabled"],
    ['enable', false, 'enable a disabled user again'],
  ] as const;
  for (const [verb, disabled, description] of toggles) {
    serverCommand(user, `${verb} <name>`, description).action(
      act(async (name: string, flags: Flags) => {
        await connect(flags).patch(userPath(name), { disabled });
        say(`${disabled ? 'Disabled' : 'Enabled'} user ${name}.`);
      }),
    );
  }

  serverCommand(user, 'passwd [name]', "change your password, or (server administrators) another user's")
    .option('--password-stdin', 'read from stdin: for yourself, the current password and the new one on two lines; for another user, the new one')
    .action(
      act(async (name: string | undefined, flags: Flags) => {
        const client = connect(flags);
        if (name) {
          const password = await readPassword(flags.passwordStdin, `New password for ${name}: `, true);
          await client.patch(userPath(name), { password });
          return say(`Changed the password of ${name}.`);
        }
        let current: string;
        let next: string;
        if (flags.passwordStdin) {
          const lines = (await readStdin()).split(/\r?\n/);
          if (lines.length < 2) throw new CliError('--password-stdin needs two lines: the current password, then the new one', 2);
          [current, next] = [lines[0]!, lines[1]!];
        } else {
          current = await readPassword(false, 'Current password: ');
          next = await readPassword(false, 'New password: ', true);
        }
        await client.put('/api/v2/account/password', { current_password: current, new_password: next });
        say('Changed your password.');
      }),
    );
}
