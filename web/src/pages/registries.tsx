import { useEffect, useState, type FormEvent } from 'react';
import { api, ApiError, query, seg } from '../api/client';
import type { Paged, RegistryUsage, RegistryView, TierOption } from '../api/types';
import { useAction, useApi } from '../api/use-api';
import { ConfirmDialog, Dialog } from '../components/dialog';
import { EmptyState, ErrorMessage, Loading, Notice } from '../components/feedback';
import { Field } from '../components/field';
import { PageHeader } from '../components/page-header';
import { Pager } from '../components/pager';
import { UsageBar } from '../components/usage-bar';
import { useConfirm } from '../components/use-confirm';
import { useDebounced } from '../components/use-debounced';
import { formatBytes, formatCents, plural } from '../format';
import type { PageProps } from '../routes';
import { Link, navigate } from '../router';
import { useAccount } from '../session';

interface RegistryList extends Paged {
  registries: RegistryView[];
  total_storage_usage_bytes: number;
}

interface Options {
  options: { available_regions: string[]; subscription_tiers: TierOption[] };
}

const PER_PAGE = 20;

/** Every registry the user may see, with its tier, storage against the tier, this month's transfer and cost. */
export function RegistriesPage(_props: PageProps) {
  const account = useAccount();
  const mayCreate = account.server_admin || account.can_create_registries;
  const [page, setPage] = useState(1);
  const list = useApi<RegistryList>(`/registries${query({ page, per_page: PER_PAGE })}`);
  const [creating, setCreating] = useState(false);
  const [changingTier, setChangingTier] = useState<RegistryView>();
  const remove = useConfirm<RegistryView>();
  const [notice, setNotice] = useState<string>();
  // Bumped after a change, so each card fetches its usage again.
  const [generation, setGeneration] = useState(0);

  const changed = (message: string) => {
    setNotice(message);
    setGeneration((g) => g + 1);
    list.reload();
  };

  const createButton = mayCreate && (
    <button type="button" className="button primary" onClick={() => setCreating(true)}>
      Create registry
    </button>
  );
  const registries = list.data?.registries ?? [];

  return (
    <>
      <PageHeader
        title="Registries"
        subtitle={list.data && list.data.meta && list.data.meta.total > 0 ? `${plural(list.data.meta.total, 'registry', 'registries')} · ${formatBytes(list.data.total_storage_usage_bytes)} stored` : undefined}
        actions={createButton}
      />
      {notice && <Notice>{notice}</Notice>}
      {list.error && <ErrorMessage error={list.error} onRetry={list.reload} />}
      {!list.data && list.loading && <Loading label="Loading registries…" />}
      {list.data && registries.length === 0 && page === 1 && (
        <EmptyState title="No registries yet">
          {mayCreate ? (
            <>
              <p>A registry holds your repositories. Create one to push your first image.</p>
              {createButton}
            </>
          ) : (
            <p>You have no access to any registry. Ask an administrator to create one for you or to add you to one.</p>
          )}
        </EmptyState>
      )}
      {registries.length > 0 && (
        <ul className="registry-list" aria-label="Registries">
          {registries.map((r) => (
            <RegistryCard key={r.name} registry={r} generation={generation} manage={account.server_admin} onTier={() => setChangingTier(r)} onDelete={() => remove.ask(r)} />
          ))}
        </ul>
      )}
      {list.data?.meta && <Pager page={page} perPage={PER_PAGE} total={list.data.meta.total} onPage={setPage} label="Registry pages" />}

      <CreateRegistryDialog open={creating} onClose={() => setCreating(false)} onCreated={(name) => navigate(`/registries/${seg(name)}`)} />
      <ChangeTierDialog
        registry={changingTier}
        onClose={() => setChangingTier(undefined)}
        onChanged={(name, tier) => {
          setChangingTier(undefined);
          changed(`Registry ${name} is now on the ${tier} tier.`);
        }}
      />
      <ConfirmDialog
        {...remove.dialog}
        title={`Delete registry ${remove.target?.name ?? ''}?`}
        confirmLabel="Delete registry"
        confirmText={remove.target?.name}
        onConfirm={() =>
          void remove.confirm(async (registry) => {
            await api(`/registries/${seg(registry.name)}`, { method: 'DELETE' });
            changed(`Registry ${registry.name} deleted. Its storage is freed by the next garbage collection.`);
          })
        }
      >
        <p>
          This deletes every repository, tag and manifest in <strong>{remove.target?.name}</strong>, and its robot accounts and access grants. Anything pulling from it
          will fail. This cannot be undone.
        </p>
      </ConfirmDialog>
    </>
  );
}

