import { useEffect } from 'react';
import { Loading } from './components/feedback';
import { AppLayout } from './components/layout';
import { PageHeader } from './components/page-header';
import { RegistryNav } from './components/registry-nav';
import { Link, LocationProvider, matchPath, navigate, useLocation } from './router';
import { ROUTES } from './routes';
import { SessionProvider, useSession } from './session';
import { SignInPage } from './pages/sign-in';

export function App() {
  return (
    <LocationProvider>
      <SessionProvider>
        <Gate />
      </SessionProvider>
    </LocationProvider>
  );
}

/** Nobody signed in: the sign-in page, remembering where the user was going. */
function Gate() {
  const { account } = useSession();
  const { pathname, search } = useLocation();
  const onSignIn = pathname === '/sign-in';

  useEffect(() => {
    if (account === null && !onSignIn) navigate(`/sign-in${pathname === '/' ? '' : `?next=${encodeURIComponent(pathname + search)}`}`, { replace: true });
    // Already signed in: the sign-in page has nothing to offer.
    if (account && onSignIn) navigate('/', { replace: true });
  }, [account, onSignIn, pathname, search]);

  if (account === undefined) return <Loading label="Loading Berth…" />;
  if (account === null) {
    if (!onSignIn) return null;
    const next = new URLSearchParams(search).get('next');
    // Only a path on this site, never a full URL: no open redirect.
    const target = next && next.startsWith('/') && !next.startsWith('//') ? next : '/';
    return <SignInPage onSignedIn={() => navigate(target, { replace: true })} />;
  }
  if (onSignIn) return null;
  return (
    <AppLayout>
      <CurrentPage key={pathname} />
    </AppLayout>
  );
}

function CurrentPage() {
  const { pathname } = useLocation();
  useEffect(() => {
    window.scrollTo(0, 0);
  }, [pathname]);
  for (const route of ROUTES) {
    const params = matchPath(route.pattern, pathname);
    if (!params) continue;
    const Page = route.page;
    return (
      <>
        {route.inRegistry && params.registry && <RegistryNav registry={params.registry} />}
        <Page params={params} />
      </>
    );
  }
  return (
    <>
      <PageHeader title="Page not found" />
      <p>
        There is nothing at <code>{pathname}</code>. <Link to="/">Go to your registries</Link>.
      </p>
    </>
  );
}
