/** Bytes in the "GB" of DigitalOcean's prices and tiers (they are GiB). */
export const GIB = 1024 ** 3;

/**
 * A subscription tier: what a registry may hold and what it costs a month.
 * `null` limits mean "no limit". Same shape as the `tiers` setting.
 */
export interface Tier {
  slug: string;
  name: string;
  includedRepositories: number | null;
  includedStorageBytes: number | null;
  includedBandwidthBytes: number | null;
  monthlyPriceInCents: number;
  /** When true, storage beyond the included bytes is billed rather than refused. */
  allowStorageOverage: boolean;
  storageOveragePricePerGbInCents: number;
}

/** DigitalOcean's reasons a registry cannot move to a tier. */
export type EligibilityReason = 'OverRepositoryLimit' | 'OverStorageLimit';

/** What a registry holds, as quotas see it. */
export interface Footprint {
  repositories: number;
  storageBytes: number;
}

/** The configured tiers and regions, checked once at start. */
export class TierCatalog {
  private readonly bySlug: Map<string, Tier>;
  readonly defaultTier: Tier;

  constructor(
    tiers: Tier[],
    readonly regions: string[],
    defaultTierSlug: string,
  ) {
    this.bySlug = new Map(tiers.map((t) => [t.slug, t]));
    if (this.bySlug.size !== tiers.length) throw new Error('tiers: every tier needs its own slug');
    if (regions.length === 0) throw new Error('registries.regions: at least one region is needed');
    const fallback = this.bySlug.get(defaultTierSlug);
    if (!fallback) throw new Error(`registries.defaultTier: ${defaultTierSlug} is not one of the tiers (${this.slugs().join(', ')})`);
    this.defaultTier = fallback;
  }

  get defaultRegion(): string {
    return this.regions[0]!;
  }

  list(): Tier[] {
    return [...this.bySlug.values()];
  }

  slugs(): string[] {
    return [...this.bySlug.keys()];
  }

  get(slug: string): Tier | undefined {
    return this.bySlug.get(slug);
  }

  /**
   * The tier a registry is on. A slug no longer in the configuration (a tier
   * removed after registries chose it) imposes no limits and costs nothing,
   * rather than locking those registries out.
   */
  of(slug: string): Tier {
    return (
      this.bySlug.get(slug) ?? {
        slug,
        name: `${slug} (no longer configured)`,
        includedRepositories: null,
        includedStorageBytes: null,
        includedBandwidthBytes: null,
        monthlyPriceInCents: 0,
        allowStorageOverage: true,
        storageOveragePricePerGbInCents: 0,
      }
    );
  }
}

/** Why a registry with this footprint could not be on the tier (empty: it could). */
export function eligibility(tier: Tier, footprint: Footprint): EligibilityReason[] {
  const reasons: EligibilityReason[] = [];
  if (tier.includedRepositories !== null && footprint.repositories > tier.includedRepositories) reasons.push('OverRepositoryLimit');
  if (storageLimit(tier) !== null && footprint.storageBytes > storageLimit(tier)!) reasons.push('OverStorageLimit');
  return reasons;
}

/** The storage a push may never exceed on this tier; null when storage never blocks. */
export function storageLimit(tier: Tier): number | null {
  return tier.allowStorageOverage ? null : tier.includedStorageBytes;
}

/** Whether a tier never refuses a push: the common, self-hosted case pays no quota queries. */
export function isUnrestricted(tier: Tier): boolean {
  return tier.includedRepositories === null && storageLimit(tier) === null;
}

/** "1 repository", "5 repositories". */
export function repositoriesText(n: number): string {
  return `${n} ${n === 1 ? 'repository' : 'repositories'}`;
}

/** Bytes as people read them, beside the exact figure (e.g. "524288000 bytes (500 MiB)"). */
export function bytesText(bytes: number): string {
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let unit = '';
  for (const u of units) {
    if (value < 1024) break;
    value /= 1024;
    unit = u;
  }
  return unit === '' ? `${bytes} bytes` : `${bytes} bytes (${Number(value.toFixed(2))} ${unit})`;
}
