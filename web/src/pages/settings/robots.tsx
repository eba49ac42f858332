import { useState, type FormEvent } from 'react';
import { api, seg } from '../../api/client';
import { useAction, useApi } from '../../api/use-api';
import { Command } from '../../components/copy-button';
import { ConfirmDialog, Dialog } from '../../components/dialog';
import { EmptyState, ErrorMessage, Loading, Notice } from '../../components/feedback';
import { Field } from '../../components/field';
import { SecretReveal } from '../../components/secret-reveal';
import { Select } from '../../components/select';
import { StatusBadge } from '../../components/status-badge';
import { Time } from '../../components/time';
import { useConfirm } from '../../components/use-confirm';
import { fieldError } from '../../components/validation';
import { GrantFields } from './grant-fields';
import { EXPIRY_CHOICES, roleLabel, tokenState, type Grant, type Role, type SectionProps, type TokenView } from './shared';

interface Robot {
  name: string;
  username: string;
  disabled: boolean;
  created_at: string;
  secrets: TokenView[];
}

interface Revealed {
  username: string;
  secret: string;
  what: string;
}

/** Robot accounts of the registry: created with a role, their secrets shown once, added, revoked, and robots deleted. */
export function RobotsSection({ registry }: SectionProps) {
  const base = `/registries/${seg(registry)}`;
  const robots = useApi<{ robots: Robot[] }>(`${base}/robots`);
  // A robot's role is its grant.
  const grants = useApi<{ grants: Grant[] }>(`${base}/grants`);
  const [revealed, setRevealed] = useState<Revealed>();
  const [notice, setNotice] = useState<string>();

  const grantOf = (robot: Robot) => grants.data?.grants.find((g) => g.subject_kind === 'robot' && g.subject === robot.username);
  const reload = () => {
    robots.reload();
    grants.reload();
  };

  return (
    <section aria-labelledby="robots-heading">
      <h2 id="robots-heading">Robot accounts</h2>
      <p className="muted">Credentials for CI and other machines: each robot belongs to {registry}, has one role, and logs in as its username with a secret.</p>
      {revealed ? (
        <SecretReveal title={revealed.what} secret={revealed.secret} label={`Copy the secret of ${revealed.username}`} onDone={() => setRevealed(undefined)}>
          <p>Log in with it:</p>
          <Command command={`echo '${revealed.secret}' | docker login ${window.location.host} --username '${revealed.username}' --password-stdin`} label={`Copy the docker login command for ${revealed.username}`} />
        </SecretReveal>
      ) : (
        <CreateRobot
          registry={registry}
          base={base}
          onCreated={(username, secret) => {
            setNotice(undefined);
            setRevealed({ username, secret, what: `Robot ${username} created: its secret` });
            reload();
          }}
        />
      )}
      {notice && <Notice>{notice}</Notice>}
      {robots.error && !robots.data ? (
        <ErrorMessage error={robots.error} onRetry={robots.reload} />
      ) : !robots.data ? (
        <Loading label="Loading robot accounts…" />
      ) : robots.data.robots.length === 0 ? (
        <EmptyState title="No robot accounts yet">
          <p>Create one above for a CI pipeline that pushes or pulls images.</p>
        </EmptyState>
      ) : (
        robots.data.robots.map((robot) => (
          <RobotCard
            key={robot.name}
            base={base}
            robot={robot}
            grant={grantOf(robot)}
            onSecret={(secret) => {
              setNotice(undefined);
              setRevealed({ username: robot.username, secret, what: `New secret for ${robot.username}` });
              reload();
            }}
            onChanged={(message) => {
              setNotice(message);
              reload();
            }}
          />
        ))
      )}
    </section>
  );
}

function CreateRobot({ registry, base, onCreated }: { registry: string; base: string; onCreated: (username: string, secret: string) => void }) {
  const [name, setName] = useState('');
  const [role, setRole] = useState<Role>('read-write');
  const [pattern, setPattern] = useState('');
  const [expiry, setExpiry] = useState('');
  const action = useAction();
  const submit = async (event: FormEvent) => {
    event.preventDefault();
    const body = { name: name.trim(), role, repository_pattern: pattern.trim() || null, ...(expiry ? { expires_in_seconds: Number(expiry) } : {}) };
    const answer = await action.run(() => api<{ username: string; secret: string }>(`${base}/robots`, { method: 'POST', body }));
    if (answer) {
      setName('');
      setPattern('');
      onCreated(answer.username, answer.secret);
    }
  };
  return (
    <form className="card" onSubmit={submit} aria-labelledby="create-robot-heading">
      <h3 id="create-robot-heading">Create a robot account</h3>
      <div className="form-row align-top">
        <Field label="Name" hint={`Logs in as ${registry}+${name.trim() || 'name'}`} error={fieldError(action.error, 'name')}>
          <input value={name} onChange={(e) => setName(e.target.value)} required autoComplete="off" spellCheck={false} placeholder="ci" />
        </Field>
        <GrantFields registry={registry} role={role} onRole={setRole} pattern={pattern} onPattern={setPattern} error={action.error} />
        <Field label="Secret expires" error={fieldError(action.error, 'expires_in_seconds')}>
          <Select options={EXPIRY_CHOICES} value={expiry} onChange={setExpiry} />
        </Field>
      </div>
      <ErrorMessage error={action.error} />
      <div className="form-actions">
        <button type="submit" className="button primary" disabled={action.busy || !name.trim()}>
          {action.busy ? 'Creating…' : 'Create robot'}
        </button>
      </div>
    </form>
  );
}

