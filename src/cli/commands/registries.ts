import type { Command } from 'commander';
import { UsageError } from '../api-client.js';
import type { RegistryView } from '../api-types.js';
import { connect } from '../cli-config.js';
import { act, group, printJson, printTable, say, serverCommand, when } from '../output.js';

interface Flags {
  server?: string;
  json?: boolean;
  public?: boolean;
}

/** `berth registry ...`: registries are the top-level namespaces that grants apply to. */
export function registerRegistryCommands(program: Command): void {
  const registry = group(program, 'registry', 'manage registries (namespaces)');

  serverCommand(registry, 'list', 'list the registries you can see')
    .option('--json', 'print JSON')
    .action(
      act(async (flags: Flags) => {
        const { registries } = await connect(flags).get<{ registries: RegistryView[] }>('/api/v2/registries');
        if (flags.json) return printJson(registries);
        printTable(['NAME', 'PUBLIC', 'CREATED'], registries.map((r) => [r.name, r.public, when(r.created_at)]));
      }),
    );

  serverCommand(registry, 'create <name>', 'create a registry (server administrators, or users allowed to)')
    .option('--public', 'anyone, even anonymous, may pull from it')
    .option('--json', 'print JSON')
    .action(
      act(async (name: string, flags: Flags) => {
        const { registry: created } = await connect(flags).post<{ registry: RegistryView }>('/api/v2/registries', { name, public: flags.public ?? false });
        if (flags.json) return printJson(created);
        say(`Created ${created.public ? 'public' : 'private'} registry ${created.name}.`);
      }),
    );

  serverCommand(registry, 'set-public <name> <true|false>', 'make a registry public (anonymous pulls) or private')
    .option('--json', 'print JSON')
    .action(
      act(async (name: string, value: string, flags: Flags) => {
        if (value !== 'true' && value !== 'false') throw new UsageError(`expected true or false, not ${value}`);
        const { registry: updated } = await connect(flags).patch<{ registry: RegistryView }>(`/api/v2/registries/${encodeURIComponent(name)}`, { public: value === 'true' });
        if (flags.json) return printJson(updated);
        say(`Registry ${updated.name} is now ${updated.public ? 'public' : 'private'}.`);
      }),
    );
}
