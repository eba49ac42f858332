import { useState, type FormEvent } from 'react';
import { api, query, seg } from '../api/client';
import type { RegistryView } from '../api/types';
import { useAction, useApi } from '../api/use-api';
import { Command } from '../components/copy-button';
import { ConfirmDialog } from '../components/dialog';
import { EmptyState, ErrorMessage, Loading, Notice } from '../components/feedback';
import { Field } from '../components/field';
import { PageHeader } from '../components/page-header';
import { SecretReveal } from '../components/secret-reveal';
import { Select } from '../components/select';
import { StatusBadge } from '../components/status-badge';
import { Time } from '../components/time';
import { useConfirm } from '../components/use-confirm';
import { fieldError } from '../components/validation';
import type { PageProps } from '../routes';
import { useAccount } from '../session';
import { EXPIRY_CHOICES, tokenState, type TokenView } from './settings/shared';

const ACTIONS = ['pull', 'push', 'delete'] as const;
type TokenAction = (typeof ACTIONS)[number];

interface ScopeDraft {
  key: number;
  registry: string;
  repositories: string;
  actions: TokenAction[];
}

let nextKey = 1;
const newScope = (registry = '*'): ScopeDraft => ({ key: nextKey++, registry, repositories: '', actions: ['pull'] });

function describeScopes(scopes: TokenView['scopes']): string {
  if (!scopes) return 'Everything you can do';
  return scopes.map((s) => `${s.registry === '*' ? 'all registries' : s.registry}${s.repositories ? ` (${s.repositories})` : ''}: ${s.actions.join(', ')}`).join('; ');
}

