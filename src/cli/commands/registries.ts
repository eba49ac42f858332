import type { Command } from 'commander';
import { UsageError } from '../api-client.js';
import type { RegistryView } from '../api-types.js';
import { connect } from '../cli-config.js';
import { act, cellText, confirm, examples, group, listOptions, printJson, printList, say, serverCommand, when, type Cell, type Column, type ListFlags } from '../output.js';
import { resolveRegistry } from './context.js';
import { registerKubernetesCommand } from './kubernetes.js';
import { registerRegistryCredentialCommands } from './registry-extra.js';

interface Flags extends ListFlags {
  server?: string;
  json?: boolean;
  public?: boolean;
  force?: boolean;
}

type Row = Record<string, unknown>;

/**
 * Columns for objects whose full shape this CLI does not pin down (registries grow
 * tiers, regions and usage): one per scalar field, nested objects flattened with dots.
 */
export function flatten(value: Row, prefix = ''): Record<string, Cell> {
  const out: Record<string, Cell> = {};
  for (const [k, v] of Object.entries(value)) {
    if (v !== null && typeof v === 'object' && !Array.isArray(v)) Object.assign(out, flatten(v as Row, `${prefix}${k}.`));
    else out[`${prefix}${k}`] = Array.isArray(v) ? v.map((x) => (typeof x === 'object' ? JSON.stringify(x) : String(x))).join(',') : (v as Cell);
  }
  return out;
}

export function columnsOf(rows: Record<string, Cell>[]): Column<Record<string, Cell>>[] {
  const keys = [...new Set(rows.flatMap((r) => Object.keys(r)))];
  const pascal = (k: string) => k.split(/[._]/).map((w) => w.charAt(0).toUpperCase() + w.slice(1)).join('');
  return keys.map((k) => ({ name: pascal(k), header: k.replace(/[._]/g, ' ').toUpperCase(), value: (r) => r[k] }));
}

/** One object: `Field: value` lines for people (a table with --format or --no-header), or JSON. */
export function printRecord(flags: ListFlags, object: Row): void {
  if (flags.output === 'json' || flags.format || flags.header === false) return printObjects(flags, [object], object);
  const row = flatten(object);
  const columns = columnsOf([row]);
  const width = Math.max(...columns.map((c) => c.header.length));
  for (const c of columns) say(`${`${c.header.charAt(0)}${c.header.slice(1).toLowerCase()}:`.padEnd(width + 2)}${cellText(c.value(row))}`);
}

/** Prints any objects as a table (or JSON), for answers whose fields are not fixed here. */
export function printObjects(flags: ListFlags, objects: Row[], json: unknown = objects): void {
  const rows = objects.map((o) => flatten(o));
  printList(flags, columnsOf(rows), rows, json);
}

