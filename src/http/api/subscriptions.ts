import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { bytesText, eligibility, repositoriesText, type EligibilityReason, type Footprint, type Tier } from '../../core/tiers.js';
import type { UsageReport } from '../../core/usage.js';
import { notFound, preconditionFailed, unprocessable } from './api-error.js';
import { audit, caller, requireRegistryAdmin, type ApiContext } from './context.js';
import { doc } from './openapi.js';
import { accountsOf, paramsOf, requireVisible, subscriptionView, tierView } from './registries.js';

/** Why a registry cannot move to a tier, in words that name each limit and the usage over it. */
function refusal(registry: string, tier: Tier, reasons: EligibilityReason[], footprint: Footprint): string {
  const parts = reasons.map((reason) =>
    reason === 'OverRepositoryLimit'
      ? `it has ${repositoriesText(footprint.repositories)} and ${tier.slug} allows ${tier.includedRepositories} (${reason})`
      : `it stores ${bytesText(footprint.storageBytes)} and ${tier.slug} allows ${bytesText(tier.includedStorageBytes ?? 0)} without overage (${reason})`,
  );
  return `registry ${registry} cannot move to tier ${tier.slug}: ${parts.join('; ')}`;
}

const optionsQuery = z.object({ registry: z.string().optional().describe("A registry: each tier then says whether this registry's usage fits it.") });
const subscriptionBody = z.object({ tier_slug: z.string() }).passthrough();
const usageQuery = z.object({ days: z.coerce.number().int().min(1).max(366).default(30).describe('Days of daily storage history.') });

const usageView = (r: UsageReport) => ({
  registry: r.account.name,
  subscription_tier: tierView(r.tier),
  repositories: r.repositories,
  storage_usage_bytes: r.account.storageBytes,
  storage_usage_bytes_updated_at: new Date(r.account.storageUpdatedAt ?? r.account.createdAt).toISOString(),
  month: r.month,
  transfer_bytes: r.transferBytes,
  transfer_by_month: r.transferByMonth,
  storage_history: r.storageHistory.map((p) => ({ date: p.date, storage_bytes: p.storageBytes })),
  estimated_cost: {
    month: r.cost.month,
    currency: 'USD',
    subscription_in_cents: r.cost.subscriptionInCents,
    billable_storage_bytes: r.cost.billableStorageBytes,
    storage_price_per_gb_in_cents: r.cost.storagePricePerGbInCents,
    storage_in_cents: r.cost.storageInCents,
    billable_transfer_bytes: r.cost.billableTransferBytes,
    transfer_price_per_gb_in_cents: r.cost.transferPricePerGbInCents,
    transfer_in_cents: r.cost.transferInCents,
    total_in_cents: r.cost.totalInCents,
  },
});

/** Subscription tiers and regions (`/registries/options`), a registry's subscription, and its usage and cost. */
export function registerSubscriptionRoutes(api: FastifyInstance, ctx: ApiContext): void {
  /** With `?registry=`, each tier says whether that registry's usage fits it. */
  api.get('/registries/options', doc({ summary: 'Subscription tiers and regions', tags: ['Subscriptions'], query: optionsQuery, responses: { '200': '`{options: {available_regions, subscription_tiers}}`.', '404': 'No such registry.' } }), async (req) => {
    const q = optionsQuery.parse(req.query);
    const { tiers, quota } = accountsOf(ctx);
    let footprint: Footprint = { repositories: 0, storageBytes: 0 };
    if (q.registry !== undefined) {
      await requireVisible(ctx, req, q.registry);
      footprint = await quota.footprint(q.registry);
    } else {
      await caller(ctx, req);
    }
    return {
      options: {
        available_regions: tiers.regions,
        subscription_tiers: tiers.list().map((t) => {
          const reasons = eligibility(t, footprint);
          return { ...tierView(t), eligible: reasons.length === 0, eligibility_reasons: reasons };
        }),
      },
    };
  });

  api.get('/registries/:registry/subscription', doc({ summary: "A registry's subscription", tags: ['Subscriptions'], responses: { '200': '`{subscription}`.', '404': 'No such registry.' } }), async (req) => {
    const { registry } = await requireVisible(ctx, req, paramsOf(req).registry);
    const { store, tiers } = accountsOf(ctx);
    const account = await store.getAccount(registry.name);
    if (!account) throw notFound(`registry ${registry.name}`);
    return { subscription: subscriptionView(account, tiers.of(account.tierSlug)) };
  });

  /** Changes the tier; a registry over the new tier's limits is refused with 412, naming them. */
  api.post('/registries/:registry/subscription', doc({ summary: "Change a registry's tier", tags: ['Subscriptions'], body: subscriptionBody, responses: { '200': '`{subscription}`.', '403': 'Not an admin of the registry.', '404': 'No such registry.', '412': "The registry's usage is over the tier's limits.", '422': 'No such tier.' } }), async (req) => {
    const { principal, registry } = await requireRegistryAdmin(ctx, req, paramsOf(req).registry);
    const body = subscriptionBody.parse(req.body);
    const { store, tiers, quota } = accountsOf(ctx);
    const tier = tiers.get(body.tier_slug);
    if (!tier) throw unprocessable(`tier_slug: no tier ${body.tier_slug}; choose one of ${tiers.slugs().join(', ')}`);
    const footprint = await quota.footprint(registry.name);
    const reasons = eligibility(tier, footprint);
    if (reasons.length > 0) {
      await audit(ctx, req, principal, { action: 'registry.subscription', outcome: 'failure', registry: registry.name, resource: registry.name, reason: reasons.join(','), detail: { tier_slug: tier.slug } });
      throw preconditionFailed(refusal(registry.name, tier, reasons, footprint));
    }
    const before = await store.getAccount(registry.name);
    await store.setTier(registry.name, tier.slug, Date.now());
    await audit(ctx, req, principal, { action: 'registry.subscription', outcome: 'success', registry: registry.name, resource: registry.name, detail: { from: before?.tierSlug, tier_slug: tier.slug } });
    const account = await store.getAccount(registry.name);
    if (!account) throw notFound(`registry ${registry.name}`);
    return { subscription: subscriptionView(account, tier) };
  });

  /** Storage, transfer by month, daily storage history (`?days=`, default 30) and this month's cost estimate. */
  api.get('/registries/:registry/usage', doc({ summary: 'Storage, transfer, storage history and estimated cost of a registry', tags: ['Subscriptions'], query: usageQuery, responses: { '200': '`{usage}`.', '403': 'Not an admin of the registry.', '404': 'No such registry.' } }), async (req) => {
    const { registry } = await requireRegistryAdmin(ctx, req, paramsOf(req).registry);
    const q = usageQuery.parse(req.query);
    const report = await accountsOf(ctx).usage.report(registry.name, q.days);
    if (!report) throw notFound(`registry ${registry.name}`);
    return { usage: usageView(report) };
  });
}
