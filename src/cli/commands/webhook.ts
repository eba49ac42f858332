import { InvalidArgumentError, Option, type Command } from 'commander';
import { UsageError } from '../api-client.js';
import { connect, type ConnectOptions } from '../cli-config.js';
import { act, confirm, examples, group, listOptions, printJson, printList, say, serverCommand, when, type Column, type ListFlags } from '../output.js';
import { readStdin } from '../prompt.js';
import { resolveRegistry } from './context.js';
import { listAll } from './repositories.js';

export interface WebhookView {
  id: string;
  registry_name: string;
  url: string;
  events: string[];
  repository_filter: string | null;
  tag_filter: string | null;
  format: string;
  enabled: boolean;
  disabled_reason: string | null;
  failing_since: string | null;
  created_by: string;
  created_at: string;
  updated_at: string;
}

export interface DeliveryView {
  id: number;
  webhook_id: string;
  event_id: string;
  event_type: string;
  repository: string | null;
  status: string;
  attempts: number;
  response_status: number | null;
  latency_ms: number | null;
  response_body: string | null;
  error: string | null;
  next_attempt_at: string | null;
  created_at: string;
  completed_at: string | null;
}

/** The event types, as the server takes them. */
const EVENT_TYPES = ['push', 'tag.deleted', 'manifest.deleted', 'repository.deleted', 'scan.completed', 'quota.warning', 'gc.completed', 'pull'];

interface Flags extends ListFlags, ConnectOptions {
  registry?: string;
  url?: string;
  events?: string[];
  repositories?: string | false;
  tags?: string | false;
  envelope?: string;
  disabled?: boolean;
  enable?: boolean;
  disable?: boolean;
  secretStdin?: boolean;
  rotateSecret?: boolean;
  force?: boolean;
}

const webhooksPath = (registry: string) => `/api/v2/registries/${encodeURIComponent(registry)}/webhooks`;
const webhookPath = (registry: string, id: string) => `${webhooksPath(registry)}/${encodeURIComponent(id)}`;

function eventList(value: string): string[] {
  const events = value.split(',').map((e) => e.trim()).filter(Boolean);
  const unknown = events.filter((e) => !EVENT_TYPES.includes(e));
  if (events.length === 0 || unknown.length > 0) throw new InvalidArgumentError(`expected a comma-separated list of ${EVENT_TYPES.join(', ')}${unknown.length ? `; not ${unknown.join(', ')}` : ''}`);
  return events;
}

const columns: Column<WebhookView>[] = [
  { name: 'ID', header: 'ID', value: (w) => w.id },
  { name: 'URL', header: 'URL', value: (w) => w.url },
  { name: 'Events', header: 'EVENTS', value: (w) => w.events.join(',') },
  { name: 'Repositories', header: 'REPOSITORIES', value: (w) => w.repository_filter },
  { name: 'Tags', header: 'TAGS', value: (w) => w.tag_filter },
  { name: 'Envelope', header: 'ENVELOPE', value: (w) => w.format },
  { name: 'Enabled', header: 'ENABLED', value: (w) => w.enabled },
  { name: 'DisabledReason', header: 'DISABLED BECAUSE', value: (w) => w.disabled_reason },
  { name: 'CreatedAt', header: 'CREATED', value: (w) => when(w.created_at) },
];

const deliveryColumns: Column<DeliveryView>[] = [
  { name: 'ID', header: 'ID', value: (d) => d.id },
  { name: 'Event', header: 'EVENT', value: (d) => d.event_type },
  { name: 'Repository', header: 'REPOSITORY', value: (d) => d.repository },
  { name: 'Status', header: 'STATUS', value: (d) => d.status },
  { name: 'Attempts', header: 'ATTEMPTS', value: (d) => d.attempts },
  { name: 'Response', header: 'RESPONSE', value: (d) => d.response_status },
  { name: 'LatencyMs', header: 'LATENCY MS', value: (d) => d.latency_ms },
  { name: 'NextAttempt', header: 'NEXT ATTEMPT', value: (d) => when(d.next_attempt_at) },
  { name: 'Error', header: 'ERROR', value: (d) => d.error },
  { name: 'CreatedAt', header: 'CREATED', value: (d) => when(d.created_at) },
];

