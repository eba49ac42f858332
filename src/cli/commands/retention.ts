import { existsSync, readFileSync } from 'node:fs';
import { Option, type Command } from 'commander';
import { CliError, UsageError, type ApiClient } from '../api-client.js';
import { connect, type ConnectOptions } from '../cli-config.js';
import { act, confirm, examples, group, humanBytes, listOptions, positiveInt, printJson, printList, printTable, say, serverCommand, when, type Column, type ListFlags } from '../output.js';
import { readStdin } from '../prompt.js';
import { resolveRegistry } from './context.js';
import { listAll } from './repositories.js';

// ---- the retention API's answers (docs/api-reference.md), as far as the CLI reads them ----

interface RuleView {
  rulePriority: number;
  description?: string;
  selection: { tagStatus: string; tagPatternList?: string[]; tagPrefixList?: string[]; countType: string; countUnit?: string; countNumber: number };
}

interface KeepView {
  description?: string;
  tagStatus?: string;
  tagPatternList?: string[];
  tagPrefixList?: string[];
  mostRecentlyPulled?: number;
  pulledWithinDays?: number;
}

export interface PolicyView {
  id: string;
  description?: string;
  scope: 'registry' | { repositories: string[] };
  schedule: string;
  enabled: boolean;
  rules: RuleView[];
  keep: KeepView[];
  registry_name: string;
  revision: number;
  created_at: string;
  updated_at: string;
  next_run_at: string | null;
}

interface DecisionView {
  digest: string;
  tags: string[];
  role: string;
  size: number;
  pushed_at: string;
  last_pulled_at: string | null;
  rule_priority: number | null;
  keep_rule: number | null;
  reason: string;
}

interface PlanView {
  policy_id: string | null;
  registry_name: string;
  summary: { repositories: number; images_expired: number; manifests_expired: number; bytes_freed: number; by_rule: { rule_priority: number; images_expired: number }[] };
  repositories: { repository: string; images_expired: number; manifests_expired: number; expire: DecisionView[]; keep?: DecisionView[] }[];
}

export interface RunView {
  id: string;
  registry_name: string;
  policy_id: string;
  trigger: string;
  status: string;
  requested_by: string | null;
  created_at: string;
  finished_at: string | null;
  repositories: number;
  images_deleted: number;
  manifests_deleted: number;
  bytes_freed: number;
  skipped: number;
  error: string | null;
  gc_run_id: string | null;
}

interface DeletionView {
  repository: string;
  digest: string;
  role: string;
  tags: string[];
  rule_priority: number | null;
  reason: string;
  outcome: string;
}

interface Flags extends ListFlags, ConnectOptions {
  registry?: string;
  all?: boolean;
  wait?: boolean;
  force?: boolean;
  pollMs: number;
}

const policiesPath = (registry: string) => `/api/v2/registries/${encodeURIComponent(registry)}/retention-policies`;
const policyPath = (registry: string, id: string) => `${policiesPath(registry)}/${encodeURIComponent(id)}`;
const shortDigest = (d: string) => d.replace(/^sha256:/, '').slice(0, 12);
const scopeText = (p: PolicyView) => (p.scope === 'registry' ? 'registry' : p.scope.repositories.join(','));

const policyColumns: Column<PolicyView>[] = [
  { name: 'ID', header: 'ID', value: (p) => p.id },
  { name: 'Scope', header: 'SCOPE', value: scopeText },
  { name: 'Schedule', header: 'SCHEDULE', value: (p) => p.schedule },
  { name: 'Enabled', header: 'ENABLED', value: (p) => p.enabled },
  { name: 'Rules', header: 'RULES', value: (p) => p.rules.length },
  { name: 'Keep', header: 'KEEP', value: (p) => p.keep.length },
  { name: 'NextRun', header: 'NEXT RUN', value: (p) => when(p.next_run_at) },
  { name: 'Revision', header: 'REVISION', value: (p) => p.revision },
];

