import { useState, type FormEvent } from 'react';
import { api, seg } from '../../api/client';
import { useAction, useApi } from '../../api/use-api';
import { ConfirmDialog } from '../../components/dialog';
import { EmptyState, ErrorMessage, Loading, Notice } from '../../components/feedback';
import { Field } from '../../components/field';
import { Time } from '../../components/time';
import { useConfirm } from '../../components/use-confirm';
import { fieldError } from '../../components/validation';
import { useAccount } from '../../session';
import { GrantFields } from './grant-fields';
import { roleLabel, type Grant, type Role, type SectionProps } from './shared';

interface Team {
  name: string;
  members: string[];
}

interface User {
  username: string;
  disabled: boolean;
}

const KIND_LABEL: Record<Grant['subject_kind'], string> = { user: 'User', team: 'Team', robot: 'Robot' };

/** Who may do what in the registry: grants to users and teams (robots' grants are listed too), added and revoked here. */
export function MembersSection({ registry }: SectionProps) {
  const path = `/registries/${seg(registry)}/grants`;
  const grants = useApi<{ grants: Grant[] }>(path);
  const revoke = useConfirm<Grant>();
  const [notice, setNotice] = useState<string>();
  const revoking = revoke.target;

  return (
    <section aria-labelledby="members-heading">
      <h2 id="members-heading">Members</h2>
      <p className="muted">Grant users and teams a role in {registry}, on the whole registry or on the repositories a pattern names.</p>
      <AddGrant
        registry={registry}
        path={path}
        onAdded={(g) => {
          setNotice(`${KIND_LABEL[g.subject_kind]} ${g.subject} is now ${roleLabel(g.role).toLowerCase()}${g.repository_pattern ? ` on ${g.repository_pattern}` : ''}.`);
          grants.reload();
        }}
      />
      {notice && <Notice>{notice}</Notice>}
      {grants.error && !grants.data ? (
        <ErrorMessage error={grants.error} onRetry={grants.reload} />
      ) : !grants.data ? (
        <Loading label="Loading members…" />
      ) : grants.data.grants.length === 0 ? (
        <EmptyState title="No members yet">
          <p>Only server administrators can use {registry} until you grant someone a role.</p>
        </EmptyState>
      ) : (
        <div className="table-wrap">
          <table>
            <caption className="visually-hidden">Grants of {registry}</caption>
            <thead>
              <tr>
                <th scope="col">Who</th>
                <th scope="col">Role</th>
                <th scope="col">Repositories</th>
                <th scope="col" className="hide-narrow">
                  Granted
                </th>
                <th scope="col">
                  <span className="visually-hidden">Actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {grants.data.grants.map((g) => (
                <tr key={g.id}>
                  <td>
                    <span className="badge">{KIND_LABEL[g.subject_kind]}</span> <strong>{g.subject}</strong>
                  </td>
                  <td>{roleLabel(g.role)}</td>
                  <td>{g.repository_pattern ? <code>{g.repository_pattern}</code> : <span className="muted">All</span>}</td>
                  <td className="hide-narrow">
                    <Time iso={g.created_at} />
                  </td>
                  <td className="row-actions">
                    <button type="button" className="button small danger" onClick={() => revoke.ask(g)} aria-label={`Revoke ${g.subject}'s ${roleLabel(g.role).toLowerCase()} access`}>
                      Revoke
                    </button>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      <ConfirmDialog
        {...revoke.dialog}
        title="Revoke access?"
        confirmLabel="Revoke"
        onConfirm={() =>
          void revoke.confirm(async (grant) => {
            await api(`${path}/${grant.id}`, { method: 'DELETE' });
            setNotice(`${roleLabel(grant.role)} access of ${grant.subject} revoked.`);
            grants.reload();
          })
        }
      >
        {revoking && (
          <p>
            {KIND_LABEL[revoking.subject_kind]} <strong>{revoking.subject}</strong> loses the {roleLabel(revoking.role).toLowerCase()} role
            {revoking.repository_pattern ? (
              <>
                {' '}
                on <code>{revoking.repository_pattern}</code>
              </>
            ) : (
              ` in ${registry}`
            )}{' '}
            at once.
          </p>
        )}
      </ConfirmDialog>
    </section>
  );
}

function AddGrant({ registry, path, onAdded }: { registry: string; path: string; onAdded: (grant: Grant) => void }) {
  const account = useAccount();
  // Listing users and teams is for server administrators; others type the name.
  const teams = useApi<{ teams: Team[] }>(account.server_admin ? '/teams' : null);
  const users = useApi<{ users: User[] }>(account.server_admin ? '/users' : null);
  const [kind, setKind] = useState<'user' | 'team'>('user');
  const [subject, setSubject] = useState('');
  const [role, setRole] = useState<Role>('read-only');
  const [pattern, setPattern] = useState('');
  const action = useAction();

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    const answer = await action.run(() =>
      api<{ grant: Grant }>(path, { method: 'POST', body: { subject_kind: kind, subject: subject.trim(), role, repository_pattern: pattern.trim() || null } }),
    );
    if (answer) {
      setSubject('');
      setPattern('');
      onAdded(answer.grant);
    }
  };

  const teamList = teams.data?.teams;
  return (
    <form className="card" onSubmit={submit} aria-labelledby="add-member-heading">
      <h3 id="add-member-heading">Add a member</h3>
      <div className="form-row align-top">
        <Field label="Kind">
          <select
            value={kind}
            onChange={(e) => {
              setKind(e.target.value as 'user' | 'team');
              setSubject('');
            }}
          >
            <option value="user">User</option>
            <option value="team">Team</option>
          </select>
        </Field>
        {kind === 'team' && teamList && teamList.length > 0 ? (
          <Field label="Team" error={fieldError(action.error, 'subject')}>
            <select value={subject} onChange={(e) => setSubject(e.target.value)} required>
              <option value="">Choose a team…</option>
              {teamList.map((t) => (
                <option key={t.name} value={t.name}>
                  {t.name} ({t.members.length} {t.members.length === 1 ? 'member' : 'members'})
                </option>
              ))}
            </select>
          </Field>
        ) : (
          <Field label={kind === 'user' ? 'Username' : 'Team name'} error={fieldError(action.error, 'subject')} hint={kind === 'team' && teamList?.length === 0 ? 'There are no teams yet: create them on the Teams page.' : undefined}>
            <input value={subject} onChange={(e) => setSubject(e.target.value)} required autoComplete="off" spellCheck={false} list={kind === 'user' && users.data ? 'member-usernames' : undefined} />
          </Field>
        )}
        {users.data && (
          <datalist id="member-usernames">
            {users.data.users
              .filter((u) => !u.disabled)
              .map((u) => (
                <option key={u.username} value={u.username} />
              ))}
          </datalist>
        )}
        <GrantFields registry={registry} role={role} onRole={setRole} pattern={pattern} onPattern={setPattern} error={action.error} />
      </div>
      <ErrorMessage error={action.error} />
      <div className="form-actions">
        <button type="submit" className="button primary" disabled={action.busy || !subject.trim()}>
          {action.busy ? 'Granting…' : 'Grant access'}
        </button>
      </div>
    </form>
  );
}
