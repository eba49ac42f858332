import { useCallback, useEffect, useRef, useState, type FormEvent } from 'react';
import { api, ApiError, query, seg } from '../api/client';
import type { Paged } from '../api/types';
import { useAction, useApi } from '../api/use-api';
import { ConfirmDialog } from '../components/dialog';
import { EmptyState, ErrorMessage, Loading, Notice } from '../components/feedback';
import { PageHeader } from '../components/page-header';
import { Pager } from '../components/pager';
import { StatusBadge } from '../components/status-badge';
import { Time } from '../components/time';
import { useConfirm } from '../components/use-confirm';
import { formatBytes, plural } from '../format';
import type { PageProps } from '../routes';

export interface GcRun {
  uuid: string;
  registry_name: string;
  status: string;
  type: string;
  created_at: string;
  updated_at: string;
  blobs_deleted: number;
  freed_bytes: number;
  dry_run: boolean;
  manifests_deleted: number;
}

/** The types the API takes (DigitalOcean's names), with what each removes. */
const TYPES = [
  { value: 'unreferenced blobs only', label: 'Unreferenced blobs', what: 'unreferenced blobs', hint: 'Layers no manifest references any more. The default.' },
  { value: 'untagged manifests only', label: 'Untagged manifests', what: 'untagged manifests', hint: 'Manifests nothing keeps: no tag, no index or subject that stays. Their layers go at the next blob run.' },
  { value: 'untagged manifests and unreferenced blobs', label: 'Both', what: 'untagged manifests and unreferenced blobs', hint: 'Untagged manifests first, then the layers they leave unreferenced, in one run.' },
] as const;

const FINISHED = new Set(['succeeded', 'failed', 'cancelled']);
const PER_PAGE = 20;
const POLL_MS = 1000;

const typeLabel = (type: string) => TYPES.find((t) => t.value === type)?.label ?? type;

/** Starts garbage collection runs, follows the active one live, cancels it, and lists past runs. */
export function GarbageCollectionPage({ params }: PageProps) {
  const registry = params.registry!;
  const base = `/registries/${seg(registry)}`;
  const [page, setPage] = useState(1);
  const history = useApi<{ garbage_collections: GcRun[] } & Paged>(`${base}/garbage-collections${query({ page, per_page: PER_PAGE })}`);
  const active = useActiveRun(base, history.reload);

  return (
    <>
      <PageHeader title="Garbage collection" subtitle="Frees the storage of what nothing references any more. Pushes and pulls go on while it runs." />
      {active.run && !FINISHED.has(active.run.status) ? (
        <ActiveRun base={base} run={active.run} onChanged={active.refresh} />
      ) : (
        <StartRun base={base} blocked={active.run === undefined && active.loading} onStarted={active.follow} />
      )}
      <ErrorMessage error={active.error} onRetry={active.refresh} />
      {active.finished && (
        <Notice>
          {active.finished.dry_run ? 'Dry run' : 'Run'} {active.finished.status}: {plural(active.finished.manifests_deleted, 'manifest')} and {plural(active.finished.blobs_deleted, 'blob')} {active.finished.dry_run ? 'would be deleted' : 'deleted'}, {formatBytes(active.finished.freed_bytes)}{' '}
          {active.finished.dry_run ? 'would be freed' : 'freed'}.
        </Notice>
      )}
      <section aria-labelledby="gc-history-heading">
        <h2 id="gc-history-heading">History</h2>
        {history.error && !history.data ? (
          <ErrorMessage error={history.error} onRetry={history.reload} />
        ) : !history.data ? (
          <Loading label="Loading past runs…" />
        ) : history.data.garbage_collections.length === 0 ? (
          <EmptyState title="No runs yet">
            <p>Start one above; a dry run shows what would go without deleting anything.</p>
          </EmptyState>
        ) : (
          <>
            <ErrorMessage error={history.error} onRetry={history.reload} />
            <HistoryTable runs={history.data.garbage_collections} />
            <Pager page={page} perPage={PER_PAGE} total={history.data.meta?.total ?? 0} onPage={setPage} label="Pages of past runs" />
          </>
        )}
      </section>
    </>
  );
}

/**
 * The registry's active run, polled every second while there is one. When it
 * ends (the active run answers 404), its final state is fetched by uuid and
 * the history is reloaded.
 */
