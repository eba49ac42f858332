import { useState } from 'react';
import { ApiError, query, seg } from '../api/client';
import type { RegistryUsage } from '../api/types';
import { useApi } from '../api/use-api';
import { BarChart } from '../components/bar-chart';
import { EmptyState, ErrorMessage, Loading } from '../components/feedback';
import { LineChart } from '../components/line-chart';
import { PageHeader } from '../components/page-header';
import { Time } from '../components/time';
import { UsageBar } from '../components/usage-bar';
import { formatBytes, formatCents, plural } from '../format';
import { Link } from '../router';
import type { PageProps } from '../routes';

/** What the usage answer adds to the scaffold's type: the prices per GB behind the estimate. */
interface Usage extends RegistryUsage {
  storage_usage_bytes_updated_at?: string;
  estimated_cost: RegistryUsage['estimated_cost'] & { storage_price_per_gb_in_cents?: number; transfer_price_per_gb_in_cents?: number };
}

interface RepositoryRow {
  name: string;
  tag_count: number;
  manifest_count: number;
  /** Being added to the API: the distinct blobs of every manifest, once each. */
  size_bytes?: number | null;
  updated_at?: string | null;
  latest_manifest: { size_bytes: number; updated_at: string } | null;
}

const RANGES = [
  { days: 30, label: 'Last 30 days' },
  { days: 90, label: 'Last 90 days' },
  { days: 365, label: 'Last 12 months' },
];

const sizeOf = (r: RepositoryRow) => r.size_bytes ?? r.latest_manifest?.size_bytes ?? 0;

/** "2026-11" → "Nov 2026"; "2026-11-27" → "27 Nov". */
const monthLabel = (month: string) => new Date(`${month}-01T00:00:00Z`).toLocaleDateString('en-GB', { month: 'short', year: 'numeric', timeZone: 'UTC' });
const dayLabel = (date: string) => new Date(`${date}T00:00:00Z`).toLocaleDateString('en-GB', { day: 'numeric', month: 'short', timeZone: 'UTC' });

/** Storage over time, transfer per month, this month's cost estimate, storage against the tier, and the largest repositories. */
export function UsagePage({ params }: PageProps) {
  const registry = params.registry!;
  const [days, setDays] = useState(30);
  const usage = useApi<{ usage: Usage }>(`/registries/${seg(registry)}/usage${query({ days })}`);
  const u = usage.data?.usage;

  return (
    <>
      <PageHeader
        title="Usage"
        subtitle={`Storage, transfer and this month's estimated cost of ${registry}.`}
        actions={
          <div className="field inline-field">
            <label htmlFor="usage-range">Storage history</label>
            <select id="usage-range" value={days} onChange={(e) => setDays(Number(e.target.value))}>
              {RANGES.map((r) => (
                <option key={r.days} value={r.days}>
                  {r.label}
                </option>
              ))}
            </select>
          </div>
        }
      />
      {usage.error && !u ? (
        <ErrorMessage error={usage.error} onRetry={usage.reload} />
      ) : !u ? (
        <Loading label="Loading usage…" />
      ) : (
        <>
          <ErrorMessage error={usage.error} onRetry={usage.reload} />
          <UsageSummary usage={u} />
          <div className="usage-charts">
            <section className="card" aria-labelledby="storage-history-heading">
              <h2 id="storage-history-heading">Storage over time</h2>
              <LineChart
                title={`Stored bytes, ${RANGES.find((r) => r.days === days)?.label.toLowerCase() ?? `last ${days} days`}`}
                points={u.storage_history.map((p) => ({ label: dayLabel(p.date), value: p.storage_bytes }))}
                format={formatBytes}
                binary
                valueLabel="Stored"
              />
            </section>
            <section className="card" aria-labelledby="transfer-heading">
              <h2 id="transfer-heading">Transfer per month</h2>
              {u.transfer_by_month.length === 0 ? (
                <p className="muted">Nothing has been pulled yet.</p>
              ) : (
                <BarChart title="Bytes sent to clients pulling blobs" bars={u.transfer_by_month.map((m) => ({ label: monthLabel(m.month), value: m.bytes }))} format={formatBytes} />
              )}
            </section>
          </div>
          <CostBreakdown usage={u} />
        </>
      )}
      <TopRepositories registry={registry} />
    </>
  );
}

