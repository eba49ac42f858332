import { Option, type Command } from 'commander';
import { ROLES } from '../../auth/scopes.js';
import { tokenStatus, type CreatedSecret, type RobotView } from '../api-types.js';
import { connect } from '../cli-config.js';
import { act, group, positiveInt, printJson, printTable, say, serverCommand, when } from '../output.js';

interface Flags {
  server?: string;
  json?: boolean;
  role?: string;
  repositories?: string;
  expiresIn?: number;
}

const robotsPath = (registry: string) => `/api/v2/registries/${encodeURIComponent(registry)}/robots`;

/** Prints a robot's login once: the secret cannot be read back later. */
function printSecret(username: string, secret: string): void {
  say(`Username: ${username}`);
  say(`Secret:   ${secret}`);
  say('Copy it now: this secret will not be shown again.');
}

/** `berth robot ...`: robot accounts belong to one registry and log in with a secret (CI, deploys). */
export function registerRobotCommands(program: Command): void {
  const robot = group(program, 'robot', "manage a registry's robot accounts (registry admins)");

  serverCommand(robot, 'list <registry>', "list a registry's robots")
    .option('--json', 'print JSON')
    .action(
      act(async (registry: string, flags: Flags) => {
        const { robots } = await connect(flags).get<{ robots: RobotView[] }>(robotsPath(registry));
        if (flags.json) return printJson(robots);
        printTable(
          ['NAME', 'USERNAME', 'DISABLED', 'ACTIVE SECRETS', 'CREATED'],
          robots.map((r) => [r.name, r.username, r.disabled, r.secrets.filter((s) => tokenStatus(s) === 'active').length, when(r.created_at)]),
        );
      }),
    );

  serverCommand(robot, 'create <registry> <name>', 'create a robot with a role in the registry, and print its secret once')
    .addOption(new Option('--role <role>', 'its role in the registry').choices(ROLES).default('read-only'))
    .option('--repositories <glob>', 'limit the role to matching repositories, e.g. team-a/app/*')
    .option('--expires-in <seconds>', 'expire the secret after this long (default: never)', positiveInt)
    .option('--json', 'print JSON (the robot and its secret)')
    .action(
      act(async (registry: string, name: string, flags: Flags) => {
        const body = { name, role: flags.role, repository_pattern: flags.repositories ?? null, expires_in_seconds: flags.expiresIn };
        const created = await connect(flags).post<CreatedSecret & { robot: unknown }>(robotsPath(registry), body);
        if (flags.json) return printJson(created);
        say(`Created robot ${created.username} (${flags.role}${flags.repositories ? ` on ${flags.repositories}` : ''}).`);
        printSecret(created.username!, created.secret);
      }),
    );

  serverCommand(robot, 'delete <registry> <name>', 'delete a robot (its secrets stop working)').action(
    act(async (registry: string, name: string, flags: Flags) => {
      await connect(flags).delete(`${robotsPath(registry)}/${encodeURIComponent(name)}`);
      say(`Deleted robot ${name} of ${registry}.`);
    }),
  );

  serverCommand(robot, 'secret <registry> <name>', 'add a new secret to a robot (old ones keep working until revoked) and print it once')
    .option('--expires-in <seconds>', 'expire the secret after this long (default: never)', positiveInt)
    .option('--json', 'print JSON')
    .action(
      act(async (registry: string, name: string, flags: Flags) => {
        const created = await connect(flags).post<CreatedSecret>(`${robotsPath(registry)}/${encodeURIComponent(name)}/secrets`, { expires_in_seconds: flags.expiresIn });
        if (flags.json) return printJson(created);
        printSecret(created.username!, created.secret);
      }),
    );
}
