import { useState, type FormEvent } from 'react';
import { query } from '../api/client';
import { useApi } from '../api/use-api';
import { EmptyState, ErrorMessage, Loading } from '../components/feedback';
import { Field } from '../components/field';
import { PageHeader } from '../components/page-header';
import { StatusBadge } from '../components/status-badge';
import { fieldError } from '../components/validation';
import { formatDateTime } from '../format';
import { useSearchParams } from '../router';
import type { PageProps } from '../routes';

interface AuditEvent {
  id: number;
  time: string;
  actor: string;
  actor_kind: string;
  source: string | null;
  action: string;
  registry: string | null;
  resource: string | null;
  outcome: 'success' | 'failure' | 'denied';
  reason: string | null;
  detail: unknown;
}

interface AuditPage {
  events: AuditEvent[];
  links: { pages?: { next?: string } };
}

const PER_PAGE = 50;
const FILTERS = ['actor', 'registry', 'action', 'outcome', 'since', 'until'] as const;
type Filter = (typeof FILTERS)[number];

/** Prefixes of the actions Berth records, offered while typing (the filter takes an action or a prefix ending in "."). */
const ACTION_PREFIXES = ['login', 'session.', 'registry.', 'grant.', 'robot.', 'token.', 'team.', 'user.', 'manifest.', 'tag.', 'blob.', 'repository.', 'gc.', 'retention.', 'webhook.', 'immutable_tag.', 'scan_policy.', 'scan.', 'api.denied'];

/** A date field (local day) as the API's ISO time: the start of that day, or of the next for "until" (inclusive). */
function dayToIso(day: string, endOfDay: boolean): string | undefined {
  if (!/^\d{4}-\d{2}-\d{2}$/.test(day)) return undefined;
  const date = new Date(`${day}T00:00:00`);
  if (Number.isNaN(date.getTime())) return undefined;
  if (endOfDay) date.setDate(date.getDate() + 1);
  return date.toISOString();
}

/** The `before` cursor in a links.pages.next URL. */
function cursorOf(next: string | undefined): string | undefined {
  if (!next) return undefined;
  const q = next.indexOf('?');
  return new URLSearchParams(q < 0 ? '' : next.slice(q + 1)).get('before') ?? undefined;
}

