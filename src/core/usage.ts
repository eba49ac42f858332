import type { Digest } from '../oci/digest.js';
import type { Quota } from './quota.js';
import { GIB, type Tier, type TierCatalog } from './tiers.js';
import type { TransferMeter } from './transfer-meter.js';

/** A registry as a product: its tier, region and the storage it is charged for. */
export interface RegistryAccount {
  name: string;
  createdAt: number;
  region: string;
  tierSlug: string;
  tierUpdatedAt: number | null;
  storageBytes: number;
  storageUpdatedAt: number | null;
}

export interface TransferRow {
  registry: string;
  /** YYYY-MM, UTC */
  month: string;
  bytes: number;
}

/** What a deleted registry left for the blob store to clean up, and for caches to forget. */
export interface DeletedRegistry {
  repositories: string[];
  uploadIds: string[];
}

/** The metadata port for tiers, quotas and usage (one implementation: kysely-usage-store.ts). */
export interface UsageStore {
  getAccount(registry: string): Promise<RegistryAccount | undefined>;
  listAccounts(): Promise<RegistryAccount[]>;
  /** Creates the registry with these settings unless it exists (a first push with access control off). */
  ensureRegistry(registry: string, settings: { tierSlug: string; region: string }): Promise<void>;
  setTier(registry: string, tierSlug: string, at: number): Promise<void>;
  countRepositories(registry: string): Promise<number>;
  /** Whether any repository of the registry links the blob (so storing it again costs nothing). */
  holdsBlob(registry: string, digest: Digest): Promise<boolean>;
  /** Adds to each registry's monthly transfer; rows for registries that no longer exist are dropped. */
  addTransfer(rows: TransferRow[]): Promise<void>;
  transferByMonth(registry: string): Promise<{ month: string; bytes: number }[]>;
  /** Daily storage points from `sinceDay` on, plus the last point before it (to carry forward). */
  storageHistory(registry: string, sinceDay: string): Promise<{ day: string; bytes: number }[]>;
  /** Removes the registry and all its repositories, manifests, tags, links, uploads, robots and grants. */
  deleteRegistry(registry: string): Promise<DeletedRegistry | undefined>;
}

export interface Pricing {
  storagePerGbMonthInCents: number;
  transferPerGbInCents: number;
}

export interface CostEstimate {
  month: string;
  subscriptionInCents: number;
  billableStorageBytes: number;
  storagePricePerGbInCents: number;
  storageInCents: number;
  billableTransferBytes: number;
  transferPricePerGbInCents: number;
  transferInCents: number;
  totalInCents: number;
}

/** Hundredths of a cent: enough to show small registries are not free, without float noise. */
const round = (cents: number) => Math.round(cents * 100) / 100;

/**
 * This month's estimate: the tier's price, plus storage and transfer beyond what
 * the tier includes. A tier that includes storage bills its overage at its own
 * rate; a tier without limits (null) has all its storage and transfer metered at
 * the configured list prices, which is what a self-hosted chargeback wants.
 */
export function estimateCost(tier: Tier, pricing: Pricing, storageBytes: number, transferBytes: number, month: string): CostEstimate {
  const billableStorageBytes = tier.includedStorageBytes === null ? storageBytes : Math.max(0, storageBytes - tier.includedStorageBytes);
  const storageRate = tier.includedStorageBytes === null ? pricing.storagePerGbMonthInCents : tier.storageOveragePricePerGbInCents;
  const billableTransferBytes = tier.includedBandwidthBytes === null ? transferBytes : Math.max(0, transferBytes - tier.includedBandwidthBytes);
  const storageInCents = round((billableStorageBytes / GIB) * storageRate);
  const transferInCents = round((billableTransferBytes / GIB) * pricing.transferPerGbInCents);
  return {
    month,
    subscriptionInCents: tier.monthlyPriceInCents,
    billableStorageBytes,
    storagePricePerGbInCents: storageRate,
    storageInCents,
    billableTransferBytes,
    transferPricePerGbInCents: pricing.transferPerGbInCents,
    transferInCents,
    totalInCents: round(tier.monthlyPriceInCents + storageInCents + transferInCents),
  };
}

export interface UsageReport {
  account: RegistryAccount;
  tier: Tier;
  repositories: number;
  month: string;
  transferBytes: number;
  transferByMonth: { month: string; bytes: number }[];
  storageHistory: { date: string; storageBytes: number }[];
  cost: CostEstimate;
}

export const monthOf = (at: number): string => new Date(at).toISOString().slice(0, 7);
export const dayOf = (at: number): string => new Date(at).toISOString().slice(0, 10);
const DAY_MS = 86_400_000;

/** Usage and cost per registry, from the store plus transfer not yet flushed by the meter. */
export class UsageReports {
  constructor(
    private readonly store: UsageStore,
    private readonly tiers: TierCatalog,
    private readonly pricing: Pricing,
    private readonly meter: TransferMeter,
  ) {}

  async report(registry: string, days: number, now = Date.now()): Promise<UsageReport | undefined> {
    const account = await this.store.getAccount(registry);
    if (!account) return undefined;
    const tier = this.tiers.of(account.tierSlug);
    const month = monthOf(now);
    const months = new Map((await this.store.transferByMonth(registry)).map((r) => [r.month, r.bytes]));
    for (const [m, bytes] of this.meter.pending(registry)) months.set(m, (months.get(m) ?? 0) + bytes);
    if (!months.has(month)) months.set(month, 0);
    const transferByMonth = [...months].map(([m, bytes]) => ({ month: m, bytes })).sort((a, b) => b.month.localeCompare(a.month));
    const transferBytes = months.get(month)!;
    return {
      account,
      tier,
      repositories: await this.store.countRepositories(registry),
      month,
      transferBytes,
      transferByMonth,
      storageHistory: await this.history(account, days, now),
      cost: estimateCost(tier, this.pricing, account.storageBytes, transferBytes, month),
    };
  }

  /** One point per day (oldest first) for the last `days` days since the registry existed, carrying each day's figure forward. */
  private async history(account: RegistryAccount, days: number, now: number): Promise<{ date: string; storageBytes: number }[]> {
    const first = Math.max(now - (days - 1) * DAY_MS, account.createdAt);
    const rows = await this.store.storageHistory(account.name, dayOf(first));
    const byDay = new Map(rows.map((r) => [r.day, r.bytes]));
    // No point at all: storage has not moved since it was first counted (the migration), so it is today's figure.
    let carried = rows.find((r) => r.day < dayOf(first))?.bytes ?? (rows.length === 0 ? account.storageBytes : 0);
    const points: { date: string; storageBytes: number }[] = [];
    for (let t = Date.parse(dayOf(first)); t <= now; t += DAY_MS) {
      const date = dayOf(t);
      carried = byDay.get(date) ?? carried;
      points.push({ date, storageBytes: carried });
    }
    // Today is the live figure, whatever the history says.
    if (points.length > 0) points[points.length - 1]!.storageBytes = account.storageBytes;
    return points;
  }
}

/** Everything about registries as a product, as the management API uses it. */
export interface RegistryAccounts {
  store: UsageStore;
  tiers: TierCatalog;
  pricing: Pricing;
  meter: TransferMeter;
  quota: Quota;
  usage: UsageReports;
}
