import { InvalidArgumentError, Option, type Command } from 'commander';
import { ApiError, type ApiClient, CliError, UsageError } from '../api-client.js';
import { connect, type ConnectOptions } from '../cli-config.js';
import { act, examples, group, humanBytes, listOptions, positiveInt, printJson, printList, say, serverCommand, when, type Column, type ListFlags } from '../output.js';
import { resolveRegistry } from './context.js';
import { listAll } from './repositories.js';

export interface GcView {
  uuid: string;
  registry_name: string;
  status: string;
  type: string;
  created_at: string;
  updated_at: string;
  blobs_deleted: number;
  freed_bytes: number;
  dry_run?: boolean;
  manifests_deleted?: number;
}

/** DigitalOcean's types, as the API takes them; the CLI also accepts them with dashes. */
const TYPES = ['untagged manifests only', 'unreferenced blobs only', 'untagged manifests and unreferenced blobs'] as const;
const FINISHED = new Set(['succeeded', 'failed', 'cancelled']);

function gcType(value: string): string {
  const spaced = value.replace(/-/g, ' ').toLowerCase();
  if (!(TYPES as readonly string[]).includes(spaced)) throw new InvalidArgumentError(`expected one of ${TYPES.map((t) => t.replace(/ /g, '-')).join(', ')}`);
  return spaced;
}

interface Flags extends ListFlags, ConnectOptions {
  type?: string;
  dryRun?: boolean;
  wait?: boolean;
  pollMs: number;
}

const gcPath = (registry: string) => `/api/v2/registries/${encodeURIComponent(registry)}/garbage-collection`;

