import { useEffect, useState } from 'react';
import { api, query, seg } from '../api/client';
import type { RepositoryItem, RepositoryList } from '../api/repository-types';
import { useApi } from '../api/use-api';
import { ConfirmDialog } from '../components/dialog';
import { EmptyState, ErrorMessage, Loading, Notice } from '../components/feedback';
import { Field } from '../components/field';
import { GettingStarted } from '../components/getting-started';
import { PageHeader } from '../components/page-header';
import { Pager } from '../components/pager';
import { SeverityBadge } from '../components/severity';
import { SortHeader, type SortDirection } from '../components/sort-header';
import { Time } from '../components/time';
import { useConfirm } from '../components/use-confirm';
import { useDebounced } from '../components/use-debounced';
import { formatBytes, plural } from '../format';
import type { PageProps } from '../routes';
import { Link, useSearchParams } from '../router';

const PER_PAGE = 20;
const SORTS = ['name', '-name', 'size', '-size', 'updated', '-updated', 'tags', '-tags'] as const;
type SortKey = 'name' | 'size' | 'updated' | 'tags';

/** Size and last push of a repository; older servers only give the latest manifest's. */
const sizeOf = (r: RepositoryItem) => r.size_bytes ?? r.latest_manifest?.size_bytes ?? null;
const pushedAt = (r: RepositoryItem) => (r.updated_at !== undefined ? r.updated_at : (r.latest_manifest?.updated_at ?? null));

/** A registry's repositories: searchable, sortable and paged; the getting-started panel while there are none. */
export function RepositoriesPage({ params }: PageProps) {
  const registry = params.registry!;
  const [search, setSearch] = useSearchParams();
  const q = search.get('q') ?? '';
  const sortParam = search.get('sort') ?? 'name';
  const sort = (SORTS as readonly string[]).includes(sortParam) ? sortParam : 'name';
  const page = Math.max(1, Number.parseInt(search.get('page') ?? '1', 10) || 1);

  const [text, setText] = useState(q);
  const settled = useDebounced(text.trim(), 300);
  useEffect(() => {
    if (settled !== q) setSearch({ q: settled, page: undefined });
    // Only the typed text drives this; the URL follows it.
  }, [settled]);

  const base = `/registries/${seg(registry)}`;
  const list = useApi<RepositoryList>(`${base}/repositoriesV2${query({ q: q || undefined, sort: sort === 'name' ? undefined : sort, page, per_page: PER_PAGE })}`);
  const remove = useConfirm<string>();
  const [notice, setNotice] = useState<string>();

  const direction = (key: SortKey): SortDirection | undefined => (sort === key ? 'ascending' : sort === `-${key}` ? 'descending' : undefined);
  // Names sort A-Z first; sizes, dates and counts biggest or newest first.
  const onSort = (key: SortKey) => {
    const first = key === 'name' ? key : `-${key}`;
    const second = key === 'name' ? `-${key}` : key;
    const next = sort === first ? second : first;
    setSearch({ sort: next === 'name' ? undefined : next, page: undefined });
  };

  const data = list.data;
  const total = data?.meta?.total ?? data?.repositories.length ?? 0;
  const noneAtAll = data !== undefined && total === 0 && q === '' && page === 1;

  return (
    <>
      <PageHeader title="Repositories" subtitle={data && !noneAtAll ? `${plural(total, 'repository', 'repositories')}${q ? ` matching “${q}”` : ''} in ${registry}` : undefined} />
      {notice && <Notice>{notice}</Notice>}
      {list.error && <ErrorMessage error={list.error} onRetry={list.reload} />}
      {!data && list.loading && <Loading label="Loading repositories…" />}
      {noneAtAll && <GettingStarted registry={registry} />}
      {data && !noneAtAll && (
        <>
          <div className="toolbar" role="search">
            <Field label="Search repositories">
              <input type="search" value={text} onChange={(e) => setText(e.target.value)} placeholder="Part of a path, e.g. api" autoComplete="off" spellCheck={false} />
            </Field>
            {list.loading && <span className="muted small-status" role="status">Updating…</span>}
          </div>
          {data.repositories.length === 0 ? (
            <EmptyState title={q ? `No repositories match “${q}”` : 'No repositories on this page'}>
              <button type="button" className="button secondary" onClick={() => { setText(''); setSearch({ q: undefined, page: undefined }); }}>
                Show all repositories
              </button>
            </EmptyState>
          ) : (
            <div className="table-wrap">
              <table>
                <caption className="visually-hidden">Repositories of {registry}</caption>
                <thead>
                  <tr>
                    <SortHeader label="Name" direction={direction('name')} onSort={() => onSort('name')} />
                    <SortHeader label="Tags" className="num" direction={direction('tags')} onSort={() => onSort('tags')} />
                    <th scope="col" className="num">
                      Manifests
                    </th>
                    <SortHeader label="Size" className="num" direction={direction('size')} onSort={() => onSort('size')} />
                    <SortHeader label="Last push" direction={direction('updated')} onSort={() => onSort('updated')} />
                    <th scope="col">Vulnerabilities</th>
                    <th scope="col">
                      <span className="visually-hidden">Actions</span>
                    </th>
                  </tr>
                </thead>
                <tbody>
                  {data.repositories.map((r) => (
                    <tr key={r.name}>
                      <th scope="row" className="row-name">
                        <Link to={`${base}/repositories/${seg(r.name)}`}>{r.name}</Link>
                      </th>
                      <td className="num">{r.tag_count.toLocaleString('en-US')}</td>
                      <td className="num">{r.manifest_count.toLocaleString('en-US')}</td>
                      <td className="num">{formatBytes(sizeOf(r))}</td>
                      <td>
                        <Time iso={pushedAt(r)} />
                      </td>
                      <td>{r.worst_severity ? <SeverityBadge severity={r.worst_severity} /> : <span className="muted">Not scanned</span>}</td>
                      <td className="num">
                        <button type="button" className="button secondary small danger-text" onClick={() => remove.ask(r.name)} aria-label={`Delete repository ${r.name}`}>
                          Delete
                        </button>
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          )}
          <Pager page={page} perPage={PER_PAGE} total={total} onPage={(p) => setSearch({ page: p === 1 ? undefined : String(p) })} label="Repository pages" />
          <details className="card push-help">
            <summary>How to push an image to {registry}</summary>
            <GettingStarted registry={registry} embedded />
          </details>
        </>
      )}
      <ConfirmDialog
        {...remove.dialog}
        title={`Delete repository ${remove.target ?? ''}?`}
        confirmLabel="Delete repository"
        confirmText={remove.target}
        onConfirm={() =>
          void remove.confirm(async (name) => {
            await api(`${base}/repositories/${seg(name)}`, { method: 'DELETE' });
            setNotice(`Repository ${name} deleted. Its storage is freed by the next garbage collection.`);
            list.reload();
          })
        }
      >
        <p>
          This deletes every tag and manifest of <strong>{registry}/{remove.target}</strong>. Anything pulling them will fail. This cannot be undone.
        </p>
      </ConfirmDialog>
    </>
  );
}