/** The audit log, newest first: filtered by the query string (so a filtered view can be shared), paged by cursor. */
export function AuditPage(_props: PageProps) {
  const [params, setParams] = useSearchParams();
  const applied = Object.fromEntries(FILTERS.map((f) => [f, params.get(f) ?? ''])) as Record<Filter, string>;
  const before = params.get('before') ?? undefined;
  // The cursors of the pages before this one, for "Newer".
  const [trail, setTrail] = useState<(string | undefined)[]>([]);

  const path = `/audit${query({
    actor: applied.actor,
    registry: applied.registry,
    action: applied.action,
    outcome: applied.outcome,
    since: dayToIso(applied.since, false),
    until: dayToIso(applied.until, true),
    per_page: PER_PAGE,
    before,
  })}`;
  const log = useApi<AuditPage>(path);
  const next = cursorOf(log.data?.links.pages?.next);

  const apply = (filters: Record<Filter, string>) => {
    setTrail([]);
    setParams({ ...filters, before: undefined });
  };
  const older = () => {
    setTrail((t) => [...t, before]);
    setParams({ before: next });
  };
  const newer = () => {
    const previous = trail[trail.length - 1];
    setTrail((t) => t.slice(0, -1));
    setParams({ before: previous });
  };
  const filtered = FILTERS.some((f) => applied[f]);

  return (
    <>
      <PageHeader title="Audit log" subtitle="Every change, sign-in and refusal, newest first." />
      <Filters key={FILTERS.map((f) => applied[f]).join('|')} initial={applied} onApply={apply} error={log.error} />
      {log.error && !log.data ? (
        <ErrorMessage error={log.error} onRetry={log.reload} />
      ) : !log.data ? (
        <Loading label="Loading the audit log…" />
      ) : (
        <>
          <ErrorMessage error={log.error} onRetry={log.reload} />
          {log.data.events.length === 0 ? (
            <EmptyState title={filtered ? 'No events match these filters' : 'No events yet'}>{filtered && <p>Loosen a filter, or clear them all.</p>}</EmptyState>
          ) : (
            <div className="table-wrap" aria-busy={log.loading}>
              <table className="audit-table">
                <caption className="visually-hidden">Audit events, newest first</caption>
                <thead>
                  <tr>
                    <th scope="col">Time</th>
                    <th scope="col">Actor</th>
                    <th scope="col">Action</th>
                    <th scope="col">Registry</th>
                    <th scope="col">Resource</th>
                    <th scope="col">Outcome</th>
                    <th scope="col">Reason</th>
                  </tr>
                </thead>
                <tbody>
                  {log.data.events.map((e) => (
                    <tr key={e.id}>
                      <td className="nowrap">
                        <time dateTime={e.time}>{formatDateTime(e.time)}</time>
                      </td>
                      <td>
                        {e.actor}
                        {e.actor_kind !== 'user' && <div className="hint">{e.actor_kind}</div>}
                        {e.source && <div className="hint">{e.source}</div>}
                      </td>
                      <td>
                        <code>{e.action}</code>
                      </td>
                      <td>{e.registry ?? <span className="muted">—</span>}</td>
                      <td className="break">{e.resource ?? <span className="muted">—</span>}</td>
                      <td>
                        <StatusBadge status={e.outcome} />
                      </td>
                      <td>
                        {e.reason ?? (e.detail ? null : <span className="muted">—</span>)}
                        {e.detail !== null && e.detail !== undefined && (
                          <details className="detail">
                            <summary>Detail</summary>
                            <pre className="json">{JSON.stringify(e.detail, null, 2)}</pre>
                          </details>
                        )}
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          )}
          <nav className="pager" aria-label="Pages of the audit log">
            <button type="button" className="button secondary small" disabled={!before} onClick={newer}>
              Newer
            </button>
            <button type="button" className="button secondary small" disabled={!next} onClick={older}>
              Older
            </button>
          </nav>
        </>
      )}
    </>
  );
}

function Filters({ initial, onApply, error }: { initial: Record<Filter, string>; onApply: (filters: Record<Filter, string>) => void; error: ReturnType<typeof useApi>['error'] }) {
  const [values, setValues] = useState(initial);
  const set = (f: Filter, v: string) => setValues((current) => ({ ...current, [f]: v }));
  const submit = (event: FormEvent) => {
    event.preventDefault();
    onApply(values);
  };
  const clear = () => onApply({ actor: '', registry: '', action: '', outcome: '', since: '', until: '' });
  return (
    <form className="card toolbar audit-filters" onSubmit={submit} role="search" aria-label="Filter the audit log">
      <Field label="Actor" error={fieldError(error, 'actor')}>
        <input value={values.actor} onChange={(e) => set('actor', e.target.value)} autoComplete="off" spellCheck={false} placeholder="alice" />
      </Field>
      <Field label="Registry" error={fieldError(error, 'registry')}>
        <input value={values.registry} onChange={(e) => set('registry', e.target.value)} autoComplete="off" spellCheck={false} />
      </Field>
      <Field label="Action" hint="An action, or a prefix ending in a dot: token." error={fieldError(error, 'action')}>
        <input value={values.action} onChange={(e) => set('action', e.target.value)} list="audit-actions" autoComplete="off" spellCheck={false} />
      </Field>
      <datalist id="audit-actions">
        {ACTION_PREFIXES.map((a) => (
          <option key={a} value={a} />
        ))}
      </datalist>
      <Field label="Outcome">
        <select value={values.outcome} onChange={(e) => set('outcome', e.target.value)}>
          <option value="">Any</option>
          <option value="success">Success</option>
          <option value="failure">Failure</option>
          <option value="denied">Denied</option>
        </select>
      </Field>
      <Field label="From" error={fieldError(error, 'since')}>
        <input type="date" value={values.since} onChange={(e) => set('since', e.target.value)} />
      </Field>
      <Field label="Until (inclusive)" error={fieldError(error, 'until')}>
        <input type="date" value={values.until} onChange={(e) => set('until', e.target.value)} />
      </Field>
      <div className="actions">
        <button type="submit" className="button primary">
          Filter
        </button>
        <button type="button" className="button secondary" onClick={clear}>
          Clear
        </button>
      </div>
    </form>
  );
}
