import { createContext, useCallback, useContext, useEffect, useState, type ReactNode } from 'react';
import { api, ApiError, onSignedOut, setCsrfToken } from './api/client';
import type { Account, SessionInfo } from './api/types';

interface SessionContextValue {
  /** undefined while the first check runs; null when nobody is signed in. */
  account: Account | null | undefined;
  signIn(username: string, password: string): Promise<void>;
  signOut(): Promise<void>;
}

const SessionContext = createContext<SessionContextValue>({
  account: undefined,
  signIn: async () => undefined,
  signOut: async () => undefined,
});

/** The signed-in user, from the session cookie (HttpOnly: the page never sees it, only its CSRF token). */
export function SessionProvider({ children }: { children: ReactNode }) {
  const [account, setAccount] = useState<Account | null | undefined>(undefined);

  const adopt = (info: SessionInfo | null) => {
    setCsrfToken(info?.csrf_token);
    setAccount(info?.account ?? null);
  };

  useEffect(() => {
    api<SessionInfo>('/session')
      .then(adopt)
      .catch(() => adopt(null));
    return onSignedOut(() => adopt(null));
  }, []);

  const signIn = useCallback(async (username: string, password: string) => {
    adopt(await api<SessionInfo>('/session', { method: 'POST', body: { username, password } }));
  }, []);

  const signOut = useCallback(async () => {
    try {
      await api('/session', { method: 'DELETE' });
    } catch (err) {
      // Already ended (401): signed out all the same.
      if (!(err instanceof ApiError) || err.status !== 401) throw err;
    }
    adopt(null);
  }, []);

  return <SessionContext.Provider value={{ account, signIn, signOut }}>{children}</SessionContext.Provider>;
}

export function useSession(): SessionContextValue {
  return useContext(SessionContext);
}

/** The signed-in account (pages below the sign-in gate only). */
export function useAccount(): Account {
  const { account } = useSession();
  if (!account) throw new Error('useAccount outside a signed-in page');
  return account;
}