function UsageSummary({ usage: u }: { usage: Usage }) {
  const tier = u.subscription_tier;
  return (
    <section className="card" aria-labelledby="usage-summary-heading">
      <h2 id="usage-summary-heading">
        {tier.name} tier <span className="muted">({formatCents(tier.monthly_price_in_cents)} a month)</span>
      </h2>
      <dl className="stats">
        <div>
          <dt>Stored</dt>
          <dd>{formatBytes(u.storage_usage_bytes)}</dd>
        </div>
        <div>
          <dt>Transfer this month</dt>
          <dd>{formatBytes(u.transfer_bytes)}</dd>
        </div>
        <div>
          <dt>Repositories</dt>
          <dd>
            {u.repositories.toLocaleString('en-US')}
            {tier.included_repositories !== null && <span className="muted"> of {tier.included_repositories.toLocaleString('en-US')}</span>}
          </dd>
        </div>
        <div>
          <dt>Estimated this month</dt>
          <dd>{formatCents(u.estimated_cost.total_in_cents, u.estimated_cost.currency)}</dd>
        </div>
      </dl>
      <h3>Storage against the tier</h3>
      <UsageBar used={u.storage_usage_bytes} limit={tier.included_storage_bytes} label={`Storage of ${u.registry} against its tier`} />
      <p className="hint">
        {tier.included_storage_bytes === null
          ? 'This tier has no storage limit.'
          : tier.allow_storage_overage
            ? `Beyond ${formatBytes(tier.included_storage_bytes)}, storage is billed at ${formatCents(tier.storage_overage_price_in_cents)} per GiB.`
            : `Pushes beyond ${formatBytes(tier.included_storage_bytes)} are refused on this tier.`}
        {u.storage_usage_bytes_updated_at && (
          <>
            {' '}
            Measured <Time iso={u.storage_usage_bytes_updated_at} />.
          </>
        )}
      </p>
    </section>
  );
}

function CostBreakdown({ usage: u }: { usage: Usage }) {
  const c = u.estimated_cost;
  const money = (cents: number) => formatCents(cents, c.currency);
  const perGb = (cents: number | undefined) => (cents === undefined ? '' : ` at ${money(cents)} per GiB`);
  return (
    <section className="card" aria-labelledby="cost-heading">
      <h2 id="cost-heading">Estimated cost for {monthLabel(c.month)}</h2>
      <p className="hint">If usage stays as it is until the end of the month.</p>
      <div className="table-wrap">
        <table className="cost-table">
          <thead>
            <tr>
              <th scope="col">Item</th>
              <th scope="col">Billable</th>
              <th scope="col" className="num">
                Amount
              </th>
            </tr>
          </thead>
          <tbody>
            <tr>
              <th scope="row">Subscription ({u.subscription_tier.name})</th>
              <td>Monthly price</td>
              <td className="num">{money(c.subscription_in_cents)}</td>
            </tr>
            <tr>
              <th scope="row">Storage</th>
              <td>
                {formatBytes(c.billable_storage_bytes)}
                {perGb(c.storage_price_per_gb_in_cents)}
              </td>
              <td className="num">{money(c.storage_in_cents)}</td>
            </tr>
            <tr>
              <th scope="row">Transfer</th>
              <td>
                {formatBytes(c.billable_transfer_bytes)}
                {perGb(c.transfer_price_per_gb_in_cents)}
              </td>
              <td className="num">{money(c.transfer_in_cents)}</td>
            </tr>
          </tbody>
          <tfoot>
            <tr>
              <th scope="row">Total</th>
              <td />
              <td className="num">
                <strong data-testid="cost-total">{money(c.total_in_cents)}</strong>
              </td>
            </tr>
          </tfoot>
        </table>
      </div>
    </section>
  );
}

/** The ten largest repositories; sorted by the API when it can, on this page otherwise. */
function TopRepositories({ registry }: { registry: string }) {
  const base = `/registries/${seg(registry)}/repositoriesV2`;
  const sorted = useApi<{ repositories: RepositoryRow[] }>(`${base}${query({ sort: '-size', per_page: 10 })}`);
  // An API without `sort` answers 422: take the first 200 and sort them here.
  const unsortable = sorted.error instanceof ApiError && sorted.error.status === 422;
  const fallback = useApi<{ repositories: RepositoryRow[] }>(unsortable ? `${base}${query({ per_page: 200 })}` : null);
  const source = unsortable ? fallback : sorted;
  const rows = source.data ? [...source.data.repositories].sort((a, b) => sizeOf(b) - sizeOf(a) || a.name.localeCompare(b.name)).slice(0, 10) : undefined;
  return (
    <section aria-labelledby="top-repositories-heading">
      <h2 id="top-repositories-heading">Largest repositories</h2>
      {source.error ? (
        <ErrorMessage error={source.error} onRetry={source.reload} />
      ) : !rows ? (
        <Loading label="Loading repositories…" />
      ) : rows.length === 0 ? (
        <EmptyState title="No repositories yet">
          <p>Push an image to {registry} and its size shows here.</p>
        </EmptyState>
      ) : (
        <div className="table-wrap">
          <table>
            <thead>
              <tr>
                <th scope="col">Repository</th>
                <th scope="col" className="num">
                  Size
                </th>
                <th scope="col" className="num">
                  Tags
                </th>
                <th scope="col" className="hide-narrow">
                  Last push
                </th>
              </tr>
            </thead>
            <tbody>
              {rows.map((r) => (
                <tr key={r.name}>
                  <td>
                    <Link to={`/registries/${seg(registry)}/repositories/${seg(r.name)}`}>{r.name}</Link>
                  </td>
                  <td className="num">{formatBytes(sizeOf(r))}</td>
                  <td className="num">{plural(r.tag_count, 'tag')}</td>
                  <td className="hide-narrow">
                    <Time iso={r.updated_at ?? r.latest_manifest?.updated_at ?? null} />
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}
