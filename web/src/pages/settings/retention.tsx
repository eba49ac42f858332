import { useRef, useState, type FormEvent } from 'react';
import { api, query, seg, type ApiError } from '../../api/client';
import { useAction, useApi } from '../../api/use-api';
import { ConfirmDialog } from '../../components/dialog';
import { EmptyState, ErrorMessage, Loading, Notice } from '../../components/feedback';
import { Field } from '../../components/field';
import { Select } from '../../components/select';
import { StatusBadge } from '../../components/status-badge';
import { Time } from '../../components/time';
import { useConfirm } from '../../components/use-confirm';
import { problemOf } from '../../components/validation';
import { formatBytes, plural, shortDigest } from '../../format';
import { listOf, type SectionProps } from './shared';

// ---------- the policy document, as the API takes it (docs/retention.md) ----------

type TagStatus = 'tagged' | 'untagged' | 'any';
type CountType = 'imageCountMoreThan' | 'sinceImagePushed' | 'sinceImagePulled';

interface Selection {
  tagStatus: TagStatus;
  tagPatternList?: string[];
  tagPrefixList?: string[];
  countType: CountType;
  countUnit?: 'days';
  countNumber: number;
}

interface ExpireRule {
  rulePriority: number;
  description?: string;
  selection: Selection;
  action: { type: 'expire' };
}

interface KeepRule {
  description?: string;
  tagStatus?: TagStatus;
  tagPatternList?: string[];
  tagPrefixList?: string[];
  mostRecentlyPulled?: number;
  pulledWithinDays?: number;
}

interface PolicyDocument {
  id?: string;
  description?: string;
  scope: 'registry' | { repositories: string[] };
  schedule: string;
  enabled: boolean;
  rules: ExpireRule[];
  keep: KeepRule[];
}

interface Policy extends PolicyDocument {
  id: string;
  revision: number;
  created_at: string;
  updated_at: string;
  next_run_at: string | null;
}

interface Decision {
  digest: string;
  tags: string[];
  role: 'image' | 'child' | 'referrer';
  size: number;
  pushed_at: string | null;
  last_pulled_at: string | null;
  rule_priority: number | null;
  reason: string;
}

interface Plan {
  evaluated_at: string;
  summary: { repositories: number; images_expired: number; manifests_expired: number; bytes_freed: number; by_rule: { rule_priority: number; images_expired: number }[] };
  repositories: { repository: string; images_expired: number; manifests_expired: number; expire: Decision[] }[];
}

interface Run {
  id: string;
  trigger: 'schedule' | 'manual';
  status: string;
  requested_by: string | null;
  created_at: string;
  finished_at: string | null;
  images_deleted: number;
  manifests_deleted: number;
  bytes_freed: number;
  error: string | null;
}

// ---------- what the editor holds: text as typed, turned into the document on demand ----------

type TagMode = 'all' | 'patterns' | 'prefixes';

interface RuleDraft {
  key: number;
  rulePriority: string;
  description: string;
  tagStatus: TagStatus;
  tagMode: TagMode;
  tags: string;
  countType: CountType;
  countNumber: string;
}

/** What expire and keep rules say about tags. */
type TagDraft = Pick<RuleDraft, 'tagStatus' | 'tagMode' | 'tags'>;

interface KeepDraft {
  key: number;
  description: string;
  tagStatus: TagStatus;
  tagMode: TagMode;
  tags: string;
  kind: 'all' | 'mostRecentlyPulled' | 'pulledWithinDays';
  count: string;
}

interface Draft {
  id: string;
  description: string;
  scopeKind: 'registry' | 'repositories';
  repositories: string;
  schedule: string;
  enabled: boolean;
  rules: RuleDraft[];
  keep: KeepDraft[];
}

const COUNT_TYPES: { value: CountType; label: string; number: string }[] = [
  { value: 'imageCountMoreThan', label: 'More than a number of images', number: 'Images to keep (newest by push)' },
  { value: 'sinceImagePushed', label: 'Pushed more than some days ago', number: 'Days since push' },
  { value: 'sinceImagePulled', label: 'Not pulled for some days', number: 'Days since last pull' },
];

const TAG_STATUSES: { value: TagStatus; label: string }[] = [
  { value: 'tagged', label: 'Tagged images' },
  { value: 'untagged', label: 'Untagged images' },
  { value: 'any', label: 'Any image' },
];

