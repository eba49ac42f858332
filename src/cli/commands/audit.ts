import { Option, type Command } from 'commander';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { AuditEventView } from '../api-types.js';
import { connect } from '../cli-config.js';
import { act, exitOnUsageError, positiveInt, printJson, printTable, serverCommand, when } from '../output.js';

interface Flags {
  server?: string;
  json?: boolean;
  actor?: string;
  registry?: string;
  action?: string;
  outcome?: string;
  since?: string;
  until?: string;
  limit: number;
}

/** Page size: the API's default; bigger limits follow the `next` links. */
const PAGE = 100;

const filtersOf = (f: Flags) => ({ actor: f.actor, registry: f.registry, action: f.action, outcome: f.outcome, since: f.since, until: f.until });

/**
 * `berth audit` (newest first, as a table) and `berth audit export` (everything, as JSON lines).
 * The filters live on `audit` itself, so both forms accept them in any position.
 */
export function registerAuditCommands(program: Command): void {
  const audit = serverCommand(program, 'audit', 'show the audit log, newest first (server administrators, or registry admins with --registry)')
    .option('--actor <name>', 'only events by this user or robot')
    .option('--registry <name>', 'only events in this registry')
    .option('--action <action>', 'only this action, e.g. login, token.create, repository.push')
    .addOption(new Option('--outcome <outcome>', 'only this outcome').choices(['success', 'failure', 'denied']))
    .option('--since <time>', 'only events at or after this ISO 8601 time')
    .option('--until <time>', 'only events before this ISO 8601 time')
    .option('--limit <n>', 'show at most this many events', positiveInt, 100)
    .option('--json', 'print JSON')
    .action(
      act(async (flags: Flags) => {
        const client = connect(flags);
        const events: AuditEventView[] = [];
        // Follow the API's next links until we have enough.
        let next: string | undefined = '/api/v2/audit';
        let query: Record<string, string | undefined> | undefined = { ...filtersOf(flags), per_page: String(Math.min(flags.limit, PAGE)) };
        while (next && events.length < flags.limit) {
          const page: { events: AuditEventView[]; links: { pages?: { next?: string } } } = await client.get(next, query);
          events.push(...page.events);
          next = page.links.pages?.next;
          query = undefined; // the next link carries the filters
        }
        events.splice(flags.limit);
        if (flags.json) return printJson(events);
        printTable(
          ['TIME', 'ACTOR', 'ACTION', 'REGISTRY', 'RESOURCE', 'OUTCOME', 'SOURCE', 'REASON'],
          events.map((e) => [when(e.time), e.actor, e.action, e.registry, e.resource, e.outcome, e.source, e.reason]),
        );
      }),
    );

  audit
    .command('export')
    .description('stream every matching event as JSON lines (takes the same filters as `berth audit`), e.g. berth audit export > audit.jsonl')
    .exitOverride(exitOnUsageError)
    .action(
      act(async (_flags: unknown, command: Command) => {
        const flags = command.optsWithGlobals<Flags>();
        const res = await connect(flags).stream('/api/v2/audit/export', filtersOf(flags));
        if (!res.body) return;
        await pipeline(Readable.fromWeb(res.body as import('node:stream/web').ReadableStream), process.stdout);
      }),
    );
}