/** Prints a new secret once: the server never shows it again. */
function printSecret(secret: string): void {
  say(`Secret: ${secret}`);
  say('Copy it now: this secret will not be shown again. Receivers verify the Berth-Signature header with it.');
}

const withRegistry = (c: Command) => c.option('--registry <name>', "the webhook's registry (default: the context's)");

/** `berth webhook ...`: a registry's webhooks and their deliveries (registry admins). */
export function registerWebhookCommands(program: Command): void {
  const webhook = examples(group(program, 'webhook', "manage a registry's webhooks: signed HTTP deliveries of its events"), [
    'berth webhook create https://ci.example.com/hooks/berth --events push,tag.deleted --registry team-a',
    'berth webhook deliveries 3f2a… --registry team-a',
  ]);

  examples(
    listOptions(withRegistry(serverCommand(webhook, 'list', "list a registry's webhooks")), columns).action(
      act(async (flags: Flags) => {
        const client = connect(flags);
        const registry = await resolveRegistry(client, flags, flags.registry);
        const { webhooks } = await client.get<{ webhooks: WebhookView[] }>(webhooksPath(registry));
        printList(flags, columns, webhooks, webhooks);
      }),
    ),
    ['berth webhook list --registry team-a', 'berth webhook list -o json'],
  );

  examples(
    listOptions(withRegistry(serverCommand(webhook, 'create <url>', 'create a webhook and print its signing secret once')), columns)
      .requiredOption('--events <types>', `comma-separated: ${EVENT_TYPES.join(', ')}`, eventList)
      .option('--repositories <glob>', 'only repositories whose path in the registry matches (* one component, ** any)')
      .option('--tags <glob>', 'only events naming a matching tag (push, pull, tag.deleted, manifest.deleted)')
      .addOption(new Option('--envelope <format>', 'cloudevents (default), or distribution: the notification envelope of CNCF Distribution').choices(['cloudevents', 'distribution']))
      .option('--disabled', 'create it disabled')
      .option('--secret-stdin', 'read the signing secret from stdin instead of having one generated')
      .action(
        act(async (url: string, flags: Flags) => {
          const client = connect(flags);
          const registry = await resolveRegistry(client, flags, flags.registry);
          const body: Record<string, unknown> = { url, events: flags.events };
          if (flags.repositories) body.repository_filter = flags.repositories;
          if (flags.tags) body.tag_filter = flags.tags;
          if (flags.envelope) body.format = flags.envelope;
          if (flags.disabled) body.enabled = false;
          if (flags.secretStdin) body.secret = await readStdin();
          const created = await client.post<{ webhook: WebhookView; secret: string }>(webhooksPath(registry), body);
          if (flags.output === 'json') return printJson(created);
          printList(flags, columns, [created.webhook]);
          if (!flags.secretStdin) printSecret(created.secret);
        }),
      ),
    ['berth webhook create https://ci.example.com/hooks/berth --events push --tags "v*" --registry team-a', 'berth webhook create http://hooks.internal/notify --events push,manifest.deleted --envelope distribution'],
  );

  examples(
    listOptions(withRegistry(serverCommand(webhook, 'get <id>', 'show a webhook')), columns).action(
      act(async (id: string, flags: Flags) => {
        const client = connect(flags);
        const registry = await resolveRegistry(client, flags, flags.registry);
        const { webhook: found } = await client.get<{ webhook: WebhookView }>(webhookPath(registry, id));
        printList(flags, columns, [found], found);
      }),
    ),
    ['berth webhook get 3f2a… --registry team-a -o json'],
  );

  examples(
    listOptions(withRegistry(serverCommand(webhook, 'update <id>', 'change a webhook, enable or disable it, or rotate its secret')), columns)
      .option('--url <url>', 'a new URL')
      .option('--events <types>', `comma-separated: ${EVENT_TYPES.join(', ')}`, eventList)
      .option('--repositories <glob>', 'only repositories matching this glob')
      .option('--no-repositories', 'every repository')
      .option('--tags <glob>', 'only events naming a matching tag')
      .option('--no-tags', 'every tag')
      .addOption(new Option('--envelope <format>', 'cloudevents or distribution').choices(['cloudevents', 'distribution']))
      .addOption(new Option('--enable', 'enable it (after it was disabled)').conflicts('disable'))
      .option('--disable', 'disable it: its pending deliveries end as failed')
      .option('--rotate-secret', 'replace the signing secret, and print the new one once')
      .action(
        act(async (id: string, flags: Flags) => {
          const client = connect(flags);
          const registry = await resolveRegistry(client, flags, flags.registry);
          const body: Record<string, unknown> = {};
          if (flags.url) body.url = flags.url;
          if (flags.events) body.events = flags.events;
          if (flags.repositories !== undefined) body.repository_filter = flags.repositories === false ? null : flags.repositories;
          if (flags.tags !== undefined) body.tag_filter = flags.tags === false ? null : flags.tags;
          if (flags.envelope) body.format = flags.envelope;
          if (flags.enable) body.enabled = true;
          if (flags.disable) body.enabled = false;
          if (flags.rotateSecret) body.rotate_secret = true;
          if (Object.keys(body).length === 0) throw new UsageError('nothing to change: give --url, --events, --repositories, --tags, --envelope, --enable, --disable or --rotate-secret');
          const updated = await client.patch<{ webhook: WebhookView; secret?: string }>(webhookPath(registry, id), body);
          if (flags.output === 'json') return printJson(updated);
          printList(flags, columns, [updated.webhook]);
          if (updated.secret) printSecret(updated.secret);
        }),
      ),
    ['berth webhook update 3f2a… --events push,pull', 'berth webhook update 3f2a… --enable', 'berth webhook update 3f2a… --rotate-secret'],
  );

  withRegistry(serverCommand(webhook, 'delete <id>', 'delete a webhook and its delivery log'))
    .option('-f, --force', 'do not ask')
    .action(
      act(async (id: string, flags: Flags) => {
        const client = connect(flags);
        const registry = await resolveRegistry(client, flags, flags.registry);
        await confirm(`Delete webhook ${id} of ${registry}?`, flags.force);
        await client.delete(webhookPath(registry, id));
        say(`Deleted webhook ${id} of ${registry}.`);
      }),
    );

  examples(
    listOptions(withRegistry(serverCommand(webhook, 'deliveries <id>', "list a webhook's deliveries, newest first")), deliveryColumns).action(
      act(async (id: string, flags: Flags) => {
        const client = connect(flags);
        const registry = await resolveRegistry(client, flags, flags.registry);
        printList(flags, deliveryColumns, await listAll<DeliveryView>(client, `${webhookPath(registry, id)}/deliveries`, 'deliveries'));
      }),
    ),
    ['berth webhook deliveries 3f2a… --format ID,Event,Status,Response,Error'],
  );

  examples(
    listOptions(withRegistry(serverCommand(webhook, 'redeliver <id> <delivery>', 'send a delivery again (a new delivery of the same event)')), deliveryColumns).action(
      act(async (id: string, delivery: string, flags: Flags) => {
        if (!/^\d+$/.test(delivery)) throw new UsageError(`${delivery} is not a delivery id (a number; see berth webhook deliveries)`);
        const client = connect(flags);
        const registry = await resolveRegistry(client, flags, flags.registry);
        const { delivery: queued } = await client.post<{ delivery: DeliveryView }>(`${webhookPath(registry, id)}/deliveries/${delivery}/redeliver`, {});
        printList(flags, deliveryColumns, [queued], queued);
      }),
    ),
    ['berth webhook redeliver 3f2a… 42'],
  );

  examples(
    listOptions(withRegistry(serverCommand(webhook, 'test <id>', 'send a signed ping event to a webhook, whatever its filters (see it with berth webhook deliveries)')), deliveryColumns).action(
      act(async (id: string, flags: Flags) => {
        const client = connect(flags);
        const registry = await resolveRegistry(client, flags, flags.registry);
        const { delivery } = await client.post<{ delivery: DeliveryView }>(`${webhookPath(registry, id)}/test`, {});
        printList(flags, deliveryColumns, [delivery], delivery);
      }),
    ),
    ['berth webhook test 3f2a…'],
  );
}