function useActiveRun(base: string, onFinished: () => void) {
  const [run, setRun] = useState<GcRun | null>();
  const [finished, setFinished] = useState<GcRun>();
  const [error, setError] = useState<ApiError>();
  const [loading, setLoading] = useState(true);
  const [tick, setTick] = useState(0);
  const following = useRef<string | undefined>(undefined);

  useEffect(() => {
    const controller = new AbortController();
    let timer: number | undefined;
    const poll = async () => {
      try {
        const answer = await api<{ garbage_collection: GcRun }>(`${base}/garbage-collection`, { signal: controller.signal });
        const current = answer.garbage_collection;
        following.current = current.uuid;
        setRun(current);
        setError(undefined);
        if (!FINISHED.has(current.status)) timer = window.setTimeout(poll, POLL_MS);
      } catch (err) {
        if ((err as Error).name === 'AbortError') return;
        // 404 names either the registry (an error) or the active run (there is none).
        if (err instanceof ApiError && err.status === 404 && /active garbage collection/i.test(err.message)) {
          // No active run: if one was being followed, it has just ended.
          const ended = following.current;
          following.current = undefined;
          setRun(null);
          setError(undefined);
          if (ended) {
            try {
              const last = await api<{ garbage_collection: GcRun }>(`${base}/garbage-collection/${seg(ended)}`, { signal: controller.signal });
              setFinished(last.garbage_collection);
            } catch {
              // The history shows it anyway.
            }
            onFinished();
          }
        } else {
          setError(err instanceof ApiError ? err : new ApiError(String(err), 0, 'error'));
          // Keep trying while a run is being followed: a blip must not freeze the progress.
          if (following.current) timer = window.setTimeout(poll, POLL_MS * 3);
        }
      } finally {
        if (!controller.signal.aborted) setLoading(false);
      }
    };
    void poll();
    return () => {
      controller.abort();
      window.clearTimeout(timer);
    };
  }, [base, tick, onFinished]);

  const refresh = useCallback(() => setTick((t) => t + 1), []);
  const follow = useCallback((started: GcRun) => {
    following.current = started.uuid;
    setFinished(undefined);
    setRun(started);
    onFinished();
    setTick((t) => t + 1);
  }, [onFinished]);
  return { run, finished, error, loading, refresh, follow };
}

function StartRun({ base, blocked, onStarted }: { base: string; blocked: boolean; onStarted: (run: GcRun) => void }) {
  const [type, setType] = useState<string>(TYPES[0].value);
  const [dryRun, setDryRun] = useState(true);
  const [confirming, setConfirming] = useState(false);
  const action = useAction();
  const start = async () => {
    const answer = await action.run(() => api<{ garbage_collection: GcRun }>(`${base}/garbage-collection`, { method: 'POST', body: { type, dry_run: dryRun } }));
    setConfirming(false);
    if (answer) onStarted(answer.garbage_collection);
  };
  const submit = (event: FormEvent) => {
    event.preventDefault();
    // A real run deletes for good: say what goes first.
    if (dryRun) void start();
    else setConfirming(true);
  };
  return (
    <>
    <form className="card" onSubmit={submit} aria-labelledby="gc-start-heading">
      <h2 id="gc-start-heading">Start a run</h2>
      <fieldset>
        <legend>What to collect</legend>
        {TYPES.map((t, i) => (
          <div className="choice" key={t.value}>
            <input type="radio" id={`gc-type-${i}`} name="gc-type" value={t.value} checked={type === t.value} onChange={() => setType(t.value)} aria-describedby={`gc-type-${i}-hint`} />
            <label htmlFor={`gc-type-${i}`}>{t.label}</label>
            <p className="hint" id={`gc-type-${i}-hint`}>
              {t.hint}
            </p>
          </div>
        ))}
      </fieldset>
      <div className="checkbox">
        <input type="checkbox" id="gc-dry-run" checked={dryRun} onChange={(e) => setDryRun(e.target.checked)} aria-describedby="gc-dry-run-hint" />
        <label htmlFor="gc-dry-run">Dry run</label>
      </div>
      <p className="hint" id="gc-dry-run-hint">
        Counts what the run would delete, and deletes nothing.
      </p>
      <ErrorMessage error={action.error} />
      <div className="form-actions">
        <button type="submit" className={`button ${dryRun ? 'primary' : 'danger'}`} disabled={action.busy || blocked}>
          {action.busy ? 'Starting…' : dryRun ? 'Start dry run' : 'Start garbage collection'}
        </button>
      </div>
    </form>
    <ConfirmDialog open={confirming} title="Delete for good?" confirmLabel="Start garbage collection" busy={action.busy} onConfirm={() => void start()} onClose={() => setConfirming(false)}>
      <p>
        This run deletes {TYPES.find((t) => t.value === type)?.what} from the registry, and they cannot be brought back. A dry run shows first what would go.
      </p>
    </ConfirmDialog>
    </>
  );
}

