import { useState, type FormEvent } from 'react';
import { api, seg } from '../../api/client';
import { useAction, useApi } from '../../api/use-api';
import { ConfirmDialog } from '../../components/dialog';
import { EmptyState, ErrorMessage, Loading, Notice } from '../../components/feedback';
import { Field } from '../../components/field';
import { Time } from '../../components/time';
import { useConfirm } from '../../components/use-confirm';
import { fieldError } from '../../components/validation';
import type { SectionProps } from './shared';

interface ImmutableRule {
  id: number;
  tag_pattern: string;
  repository_pattern: string;
  created_by: string;
  created_at: string;
}

/** Immutable-tag rules: tags they cover can no longer be moved or deleted. Added and lifted here. */
export function ImmutableTagsSection({ registry }: SectionProps) {
  const base = `/registries/${seg(registry)}/immutable-tags`;
  const rules = useApi<{ immutable_tags: ImmutableRule[] }>(base);
  const lift = useConfirm<ImmutableRule>();
  const [notice, setNotice] = useState<string>();

  return (
    <section aria-labelledby="immutable-heading">
      <h2 id="immutable-heading">Immutable tags</h2>
      <p className="muted">
        A tag matching a rule can no longer be moved to another manifest or deleted, nor can the manifest it names. Pushing the same manifest again is allowed. Retention never deletes them.
      </p>
      <AddRule
        base={base}
        onAdded={(rule) => {
          setNotice(`Tags matching ${rule.tag_pattern} in ${rule.repository_pattern === '**' ? 'every repository' : rule.repository_pattern} are now immutable.`);
          rules.reload();
        }}
      />
      {notice && <Notice>{notice}</Notice>}
      {rules.error && !rules.data ? (
        <ErrorMessage error={rules.error} onRetry={rules.reload} />
      ) : !rules.data ? (
        <Loading label="Loading immutable-tag rules…" />
      ) : rules.data.immutable_tags.length === 0 ? (
        <EmptyState title="No immutable tags">
          <p>Every tag in {registry} can be moved or deleted by those allowed to push.</p>
        </EmptyState>
      ) : (
        <div className="table-wrap">
          <table>
            <caption className="visually-hidden">Immutable-tag rules of {registry}</caption>
            <thead>
              <tr>
                <th scope="col">Tags</th>
                <th scope="col">Repositories</th>
                <th scope="col" className="hide-narrow">
                  Added
                </th>
                <th scope="col">
                  <span className="visually-hidden">Actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {rules.data.immutable_tags.map((r) => (
                <tr key={r.id}>
                  <td>
                    <code>{r.tag_pattern}</code>
                  </td>
                  <td>{r.repository_pattern === '**' ? <span className="muted">All</span> : <code>{r.repository_pattern}</code>}</td>
                  <td className="hide-narrow">
                    <Time iso={r.created_at} /> by {r.created_by}
                  </td>
                  <td className="row-actions">
                    <button type="button" className="button small danger" onClick={() => lift.ask(r)} aria-label={`Lift the rule for ${r.tag_pattern} in ${r.repository_pattern}`}>
                      Lift
                    </button>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      <ConfirmDialog
        {...lift.dialog}
        title="Lift this rule?"
        confirmLabel="Lift rule"
        onConfirm={() =>
          void lift.confirm(async (rule) => {
            await api(`${base}/${rule.id}`, { method: 'DELETE' });
            setNotice(`Rule ${rule.tag_pattern} lifted: those tags may move and be deleted again.`);
            rules.reload();
          })
        }
      >
        <p>
          Tags matching <code>{lift.target?.tag_pattern}</code> may be moved and deleted again, unless another rule covers them.
        </p>
      </ConfirmDialog>
    </section>
  );
}

function AddRule({ base, onAdded }: { base: string; onAdded: (rule: ImmutableRule) => void }) {
  const [tagPattern, setTagPattern] = useState('');
  const [repositoryPattern, setRepositoryPattern] = useState('');
  const action = useAction();
  const submit = async (event: FormEvent) => {
    event.preventDefault();
    const body = { tag_pattern: tagPattern.trim(), ...(repositoryPattern.trim() ? { repository_pattern: repositoryPattern.trim() } : {}) };
    const answer = await action.run(() => api<{ immutable_tag: ImmutableRule }>(base, { method: 'POST', body }));
    if (answer) {
      setTagPattern('');
      setRepositoryPattern('');
      onAdded(answer.immutable_tag);
    }
  };
  return (
    <form className="card" onSubmit={submit} aria-labelledby="add-immutable-heading">
      <h3 id="add-immutable-heading">Add a rule</h3>
      <div className="form-row align-top">
        <Field label="Tag pattern" hint="* matches anything: v*, release-*, latest." error={fieldError(action.error, 'tag_pattern')}>
          <input value={tagPattern} onChange={(e) => setTagPattern(e.target.value)} required autoComplete="off" spellCheck={false} placeholder="v*" />
        </Field>
        <Field label="Repositories (optional)" hint="A glob over repository paths in the registry; * within one component, ** across. Empty: all." error={fieldError(action.error, 'repository_pattern')}>
          <input value={repositoryPattern} onChange={(e) => setRepositoryPattern(e.target.value)} autoComplete="off" spellCheck={false} placeholder="**" />
        </Field>
      </div>
      <ErrorMessage error={action.error} />
      <div className="form-actions">
        <button type="submit" className="button primary" disabled={action.busy || !tagPattern.trim()}>
          {action.busy ? 'Adding…' : 'Make immutable'}
        </button>
      </div>
    </form>
  );
}