let nextKey = 1;
const newRule = (priority: number): RuleDraft => ({ key: nextKey++, rulePriority: String(priority), description: '', tagStatus: 'untagged', tagMode: 'all', tags: '', countType: 'sinceImagePushed', countNumber: '14' });
const newKeep = (): KeepDraft => ({ key: nextKey++, description: '', tagStatus: 'tagged', tagMode: 'patterns', tags: 'v*', kind: 'all', count: '10' });
const emptyDraft = (): Draft => ({ id: '', description: '', scopeKind: 'registry', repositories: '', schedule: '0 0 * * *', enabled: true, rules: [newRule(1)], keep: [] });

/** A number as typed; what is not one goes to the API as it is (null), which says so beside the field. */
const numberOf = (text: string) => (text.trim() === '' ? Number.NaN : Number(text));

function tagLists(status: TagStatus, mode: TagMode, tags: string): Pick<Selection, 'tagPatternList' | 'tagPrefixList'> {
  if (status !== 'tagged' || mode === 'all') return {};
  const list = listOf(tags);
  return mode === 'patterns' ? { tagPatternList: list } : { tagPrefixList: list };
}

function toDocument(d: Draft): PolicyDocument {
  return {
    ...(d.id.trim() ? { id: d.id.trim() } : {}),
    ...(d.description.trim() ? { description: d.description.trim() } : {}),
    scope: d.scopeKind === 'registry' ? 'registry' : { repositories: listOf(d.repositories) },
    schedule: d.schedule.trim(),
    enabled: d.enabled,
    rules: d.rules.map((r) => ({
      rulePriority: numberOf(r.rulePriority),
      ...(r.description.trim() ? { description: r.description.trim() } : {}),
      selection: {
        tagStatus: r.tagStatus,
        ...tagLists(r.tagStatus, r.tagMode, r.tags),
        countType: r.countType,
        ...(r.countType === 'imageCountMoreThan' ? {} : { countUnit: 'days' as const }),
        countNumber: numberOf(r.countNumber),
      },
      action: { type: 'expire' as const },
    })),
    keep: d.keep.map((k) => ({
      ...(k.description.trim() ? { description: k.description.trim() } : {}),
      ...(k.tagStatus !== 'any' ? { tagStatus: k.tagStatus } : {}),
      ...tagLists(k.tagStatus, k.tagMode, k.tags),
      ...(k.kind === 'mostRecentlyPulled' ? { mostRecentlyPulled: numberOf(k.count) } : k.kind === 'pulledWithinDays' ? { pulledWithinDays: numberOf(k.count) } : {}),
    })),
  };
}

function toDraft(p: Policy): Draft {
  const mode = (s: { tagPatternList?: string[]; tagPrefixList?: string[] }): [TagMode, string] =>
    s.tagPatternList ? ['patterns', s.tagPatternList.join(', ')] : s.tagPrefixList ? ['prefixes', s.tagPrefixList.join(', ')] : ['all', ''];
  return {
    id: p.id,
    description: p.description ?? '',
    scopeKind: p.scope === 'registry' ? 'registry' : 'repositories',
    repositories: p.scope === 'registry' ? '' : p.scope.repositories.join(', '),
    schedule: p.schedule,
    enabled: p.enabled,
    rules: p.rules.map((r) => {
      const [tagMode, tags] = mode(r.selection);
      return { key: nextKey++, rulePriority: String(r.rulePriority), description: r.description ?? '', tagStatus: r.selection.tagStatus, tagMode, tags, countType: r.selection.countType, countNumber: String(r.selection.countNumber) };
    }),
    keep: p.keep.map((k) => {
      const [tagMode, tags] = mode(k);
      const status: TagStatus = k.tagStatus ?? (k.tagPatternList || k.tagPrefixList ? 'tagged' : 'any');
      const kind = k.mostRecentlyPulled !== undefined ? 'mostRecentlyPulled' : k.pulledWithinDays !== undefined ? 'pulledWithinDays' : 'all';
      return { key: nextKey++, description: k.description ?? '', tagStatus: status, tagMode, tags, kind, count: String(k.mostRecentlyPulled ?? k.pulledWithinDays ?? 10) };
    }),
  };
}