const columns: Column<GcView>[] = [
  { name: 'UUID', header: 'UUID', value: (g) => g.uuid },
  { name: 'Registry', header: 'REGISTRY', value: (g) => g.registry_name },
  { name: 'Status', header: 'STATUS', value: (g) => g.status },
  { name: 'Type', header: 'TYPE', value: (g) => g.type },
  { name: 'DryRun', header: 'DRY RUN', value: (g) => g.dry_run },
  { name: 'BlobsDeleted', header: 'BLOBS DELETED', value: (g) => g.blobs_deleted },
  { name: 'FreedBytes', header: 'FREED', value: (g) => humanBytes(g.freed_bytes) },
  { name: 'CreatedAt', header: 'CREATED', value: (g) => when(g.created_at) },
  { name: 'UpdatedAt', header: 'UPDATED', value: (g) => when(g.updated_at) },
];

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * The run now: by uuid where the server has that (Berth's addition), else as
 * DigitalOcean's API allows: the active run while it is ours, then the list
 * (a finished run leaves the active slot).
 */
async function current(client: ApiClient, registry: string, uuid: string): Promise<GcView | undefined> {
  try {
    return (await client.get<{ garbage_collection: GcView }>(`${gcPath(registry)}/${encodeURIComponent(uuid)}`)).garbage_collection;
  } catch (err) {
    if (!(err instanceof ApiError && (err.status === 404 || err.status === 405))) throw err;
  }
  try {
    const { garbage_collection: active } = await client.get<{ garbage_collection: GcView }>(gcPath(registry));
    if (active.uuid === uuid) return active;
  } catch (err) {
    if (!(err instanceof ApiError && err.status === 404)) throw err;
  }
  const runs = await listAll<GcView>(client, `${gcPath(registry)}s`, 'garbage_collections');
  return runs.find((r) => r.uuid === uuid);
}

/** Polls until the run finishes, printing each change of status or progress to stderr (stdout stays the result). */
async function waitFor(client: ApiClient, run: GcView, pollMs: number): Promise<GcView> {
  let last = '';
  let now: GcView = run;
  for (;;) {
    const line = `${now.status}: ${now.blobs_deleted} blob(s) deleted, ${humanBytes(now.freed_bytes)} freed`;
    if (line !== last) process.stderr.write(`[${new Date().toISOString().slice(11, 19)}] ${line}\n`);
    last = line;
    if (FINISHED.has(now.status)) return now;
    await sleep(pollMs);
    const next = await current(client, run.registry_name, run.uuid);
    if (!next) throw new CliError(`garbage collection ${run.uuid} disappeared from ${run.registry_name}'s list`);
    now = next;
  }
}

function summary(g: GcView): string {
  const what = g.dry_run ? 'would free' : 'freed';
  return `Garbage collection ${g.uuid} of ${g.registry_name} ${g.status}: ${g.blobs_deleted} blob(s), ${what} ${humanBytes(g.freed_bytes)}.`;
}

/** `berth gc ...`: garbage collection of a registry (registry admins), as doctl's `registry garbage-collection`. */
export function registerGcCommands(program: Command): void {
  const gc = examples(group(program, 'gc', "run and follow garbage collection of a registry's unreferenced content"), ['berth gc start team-a --wait', 'berth gc list team-a']);

  examples(
    listOptions(serverCommand(gc, 'start [registry]', 'start a garbage collection (one at a time per registry)'), columns)
      .option('--type <type>', `what to collect: ${TYPES.map((t) => t.replace(/ /g, '-')).join(' | ')} (default: the server's)`, gcType)
      .option('--dry-run', 'report what would be freed without deleting anything')
      .option('--wait', 'follow it until it finishes, showing progress; exit 1 unless it succeeds')
      .addOption(new Option('--poll-ms <ms>', 'how often --wait asks').argParser(positiveInt).default(1000).hideHelp())
      .action(
        act(async (named: string | undefined, flags: Flags) => {
          const client = connect(flags);
          const registry = await resolveRegistry(client, flags, named);
          const body: Record<string, unknown> = {};
          if (flags.type) body.type = flags.type;
          if (flags.dryRun) body.dry_run = true;
          const { garbage_collection: started } = await client.post<{ garbage_collection: GcView }>(gcPath(registry), body);
          if (!flags.wait) return printList(flags, columns, [started], started);
          const done = await waitFor(client, started, flags.pollMs);
          if (flags.output === 'json') printJson(done);
          else say(summary(done));
          if (done.status !== 'succeeded') process.exitCode = 1;
        }),
      ),
    ['berth gc start team-a --wait', 'berth gc start team-a --type untagged-manifests-and-unreferenced-blobs --dry-run --wait', 'berth gc start -o json'],
  );

  examples(
    listOptions(serverCommand(gc, 'get-active [registry]', 'show the running garbage collection (exit 1 when none)'), columns).action(
      act(async (named: string | undefined, flags: Flags) => {
        const client = connect(flags);
        const registry = await resolveRegistry(client, flags, named);
        try {
          const { garbage_collection: active } = await client.get<{ garbage_collection: GcView }>(gcPath(registry));
          printList(flags, columns, [active], active);
        } catch (err) {
          if (err instanceof ApiError && err.status === 404) throw new CliError(`no garbage collection is running in ${registry}`);
          throw err;
        }
      }),
    ),
    ['berth gc get-active team-a', 'berth gc get-active team-a --format UUID,Status,FreedBytes'],
  );

  examples(
    listOptions(serverCommand(gc, 'list [registry]', 'list past and running garbage collections, newest first'), columns).action(
      act(async (named: string | undefined, flags: Flags) => {
        const client = connect(flags);
        const registry = await resolveRegistry(client, flags, named);
        printList(flags, columns, await listAll<GcView>(client, `${gcPath(registry)}s`, 'garbage_collections'));
      }),
    ),
    ['berth gc list team-a', 'berth gc list team-a -o json'],
  );

  examples(
    listOptions(serverCommand(gc, 'cancel <registry-or-uuid> [uuid]', 'cancel a running garbage collection (give the registry, or only the uuid to use the default registry)'), columns).action(
      act(async (first: string, second: string | undefined, flags: Flags) => {
        const client = connect(flags);
        const registry = await resolveRegistry(client, flags, second === undefined ? undefined : first);
        const uuid = second ?? first;
        if (!/^[0-9a-zA-Z-]{1,64}$/.test(uuid)) throw new UsageError(`${uuid} is not a garbage collection uuid`);
        const { garbage_collection: cancelled } = await client.put<{ garbage_collection: GcView }>(`${gcPath(registry)}/${encodeURIComponent(uuid)}`, { cancel: true });
        printList(flags, columns, [cancelled], cancelled);
      }),
    ),
    ['berth gc cancel team-a 0b4c3f1e-…', 'berth gc cancel 0b4c3f1e-…   # in the context’s registry'],
  );
}
