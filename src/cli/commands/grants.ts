import { Option, type Command } from 'commander';
import { ROLES } from '../../auth/scopes.js';
import { UsageError } from '../api-client.js';
import type { GrantView } from '../api-types.js';
import { connect } from '../cli-config.js';
import { act, group, printJson, printTable, say, serverCommand, when } from '../output.js';

interface Flags {
  server?: string;
  json?: boolean;
  user?: string;
  team?: string;
  robot?: string;
  role: string;
  repositories?: string;
}

const grantsPath = (registry: string) => `/api/v2/registries/${encodeURIComponent(registry)}/grants`;

/** `berth grant ...`: who may do what in a registry. A grant gives a user, team or robot a role. */
export function registerGrantCommands(program: Command): void {
  const grant = group(program, 'grant', "manage a registry's grants (registry admins)");

  serverCommand(grant, 'list <registry>', "list a registry's grants")
    .option('--json', 'print JSON')
    .action(
      act(async (registry: string, flags: Flags) => {
        const { grants } = await connect(flags).get<{ grants: GrantView[] }>(grantsPath(registry));
        if (flags.json) return printJson(grants);
        printTable(
          ['ID', 'KIND', 'SUBJECT', 'ROLE', 'REPOSITORIES', 'CREATED'],
          grants.map((g) => [g.id, g.subject_kind, g.subject, g.role, g.repository_pattern ?? 'all', when(g.created_at)]),
        );
      }),
    );

  serverCommand(grant, 'add <registry>', 'give a user, team or robot a role in the registry')
    .option('--user <name>', 'grant to a user')
    .option('--team <name>', 'grant to a team')
    .option('--robot <name>', "grant to one of the registry's robots")
    .addOption(new Option('--role <role>', 'the role').choices(ROLES).makeOptionMandatory())
    .option('--repositories <glob>', 'limit the grant to matching repositories, e.g. team-a/app/*')
    .option('--json', 'print JSON')
    .action(
      act(async (registry: string, flags: Flags) => {
        const subjects = (['user', 'team', 'robot'] as const).filter((k) => flags[k] !== undefined);
        if (subjects.length !== 1) throw new UsageError('name exactly one of --user, --team or --robot');
        const kind = subjects[0]!;
        const body = { subject_kind: kind, subject: flags[kind], role: flags.role, repository_pattern: flags.repositories ?? null };
        const { grant: created } = await connect(flags).post<{ grant: GrantView }>(grantsPath(registry), body);
        if (flags.json) return printJson(created);
        say(`Granted ${created.role} on ${registry}${created.repository_pattern ? ` (${created.repository_pattern})` : ''} to ${kind} ${created.subject} (grant ${created.id}).`);
      }),
    );

  serverCommand(grant, 'remove <registry> <id>', 'remove a grant (see `berth grant list` for ids)').action(
    act(async (registry: string, id: string, flags: Flags) => {
      await connect(flags).delete(`${grantsPath(registry)}/${encodeURIComponent(id)}`);
      say(`Removed grant ${id} from ${registry}.`);
    }),
  );
}
