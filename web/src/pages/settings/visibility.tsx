import { useEffect, useState, type FormEvent } from 'react';
import { api, seg } from '../../api/client';
import type { RegistryView } from '../../api/types';
import { useAction, useApi } from '../../api/use-api';
import { ConfirmDialog } from '../../components/dialog';
import { ErrorMessage, Loading, Notice } from '../../components/feedback';
import type { SectionProps } from './shared';

/** Public (anonymous pull) or private. */
export function VisibilitySection({ registry }: SectionProps) {
  const path = `/registries/${seg(registry)}`;
  const current = useApi<{ registry: RegistryView }>(path);
  const [wantPublic, setWantPublic] = useState(false);
  const [confirming, setConfirming] = useState(false);
  const [saved, setSaved] = useState<string>();
  const action = useAction();
  const isPublic = current.data?.registry.public;

  useEffect(() => {
    if (isPublic !== undefined) setWantPublic(isPublic);
  }, [isPublic]);

  const save = async () => {
    const answer = await action.run(() => api<{ registry: RegistryView }>(path, { method: 'PATCH', body: { public: wantPublic } }));
    setConfirming(false);
    if (answer) {
      setSaved(answer.registry.public ? `${registry} is public: anyone can pull from it.` : `${registry} is private: pulling needs a grant.`);
      current.reload();
    }
  };
  const submit = (event: FormEvent) => {
    event.preventDefault();
    setSaved(undefined);
    // Opening a registry to everyone is confirmed; closing it is not.
    if (wantPublic) setConfirming(true);
    else void save();
  };

  return (
    <section aria-labelledby="visibility-heading">
      <h2 id="visibility-heading">Visibility</h2>
      {current.error && !current.data ? (
        <ErrorMessage error={current.error} onRetry={current.reload} />
      ) : isPublic === undefined ? (
        <Loading label="Loading the registry…" />
      ) : (
        <form className="card" onSubmit={submit}>
          <fieldset>
            <legend>Who can pull from {registry}</legend>
            <div className="choice">
              <input type="radio" id="visibility-private" name="visibility" checked={!wantPublic} onChange={() => setWantPublic(false)} aria-describedby="visibility-private-hint" />
              <label htmlFor="visibility-private">Private</label>
              <p className="hint" id="visibility-private-hint">
                Only members, robots and tokens with a grant.
              </p>
            </div>
            <div className="choice">
              <input type="radio" id="visibility-public" name="visibility" checked={wantPublic} onChange={() => setWantPublic(true)} aria-describedby="visibility-public-hint" />
              <label htmlFor="visibility-public">Public</label>
              <p className="hint" id="visibility-public-hint">
                Anyone can pull, without logging in. Pushing and deleting still need a grant.
              </p>
            </div>
          </fieldset>
          <ErrorMessage error={action.error} />
          <div className="form-actions">
            <button type="submit" className="button primary" disabled={action.busy || wantPublic === isPublic}>
              {action.busy ? 'Saving…' : 'Save visibility'}
            </button>
            <span className="hint">Now {isPublic ? 'public' : 'private'}.</span>
          </div>
          {saved && <Notice>{saved}</Notice>}
        </form>
      )}
      <ConfirmDialog open={confirming} title={`Make ${registry} public?`} confirmLabel="Make public" busy={action.busy} onConfirm={() => void save()} onClose={() => setConfirming(false)}>
        <p>Anyone who can reach this server can pull every image in {registry}, without logging in.</p>
      </ConfirmDialog>
    </section>
  );
}
