import { describe, expect, it } from 'vitest';
import { GIB, TierCatalog, bytesText, eligibility, isUnrestricted, type Tier } from './tiers.js';
import { estimateCost } from './usage.js';

const tier = (over: Partial<Tier>): Tier => ({
  slug: 't',
  name: 'T',
  includedRepositories: null,
  includedStorageBytes: null,
  includedBandwidthBytes: null,
  monthlyPriceInCents: 0,
  allowStorageOverage: true,
  storageOveragePricePerGbInCents: 0,
  ...over,
});
const starter = tier({ slug: 'starter', includedRepositories: 1, includedStorageBytes: 100, allowStorageOverage: false });
const basic = tier({ slug: 'basic', includedRepositories: 5, includedStorageBytes: GIB, includedBandwidthBytes: GIB, monthlyPriceInCents: 500, storageOveragePricePerGbInCents: 2 });
const unlimited = tier({ slug: 'unlimited' });

describe('TierCatalog', () => {
  it('refuses a default tier that is not configured, and duplicate slugs', () => {
    expect(() => new TierCatalog([starter], ['local'], 'gold')).toThrow(/defaultTier: gold is not one of the tiers \(starter\)/);
    expect(() => new TierCatalog([starter, starter], ['local'], 'starter')).toThrow(/own slug/);
  });

  it('a slug no longer configured limits nothing', () => {
    const catalog = new TierCatalog([starter, unlimited], ['local', 'nyc3'], 'unlimited');
    expect(catalog.defaultRegion).toBe('local');
    expect(catalog.of('starter')).toBe(starter);
    expect(isUnrestricted(catalog.of('retired'))).toBe(true);
  });
});

describe('eligibility', () => {
  it('names each limit the footprint is over; at the limit is fine; overage tiers never fail on storage', () => {
    expect(eligibility(starter, { repositories: 1, storageBytes: 100 })).toEqual([]);
    expect(eligibility(starter, { repositories: 2, storageBytes: 101 })).toEqual(['OverRepositoryLimit', 'OverStorageLimit']);
    expect(eligibility(basic, { repositories: 5, storageBytes: 10 * GIB })).toEqual([]);
    expect(isUnrestricted(starter)).toBe(false);
    expect(isUnrestricted(unlimited)).toBe(true);
  });
});

describe('estimateCost', () => {
  const pricing = { storagePerGbMonthInCents: 5, transferPerGbInCents: 1 };

  it('tier price, storage beyond what is included at the overage rate, transfer beyond the included bandwidth', () => {
    const cost = estimateCost(basic, pricing, 3 * GIB, 1.5 * GIB, '2026-11');
    expect(cost).toMatchObject({ subscriptionInCents: 500, billableStorageBytes: 2 * GIB, storageInCents: 4, billableTransferBytes: 0.5 * GIB, transferInCents: 0.5, totalInCents: 504.5 });
  });

  it('a tier with no limits is metered whole at list prices, in hundredths of a cent', () => {
    const cost = estimateCost(unlimited, pricing, GIB / 3, GIB, '2026-11');
    expect(cost).toMatchObject({ billableStorageBytes: GIB / 3, storageInCents: 1.67, transferInCents: 1, totalInCents: 2.67 });
  });
});

it('bytesText gives the exact figure and a readable one', () => {
  expect(bytesText(500)).toBe('500 bytes');
  expect(bytesText(524288000)).toBe('524288000 bytes (500 MiB)');
});