function ActiveRun({ base, run, onChanged }: { base: string; run: GcRun; onChanged: () => void }) {
  const cancel = useConfirm<GcRun>();
  return (
    <section className="card active-run" aria-labelledby="gc-active-heading">
      <h2 id="gc-active-heading">
        Run in progress{run.dry_run ? ' (dry run)' : ''} <span className="spinner" aria-hidden="true" />
      </h2>
      <div role="status" aria-live="polite" aria-atomic="true">
        <dl className="stats">
          <div>
            <dt>Status</dt>
            <dd>
              <StatusBadge status={run.status} />
            </dd>
          </div>
          <div>
            <dt>Type</dt>
            <dd>{typeLabel(run.type)}</dd>
          </div>
          <div>
            <dt>Manifests {run.dry_run ? 'to delete' : 'deleted'}</dt>
            <dd>{run.manifests_deleted.toLocaleString('en-US')}</dd>
          </div>
          <div>
            <dt>Blobs {run.dry_run ? 'to delete' : 'deleted'}</dt>
            <dd>{run.blobs_deleted.toLocaleString('en-US')}</dd>
          </div>
          <div>
            <dt>{run.dry_run ? 'Would free' : 'Freed so far'}</dt>
            <dd>{formatBytes(run.freed_bytes)}</dd>
          </div>
        </dl>
      </div>
      <p className="hint">
        Started <Time iso={run.created_at} />; last progress <Time iso={run.updated_at} />. Run {run.uuid}.
      </p>
      {run.status !== 'cancelling' && (
        <button type="button" className="button secondary" onClick={() => cancel.ask(run)}>
          Cancel run
        </button>
      )}
      <ConfirmDialog
        {...cancel.dialog}
        title="Cancel this run?"
        confirmLabel="Cancel run"
        onConfirm={() =>
          void cancel.confirm(async (asked) => {
            await api(`${base}/garbage-collection/${seg(asked.uuid)}`, { method: 'PUT', body: { cancel: true } });
            onChanged();
          })
        }
      >
        <p>The run stops at its next batch. What it has deleted so far stays deleted.</p>
      </ConfirmDialog>
    </section>
  );
}

function HistoryTable({ runs }: { runs: GcRun[] }) {
  return (
    <div className="table-wrap">
      <table>
        <caption className="visually-hidden">Garbage collection runs, newest first</caption>
        <thead>
          <tr>
            <th scope="col">Started</th>
            <th scope="col">Status</th>
            <th scope="col">Type</th>
            <th scope="col" className="hide-narrow">
              Finished
            </th>
            <th scope="col" className="num">
              Manifests
            </th>
            <th scope="col" className="num">
              Blobs
            </th>
            <th scope="col" className="num">
              Freed
            </th>
          </tr>
        </thead>
        <tbody>
          {runs.map((r) => (
            <tr key={r.uuid}>
              <td>
                <Time iso={r.created_at} />
              </td>
              <td>
                <StatusBadge status={r.status} /> {r.dry_run && <span className="badge">Dry run</span>}
              </td>
              <td>{typeLabel(r.type)}</td>
              <td className="hide-narrow">{FINISHED.has(r.status) ? <Time iso={r.updated_at} /> : <span className="muted">running</span>}</td>
              <td className="num">{r.manifests_deleted.toLocaleString('en-US')}</td>
              <td className="num">{r.blobs_deleted.toLocaleString('en-US')}</td>
              <td className="num">
                {formatBytes(r.freed_bytes)}
                {r.dry_run && <span className="visually-hidden"> (would be freed)</span>}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
