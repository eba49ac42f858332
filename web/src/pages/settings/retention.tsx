import { useState } from 'react';
import { api, query, seg } from '../../api/client';
import { useApi } from '../../api/use-api';
import { ConfirmDialog } from '../../components/dialog';
import { EmptyState, ErrorMessage, Loading, Notice } from '../../components/feedback';
import { StatusBadge } from '../../components/status-badge';
import { Time } from '../../components/time';
import { useConfirm } from '../../components/use-confirm';
import { formatBytes } from '../../format';
import { PolicyEditor } from './retention-editor';
import { describeKeep, describeRule, type Policy, type Run } from './retention-model';
import type { SectionProps } from './shared';

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