const runColumns: Column<RunView>[] = [
  { name: 'ID', header: 'ID', value: (r) => r.id },
  { name: 'Trigger', header: 'TRIGGER', value: (r) => r.trigger },
  { name: 'Status', header: 'STATUS', value: (r) => r.status },
  { name: 'Images', header: 'IMAGES', value: (r) => r.images_deleted },
  { name: 'Manifests', header: 'MANIFESTS', value: (r) => r.manifests_deleted },
  { name: 'Freed', header: 'FREED', value: (r) => humanBytes(r.bytes_freed) },
  { name: 'Skipped', header: 'SKIPPED', value: (r) => r.skipped },
  { name: 'CreatedAt', header: 'CREATED', value: (r) => when(r.created_at) },
  { name: 'FinishedAt', header: 'FINISHED', value: (r) => when(r.finished_at) },
  { name: 'Error', header: 'ERROR', value: (r) => r.error },
];

const deletionColumns: Column<DeletionView>[] = [
  { name: 'Repository', header: 'REPOSITORY', value: (d) => d.repository },
  { name: 'Digest', header: 'DIGEST', value: (d) => shortDigest(d.digest) },
  { name: 'Tags', header: 'TAGS', value: (d) => d.tags.join(',') },
  { name: 'Role', header: 'ROLE', value: (d) => d.role },
  { name: 'Rule', header: 'RULE', value: (d) => d.rule_priority },
  { name: 'Outcome', header: 'OUTCOME', value: (d) => d.outcome },
  { name: 'Reason', header: 'REASON', value: (d) => d.reason },
];

const selectionText = (s: { tagStatus?: string; tagPatternList?: string[]; tagPrefixList?: string[] }) =>
  `${s.tagStatus ?? (s.tagPatternList || s.tagPrefixList ? 'tagged' : 'any')}${s.tagPatternList ? ` ${s.tagPatternList.join(' & ')}` : ''}${s.tagPrefixList ? ` ${s.tagPrefixList.map((p) => `${p}*`).join(' & ')}` : ''}`;

function ruleText(r: RuleView): string {
  const s = r.selection;
  const what = s.countType === 'imageCountMoreThan' ? `beyond the ${s.countNumber} newest` : s.countType === 'sinceImagePushed' ? `pushed more than ${s.countNumber} ${s.countUnit} ago` : `last pulled more than ${s.countNumber} ${s.countUnit} ago`;
  return `rule ${r.rulePriority}: expire ${selectionText(s)} images ${what}${r.description ? `  (${r.description})` : ''}`;
}

function keepText(k: KeepView, i: number): string {
  const how = k.mostRecentlyPulled !== undefined ? `the ${k.mostRecentlyPulled} most recently pulled` : k.pulledWithinDays !== undefined ? `those pulled within ${k.pulledWithinDays} days` : 'all';
  return `keep ${i + 1}: ${how} of ${selectionText(k)} images${k.description ? `  (${k.description})` : ''}`;
}

function printPolicy(p: PolicyView): void {
  say(`Policy ${p.id} of ${p.registry_name} (revision ${p.revision})${p.description ? `: ${p.description}` : ''}`);
  say(`  scope:    ${p.scope === 'registry' ? 'the whole registry' : p.scope.repositories.join(', ')}`);
  say(`  schedule: ${p.schedule} (UTC)${p.enabled ? `, next run ${when(p.next_run_at) ?? '-'}` : ', disabled: runs only when asked'}`);
  for (const r of [...p.rules].sort((a, b) => a.rulePriority - b.rulePriority)) say(`  ${ruleText(r)}`);
  p.keep.forEach((k, i) => say(`  ${keepText(k, i)}`));
}

