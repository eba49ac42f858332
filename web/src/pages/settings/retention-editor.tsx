import { useRef, useState, type FormEvent } from 'react';
import { api, query, seg, type ApiError } from '../../api/client';
import { useAction } from '../../api/use-api';
import { ErrorMessage } from '../../components/feedback';
import { Field } from '../../components/field';
import { Select } from '../../components/select';
import { Time } from '../../components/time';
import { problemOf } from '../../components/validation';
import { formatBytes, plural, shortDigest } from '../../format';
import { COUNT_TYPES, emptyDraft, newKeep, newRule, TAG_STATUSES, toDocument, toDraft, type Draft, type KeepDraft, type Plan, type Policy, type RuleDraft, type TagDraft, type TagMode } from './retention-model';

// The retention policy editor: rules and keeps as form fields, and the preview that must match before saving.

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

export function PolicyEditor({ registry, base, policy, onCancel, onSaved }: { registry: string; base: string; policy: Policy | undefined; onCancel: () => void; onSaved: (policy: Policy, created: boolean) => void }) {
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

