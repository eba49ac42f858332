import { useEffect, useState, type FormEvent } from 'react';
import { api, query, seg } from '../../api/client';
import type { Paged } from '../../api/types';
import { useAction, useApi } from '../../api/use-api';
import { ConfirmDialog } from '../../components/dialog';
import { EmptyState, ErrorMessage, Loading, Notice } from '../../components/feedback';
import { Field } from '../../components/field';
import { Pager } from '../../components/pager';
import { SecretReveal } from '../../components/secret-reveal';
import { StatusBadge } from '../../components/status-badge';
import { Time } from '../../components/time';
import { useConfirm } from '../../components/use-confirm';
import { fieldError } from '../../components/validation';
import { plural } from '../../format';
import type { SectionProps } from './shared';

interface Webhook {
  id: string;
  url: string;
  events: string[];
  repository_filter: string | null;
  tag_filter: string | null;
  format: 'cloudevents' | 'distribution';
  enabled: boolean;
  disabled_reason: string | null;
  failing_since: string | null;
  created_by: string;
  created_at: string;
}

interface Delivery {
  id: number;
  event_id: string;
  event_type: string;
  repository: string | null;
  status: 'pending' | 'delivered' | 'failed';
  attempts: number;
  response_status: number | null;
  latency_ms: number | null;
  response_body: string | null;
  error: string | null;
  next_attempt_at: string | null;
  created_at: string;
  completed_at: string | null;
  redelivery_of: number | null;
}

/** The event types, as the API names them, with what each is. */
const EVENTS = [
  { type: 'push', label: 'Push', hint: 'a manifest is stored' },
  { type: 'tag.deleted', label: 'Tag deleted', hint: 'a tag is removed' },
  { type: 'manifest.deleted', label: 'Manifest deleted', hint: 'a manifest is deleted, with its tags' },
  { type: 'repository.deleted', label: 'Repository deleted', hint: 'a repository is deleted' },
  { type: 'scan.completed', label: 'Scan completed', hint: 'a vulnerability scan finished' },
  { type: 'quota.warning', label: 'Quota warning', hint: 'storage reaches 80 % or 100 % of the tier' },
  { type: 'gc.completed', label: 'Garbage collection completed', hint: 'a run finished' },
  { type: 'pull', label: 'Pull', hint: 'a manifest is pulled: one per docker pull, and more' },
] as const;
/** What the Distribution envelope can carry. */
const DISTRIBUTION_EVENTS = new Set(['push', 'pull', 'tag.deleted', 'manifest.deleted', 'repository.deleted']);

const eventLabel = (type: string) => (type === 'ping' ? 'Test ping' : (EVENTS.find((e) => e.type === type)?.label ?? type));

/** Webhooks of the registry: created, tested, enabled or disabled, deleted, with their delivery logs. */
export function WebhooksSection({ registry }: SectionProps) {
  const base = `/registries/${seg(registry)}/webhooks`;
  const webhooks = useApi<{ webhooks: Webhook[] }>(base);
  const [creating, setCreating] = useState(false);
  const [revealed, setRevealed] = useState<{ title: string; secret: string }>();
  const [notice, setNotice] = useState<string>();
  const list = webhooks.data?.webhooks;
  const showForm = creating || (list !== undefined && list.length === 0 && !revealed);

  return (
    <section aria-labelledby="webhooks-heading">
      <div className="section-header">
        <h2 id="webhooks-heading">Webhooks</h2>
        {!showForm && (
          <button type="button" className="button primary" onClick={() => setCreating(true)}>
            Add a webhook
          </button>
        )}
      </div>
      <p className="muted">Berth POSTs the registry&apos;s events to these URLs, signed with each webhook&apos;s secret (the Berth-Signature header).</p>
      {revealed && (
        <SecretReveal title={revealed.title} secret={revealed.secret} label="Copy the signing secret" onDone={() => setRevealed(undefined)}>
          <p className="hint">Give it to the receiver: it checks the HMAC-SHA256 signature of every delivery with it.</p>
        </SecretReveal>
      )}
      {showForm && (
        <WebhookForm
          base={base}
          onCancel={list && list.length > 0 ? () => setCreating(false) : undefined}
          onCreated={(webhook, secret) => {
            setCreating(false);
            setNotice(undefined);
            setRevealed({ title: `Webhook to ${webhook.url} created: its signing secret`, secret });
            webhooks.reload();
          }}
        />
      )}
      {notice && <Notice>{notice}</Notice>}
      {webhooks.error && !list ? (
        <ErrorMessage error={webhooks.error} onRetry={webhooks.reload} />
      ) : !list ? (
        <Loading label="Loading webhooks…" />
      ) : list.length === 0 ? (
        <EmptyState title="No webhooks yet">
          <p>Add one above to tell CI, chat or a deployment tool about pushes and deletions.</p>
        </EmptyState>
      ) : (
        list.map((w) => (
          <WebhookCard
            key={w.id}
            base={base}
            webhook={w}
            onChanged={(message) => {
              setNotice(message);
              webhooks.reload();
            }}
            onSecret={(secret) => setRevealed({ title: `New signing secret for ${w.url}`, secret })}
          />
        ))
      )}
    </section>
  );
}

