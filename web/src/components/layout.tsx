import type { ReactNode } from 'react';
import { Link, navigate, useLocation } from '../router';
import { useAccount, useSession } from '../session';

/** The frame of every signed-in page: skip link, header with navigation and the user, main content. */
export function AppLayout({ children }: { children: ReactNode }) {
  const account = useAccount();
  const { signOut } = useSession();
  const { pathname } = useLocation();
  const links: { to: string; label: string; active: boolean }[] = [
    { to: '/', label: 'Registries', active: pathname === '/' || pathname.startsWith('/registries') },
    { to: '/tokens', label: 'Access tokens', active: pathname.startsWith('/tokens') },
  ];
  if (account.server_admin) {
    links.push({ to: '/teams', label: 'Teams', active: pathname.startsWith('/teams') });
    links.push({ to: '/audit', label: 'Audit log', active: pathname.startsWith('/audit') });
  }
  const onSignOut = async () => {
    await signOut();
    navigate('/sign-in', { replace: true });
  };
  return (
    <>
      <a className="skip-link" href="#main">
        Skip to content
      </a>
      <header className="app-header">
        <Link to="/" className="brand">
          <img src="/favicon.svg" alt="" width={24} height={24} />
          Berth
        </Link>
        <nav aria-label="Main" className="main-nav">
          <ul>
            {links.map((l) => (
              <li key={l.to}>
                <Link to={l.to} aria-current={l.active ? 'page' : undefined}>
                  {l.label}
                </Link>
              </li>
            ))}
          </ul>
        </nav>
        <div className="user">
          <span className="username" title="Signed in as">
            {account.username}
          </span>
          <button type="button" className="button secondary small" onClick={onSignOut}>
            Sign out
          </button>
        </div>
      </header>
      <main id="main" tabIndex={-1}>
        {children}
      </main>
    </>
  );
}