/** A policy document from a file (`-`: standard input). */
async function readPolicyFile(path: string): Promise<Record<string, unknown>> {
  let text: string;
  try {
    text = path === '-' ? await readStdin() : readFileSync(path, 'utf8');
  } catch (err) {
    throw new CliError(`cannot read ${path}: ${(err as Error).message}`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new CliError(`${path} is not JSON: ${(err as Error).message}`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new CliError(`${path} does not hold a policy (a JSON object with "rules")`);
  return parsed as Record<string, unknown>;
}

/** The saved document of a policy, as `set` would take it back. */
function documentOf(p: PolicyView): Record<string, unknown> {
  const { registry_name: _r, revision: _v, created_at: _c, updated_at: _u, next_run_at: _n, ...document } = p;
  return document;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function waitForRun(client: ApiClient, registry: string, run: RunView, pollMs: number): Promise<RunView> {
  let last = '';
  let now = run;
  for (;;) {
    const line = `${now.status}: ${now.images_deleted} image(s), ${now.manifests_deleted} manifest(s) deleted`;
    if (line !== last) process.stderr.write(`[${new Date().toISOString().slice(11, 19)}] ${line}\n`);
    last = line;
    if (now.status === 'succeeded' || now.status === 'failed') return now;
    await sleep(pollMs);
    now = (await client.get<{ retention_run: RunView }>(`${policyPath(registry, run.policy_id)}/runs/${encodeURIComponent(run.id)}`, { per_page: '1' })).retention_run;
  }
}

const registryOption = (c: Command) => c.option('-r, --registry <name>', "the registry (default: the context's, or the only one you can see)");

/** `berth retention ...`: a registry's retention policies, dry runs and runs (registry admins). */
export function registerRetentionCommands(program: Command): void {
  const cmd = examples(group(program, 'retention', 'expire old images by policy: ECR lifecycle rules plus keep rules, dry runs, scheduled runs'), [
    'berth retention dry-run policy.json -r team-a',
    'berth retention set policy.json -r team-a',
    'berth retention run nightly -r team-a --wait',
  ]);

  examples(
    listOptions(serverCommand(cmd, 'list [registry]', "list a registry's retention policies"), policyColumns).action(
      act(async (named: string | undefined, flags: Flags) => {
        const client = connect(flags);
        const registry = await resolveRegistry(client, flags, named);
        const { retention_policies: policies } = await client.get<{ retention_policies: PolicyView[] }>(policiesPath(registry));
        printList(flags, policyColumns, policies, policies);
      }),
    ),
    ['berth retention list team-a', 'berth retention list -o json'],
  );

  examples(
    registryOption(serverCommand(cmd, 'show <policy>', 'show a policy: its rules in words (-o json: the document, as `set` takes it)'))
      .addOption(new Option('-o, --output <format>', 'text or json').choices(['text', 'json']).default('text'))
      .action(
        act(async (id: string, flags: Flags) => {
          const client = connect(flags);
          const registry = await resolveRegistry(client, flags, flags.registry);
          const { retention_policy: p } = await client.get<{ retention_policy: PolicyView }>(policyPath(registry, id));
          if (flags.output === 'json') printJson(documentOf(p));
          else printPolicy(p);
        }),
      ),
    ['berth retention show nightly -r team-a', 'berth retention show nightly -o json > policy.json'],
  );

  examples(
    registryOption(serverCommand(cmd, 'set <file>', 'create or replace a policy from a JSON file (- for stdin); dry-run it first'))
      .addOption(new Option('-o, --output <format>', 'text or json').choices(['text', 'json']).default('text'))
      .option('--id <id>', 'save under this id (default: the file\'s "id", else a new one)')
      .action(
        act(async (file: string, flags: Flags & { id?: string }) => {
          const client = connect(flags);
          const registry = await resolveRegistry(client, flags, flags.registry);
          const document = await readPolicyFile(file);
          const id = flags.id ?? (typeof document.id === 'string' ? document.id : undefined);
          const body = id === undefined ? document : { ...document, id };
          const { retention_policy: p } = id === undefined
            ? await client.post<{ retention_policy: PolicyView }>(policiesPath(registry), body)
            : await client.put<{ retention_policy: PolicyView }>(policyPath(registry, id), body);
          if (flags.output === 'json') printJson(p);
          else printPolicy(p);
        }),
      ),
    ['berth retention set policy.json -r team-a', 'berth retention show nightly -o json | jq .enabled=false | berth retention set - -r team-a'],
  );

  examples(
    registryOption(serverCommand(cmd, 'delete <policy>', 'delete a policy (its run history stays)'))
      .option('-f, --force', 'do not ask')
      .action(
        act(async (id: string, flags: Flags) => {
          const client = connect(flags);
          const registry = await resolveRegistry(client, flags, flags.registry);
          await confirm(`Delete retention policy ${id} of ${registry}?`, flags.force);
          await client.delete(policyPath(registry, id));
          say(`Deleted retention policy ${id} of ${registry}.`);
        }),
      ),
    ['berth retention delete nightly -r team-a --force'],
  );

  examples(
    registryOption(serverCommand(cmd, 'dry-run <file-or-policy>', 'show what a policy (a JSON file, - for stdin, or a saved policy id) would delete now, and why'))
      .addOption(new Option('-o, --output <format>', 'text or json').choices(['text', 'json']).default('text'))
      .option('--all', 'also list what stays, and why')
      .action(
        act(async (what: string, flags: Flags) => {
          const client = connect(flags);
          const registry = await resolveRegistry(client, flags, flags.registry);
          const document =
            what === '-' || existsSync(what) ? await readPolicyFile(what) : documentOf((await client.get<{ retention_policy: PolicyView }>(policyPath(registry, what))).retention_policy);
          const query = flags.all ? '' : '?kept=false';
          const { retention_plan: plan } = await client.post<{ retention_plan: PlanView }>(`${policiesPath(registry)}/dry-run${query}`, document);
          if (flags.output === 'json') return printJson(plan);
          const rows = plan.repositories.flatMap((r) => [
            ...r.expire.map((d) => [r.repository, 'expire', shortDigest(d.digest), d.tags.join(','), d.role, d.rule_priority, d.reason]),
            ...(r.keep ?? []).map((d) => [r.repository, 'keep', shortDigest(d.digest), d.tags.join(','), d.role, d.rule_priority, d.reason]),
          ]);
          if (rows.length > 0) printTable(['REPOSITORY', 'ACTION', 'DIGEST', 'TAGS', 'ROLE', 'RULE', 'REASON'], rows);
          const s = plan.summary;
          const byRule = s.by_rule.map((r) => `rule ${r.rule_priority}: ${r.images_expired}`).join(', ');
          say(`${s.images_expired} image(s) (${s.manifests_expired} manifest(s)) in ${s.repositories} repositor${s.repositories === 1 ? 'y' : 'ies'} would be deleted${byRule ? ` (${byRule})` : ''}, freeing ${humanBytes(s.bytes_freed)} once garbage collection has run.`);
        }),
      ),
    ['berth retention dry-run policy.json -r team-a', 'berth retention dry-run nightly -r team-a --all', 'berth retention dry-run policy.json -o json | jq ".repositories[].expire[].digest"'],
  );

  examples(
    listOptions(registryOption(serverCommand(cmd, 'run <policy>', 'run a policy now (in the background; --wait follows it)')), runColumns)
      .option('--wait', 'follow the run until it finishes; exit 1 unless it succeeds')
      .addOption(new Option('--poll-ms <ms>', 'how often --wait asks').argParser(positiveInt).default(500).hideHelp())
      .action(
        act(async (id: string, flags: Flags) => {
          const client = connect(flags);
          const registry = await resolveRegistry(client, flags, flags.registry);
          const { retention_run: started } = await client.post<{ retention_run: RunView }>(`${policyPath(registry, id)}/runs`, {});
          if (!flags.wait) return printList(flags, runColumns, [started], started);
          const done = await waitForRun(client, registry, started, flags.pollMs);
          if (flags.output === 'json') printJson(done);
          else say(`Retention run ${done.id} of ${id} ${done.status}: ${done.images_deleted} image(s), ${done.manifests_deleted} manifest(s) deleted, ${humanBytes(done.bytes_freed)} to be freed${done.skipped ? `, ${done.skipped} skipped` : ''}${done.error ? ` (${done.error})` : ''}.`);
          if (done.status !== 'succeeded') process.exitCode = 1;
        }),
      ),
    ['berth retention run nightly -r team-a --wait'],
  );

  examples(
    listOptions(registryOption(serverCommand(cmd, 'runs <policy> [run]', "list a policy's runs, newest first; with a run id, what that run deleted")), runColumns).action(
      act(async (id: string, runId: string | undefined, flags: Flags) => {
        const client = connect(flags);
        const registry = await resolveRegistry(client, flags, flags.registry);
        if (runId === undefined) return printList(flags, runColumns, await listAll<RunView>(client, `${policyPath(registry, id)}/runs`, 'retention_runs'));
        if (!/^[0-9a-zA-Z-]{1,64}$/.test(runId)) throw new UsageError(`${runId} is not a run id`);
        const deletions = await listAll<DeletionView>(client, `${policyPath(registry, id)}/runs/${encodeURIComponent(runId)}`, 'deletions');
        printList(flags, deletionColumns, deletions, deletions);
      }),
    ),
    ['berth retention runs nightly -r team-a', 'berth retention runs nightly 0b4c3f1e-… -r team-a -o json'],
  );
}
