import type { Command } from 'commander';
import type { TeamView } from '../api-types.js';
import { connect } from '../cli-config.js';
import { act, group, printJson, printTable, say, serverCommand, when } from '../output.js';

interface Flags {
  server?: string;
  json?: boolean;
}

const teamPath = (name: string) => `/api/v2/teams/${encodeURIComponent(name)}`;
const memberPath = (team: string, user: string) => `${teamPath(team)}/members/${encodeURIComponent(user)}`;

/** `berth team ...`: teams group users so a grant can name many at once. Server administrators only. */
export function registerTeamCommands(program: Command): void {
  const team = group(program, 'team', 'manage teams and their members (server administrators)');

  serverCommand(team, 'list', 'list teams and their members')
    .option('--json', 'print JSON')
    .action(
      act(async (flags: Flags) => {
        const { teams } = await connect(flags).get<{ teams: TeamView[] }>('/api/v2/teams');
        if (flags.json) return printJson(teams);
        printTable(['NAME', 'MEMBERS', 'CREATED'], teams.map((t) => [t.name, t.members.join(','), when(t.created_at)]));
      }),
    );

  serverCommand(team, 'create <name>', 'create a team')
    .option('--json', 'print JSON')
    .action(
      act(async (name: string, flags: Flags) => {
        const created = await connect(flags).post<{ team: TeamView }>('/api/v2/teams', { name });
        if (flags.json) return printJson(created.team);
        say(`Created team ${created.team.name}.`);
      }),
    );

  serverCommand(team, 'delete <name>', 'delete a team (its grants go with it; its members stay)').action(
    act(async (name: string, flags: Flags) => {
      await connect(flags).delete(teamPath(name));
      say(`Deleted team ${name}.`);
    }),
  );

  serverCommand(team, 'add <team> <user>', 'add a user to a team').action(
    act(async (teamName: string, user: string, flags: Flags) => {
      await connect(flags).put(memberPath(teamName, user));
      say(`Added ${user} to team ${teamName}.`);
    }),
  );

  serverCommand(team, 'remove <team> <user>', 'remove a user from a team').action(
    act(async (teamName: string, user: string, flags: Flags) => {
      await connect(flags).delete(memberPath(teamName, user));
      say(`Removed ${user} from team ${teamName}.`);
    }),
  );
}
