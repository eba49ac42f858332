import { Link, useLocation } from '../router';
import { seg } from '../api/client';

/** Where a registry page is (Registries › name) and the registry's sections. */
export function RegistryNav({ registry }: { registry: string }) {
  const { pathname } = useLocation();
  const base = `/registries/${seg(registry)}`;
  const sections = [
    { to: base, label: 'Repositories', active: pathname === base || pathname.startsWith(`${base}/repositories`) },
    { to: `${base}/usage`, label: 'Usage', active: pathname.startsWith(`${base}/usage`) },
    { to: `${base}/garbage-collection`, label: 'Garbage collection', active: pathname.startsWith(`${base}/garbage-collection`) },
    { to: `${base}/settings`, label: 'Settings', active: pathname.startsWith(`${base}/settings`) },
  ];
  return (
    <div className="registry-nav">
      <nav aria-label="Breadcrumb" className="breadcrumb">
        <ol>
          <li>
            <Link to="/">Registries</Link>
          </li>
          <li>
            <Link to={base} aria-current={pathname === base ? 'page' : undefined}>
              {registry}
            </Link>
          </li>
        </ol>
      </nav>
      <nav aria-label={`Registry ${registry}`} className="tabs">
        <ul>
          {sections.map((s) => (
            <li key={s.label}>
              <Link to={s.to} aria-current={s.active ? 'page' : undefined}>
                {s.label}
              </Link>
            </li>
          ))}
        </ul>
      </nav>
    </div>
  );
}