/**
 * One registry. Its usage needs registry admin rights: without them the repository
 * count comes from the repositories listing, transfer and cost read "Admins only",
 * and the management buttons are not offered.
 */
function RegistryCard({ registry, generation, manage, onTier, onDelete }: { registry: RegistryView; generation: number; manage: boolean; onTier: () => void; onDelete: () => void }) {
  const usage = useApi<{ usage: RegistryUsage }>(`/registries/${seg(registry.name)}/usage`);
  const { reload } = usage;
  useEffect(() => {
    if (generation > 0) reload();
  }, [generation, reload]);
  const u = usage.data?.usage;
  const isAdmin = manage || u !== undefined;
  const forbidden = usage.error?.status === 403;
  // Without admin rights, the repositories this member may see come from their listing; transfer and cost stay with the admins.
  const listed = useApi<{ meta?: { total: number } }>(forbidden ? `/registries/${seg(registry.name)}/repositoriesV2?per_page=1` : null);
  const tier = registry.subscription.tier;
  const unknown = usage.loading && !u ? '…' : forbidden ? 'Admins only' : '—';
  const repositories = u ? u.repositories : listed.data?.meta?.total;
  const headingId = `registry-${registry.name}`;
  return (
    <li className="card registry-card">
      <div className="registry-card-head">
        <h2 id={headingId}>
          <Link to={`/registries/${seg(registry.name)}`}>{registry.name}</Link>
        </h2>
        <span className="badge">{tier.name}</span>
        {registry.public && <span className="badge public">Public</span>}
        <span className="muted">Region {registry.region}</span>
      </div>
      <dl className="stats">
        <div>
          <dt>Repositories</dt>
          <dd>{repositories !== undefined ? `${repositories}${tier.included_repositories !== null ? ` of ${tier.included_repositories}` : ''}` : usage.loading || listed.loading ? '…' : '—'}</dd>
        </div>
        <div className="stat-wide">
          <dt>Storage</dt>
          <dd>
            <UsageBar used={u?.storage_usage_bytes ?? registry.storage_usage_bytes} limit={tier.included_storage_bytes} label={`Storage used by ${registry.name}`} />
          </dd>
        </div>
        <div>
          <dt>Transfer this month</dt>
          <dd>{u ? formatBytes(u.transfer_bytes) : unknown}</dd>
        </div>
        <div>
          <dt>Estimated cost this month</dt>
          <dd>{u ? formatCents(u.estimated_cost.total_in_cents, u.estimated_cost.currency) : unknown}</dd>
        </div>
      </dl>
      {usage.error && !forbidden && <ErrorMessage error={usage.error} onRetry={usage.reload} />}
      {isAdmin && (
        <div className="actions card-actions">
          <button type="button" className="button secondary small" onClick={onTier} aria-label={`Change tier of ${registry.name}`}>
            Change tier
          </button>
          <button type="button" className="button secondary small danger-text" onClick={onDelete} aria-label={`Delete ${registry.name}`}>
            Delete
          </button>
        </div>
      )}
    </li>
  );
}

const REASONS: Record<string, string> = {
  OverRepositoryLimit: 'more repositories than it allows',
  OverStorageLimit: 'more storage than it allows',
};