/** Adds a webhook, or (given `editing`) changes one's URL, events, filters and format; its secret is replaced from its card. */
function WebhookForm({ base, editing, onCreated, onSaved, onCancel }: { base: string; editing?: Webhook; onCreated?: (webhook: Webhook, secret: string) => void; onSaved?: (webhook: Webhook) => void; onCancel?: () => void }) {
  const [url, setUrl] = useState(editing?.url ?? '');
  const [secret, setSecret] = useState('');
  const [events, setEvents] = useState<string[]>(editing?.events ?? ['push']);
  const [repositoryFilter, setRepositoryFilter] = useState(editing?.repository_filter ?? '');
  const [tagFilter, setTagFilter] = useState(editing?.tag_filter ?? '');
  const [format, setFormat] = useState<'cloudevents' | 'distribution'>(editing?.format ?? 'cloudevents');
  const action = useAction();
  const headingId = editing ? `edit-webhook-${editing.id}-heading` : 'create-webhook-heading';
  const allowed = (type: string) => format === 'cloudevents' || DISTRIBUTION_EVENTS.has(type);
  const chosen = events.filter(allowed);

  const toggle = (type: string, on: boolean) => setEvents((current) => (on ? [...current, type] : current.filter((t) => t !== type)));
  const submit = async (event: FormEvent) => {
    event.preventDefault();
    const body = {
      url: url.trim(),
      events: chosen,
      repository_filter: repositoryFilter.trim() || null,
      tag_filter: tagFilter.trim() || null,
      format,
      ...(secret && !editing ? { secret } : {}),
    };
    if (editing) {
      const answer = await action.run(() => api<{ webhook: Webhook }>(`${base}/${seg(editing.id)}`, { method: 'PATCH', body }));
      if (answer) onSaved?.(answer.webhook);
      return;
    }
    const answer = await action.run(() => api<{ webhook: Webhook; secret: string }>(base, { method: 'POST', body }));
    if (answer) onCreated?.(answer.webhook, answer.secret);
  };
  const idOf = (name: string) => `${editing ? `webhook-${editing.id}` : 'webhook'}-${name}`;

  return (
    <form className="card" onSubmit={submit} aria-labelledby={headingId}>
      <h3 id={headingId}>{editing ? 'Edit webhook' : 'Add a webhook'}</h3>
      <Field label="Payload URL" hint="http or https, without credentials in it." error={fieldError(action.error, 'url')}>
        <input type="url" value={url} onChange={(e) => setUrl(e.target.value)} required placeholder="https://ci.example.com/hooks/berth" autoComplete="off" spellCheck={false} />
      </Field>
      <fieldset>
        <legend>Events</legend>
        <div className="checkbox-grid">
          {EVENTS.map((e) => (
            <div className="checkbox" key={e.type}>
              <input type="checkbox" id={idOf(`event-${e.type}`)} checked={events.includes(e.type) && allowed(e.type)} disabled={!allowed(e.type)} onChange={(ev) => toggle(e.type, ev.target.checked)} />
              <label htmlFor={idOf(`event-${e.type}`)}>
                {e.label} <span className="hint">({e.hint})</span>
              </label>
            </div>
          ))}
        </div>
        {format === 'distribution' && <p className="hint">The Distribution format carries pushes, pulls and deletions only.</p>}
        {fieldError(action.error, 'events', { prefix: true }) && <p className="field-error">{fieldError(action.error, 'events', { prefix: true })}</p>}
      </fieldset>
      <div className="form-row align-top">
        <Field label="Repository filter (optional)" hint="A glob over repository paths in the registry: app/*, tools/**. Empty: every repository." error={fieldError(action.error, 'repository_filter')}>
          <input value={repositoryFilter} onChange={(e) => setRepositoryFilter(e.target.value)} autoComplete="off" spellCheck={false} />
        </Field>
        <Field label="Tag filter (optional)" hint="A glob over tags: v*, release-*. Empty: every tag." error={fieldError(action.error, 'tag_filter')}>
          <input value={tagFilter} onChange={(e) => setTagFilter(e.target.value)} autoComplete="off" spellCheck={false} />
        </Field>
      </div>
      <div className="form-row align-top">
        <Field label="Format">
          <select value={format} onChange={(e) => setFormat(e.target.value as 'cloudevents' | 'distribution')}>
            <option value="cloudevents">CloudEvents 1.0 (JSON)</option>
            <option value="distribution">CNCF Distribution notifications</option>
          </select>
        </Field>
        {!editing && (
          <Field label="Signing secret (optional)" hint="16 characters or more. Leave empty and Berth makes one, shown once." error={fieldError(action.error, 'secret')}>
            <input type="password" value={secret} onChange={(e) => setSecret(e.target.value)} autoComplete="new-password" minLength={16} />
          </Field>
        )}
      </div>
      <ErrorMessage error={action.error} />
      <div className="form-actions">
        {onCancel && (
          <button type="button" className="button secondary" onClick={onCancel}>
            Cancel
          </button>
        )}
        <button type="submit" className="button primary" disabled={action.busy || !url.trim() || chosen.length === 0}>
          {editing ? (action.busy ? 'Saving…' : 'Save webhook') : action.busy ? 'Adding…' : 'Add webhook'}
        </button>
      </div>
    </form>
  );
}