function RobotCard({ base, robot, grant, onSecret, onChanged }: { base: string; robot: Robot; grant: Grant | undefined; onSecret: (secret: string) => void; onChanged: (message: string) => void }) {
  const [adding, setAdding] = useState(false);
  const remove = useConfirm<Robot>();
  const revoke = useConfirm<TokenView>();
  const robotPath = `${base}/robots/${seg(robot.name)}`;

  const headingId = `robot-${robot.name}-heading`;
  return (
    <article className="card" aria-labelledby={headingId}>
      <div className="card-header">
        <h3 id={headingId} className="mono">
          {robot.username}
        </h3>
        <div className="actions">
          <button type="button" className="button secondary small" onClick={() => setAdding(true)}>
            New secret
          </button>
          <button type="button" className="button danger small" onClick={() => remove.ask(robot)}>
            Delete robot
          </button>
        </div>
      </div>
      <p>
        {grant ? (
          <>
            {roleLabel(grant.role)} on {grant.repository_pattern ? <code>{grant.repository_pattern}</code> : 'the whole registry'}
          </>
        ) : (
          <span className="muted">No role</span>
        )}
        {robot.disabled && (
          <>
            {' '}
            <StatusBadge status="disabled" />
          </>
        )}
        <span className="muted"> · created </span>
        <Time iso={robot.created_at} />
      </p>
      {robot.secrets.length === 0 ? (
        <p className="muted">No secrets: add one to log in.</p>
      ) : (
        <div className="table-wrap">
          <table>
            <caption className="visually-hidden">Secrets of {robot.username}</caption>
            <thead>
              <tr>
                <th scope="col">Secret</th>
                <th scope="col">State</th>
                <th scope="col" className="hide-narrow">
                  Created
                </th>
                <th scope="col">Last used</th>
                <th scope="col" className="hide-narrow">
                  Expires
                </th>
                <th scope="col">
                  <span className="visually-hidden">Actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {robot.secrets.map((s) => {
                const state = tokenState(s);
                return (
                  <tr key={s.id}>
                    <td>{s.name}</td>
                    <td>
                      <StatusBadge status={state} />
                    </td>
                    <td className="hide-narrow">
                      <Time iso={s.created_at} />
                    </td>
                    <td>
                      <Time iso={s.last_used_at} />
                    </td>
                    <td className="hide-narrow">
                      <Time iso={s.expires_at} never="never" />
                    </td>
                    <td className="row-actions">
                      {state === 'active' && (
                        <button type="button" className="button small secondary" onClick={() => revoke.ask(s)} aria-label={`Revoke secret ${s.name} of ${robot.username}`}>
                          Revoke
                        </button>
                      )}
                    </td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        </div>
      )}
      <AddSecretDialog open={adding} robotPath={robotPath} username={robot.username} onClose={() => setAdding(false)} onCreated={(secret) => { setAdding(false); onSecret(secret); }} />
      <ConfirmDialog
        {...remove.dialog}
        title={`Delete ${robot.username}?`}
        confirmLabel="Delete robot"
        confirmText={robot.name}
        onConfirm={() =>
          void remove.confirm(async () => {
            await api(robotPath, { method: 'DELETE' });
            onChanged(`Robot ${robot.username} deleted; its secrets no longer work.`);
          })
        }
      >
        <p>The robot, its role and all its secrets are deleted. Anything logging in as {robot.username} stops working at once.</p>
      </ConfirmDialog>
      <ConfirmDialog
        {...revoke.dialog}
        title="Revoke this secret?"
        confirmLabel="Revoke secret"
        onConfirm={() =>
          void revoke.confirm(async (secret) => {
            await api(`/tokens/${seg(secret.id)}`, { method: 'DELETE' });
            onChanged(`Secret "${secret.name}" of ${robot.username} revoked.`);
          })
        }
      >
        <p>
          Secret <strong>{revoke.target?.name}</strong> of {robot.username} stops working at once. Its other secrets keep working.
        </p>
      </ConfirmDialog>
    </article>
  );
}

function AddSecretDialog({ open, robotPath, username, onClose, onCreated }: { open: boolean; robotPath: string; username: string; onClose: () => void; onCreated: (secret: string) => void }) {
  const [name, setName] = useState('');
  const [expiry, setExpiry] = useState('');
  const action = useAction();
  const submit = async (event: FormEvent) => {
    event.preventDefault();
    const body = { ...(name.trim() ? { name: name.trim() } : {}), ...(expiry ? { expires_in_seconds: Number(expiry) } : {}) };
    const answer = await action.run(() => api<{ secret: string }>(`${robotPath}/secrets`, { method: 'POST', body }));
    if (answer) {
      setName('');
      setExpiry('');
      onCreated(answer.secret);
    }
  };
  const close = () => {
    action.clearError();
    onClose();
  };
  return (
    <Dialog title={`New secret for ${username}`} open={open} onClose={close}>
      <form onSubmit={submit}>
        <p className="dialog-body">The robot&apos;s other secrets keep working: revoke them once nothing uses them.</p>
        <Field label="Name (optional)" hint="What uses it, e.g. the pipeline's name." error={fieldError(action.error, 'name')}>
          <input value={name} onChange={(e) => setName(e.target.value)} autoComplete="off" placeholder="rotated" />
        </Field>
        <Field label="Expires">
          <Select options={EXPIRY_CHOICES} value={expiry} onChange={setExpiry} />
        </Field>
        <ErrorMessage error={action.error} />
        <div className="dialog-actions">
          <button type="button" className="button secondary" onClick={close}>
            Cancel
          </button>
          <button type="submit" className="button primary" disabled={action.busy}>
            {action.busy ? 'Creating…' : 'Create secret'}
          </button>
        </div>
      </form>
    </Dialog>
  );
}