/** The signed-in user's personal access tokens: listed, created (the secret shown once), revoked. */
export function TokensPage(_props: PageProps) {
  const account = useAccount();
  const tokens = useApi<{ tokens: TokenView[] }>('/tokens');
  const [revealed, setRevealed] = useState<{ name: string; secret: string }>();
  const revoke = useConfirm<TokenView>();
  const [notice, setNotice] = useState<string>();

  const list = tokens.data ? [...tokens.data.tokens].sort((a, b) => b.created_at.localeCompare(a.created_at)) : undefined;
  return (
    <>
      <PageHeader title="Access tokens" subtitle="Tokens log in to the registry (as your password with docker login) and to the API, as you." />
      {revealed ? (
        <SecretReveal level={2} title={`Token ${revealed.name} created`} secret={revealed.secret} label={`Copy token ${revealed.name}`} onDone={() => setRevealed(undefined)}>
          <p>Log in to the registry with it:</p>
          <Command command={`echo '${revealed.secret}' | docker login ${window.location.host} --username '${account.username}' --password-stdin`} label="Copy the docker login command" />
          <p>Or call the API with it:</p>
          <Command command={`curl -H 'Authorization: Bearer ${revealed.secret}' ${window.location.origin}/api/v2/account`} label="Copy the curl command" />
        </SecretReveal>
      ) : (
        <CreateToken
          onCreated={(name, secret) => {
            setNotice(undefined);
            setRevealed({ name, secret });
            tokens.reload();
          }}
        />
      )}
      {notice && <Notice>{notice}</Notice>}
      <h2>Your tokens</h2>
      {tokens.error && !list ? (
        <ErrorMessage error={tokens.error} onRetry={tokens.reload} />
      ) : !list ? (
        <Loading label="Loading your tokens…" />
      ) : list.length === 0 ? (
        <EmptyState title="No tokens yet">
          <p>Create one above for a script, CI, or docker login without your password.</p>
        </EmptyState>
      ) : (
        <div className="table-wrap">
          <table>
            <caption className="visually-hidden">Your access tokens, newest first</caption>
            <thead>
              <tr>
                <th scope="col">Name</th>
                <th scope="col">Can do</th>
                <th scope="col">State</th>
                <th scope="col" className="hide-narrow">
                  Created
                </th>
                <th scope="col">Last used</th>
                <th scope="col">Expires</th>
                <th scope="col">
                  <span className="visually-hidden">Actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {list.map((t) => {
                const state = tokenState(t);
                return (
                  <tr key={t.id}>
                    <td>
                      <strong>{t.name}</strong>
                    </td>
                    <td>{describeScopes(t.scopes)}</td>
                    <td>
                      <StatusBadge status={state} />
                      {t.revoked_at && (
                        <div className="hint">
                          <Time iso={t.revoked_at} />
                        </div>
                      )}
                    </td>
                    <td className="hide-narrow">
                      <Time iso={t.created_at} />
                    </td>
                    <td>
                      <Time iso={t.last_used_at} />
                    </td>
                    <td>
                      <Time iso={t.expires_at} never="never" />
                    </td>
                    <td className="row-actions">
                      {state === 'active' && (
                        <button type="button" className="button small danger" onClick={() => revoke.ask(t)} aria-label={`Revoke token ${t.name}`}>
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
      <ConfirmDialog
        {...revoke.dialog}
        title={`Revoke token ${revoke.target?.name ?? ''}?`}
        confirmLabel="Revoke token"
        onConfirm={() =>
          void revoke.confirm(async (token) => {
            await api(`/tokens/${seg(token.id)}`, { method: 'DELETE' });
            setNotice(`Token ${token.name} revoked: it no longer works.`);
            tokens.reload();
          })
        }
      >
        <p>Anything using it (scripts, CI, docker logins) stops working at once. This cannot be undone.</p>
      </ConfirmDialog>
    </>
  );
}

function CreateToken({ onCreated }: { onCreated: (name: string, secret: string) => void }) {
  const registries = useApi<{ registries: RegistryView[] }>(`/registries${query({ per_page: 200 })}`);
  const [name, setName] = useState('');
  const [expiry, setExpiry] = useState(String(90 * 86_400));
  const [limited, setLimited] = useState(false);
  const [scopes, setScopes] = useState<ScopeDraft[]>(() => [newScope()]);
  const action = useAction();

  const changeScope = (key: number, patch: Partial<ScopeDraft>) => setScopes((list) => list.map((s) => (s.key === key ? { ...s, ...patch } : s)));
  const submit = async (event: FormEvent) => {
    event.preventDefault();
    const body = {
      name: name.trim(),
      ...(expiry ? { expires_in_seconds: Number(expiry) } : {}),
      ...(limited ? { scopes: scopes.map((s) => ({ registry: s.registry, ...(s.repositories.trim() ? { repositories: s.repositories.trim() } : {}), actions: s.actions })) } : {}),
    };
    const answer = await action.run(() => api<{ token: TokenView; secret: string }>('/tokens', { method: 'POST', body }));
    if (answer) {
      setName('');
      setLimited(false);
      setScopes([newScope()]);
      onCreated(answer.token.name, answer.secret);
    }
  };

  const registryNames = registries.data?.registries.map((r) => r.name) ?? [];
  return (
    <form className="card" onSubmit={submit} aria-labelledby="create-token-heading">
      <h2 id="create-token-heading">Create a token</h2>
      <div className="form-row align-top">
        <Field label="Name" hint="What it is for, e.g. laptop or deploy script." error={fieldError(action.error, 'name')}>
          <input value={name} onChange={(e) => setName(e.target.value)} required maxLength={100} autoComplete="off" />
        </Field>
        <Field label="Expires" error={fieldError(action.error, 'expires_in_seconds')}>
          <Select options={EXPIRY_CHOICES} value={expiry} onChange={setExpiry} />
        </Field>
      </div>
      <div className="checkbox">
        <input type="checkbox" id="token-limited" checked={limited} onChange={(e) => setLimited(e.target.checked)} aria-describedby="token-limited-hint" />
        <label htmlFor="token-limited">Limit what it can do</label>
      </div>
      <p className="hint" id="token-limited-hint">
        Without limits it can do everything you can. A limited token only pulls, pushes or deletes as its scopes say (never beyond your own access), and administers nothing: no settings, tokens or server pages.
      </p>
      {limited && (
        <fieldset>
          <legend>Scopes</legend>
          {scopes.map((s, i) => (
            <div className="scope" key={s.key} role="group" aria-label={`Scope ${i + 1}`}>
              <div className="form-row align-top">
                <Field label="Registry" error={fieldError(action.error, `scopes.${i}.registry`)}>
                  <select value={s.registry} onChange={(e) => changeScope(s.key, { registry: e.target.value })}>
                    <option value="*">All registries</option>
                    {registryNames.map((r) => (
                      <option key={r} value={r}>
                        {r}
                      </option>
                    ))}
                  </select>
                </Field>
                <Field label="Repositories (optional)" hint="A glob over full repository names, e.g. acme/app/*." error={fieldError(action.error, `scopes.${i}.repositories`)}>
                  <input value={s.repositories} onChange={(e) => changeScope(s.key, { repositories: e.target.value })} autoComplete="off" spellCheck={false} />
                </Field>
              </div>
              <fieldset className="inline">
                <legend>Actions</legend>
                {ACTIONS.map((a) => (
                  <span className="checkbox" key={a}>
                    <input
                      type="checkbox"
                      id={`scope-${s.key}-${a}`}
                      checked={s.actions.includes(a)}
                      onChange={(e) => changeScope(s.key, { actions: e.target.checked ? ACTIONS.filter((x) => x === a || s.actions.includes(x)) : s.actions.filter((x) => x !== a) })}
                    />
                    <label htmlFor={`scope-${s.key}-${a}`}>{a}</label>
                  </span>
                ))}
              </fieldset>
              {fieldError(action.error, `scopes.${i}.actions`, { prefix: true }) && <p className="field-error">{fieldError(action.error, `scopes.${i}.actions`, { prefix: true })}</p>}
              {scopes.length > 1 && (
                <button type="button" className="button link" onClick={() => setScopes((list) => list.filter((x) => x.key !== s.key))}>
                  Remove scope {i + 1}
                </button>
              )}
            </div>
          ))}
          <button type="button" className="button secondary small" onClick={() => setScopes((list) => [...list, newScope(registryNames[0] ?? '*')])}>
            Add a scope
          </button>
        </fieldset>
      )}
      <ErrorMessage error={action.error} />
      <div className="form-actions">
        <button type="submit" className="button primary" disabled={action.busy || !name.trim() || (limited && scopes.some((s) => s.actions.length === 0))}>
          {action.busy ? 'Creating…' : 'Create token'}
        </button>
      </div>
    </form>
  );
}