/** "Basic · $5.00/month · 5 repositories · 5 GiB", and why it is unavailable. */
function tierLabel(t: TierOption): string {
  const parts = [
    t.name,
    t.monthly_price_in_cents > 0 ? `${formatCents(t.monthly_price_in_cents)}/month` : 'free',
    t.included_repositories === null ? 'unlimited repositories' : plural(t.included_repositories, 'repository', 'repositories'),
    t.included_storage_bytes === null ? 'unlimited storage' : formatBytes(t.included_storage_bytes),
  ];
  const label = parts.join(' · ');
  return t.eligible ? label : `${label} (unavailable: ${t.eligibility_reasons.map((r) => REASONS[r] ?? r).join(', ')})`;
}

function tierHint(t: TierOption | undefined): string | undefined {
  if (!t) return undefined;
  const overage = t.included_storage_bytes === null ? undefined : t.allow_storage_overage ? `storage beyond ${formatBytes(t.included_storage_bytes)} is billed` : `pushes beyond ${formatBytes(t.included_storage_bytes)} are refused`;
  const transfer = t.included_bandwidth_bytes === null ? undefined : `${formatBytes(t.included_bandwidth_bytes)} transfer included`;
  const text = [overage, transfer].filter(Boolean).join('; ');
  return text ? `${text.charAt(0).toUpperCase()}${text.slice(1)}.` : undefined;
}

/** The answer of validate-name, without the field name the API puts first. */
function nameProblem(err: ApiError): string {
  const text = err.message.replace(/^name:\s*/i, '');
  return text.charAt(0).toUpperCase() + text.slice(1);
}

type NameCheck = { name: string; state: 'checking' | 'ok' | 'error'; message?: string };

function CreateRegistryDialog({ open, onClose, onCreated }: { open: boolean; onClose: () => void; onCreated: (name: string) => void }) {
  const options = useApi<Options>(open ? '/registries/options' : null);
  const [name, setName] = useState('');
  const [tier, setTier] = useState('');
  const [region, setRegion] = useState('');
  const [check, setCheck] = useState<NameCheck>();
  const create = useAction();
  const settled = useDebounced(name, 350);

  useEffect(() => {
    if (!open) {
      setName('');
      setTier('');
      setRegion('');
      setCheck(undefined);
      create.clearError();
    }
  }, [open, create.clearError]);

  // Live validation: once typing pauses, ask the server whether the name is valid and free.
  useEffect(() => {
    if (!open || settled === '') return;
    const controller = new AbortController();
    setCheck({ name: settled, state: 'checking' });
    api('/registries/validate-name', { method: 'POST', body: { name: settled }, signal: controller.signal })
      .then(() => setCheck({ name: settled, state: 'ok' }))
      .catch((err: unknown) => {
        if ((err as Error).name === 'AbortError') return;
        setCheck({ name: settled, state: 'error', message: err instanceof ApiError ? nameProblem(err) : String(err) });
      });
    return () => controller.abort();
  }, [settled, open]);

  const regions = options.data?.options.available_regions ?? [];
  const tiers = options.data?.options.subscription_tiers ?? [];
  const current = check?.name === name ? check : undefined;
  const nameError = current?.state === 'error' ? current.message : undefined;
  const nameHint = name === '' ? 'Lower-case letters, digits and "-", starting with a letter; it becomes part of every image name.' : current?.state === 'ok' ? `${name} is available.` : 'Checking…';

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    const created = await create.run(() =>
      api<{ registry: RegistryView }>('/registries', { method: 'POST', body: { name, ...(tier ? { subscription_tier_slug: tier } : {}), ...(region ? { region } : {}) } }),
    );
    if (created) onCreated(created.registry.name);
  };

  return (
    <Dialog title="Create registry" open={open} onClose={onClose}>
      <form onSubmit={submit} noValidate>
        <Field label="Name" hint={nameError ? undefined : nameHint} error={nameError}>
          <input value={name} onChange={(e) => setName(e.target.value.trim())} autoComplete="off" spellCheck={false} autoFocus required maxLength={63} />
        </Field>
        <p className="visually-hidden" aria-live="polite">
          {nameError ?? (current?.state === 'ok' ? `${name} is available.` : '')}
        </p>
        {options.error && <ErrorMessage error={options.error} onRetry={options.reload} />}
        {!options.data && options.loading && <Loading label="Loading tiers and regions…" />}
        {options.data && (
          <>
            <Field label="Subscription tier" hint={tierHint(tiers.find((t) => t.slug === tier)) ?? (tier ? undefined : "The server's default tier.")}>
              <select value={tier} onChange={(e) => setTier(e.target.value)}>
                <option value="">Server default</option>
                {tiers.map((t) => (
                  <option key={t.slug} value={t.slug} disabled={!t.eligible}>
                    {tierLabel(t)}
                  </option>
                ))}
              </select>
            </Field>
            <Field label="Region">
              <select value={region || regions[0] || ''} onChange={(e) => setRegion(e.target.value)}>
                {regions.map((r) => (
                  <option key={r} value={r}>
                    {r}
                  </option>
                ))}
              </select>
            </Field>
          </>
        )}
        <ErrorMessage error={create.error} />
        <div className="dialog-actions">
          <button type="button" className="button secondary" onClick={onClose}>
            Cancel
          </button>
          <button type="submit" className="button primary" disabled={create.busy || name === '' || current?.state !== 'ok' || !options.data}>
            {create.busy ? 'Creating…' : 'Create registry'}
          </button>
        </div>
      </form>
    </Dialog>
  );
}

