import type { Command } from 'commander';
import { ApiError } from '../api-client.js';
import type { RegistryView } from '../api-types.js';
import { connect, type ConnectOptions } from '../cli-config.js';
import { act, examples, humanBytes, listOptions, printJson, printList, say, serverCommand, when, type Column, type ListFlags } from '../output.js';

/** The usage report as far as the CLI shows it; everything else is in `-o json`. */
export interface UsageView {
  registry: string;
  subscription_tier?: { slug?: string; name?: string };
  repositories?: number;
  storage_usage_bytes?: number;
  storage_usage_bytes_updated_at?: string;
  month?: string;
  transfer_bytes?: number;
  estimated_cost?: { total_in_cents?: number; currency?: string };
}

type Flags = ListFlags & ConnectOptions;

const money = (u: UsageView) => {
  const cents = u.estimated_cost?.total_in_cents;
  return cents === undefined ? undefined : `${(cents / 100).toFixed(2)} ${u.estimated_cost?.currency ?? 'USD'}`;
};

const columns: Column<UsageView>[] = [
  { name: 'Registry', header: 'REGISTRY', value: (u) => u.registry },
  { name: 'Tier', header: 'TIER', value: (u) => u.subscription_tier?.slug },
  { name: 'Repositories', header: 'REPOSITORIES', value: (u) => u.repositories },
  { name: 'StorageBytes', header: 'STORAGE', value: (u) => humanBytes(u.storage_usage_bytes) },
  { name: 'Month', header: 'MONTH', value: (u) => u.month },
  { name: 'TransferBytes', header: 'TRANSFER', value: (u) => humanBytes(u.transfer_bytes) },
  { name: 'EstimatedCost', header: 'ESTIMATED COST', value: money },
  { name: 'UpdatedAt', header: 'STORAGE UPDATED', value: (u) => when(u.storage_usage_bytes_updated_at) },
];

/** `berth usage [registry]`: storage, transfer and this month's estimated cost, for one registry or every one you administer. */
export function registerUsageCommand(program: Command): void {
  examples(
    listOptions(serverCommand(program, 'usage [registry]', 'show storage, transfer and estimated cost (registry admins); without a registry, every one you administer'), columns).action(
      act(async (named: string | undefined, flags: Flags) => {
        const client = connect(flags);
        const get = async (registry: string) => (await client.get<{ usage: UsageView }>(`/api/v2/registries/${encodeURIComponent(registry)}/usage`)).usage;
        if (named) {
          const usage = await get(named);
          if (flags.output === 'json' || flags.format) return printList(flags, columns, [usage], usage);
          return describe(usage);
        }
        const { registries } = await client.get<{ registries: RegistryView[] }>('/api/v2/registries');
        const reports: UsageView[] = [];
        for (const r of registries) {
          try {
            reports.push(await get(r.name));
          } catch (err) {
            // Registries you can see but not administer have no usage for you: leave them out.
            if (!(err instanceof ApiError && (err.status === 403 || err.status === 404))) throw err;
          }
        }
        if (flags.output === 'json') return printJson(reports);
        printList(flags, columns, reports);
      }),
    ),
    ['berth usage team-a', 'berth usage', 'berth usage --format Registry,StorageBytes --no-header', 'berth usage team-a -o json'],
  );
}

function describe(u: UsageView): void {
  const lines: [string, string | number | undefined][] = [
    ['Registry', u.registry],
    ['Tier', u.subscription_tier ? `${u.subscription_tier.slug ?? ''}${u.subscription_tier.name ? ` (${u.subscription_tier.name})` : ''}` : undefined],
    ['Repositories', u.repositories],
    ['Storage', u.storage_usage_bytes === undefined ? undefined : `${humanBytes(u.storage_usage_bytes)} (${u.storage_usage_bytes} bytes, as of ${when(u.storage_usage_bytes_updated_at)})`],
    [`Transfer${u.month ? ` in ${u.month}` : ''}`, humanBytes(u.transfer_bytes)],
    ['Estimated cost this month', money(u)],
  ];
  const width = Math.max(...lines.map(([k]) => k.length));
  for (const [k, v] of lines) if (v !== undefined) say(`${`${k}:`.padEnd(width + 2)}${v}`);
}
