import { createContext, useContext, useEffect, useState, type AnchorHTMLAttributes, type MouseEvent, type ReactNode } from 'react';

/**
 * A small router over the History API: the panel has a dozen routes and needs
 * nothing more than matching, links and navigation, so no dependency for it.
 */

interface Location {
  pathname: string;
  search: string;
}

const LocationContext = createContext<Location>({ pathname: '/', search: '' });

function current(): Location {
  return { pathname: window.location.pathname, search: window.location.search };
}

const EVENT = 'berth:navigate';

export function navigate(to: string, options: { replace?: boolean } = {}): void {
  if (options.replace) window.history.replaceState(null, '', to);
  else window.history.pushState(null, '', to);
  window.dispatchEvent(new Event(EVENT));
}

export function LocationProvider({ children }: { children: ReactNode }) {
  const [location, setLocation] = useState(current);
  useEffect(() => {
    const update = () => setLocation(current());
    window.addEventListener('popstate', update);
    window.addEventListener(EVENT, update);
    return () => {
      window.removeEventListener('popstate', update);
      window.removeEventListener(EVENT, update);
    };
  }, []);
  return <LocationContext.Provider value={location}>{children}</LocationContext.Provider>;
}

export function useLocation(): Location {
  return useContext(LocationContext);
}

/** The current query parameters, and a setter that replaces them (history entry kept). */
export function useSearchParams(): [URLSearchParams, (next: Record<string, string | undefined>) => void] {
  const { pathname, search } = useLocation();
  const params = new URLSearchParams(search);
  const set = (next: Record<string, string | undefined>) => {
    const merged = new URLSearchParams(search);
    for (const [k, v] of Object.entries(next)) {
      if (v === undefined || v === '') merged.delete(k);
      else merged.set(k, v);
    }
    const qs = merged.toString();
    navigate(`${pathname}${qs ? `?${qs}` : ''}`, { replace: true });
  };
  return [params, set];
}

/**
 * Matches `/registries/:registry/repositories/:repo` against a path; values are
 * decoded (a repository path arrives as one segment with `%2F`).
 */
export function matchPath(pattern: string, pathname: string): Record<string, string> | undefined {
  const want = pattern.split('/').filter(Boolean);
  const have = pathname.split('/').filter(Boolean);
  if (want.length !== have.length) return undefined;
  const params: Record<string, string> = {};
  for (let i = 0; i < want.length; i++) {
    const w = want[i]!;
    const h = have[i]!;
    if (w.startsWith(':')) {
      try {
        params[w.slice(1)] = decodeURIComponent(h);
      } catch {
        return undefined;
      }
    } else if (w !== h) return undefined;
  }
  return params;
}

export function Link({ to, children, ...rest }: { to: string; children: ReactNode } & AnchorHTMLAttributes<HTMLAnchorElement>) {
  const onClick = (event: MouseEvent<HTMLAnchorElement>) => {
    rest.onClick?.(event);
    if (event.defaultPrevented || event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
    event.preventDefault();
    navigate(to);
  };
  return (
    <a href={to} {...rest} onClick={onClick}>
      {children}
    </a>
  );
}
