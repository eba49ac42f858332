import type { Command } from 'commander';
import type { ConnectOptions } from '../cli-config.js';
import { connect } from '../cli-config.js';
import { act, examples, group, listOptions, printList, say, serverCommand, when, type Column, type ListFlags } from '../output.js';
import { resolveRegistry } from './context.js';

export interface ImmutableTagView {
  id: number;
  registry_name: string;
  tag_pattern: string;
  repository_pattern: string;
  created_by: string;
  created_at: string;
}

interface Flags extends ListFlags, ConnectOptions {
  repositories?: string;
}

const rulesPath = (registry: string) => `/api/v2/registries/${encodeURIComponent(registry)}/immutable-tags`;

const columns: Column<ImmutableTagView>[] = [
  { name: 'ID', header: 'ID', value: (r) => r.id },
  { name: 'Tags', header: 'TAGS', value: (r) => r.tag_pattern },
  { name: 'Repositories', header: 'REPOSITORIES', value: (r) => r.repository_pattern },
  { name: 'CreatedBy', header: 'CREATED BY', value: (r) => r.created_by },
  { name: 'CreatedAt', header: 'CREATED', value: (r) => when(r.created_at) },
];

/** `berth immutable-tags ...`: rules that make tags immutable (registry admins add and lift them). */
export function registerImmutableTagCommands(program: Command): void {
  const cmd = examples(group(program, 'immutable-tags', 'make release tags immutable: they never move and are never deleted'), [
    "berth immutable-tags add team-a 'v*'",
    'berth immutable-tags list team-a',
  ]);

  examples(
    listOptions(serverCommand(cmd, 'list [registry]', "list a registry's immutable-tag rules"), columns).action(
      act(async (named: string | undefined, flags: Flags) => {
        const client = connect(flags);
        const registry = await resolveRegistry(client, flags, named);
        const { immutable_tags: rules } = await client.get<{ immutable_tags: ImmutableTagView[] }>(rulesPath(registry));
        printList(flags, columns, rules, rules);
      }),
    ),
    ['berth immutable-tags list team-a', 'berth immutable-tags list -o json'],
  );

  examples(
    listOptions(serverCommand(cmd, 'add <registry> <tag-pattern>', 'make tags matching a glob immutable (existing ones at once)'), columns)
      .option('--repositories <glob>', 'only in repositories matching this glob inside the registry (* one component, ** any)', '**')
      .action(
        act(async (registry: string, tagPattern: string, flags: Flags) => {
          const client = connect(flags);
          const { immutable_tag: rule } = await client.post<{ immutable_tag: ImmutableTagView }>(rulesPath(registry), {
            tag_pattern: tagPattern,
            repository_pattern: flags.repositories ?? '**',
          });
          printList(flags, columns, [rule], rule);
        }),
      ),
    ["berth immutable-tags add team-a 'v*'", "berth immutable-tags add team-a 'release-*' --repositories 'apps/**'"],
  );

  examples(
    serverCommand(cmd, 'lift <registry> <id>', 'remove a rule: its tags may move and be deleted again (audited)').action(
      act(async (registry: string, id: string, flags: ConnectOptions) => {
        const client = connect(flags);
        await client.delete(`${rulesPath(registry)}/${encodeURIComponent(id)}`);
        say(`Lifted immutable-tag rule ${id} of ${registry}.`);
      }),
    ),
    ['berth immutable-tags lift team-a 3'],
  );
}