function ChangeTierDialog({ registry, onClose, onChanged }: { registry: RegistryView | undefined; onClose: () => void; onChanged: (registry: string, tier: string) => void }) {
  const open = registry !== undefined;
  const options = useApi<Options>(registry ? `/registries/options${query({ registry: registry.name })}` : null);
  const [tier, setTier] = useState('');
  const change = useAction();
  useEffect(() => {
    setTier(registry?.subscription.tier.slug ?? '');
    change.clearError();
  }, [registry, change.clearError]);

  const tiers = options.data?.options.subscription_tiers ?? [];
  const chosen = tiers.find((t) => t.slug === tier);
  const unchanged = tier === registry?.subscription.tier.slug;

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    if (!registry) return;
    const done = await change.run(() => api(`/registries/${seg(registry.name)}/subscription`, { method: 'POST', body: { tier_slug: tier } }).then(() => true));
    if (done) onChanged(registry.name, chosen?.name ?? tier);
  };

  return (
    <Dialog title={`Change tier of ${registry?.name ?? ''}`} open={open} onClose={onClose}>
      <form onSubmit={submit}>
        <p>
          Currently on <strong>{registry?.subscription.tier.name}</strong>. A tier whose limits the registry's repositories or storage exceed cannot be chosen.
        </p>
        {options.error && <ErrorMessage error={options.error} onRetry={options.reload} />}
        {!options.data && options.loading && <Loading label="Loading tiers…" />}
        {options.data && (
          <Field label="Subscription tier" hint={tierHint(chosen)}>
            <select value={tier} onChange={(e) => setTier(e.target.value)}>
              {tiers.map((t) => (
                <option key={t.slug} value={t.slug} disabled={!t.eligible && t.slug !== registry?.subscription.tier.slug}>
                  {tierLabel(t)}
                </option>
              ))}
            </select>
          </Field>
        )}
        <ErrorMessage error={change.error} />
        <div className="dialog-actions">
          <button type="button" className="button secondary" onClick={onClose}>
            Cancel
          </button>
          <button type="submit" className="button primary" disabled={change.busy || unchanged || !chosen || !chosen.eligible}>
            {change.busy ? 'Changing…' : 'Change tier'}
          </button>
        </div>
      </form>
    </Dialog>
  );
}