function WebhookCard({ base, webhook: w, onChanged, onSecret }: { base: string; webhook: Webhook; onChanged: (message: string) => void; onSecret: (secret: string) => void }) {
  const path = `${base}/${seg(w.id)}`;
  const [showLog, setShowLog] = useState(false);
  const [logVersion, setLogVersion] = useState(0);
  const change = useConfirm<'delete' | 'rotate' | 'disable'>();
  const asked = change.target;
  const [sent, setSent] = useState<string>();
  const [editing, setEditing] = useState(false);
  const enable = useAction();
  const test = useAction();

  const sendTest = async () => {
    setSent(undefined);
    const answer = await test.run(() => api<{ delivery: Delivery }>(`${path}/test`, { method: 'POST' }));
    if (answer) {
      setSent(`Test event sent (delivery ${answer.delivery.id}): its outcome is in the delivery log.`);
      setShowLog(true);
      setLogVersion((v) => v + 1);
    }
  };
  const setEnabled = async (enabled: boolean) => {
    await api<{ webhook: Webhook }>(path, { method: 'PATCH', body: { enabled } });
    onChanged(`Webhook to ${w.url} ${enabled ? 'enabled' : 'disabled'}.`);
  };
  const rotate = async () => {
    const answer = await api<{ webhook: Webhook; secret?: string }>(path, { method: 'PATCH', body: { rotate_secret: true } });
    if (answer.secret) onSecret(answer.secret);
  };
  const remove = async () => {
    await api(path, { method: 'DELETE' });
    onChanged(`Webhook to ${w.url} deleted, with its delivery log.`);
  };

  const headingId = `webhook-${w.id}-heading`;
  return (
    <article className="card webhook" aria-labelledby={headingId}>
      <div className="card-header">
        <h3 id={headingId} className="mono break">
          {w.url}
        </h3>
        <StatusBadge status={w.enabled ? 'enabled' : 'disabled'} />
      </div>
      {editing && (
        <WebhookForm
          base={base}
          editing={w}
          onCancel={() => setEditing(false)}
          onSaved={(saved) => {
            setEditing(false);
            onChanged(`Webhook to ${saved.url} saved.`);
          }}
        />
      )}
      <dl className="facts" hidden={editing}>
        <div>
          <dt>Events</dt>
          <dd>{w.events.map(eventLabel).join(', ')}</dd>
        </div>
        <div>
          <dt>Repositories</dt>
          <dd>{w.repository_filter ? <code>{w.repository_filter}</code> : 'All'}</dd>
        </div>
        <div>
          <dt>Tags</dt>
          <dd>{w.tag_filter ? <code>{w.tag_filter}</code> : 'All'}</dd>
        </div>
        <div>
          <dt>Format</dt>
          <dd>{w.format === 'cloudevents' ? 'CloudEvents' : 'Distribution'}</dd>
        </div>
        <div>
          <dt>Created</dt>
          <dd>
            <Time iso={w.created_at} /> by {w.created_by}
          </dd>
        </div>
      </dl>
      {w.disabled_reason && <p className="warning">Disabled: {w.disabled_reason}</p>}
      {w.failing_since && !w.disabled_reason && (
        <p className="warning">
          Every delivery has failed since <Time iso={w.failing_since} />.
        </p>
      )}
      <div className="actions">
        <button type="button" className="button secondary small" onClick={sendTest} disabled={test.busy || !w.enabled} title={w.enabled ? undefined : 'Enable the webhook first'}>
          {test.busy ? 'Sending…' : 'Send test'}
        </button>
        <button type="button" className="button secondary small" aria-expanded={showLog} aria-controls={`webhook-${w.id}-log`} onClick={() => setShowLog((s) => !s)}>
          {showLog ? 'Hide deliveries' : 'Deliveries'}
        </button>
        {w.enabled ? (
          <button type="button" className="button secondary small" onClick={() => change.ask('disable')}>
            Disable
          </button>
        ) : (
          <button type="button" className="button secondary small" onClick={() => void enable.run(() => setEnabled(true))} disabled={enable.busy}>
            Enable
          </button>
        )}
        <button type="button" className="button secondary small" aria-expanded={editing} onClick={() => setEditing((e) => !e)}>
          Edit
        </button>
        <button type="button" className="button secondary small" onClick={() => change.ask('rotate')}>
          New secret
        </button>
        <button type="button" className="button danger small" onClick={() => change.ask('delete')}>
          Delete
        </button>
      </div>
      {sent && <Notice>{sent}</Notice>}
      <ErrorMessage error={test.error} />
      <ErrorMessage error={enable.error} />
      <div id={`webhook-${w.id}-log`}>{showLog && <DeliveryLog path={path} version={logVersion} enabled={w.enabled} />}</div>
      <ConfirmDialog
        {...change.dialog}
        title={asked === 'delete' ? 'Delete this webhook?' : asked === 'rotate' ? 'Replace the signing secret?' : 'Disable this webhook?'}
        confirmLabel={asked === 'delete' ? 'Delete webhook' : asked === 'rotate' ? 'Replace secret' : 'Disable'}
        onConfirm={() => void change.confirm((what) => (what === 'delete' ? remove() : what === 'rotate' ? rotate() : setEnabled(false)))}
      >
        <p>
          {asked === 'delete'
            ? `Deliveries to ${w.url} stop, and its delivery log is deleted.`
            : asked === 'rotate'
              ? 'The new secret is shown once. Deliveries are signed with it from now on, so the receiver must have it too.'
              : 'Pending deliveries end as failed; send them again with Redeliver once it is enabled.'}
        </p>
      </ConfirmDialog>
    </article>
  );
}