/** How a rule reads in the list: "untagged, pushed more than 14 days ago". */
function describeRule(r: ExpireRule): string {
  const s = r.selection;
  const tags = s.tagPatternList ? ` ${s.tagPatternList.join(' & ')}` : s.tagPrefixList ? ` ${s.tagPrefixList.map((p) => `${p}…`).join(' & ')}` : '';
  const when =
    s.countType === 'imageCountMoreThan'
      ? `beyond the ${s.countNumber} newest`
      : s.countType === 'sinceImagePushed'
        ? `pushed more than ${plural(s.countNumber, 'day')} ago`
        : `not pulled for ${plural(s.countNumber, 'day')}`;
  return `${s.tagStatus}${tags}: ${when}`;
}

function describeKeep(k: KeepRule): string {
  const status = k.tagStatus ?? (k.tagPatternList || k.tagPrefixList ? 'tagged' : 'any');
  const tags = k.tagPatternList ? ` ${k.tagPatternList.join(' & ')}` : k.tagPrefixList ? ` ${k.tagPrefixList.map((p) => `${p}…`).join(' & ')}` : '';
  const what = k.mostRecentlyPulled !== undefined ? `the ${k.mostRecentlyPulled} most recently pulled` : k.pulledWithinDays !== undefined ? `pulled within ${plural(k.pulledWithinDays, 'day')}` : 'all';
  return `${what} (${status}${tags})`;
}

// ---------- the section ----------

/** Retention policies: listed with their last runs, edited with a preview of what would go, saved only after that preview. */
export function RetentionSection({ registry }: SectionProps) {
  const base = `/registries/${seg(registry)}/retention-policies`;
  const policies = useApi<{ retention_policies: Policy[] }>(base);
  const [editing, setEditing] = useState<Policy | 'new'>();
  const [notice, setNotice] = useState<string>();

  if (editing) {
    return (
      <section aria-labelledby="retention-heading">
        <h2 id="retention-heading">{editing === 'new' ? 'New retention policy' : `Edit retention policy ${editing.id}`}</h2>
        <PolicyEditor
          registry={registry}
          base={base}
          policy={editing === 'new' ? undefined : editing}
          onCancel={() => setEditing(undefined)}
          onSaved={(saved, created) => {
            setEditing(undefined);
            setNotice(`Retention policy ${saved.id} ${created ? 'created' : 'saved'} (revision ${saved.revision}).`);
            policies.reload();
          }}
        />
      </section>
    );
  }

  const list = policies.data?.retention_policies;
  return (
    <section aria-labelledby="retention-heading">
      <div className="section-header">
        <h2 id="retention-heading">Retention</h2>
        <button type="button" className="button primary" onClick={() => setEditing('new')}>
          New policy
        </button>
      </div>
      <p className="muted">Policies delete images {registry} no longer needs, on a schedule: expire rules as in an ECR lifecycle policy, and keep rules that always win.</p>
      {notice && <Notice>{notice}</Notice>}
      {policies.error && !list ? (
        <ErrorMessage error={policies.error} onRetry={policies.reload} />
      ) : !list ? (
        <Loading label="Loading retention policies…" />
      ) : list.length === 0 ? (
        <EmptyState title="No retention policies">
          <p>Nothing is deleted automatically. Create a policy, preview what it would delete, then save it.</p>
        </EmptyState>
      ) : (
        list.map((p) => (
          <PolicyCard
            key={p.id}
            base={base}
            policy={p}
            onEdit={() => {
              setNotice(undefined);
              setEditing(p);
            }}
            onChanged={(message) => {
              setNotice(message);
              policies.reload();
            }}
          />
        ))
      )}
    </section>
  );
}

