/** Shapes of the /api/v2 answers the panel reads (only the fields it uses). */

export interface Account {
  username: string;
  server_admin: boolean;
  can_create_registries: boolean;
  teams: string[];
  created_at: string;
}

export interface SessionInfo {
  account: Account;
  csrf_token: string;
  expires_at: string;
}

export interface Tier {
  name: string;
  slug: string;
  included_repositories: number | null;
  included_storage_bytes: number | null;
  allow_storage_overage: boolean;
  included_bandwidth_bytes: number | null;
  monthly_price_in_cents: number;
  storage_overage_price_in_cents: number;
}

export interface TierOption extends Tier {
  eligible: boolean;
  eligibility_reasons: string[];
}

export interface RegistryView {
  name: string;
  created_at: string;
  region: string;
  storage_usage_bytes: number;
  storage_usage_bytes_updated_at: string | null;
  subscription: { tier: Tier; created_at: string; updated_at: string };
  public: boolean;
}

export interface EstimatedCost {
  month: string;
  currency: string;
  subscription_in_cents: number;
  billable_storage_bytes: number;
  storage_in_cents: number;
  billable_transfer_bytes: number;
  transfer_in_cents: number;
  total_in_cents: number;
}

export interface RegistryUsage {
  registry: string;
  subscription_tier: Tier;
  repositories: number;
  storage_usage_bytes: number;
  month: string;
  transfer_bytes: number;
  transfer_by_month: { month: string; bytes: number }[];
  storage_history: { date: string; storage_bytes: number }[];
  estimated_cost: EstimatedCost;
}

export interface Paged {
  links: { pages: { next?: string; prev?: string; first?: string; last?: string } };
  meta?: { total: number };
}