const LOG_PER_PAGE = 10;

/** A webhook's deliveries, newest first; refreshed every 2 s while any is pending. */
function DeliveryLog({ path, version, enabled }: { path: string; version: number; enabled: boolean }) {
  const [page, setPage] = useState(1);
  const deliveries = useApi<{ deliveries: Delivery[] } & Paged>(`${path}/deliveries${query({ page, per_page: LOG_PER_PAGE })}`);
  const redeliver = useAction();
  const [notice, setNotice] = useState<string>();
  const pending = deliveries.data?.deliveries.some((d) => d.status === 'pending');
  const { reload } = deliveries;
  // A test event was just sent: show it.
  useEffect(() => {
    if (version > 0) reload();
  }, [version, reload]);
  useEffect(() => {
    if (!pending) return;
    const timer = window.setTimeout(reload, 2000);
    return () => window.clearTimeout(timer);
  }, [pending, deliveries.data, reload]);

  const again = async (d: Delivery) => {
    const answer = await redeliver.run(() => api<{ delivery: Delivery }>(`${path}/deliveries/${d.id}/redeliver`, { method: 'POST' }));
    if (answer) {
      setNotice(`Delivery ${d.id} sent again as delivery ${answer.delivery.id}.`);
      setPage(1);
      reload();
    }
  };

  if (deliveries.error && !deliveries.data) return <ErrorMessage error={deliveries.error} onRetry={reload} />;
  if (!deliveries.data) return <Loading label="Loading deliveries…" />;
  const list = deliveries.data.deliveries;
  return (
    <div className="delivery-log">
      <h4>Delivery log</h4>
      {notice && <Notice>{notice}</Notice>}
      <ErrorMessage error={redeliver.error} />
      {list.length === 0 ? (
        <p className="muted">No deliveries yet. Send a test event, or push to the registry.</p>
      ) : (
        <div className="table-wrap">
          <table>
            <caption className="visually-hidden">Deliveries, newest first</caption>
            <thead>
              <tr>
                <th scope="col">Delivery</th>
                <th scope="col">Event</th>
                <th scope="col">Status</th>
                <th scope="col" className="num">
                  Code
                </th>
                <th scope="col" className="num">
                  Latency
                </th>
                <th scope="col" className="num">
                  Attempts
                </th>
                <th scope="col">When</th>
                <th scope="col">
                  <span className="visually-hidden">Actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {list.map((d) => (
                <tr key={d.id}>
                  <td>
                    {d.id}
                    {d.redelivery_of !== null && <span className="hint"> (again: {d.redelivery_of})</span>}
                  </td>
                  <td>
                    {eventLabel(d.event_type)}
                    {d.repository && <div className="hint">{d.repository}</div>}
                  </td>
                  <td>
                    <StatusBadge status={d.status} />
                    {d.error && <div className="hint break">{d.error}</div>}
                    {d.status === 'pending' && d.next_attempt_at && (
                      <div className="hint">
                        next try <Time iso={d.next_attempt_at} />
                      </div>
                    )}
                  </td>
                  <td className="num">{d.response_status ?? '—'}</td>
                  <td className="num">{d.latency_ms === null ? '—' : `${d.latency_ms} ms`}</td>
                  <td className="num">{d.attempts}</td>
                  <td>
                    <Time iso={d.completed_at ?? d.created_at} />
                  </td>
                  <td className="row-actions">
                    <button type="button" className="button small secondary" onClick={() => void again(d)} disabled={redeliver.busy || !enabled || d.status === 'pending'} aria-label={`Redeliver delivery ${d.id}`}>
                      Redeliver
                    </button>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      <Pager page={page} perPage={LOG_PER_PAGE} total={deliveries.data.meta?.total ?? 0} onPage={setPage} label="Pages of deliveries" />
      <p className="hint">{plural(deliveries.data.meta?.total ?? list.length, 'delivery', 'deliveries')} in the log (kept 30 days).</p>
    </div>
  );
}