/** `berth registry ...`: registries are the top-level namespaces that grants apply to. */
export function registerRegistryCommands(program: Command): void {
  const registry = examples(group(program, 'registry', 'manage registries (namespaces)'), [
    'berth registry list',
    'berth registry docker-config team-a > config.json',
    'berth registry kubernetes-manifest team-a | kubectl apply -f -',
  ]);

  const listColumns: Column<RegistryView>[] = [
    { name: 'Name', header: 'NAME', value: (r) => r.name },
    { name: 'Public', header: 'PUBLIC', value: (r) => r.public },
    { name: 'CreatedAt', header: 'CREATED', value: (r) => when(r.created_at) },
  ];
  examples(
    listOptions(serverCommand(registry, 'list', 'list the registries you can see'), listColumns)
      .option('--json', 'print JSON (same as --output json)')
      .action(
        act(async (flags: Flags) => {
          const { registries } = await connect(flags).get<{ registries: RegistryView[] }>('/api/v2/registries');
          printList({ ...flags, output: flags.json ? 'json' : flags.output }, listColumns, registries);
        }),
      ),
    ['berth registry list', 'berth registry list --format Name --no-header'],
  );

  examples(serverCommand(registry, 'create <name>', 'create a registry (server administrators, or users allowed to)'), [
    'berth registry create team-a',
    'berth registry create docs --public',
    'berth registry create team-b --subscription-tier basic --region local',
  ])
    .option('--public', 'anyone, even anonymous, may pull from it')
    .option('--subscription-tier <slug>', 'its tier (see `berth registry options`; default: the server\'s default tier)')
    .option('--region <slug>', 'its region (default: the server\'s first region)')
    .option('--json', 'print JSON')
    .action(
      act(async (name: string, flags: Flags & { subscriptionTier?: string; region?: string }) => {
        const body = { name, public: flags.public ?? false, subscription_tier_slug: flags.subscriptionTier, region: flags.region };
        const { registry: created } = await connect(flags).post<{ registry: RegistryView }>('/api/v2/registries', body);
        if (flags.json) return printJson(created);
        say(`Created ${created.public ? 'public' : 'private'} registry ${created.name}.`);
      }),
    );

  examples(serverCommand(registry, 'set-public <name> <true|false>', 'make a registry public (anonymous pulls) or private'), ['berth registry set-public docs true'])
    .option('--json', 'print JSON')
    .action(
      act(async (name: string, value: string, flags: Flags) => {
        if (value !== 'true' && value !== 'false') throw new UsageError(`expected true or false, not ${value}`);
        const { registry: updated } = await connect(flags).patch<{ registry: RegistryView }>(`/api/v2/registries/${encodeURIComponent(name)}`, { public: value === 'true' });
        if (flags.json) return printJson(updated);
        say(`Registry ${updated.name} is now ${updated.public ? 'public' : 'private'}.`);
      }),
    );

  examples(
    listOptions(serverCommand(registry, 'get [name]', 'show a registry (default: the context’s registry, or the only one you can see)'), []).action(
      act(async (named: string | undefined, flags: Flags) => {
        const client = connect(flags);
        const name = await resolveRegistry(client, flags, named);
        const { registry: found } = await client.get<{ registry: Row }>(`/api/v2/registries/${encodeURIComponent(name)}`);
        printRecord(flags, found);
      }),
    ),
    ['berth registry get team-a', 'berth registry get team-a --format Name,Public -o text', 'berth registry get -o json'],
  );

  examples(
    serverCommand(registry, 'delete [name]', 'delete a registry with all its repositories (registry admins)')
      .option('-f, --force', 'do not ask for confirmation')
      .action(
        act(async (named: string | undefined, flags: Flags) => {
          const client = connect(flags);
          const name = await resolveRegistry(client, flags, named);
          await confirm(`Delete registry ${name} and every repository in it?`, flags.force);
          await client.delete(`/api/v2/registries/${encodeURIComponent(name)}`);
          say(`Deleted registry ${name}.`);
        }),
      ),
    ['berth registry delete team-old --force'],
  );

  examples(
    listOptions(serverCommand(registry, 'options', 'list the subscription tiers and regions a registry can have'), []).action(
      act(async (flags: Flags) => {
        const answer = await connect(flags).get<{ options?: Row }>('/api/v2/registries/options');
        const options = answer.options ?? answer;
        if (flags.output === 'json') return printJson(options);
        // Arrays of objects (tiers) become tables; arrays of strings (regions) one line each.
        let first = true;
        for (const [key, value] of Object.entries(options)) {
          if (!Array.isArray(value)) continue;
          if (!first) say('');
          first = false;
          if (value.every((v) => typeof v !== 'object')) say(`${key.replace(/_/g, ' ')}: ${value.join(', ')}`);
          else {
            say(`${key.replace(/_/g, ' ')}:`);
            printObjects(flags, value as Row[]);
          }
        }
      }),
    ),
    ['berth registry options', 'berth registry options -o json'],
  );

  registerRegistryCredentialCommands(registry);
  registerKubernetesCommand(registry);
}
