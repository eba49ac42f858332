import { useState, type FormEvent } from 'react';
import { api, seg } from '../api/client';
import { useAction, useApi } from '../api/use-api';
import { ConfirmDialog } from '../components/dialog';
import { EmptyState, ErrorMessage, Loading, Notice } from '../components/feedback';
import { Field } from '../components/field';
import { PageHeader } from '../components/page-header';
import { Time } from '../components/time';
import { useConfirm } from '../components/use-confirm';
import { fieldError } from '../components/validation';
import { plural } from '../format';
import type { PageProps } from '../routes';
import { useAccount } from '../session';

interface Team {
  name: string;
  members: string[];
  created_at: string;
}

interface User {
  username: string;
  disabled: boolean;
}

/** Teams and their members, for server administrators. A grant to a team applies to every member. */
export function TeamsPage(_props: PageProps) {
  const account = useAccount();
  if (!account.server_admin) {
    return (
      <>
        <PageHeader title="Teams" />
        <p>Teams are managed by server administrators. You are a member of {account.teams.length > 0 ? account.teams.join(', ') : 'no team'}.</p>
      </>
    );
  }
  return <TeamsAdmin />;
}

function TeamsAdmin() {
  const teams = useApi<{ teams: Team[] }>('/teams');
  const users = useApi<{ users: User[] }>('/users');
  const [notice, setNotice] = useState<string>();
  const changed = (message: string) => {
    setNotice(message);
    teams.reload();
  };
  const list = teams.data ? [...teams.data.teams].sort((a, b) => a.name.localeCompare(b.name)) : undefined;
  return (
    <>
      <PageHeader title="Teams" subtitle="Groups of users: grant a team a role in a registry and every member has it." />
      <CreateTeam onCreated={(name) => changed(`Team ${name} created. Add its members below, then grant it a role in a registry's settings.`)} />
      {notice && <Notice>{notice}</Notice>}
      {users.data && (
        <datalist id="team-usernames">
          {users.data.users
            .filter((u) => !u.disabled)
            .map((u) => (
              <option key={u.username} value={u.username} />
            ))}
        </datalist>
      )}
      {teams.error && !list ? (
        <ErrorMessage error={teams.error} onRetry={teams.reload} />
      ) : !list ? (
        <Loading label="Loading teams…" />
      ) : list.length === 0 ? (
        <EmptyState title="No teams yet">
          <p>Create one above, for example for each group that shares registries.</p>
        </EmptyState>
      ) : (
        <div className="grid">
          {list.map((t) => (
            <TeamCard key={t.name} team={t} onChanged={changed} />
          ))}
        </div>
      )}
    </>
  );
}

function CreateTeam({ onCreated }: { onCreated: (name: string) => void }) {
  const [name, setName] = useState('');
  const action = useAction();
  const submit = async (event: FormEvent) => {
    event.preventDefault();
    const answer = await action.run(() => api<{ team: Team }>('/teams', { method: 'POST', body: { name: name.trim() } }));
    if (answer) {
      setName('');
      onCreated(answer.team.name);
    }
  };
  return (
    <form className="card" onSubmit={submit} aria-labelledby="create-team-heading">
      <h2 id="create-team-heading">Create a team</h2>
      <div className="form-row align-top">
        <Field label="Team name" hint="1-63 characters: a-z, 0-9, '.', '_' and '-'." error={fieldError(action.error, 'name')}>
          <input value={name} onChange={(e) => setName(e.target.value)} required autoComplete="off" spellCheck={false} placeholder="platform" />
        </Field>
      </div>
      <ErrorMessage error={action.error} />
      <div className="form-actions">
        <button type="submit" className="button primary" disabled={action.busy || !name.trim()}>
          {action.busy ? 'Creating…' : 'Create team'}
        </button>
      </div>
    </form>
  );
}

/** Deleting the team, or removing one member from it. */
type TeamChange = { kind: 'delete' } | { kind: 'remove'; member: string };

function TeamCard({ team, onChanged }: { team: Team; onChanged: (message: string) => void }) {
  const path = `/teams/${seg(team.name)}`;
  const [username, setUsername] = useState('');
  const change = useConfirm<TeamChange>();
  const add = useAction();

  const addMember = async (event: FormEvent) => {
    event.preventDefault();
    const who = username.trim();
    const done = await add.run(async () => {
      await api(`${path}/members/${seg(who)}`, { method: 'PUT' });
      return true;
    });
    if (done) {
      setUsername('');
      onChanged(`${who} added to ${team.name}.`);
    }
  };
  const asked = change.target;

  const headingId = `team-${team.name}-heading`;
  const inputId = `team-${team.name}-add`;
  return (
    <article className="card" aria-labelledby={headingId}>
      <div className="card-header">
        <h2 id={headingId}>{team.name}</h2>
        <button type="button" className="button danger small" onClick={() => change.ask({ kind: 'delete' })} aria-label={`Delete team ${team.name}`}>
          Delete
        </button>
      </div>
      <p className="hint">
        {plural(team.members.length, 'member')} · created <Time iso={team.created_at} />
      </p>
      {team.members.length === 0 ? (
        <p className="muted">No members yet.</p>
      ) : (
        <ul className="member-list" aria-label={`Members of ${team.name}`}>
          {[...team.members].sort().map((m) => (
            <li key={m}>
              <span>{m}</span>
              <button type="button" className="button small secondary" onClick={() => change.ask({ kind: 'remove', member: m })} aria-label={`Remove ${m} from ${team.name}`}>
                Remove
              </button>
            </li>
          ))}
        </ul>
      )}
      <form onSubmit={addMember} className="inline-form">
        <label htmlFor={inputId}>Add a member</label>
        <div className="inline-form-row">
          <input id={inputId} value={username} onChange={(e) => setUsername(e.target.value)} list="team-usernames" placeholder="username" autoComplete="off" spellCheck={false} required />
          <button type="submit" className="button secondary small" disabled={add.busy || !username.trim()}>
            {add.busy ? 'Adding…' : 'Add'}
          </button>
        </div>
      </form>
      <ErrorMessage error={add.error} />
      <ConfirmDialog
        {...change.dialog}
        title={asked?.kind === 'delete' ? `Delete team ${team.name}?` : `Remove ${asked?.kind === 'remove' ? asked.member : ''} from ${team.name}?`}
        confirmLabel={asked?.kind === 'delete' ? 'Delete team' : 'Remove member'}
        confirmText={asked?.kind === 'delete' ? team.name : undefined}
        onConfirm={() =>
          void change.confirm(async (c) => {
            await api(c.kind === 'delete' ? path : `${path}/members/${seg(c.member)}`, { method: 'DELETE' });
            onChanged(c.kind === 'delete' ? `Team ${team.name} deleted, with its grants.` : `${c.member} removed from ${team.name}.`);
          })
        }
      >
        <p>
          {asked?.kind === 'delete'
            ? `Its ${plural(team.members.length, 'member')} lose every role granted to the team, at once. The users themselves stay.`
            : 'They lose the roles granted to the team at once (not those granted to them directly).'}
        </p>
      </ConfirmDialog>
    </article>
  );
}