function PolicyCard({ base, policy: p, onEdit, onChanged }: { base: string; policy: Policy; onEdit: () => void; onChanged: (message: string) => void }) {
  const path = `${base}/${seg(p.id)}`;
  const runs = useApi<{ retention_runs: Run[] }>(`${path}/runs${query({ per_page: 5 })}`);
  const act = useConfirm<'delete' | 'run'>();
  const asked = act.target;
  const headingId = `policy-${p.id}-heading`;
  return (
    <article className="card" aria-labelledby={headingId}>
      <div className="card-header">
        <h3 id={headingId}>
          {p.id} {p.description && <span className="muted">— {p.description}</span>}
        </h3>
        <div className="actions">
          <StatusBadge status={p.enabled ? 'enabled' : 'disabled'} />
          <button type="button" className="button secondary small" onClick={onEdit} aria-label={`Edit policy ${p.id}`}>
            Edit
          </button>
          <button type="button" className="button secondary small" onClick={() => act.ask('run')} aria-label={`Run policy ${p.id} now`}>
            Run now
          </button>
          <button type="button" className="button danger small" onClick={() => act.ask('delete')} aria-label={`Delete policy ${p.id}`}>
            Delete
          </button>
        </div>
      </div>
      <dl className="facts">
        <div>
          <dt>Scope</dt>
          <dd>{p.scope === 'registry' ? 'The whole registry' : p.scope.repositories.map((r) => <code key={r}>{r} </code>)}</dd>
        </div>
        <div>
          <dt>Schedule (UTC)</dt>
          <dd>
            <code>{p.schedule}</code>
          </dd>
        </div>
        <div>
          <dt>Next run</dt>
          <dd>{p.enabled ? <Time iso={p.next_run_at} never="none" /> : 'not scheduled'}</dd>
        </div>
        <div>
          <dt>Revision</dt>
          <dd>
            {p.revision}, <Time iso={p.updated_at} />
          </dd>
        </div>
      </dl>
      <h4>Rules</h4>
      <ol className="rule-list">
        {[...p.rules]
          .sort((a, b) => a.rulePriority - b.rulePriority)
          .map((r) => (
            <li key={r.rulePriority}>
              <strong>Expire</strong> {describeRule(r)} <span className="muted">(priority {r.rulePriority}{r.description ? `: ${r.description}` : ''})</span>
            </li>
          ))}
        {p.keep.map((k, i) => (
          <li key={`keep-${i}`}>
            <strong>Keep</strong> {describeKeep(k)}
            {k.description && <span className="muted"> ({k.description})</span>}
          </li>
        ))}
      </ol>
      <h4>Last runs</h4>
      {runs.error ? (
        <ErrorMessage error={runs.error} onRetry={runs.reload} />
      ) : !runs.data ? (
        <Loading label="Loading runs…" />
      ) : runs.data.retention_runs.length === 0 ? (
        <p className="muted">No runs yet.</p>
      ) : (
        <div className="table-wrap">
          <table>
            <caption className="visually-hidden">Last runs of {p.id}</caption>
            <thead>
              <tr>
                <th scope="col">Started</th>
                <th scope="col">Trigger</th>
                <th scope="col">Status</th>
                <th scope="col" className="num">
                  Images deleted
                </th>
                <th scope="col" className="num">
                  Freed
                </th>
              </tr>
            </thead>
            <tbody>
              {runs.data.retention_runs.map((r) => (
                <tr key={r.id}>
                  <td>
                    <Time iso={r.created_at} />
                  </td>
                  <td>{r.trigger === 'manual' ? `by ${r.requested_by ?? 'someone'}` : 'schedule'}</td>
                  <td>
                    <StatusBadge status={r.status} />
                    {r.error && <div className="hint">{r.error}</div>}
                  </td>
                  <td className="num">{r.images_deleted.toLocaleString('en-US')}</td>
                  <td className="num">{formatBytes(r.bytes_freed)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      <ConfirmDialog
        {...act.dialog}
        title={asked === 'delete' ? `Delete policy ${p.id}?` : `Run ${p.id} now?`}
        confirmLabel={asked === 'delete' ? 'Delete policy' : 'Run now'}
        onConfirm={() =>
          void act.confirm(async (what) => {
            if (what === 'delete') {
              await api(path, { method: 'DELETE' });
              onChanged(`Retention policy ${p.id} deleted. Its run history stays.`);
            } else {
              await api(`${path}/runs`, { method: 'POST' });
              runs.reload();
              onChanged(`A run of ${p.id} is queued; it shows under its last runs.`);
            }
          })
        }
      >
        <p>
          {asked === 'delete'
            ? 'Its scheduled runs stop. What it deleted stays deleted, and its run history is kept.'
            : 'The run deletes what a preview would list at this moment, then starts a garbage collection of the layers that freed. Edit the policy to preview it first.'}
        </p>
      </ConfirmDialog>
    </article>
  );
}

// ---------- the editor ----------

/** Where an API problem belongs: `rules.2.selection.countNumber` → rule 2's count field. */
function errorFor(error: ApiError | undefined, ...paths: string[]): string | undefined {
  const problem = problemOf(error);
  if (!problem?.path) return undefined;
  return paths.some((p) => problem.path === p || problem.path!.startsWith(`${p}.`)) ? problem.message : undefined;
}

/** A problem somewhere in the rule at `at` that none of its fields (`placed`) shows. */
function unplacedError(error: ApiError | undefined, at: string, placed: string[]): string | undefined {
  return placed.some((p) => errorFor(error, p)) ? undefined : errorFor(error, at);
}

const FIELD_NAMES: Record<string, string> = { id: 'Id', description: 'Description', scope: 'Repositories', schedule: 'Schedule', rules: 'Expire rules', keep: 'Keep rules' };

/** The API's problem in the editor's words: "rules.1.selection.countNumber: …" → "Expire rule 2: …". */
function summaryOf(error: ApiError | undefined): ApiError | string | undefined {
  const problem = problemOf(error);
  if (!problem?.path) return error;
  const rule = /^(rules|keep)\.(\d+)/.exec(problem.path);
  if (rule) return `${rule[1] === 'rules' ? 'Expire rule' : 'Keep rule'} ${Number(rule[2]) + 1}: ${problem.message}`;
  const top = problem.path.split('.')[0]!;
  return `${FIELD_NAMES[top] ?? top}: ${problem.message}`;
}

function PolicyEditor({ registry, base, policy, onCancel, onSaved }: { registry: string; base: string; policy: Policy | undefined; onCancel: () => void; onSaved: (policy: Policy, created: boolean) => void }) {
  const [draft, setDraft] = useState<Draft>(() => (policy ? toDraft(policy) : emptyDraft()));
  const [preview, setPreview] = useState<{ document: string; plan: Plan }>();
  const previewing = useAction();
  const saving = useAction();
  const previewRef = useRef<HTMLDivElement>(null);
  const current = JSON.stringify(toDocument(draft));
  const previewed = preview !== undefined && preview.document === current;
  const error = saving.error ?? previewing.error;

  const change = (patch: Partial<Draft>) => setDraft((d) => ({ ...d, ...patch }));
  const changeRule = (key: number, patch: Partial<RuleDraft>) => setDraft((d) => ({ ...d, rules: d.rules.map((r) => (r.key === key ? { ...r, ...patch } : r)) }));
  const changeKeep = (key: number, patch: Partial<KeepDraft>) => setDraft((d) => ({ ...d, keep: d.keep.map((k) => (k.key === key ? { ...k, ...patch } : k)) }));

  const runPreview = async () => {
    saving.clearError();
    const sent = current;
    const answer = await previewing.run(() => api<{ retention_plan: Plan }>(`${base}/dry-run${query({ kept: 'false' })}`, { method: 'POST', body: JSON.parse(sent) as unknown }));
    if (answer) {
      setPreview({ document: sent, plan: answer.retention_plan });
      window.setTimeout(() => previewRef.current?.focus(), 0);
    }
  };
  const save = async (event: FormEvent) => {
    event.preventDefault();
    if (!previewed) return;
    previewing.clearError();
    const body = JSON.parse(current) as unknown;
    const answer = await saving.run(() =>
      policy ? api<{ retention_policy: Policy }>(`${base}/${seg(policy.id)}`, { method: 'PUT', body }) : api<{ retention_policy: Policy }>(base, { method: 'POST', body }),
    );
    if (answer) onSaved(answer.retention_policy, !policy);
  };

  const highest = Math.max(0, ...draft.rules.map((r) => Number(r.rulePriority) || 0));
  return (
    <form onSubmit={save} className="policy-editor" noValidate>
      <div className="card">
        <h3>Policy</h3>
        <div className="form-row align-top">
          <Field label="Id" hint={policy ? 'The id of a saved policy does not change.' : '1-63 of a-z, 0-9 and -. Empty: Berth makes one up.'} error={errorFor(error, 'id')}>
            <input value={draft.id} onChange={(e) => change({ id: e.target.value })} readOnly={policy !== undefined} autoComplete="off" spellCheck={false} placeholder="nightly" />
          </Field>
          <Field label="Description (optional)" error={errorFor(error, 'description')}>
            <input value={draft.description} onChange={(e) => change({ description: e.target.value })} autoComplete="off" />
          </Field>
        </div>
        <div className="form-row align-top">
          <Field label="Applies to" hint="A repository is governed by the one policy that names it most specifically.">
            <select value={draft.scopeKind} onChange={(e) => change({ scopeKind: e.target.value as Draft['scopeKind'] })}>
              <option value="registry">The whole registry</option>
              <option value="repositories">Some repositories</option>
            </select>
          </Field>
          {draft.scopeKind === 'repositories' && (
            <Field label="Repositories" hint="Globs over repository paths in the registry, separated by commas: app/*, tools/**." error={errorFor(error, 'scope')}>
              <input value={draft.repositories} onChange={(e) => change({ repositories: e.target.value })} autoComplete="off" spellCheck={false} placeholder="app/*, tools/**" />
            </Field>
          )}
          <Field label="Schedule (cron, UTC)" hint="minute hour day month weekday, or @daily, @weekly…" error={errorFor(error, 'schedule')}>
            <input value={draft.schedule} onChange={(e) => change({ schedule: e.target.value })} autoComplete="off" spellCheck={false} list="retention-schedules" />
          </Field>
          <datalist id="retention-schedules">
            <option value="0 0 * * *">every day at midnight</option>
            <option value="30 2 * * *">every day at 02:30</option>
            <option value="@weekly">every week</option>
            <option value="@hourly">every hour</option>
          </datalist>
        </div>
        <div className="checkbox">
          <input type="checkbox" id="retention-enabled" checked={draft.enabled} onChange={(e) => change({ enabled: e.target.checked })} />
          <label htmlFor="retention-enabled">Run on the schedule</label>
        </div>
      </div>

      <div className="card">
        <h3>Expire rules</h3>
        <p className="hint">
          Lower priority first; each image is judged by the first rule that selects it. The rule for &ldquo;any image&rdquo; must have the highest priority.
        </p>
        {errorFor(error, 'rules') && !draft.rules.some((_, i) => errorFor(error, `rules.${i}`)) && <p className="field-error">{errorFor(error, 'rules')}</p>}
        {draft.rules.map((r, i) => (
          <RuleEditor
            key={r.key}
            index={i}
            rule={r}
            error={error}
            onChange={(patch) => changeRule(r.key, patch)}
            onRemove={draft.rules.length > 1 ? () => setDraft((d) => ({ ...d, rules: d.rules.filter((x) => x.key !== r.key) })) : undefined}
          />
        ))}
        <button type="button" className="button secondary small" onClick={() => setDraft((d) => ({ ...d, rules: [...d.rules, { ...newRule(highest + 1), tagStatus: 'tagged' }] }))}>
          Add an expire rule
        </button>
      </div>

      <div className="card">
        <h3>Keep rules</h3>
        <p className="hint">Whatever the expire rules say, these images stay (and everything they need). Immutable tags always stay.</p>
        {draft.keep.length === 0 && <p className="muted">No keep rules.</p>}
        {draft.keep.map((k, i) => (
          <KeepEditor key={k.key} index={i} rule={k} error={error} onChange={(patch) => changeKeep(k.key, patch)} onRemove={() => setDraft((d) => ({ ...d, keep: d.keep.filter((x) => x.key !== k.key) }))} />
        ))}
        <button type="button" className="button secondary small" onClick={() => setDraft((d) => ({ ...d, keep: [...d.keep, newKeep()] }))}>
          Add a keep rule
        </button>
      </div>

      <details className="card">
        <summary>Policy document (JSON)</summary>
        <pre className="json">{JSON.stringify(toDocument(draft), null, 2)}</pre>
      </details>

      {preview && (
        <div ref={previewRef} tabIndex={-1} className={`preview${previewed ? '' : ' stale'}`}>
          <PlanView registry={registry} plan={preview.plan} stale={!previewed} />
        </div>
      )}

      <ErrorMessage error={summaryOf(error)} />
      <div className="form-actions">
        <button type="button" className="button secondary" onClick={onCancel}>
          Cancel
        </button>
        <button type="button" className="button secondary" onClick={() => void runPreview()} disabled={previewing.busy}>
          {previewing.busy ? 'Previewing…' : 'Preview'}
        </button>
        <button type="submit" className="button primary" disabled={!previewed || saving.busy} aria-describedby="retention-save-hint">
          {saving.busy ? 'Saving…' : 'Save policy'}
        </button>
        <span className="hint" id="retention-save-hint">
          {previewed ? 'Previewed: this is what the rules above would delete now.' : preview ? 'The rules changed since the preview: preview again to save.' : 'Preview what the rules would delete before saving.'}
        </span>
      </div>

    </form>
  );
}

function RuleEditor({ index, rule: r, error, onChange, onRemove }: { index: number; rule: RuleDraft; error: ApiError | undefined; onChange: (patch: Partial<RuleDraft>) => void; onRemove?: () => void }) {
  const at = `rules.${index}`;
  const count = COUNT_TYPES.find((c) => c.value === r.countType)!;
  const other = unplacedError(error, at, [`${at}.rulePriority`, `${at}.description`, `${at}.selection.tagStatus`, `${at}.selection.tagPatternList`, `${at}.selection.tagPrefixList`, `${at}.selection.countType`, `${at}.selection.countUnit`, `${at}.selection.countNumber`]);
  return (
    <fieldset className="rule">
      <legend>Expire rule {index + 1}</legend>
      <div className="form-row align-top">
        <Field label="Priority" error={errorFor(error, `${at}.rulePriority`)}>
          <input type="number" min={1} step={1} inputMode="numeric" value={r.rulePriority} onChange={(e) => onChange({ rulePriority: e.target.value })} className="narrow" />
        </Field>
        <TagFields
          label="Selects"
          at={`${at}.selection`}
          error={error}
          rule={r}
          onChange={onChange}
          tagsHint={r.tagMode === 'patterns' ? 'Separated by commas; * matches anything. An image must match every pattern.' : 'Separated by commas. An image must have a tag starting with each.'}
          tagsPlaceholder={r.tagMode === 'patterns' ? 'ci-*' : 'ci-'}
        />
      </div>
      <div className="form-row align-top">
        <Field label="Expire when" error={errorFor(error, `${at}.selection.countType`, `${at}.selection.countUnit`)}>
          <Select options={COUNT_TYPES} value={r.countType} onChange={(countType) => onChange({ countType })} />
        </Field>
        <Field label={count.number} error={errorFor(error, `${at}.selection.countNumber`)}>
          <input type="number" min={1} step={1} inputMode="numeric" value={r.countNumber} onChange={(e) => onChange({ countNumber: e.target.value })} className="narrow" />
        </Field>
        <Field label="Description (optional)" error={errorFor(error, `${at}.description`)}>
          <input value={r.description} onChange={(e) => onChange({ description: e.target.value })} autoComplete="off" />
        </Field>
      </div>
      {other && <p className="field-error">{other}</p>}
      {onRemove && (
        <button type="button" className="button link" onClick={onRemove}>
          Remove expire rule {index + 1}
        </button>
      )}
    </fieldset>
  );
}

function KeepEditor({ index, rule: k, error, onChange, onRemove }: { index: number; rule: KeepDraft; error: ApiError | undefined; onChange: (patch: Partial<KeepDraft>) => void; onRemove: () => void }) {
  const at = `keep.${index}`;
  const other = unplacedError(error, at, [`${at}.tagStatus`, `${at}.tagPatternList`, `${at}.tagPrefixList`, `${at}.mostRecentlyPulled`, `${at}.pulledWithinDays`, `${at}.description`]);
  return (
    <fieldset className="rule">
      <legend>Keep rule {index + 1}</legend>
      <div className="form-row align-top">
        <Field label="Keep" error={errorFor(error, `${at}.mostRecentlyPulled`, `${at}.pulledWithinDays`)}>
          <select value={k.kind} onChange={(e) => onChange({ kind: e.target.value as KeepDraft['kind'] })}>
            <option value="all">Every selected image</option>
            <option value="mostRecentlyPulled">The most recently pulled</option>
            <option value="pulledWithinDays">Those pulled lately</option>
          </select>
        </Field>
        {k.kind !== 'all' && (
          <Field label={k.kind === 'mostRecentlyPulled' ? 'How many' : 'Pulled within (days)'}>
            <input type="number" min={1} step={1} inputMode="numeric" value={k.count} onChange={(e) => onChange({ count: e.target.value })} className="narrow" />
          </Field>
        )}
        <TagFields label="Of" at={at} error={error} rule={k} onChange={onChange} tagsHint="Separated by commas." tagsPlaceholder="v*" />
      </div>
      <Field label="Description (optional)" error={errorFor(error, `${at}.description`)}>
        <input value={k.description} onChange={(e) => onChange({ description: e.target.value })} autoComplete="off" />
      </Field>
      {other && <p className="field-error">{other}</p>}
      <button type="button" className="button link" onClick={onRemove}>
        Remove keep rule {index + 1}
      </button>
    </fieldset>
  );
}

/**
 * Which images an expire or keep rule is about: by tag status, and for tagged
 * images any tag, tags matching patterns, or tags with prefixes. `at` is where
 * the API puts these fields (`rules.0.selection`, `keep.1`).
 */
function TagFields({ label, at, error, rule, onChange, tagsHint, tagsPlaceholder }: { label: string; at: string; error: ApiError | undefined; rule: TagDraft; onChange: (patch: Partial<TagDraft>) => void; tagsHint: string; tagsPlaceholder: string }) {
  return (
    <>
      <Field label={label} error={errorFor(error, `${at}.tagStatus`)}>
        <Select options={TAG_STATUSES} value={rule.tagStatus} onChange={(tagStatus) => onChange({ tagStatus })} />
      </Field>
      {rule.tagStatus === 'tagged' && (
        <Field label="With tags">
          <select value={rule.tagMode} onChange={(e) => onChange({ tagMode: e.target.value as TagMode })}>
            <option value="all">Any tag</option>
            <option value="patterns">Matching patterns</option>
            <option value="prefixes">Starting with</option>
          </select>
        </Field>
      )}
      {rule.tagStatus === 'tagged' && rule.tagMode !== 'all' && (
        <Field label={rule.tagMode === 'patterns' ? 'Tag patterns' : 'Tag prefixes'} hint={tagsHint} error={errorFor(error, `${at}.tagPatternList`, `${at}.tagPrefixList`)}>
          <input value={rule.tags} onChange={(e) => onChange({ tags: e.target.value })} autoComplete="off" spellCheck={false} placeholder={tagsPlaceholder} />
        </Field>
      )}
    </>
  );
}

const MAX_ROWS = 100;

/** What a dry run says would go: totals, then per repository, in the order a run deletes. */
function PlanView({ registry, plan, stale }: { registry: string; plan: Plan; stale: boolean }) {
  const s = plan.summary;
  const repositories = plan.repositories.filter((r) => r.expire.length > 0);
  return (
    <section className="card" aria-labelledby="retention-preview-heading">
      <h3 id="retention-preview-heading">Preview{stale ? ' (out of date)' : ''}</h3>
      <p className="hint">
        Evaluated <Time iso={plan.evaluated_at} /> over {plural(s.repositories, 'repository', 'repositories')}. Nothing has been deleted.
      </p>
      <dl className="stats" data-testid="retention-summary">
        <div>
          <dt>Images to delete</dt>
          <dd>{s.images_expired.toLocaleString('en-US')}</dd>
        </div>
        <div>
          <dt>Manifests to delete</dt>
          <dd>{s.manifests_expired.toLocaleString('en-US')}</dd>
        </div>
        <div>
          <dt>Storage freed</dt>
          <dd>{formatBytes(s.bytes_freed)}</dd>
        </div>
      </dl>
      {s.by_rule.length > 0 && (
        <p className="hint">
          {s.by_rule.map((r) => `rule ${r.rule_priority}: ${plural(r.images_expired, 'image')}`).join('; ')}
        </p>
      )}
      {repositories.length === 0 ? (
        <p>
          <strong>Nothing would be deleted now.</strong>
        </p>
      ) : (
        repositories.map((repo) => (
          <div key={repo.repository}>
            <h4>
              {repo.repository.startsWith(`${registry}/`) ? repo.repository.slice(registry.length + 1) : repo.repository}{' '}
              <span className="muted">({plural(repo.manifests_expired, 'manifest')})</span>
            </h4>
            <div className="table-wrap">
              <table>
                <caption className="visually-hidden">What would be deleted from {repo.repository}, in order</caption>
                <thead>
                  <tr>
                    <th scope="col">Manifest</th>
                    <th scope="col">Tags</th>
                    <th scope="col" className="num">
                      Size
                    </th>
                    <th scope="col" className="hide-narrow">
                      Pushed
                    </th>
                    <th scope="col" className="hide-narrow">
                      Last pulled
                    </th>
                    <th scope="col">Why</th>
                  </tr>
                </thead>
                <tbody>
                  {repo.expire.slice(0, MAX_ROWS).map((d) => (
                    <tr key={d.digest}>
                      <td>
                        <code title={d.digest}>{shortDigest(d.digest)}</code>
                        {d.role !== 'image' && <div className="hint">{d.role}</div>}
                      </td>
                      <td>{d.tags.length > 0 ? d.tags.join(', ') : <span className="muted">untagged</span>}</td>
                      <td className="num">{formatBytes(d.size)}</td>
                      <td className="hide-narrow">
                        <Time iso={d.pushed_at} />
                      </td>
                      <td className="hide-narrow">
                        <Time iso={d.last_pulled_at} />
                      </td>
                      <td className="reason">{d.reason}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
            {repo.expire.length > MAX_ROWS && <p className="hint">… and {repo.expire.length - MAX_ROWS} more.</p>}
          </div>
        ))
      )}
    </section>
  );
}
