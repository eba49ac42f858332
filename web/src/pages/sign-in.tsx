import { useState, type FormEvent } from 'react';
import { ApiError } from '../api/client';
import { ErrorMessage } from '../components/feedback';
import { Field } from '../components/field';
import { PageHeader } from '../components/page-header';
import { useSession } from '../session';

/** Username and password; the session cookie is set by the answer. */
export function SignInPage({ onSignedIn }: { onSignedIn: () => void }) {
  const { signIn } = useSession();
  const [username, setUsername] = useState('');
  const [password, setPassword] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string>();

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    setBusy(true);
    setError(undefined);
    try {
      await signIn(username, password);
      onSignedIn();
    } catch (err) {
      setError(err instanceof ApiError && err.status === 401 ? 'Wrong username or password.' : (err as Error).message);
      setBusy(false);
    }
  };

  return (
    <main id="main" className="sign-in">
      <div className="sign-in-card">
        <p className="brand">
          <img src="/favicon.svg" alt="" width={28} height={28} />
          Berth
        </p>
        <PageHeader title="Sign in" subtitle="Your container registry's control panel." />
        <form onSubmit={submit} noValidate>
          <Field label="Username">
            <input name="username" autoComplete="username" required value={username} onChange={(e) => setUsername(e.target.value)} autoFocus />
          </Field>
          <Field label="Password">
            <input name="password" type="password" autoComplete="current-password" required value={password} onChange={(e) => setPassword(e.target.value)} />
          </Field>
          <ErrorMessage error={error} />
          <button type="submit" className="button primary wide" disabled={busy || !username || !password}>
            {busy ? 'Signing in…' : 'Sign in'}
          </button>
        </form>
      </div>
    </main>
  );
}
