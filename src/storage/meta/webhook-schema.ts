import type { Generated } from 'kysely';

/** Table types of webhooks (migration 008). Times are epoch milliseconds; JSON columns are text. */

export interface WebhookEndpointsTable {
  /** A UUID. */
  id: string;
  registry_id: number;
  url: string;
  /** The signing secret, as is: the server signs with it (it is never returned after creation). */
  secret: string;
  /** JSON array of event types. */
  events: string;
  /** Glob over repository paths inside the registry; null: every repository. */
  repository_filter: string | null;
  /** Glob over tags; null: every tag. */
  tag_filter: string | null;
  /** 'cloudevents' | 'distribution' */
  format: string;
  /** 0/1. */
  enabled: Generated<number>;
  disabled_reason: string | null;
  /** Since when every attempt has failed; null once one succeeds. */
  failing_since: number | null;
  created_by: string;
  created_at: number;
  updated_at: number;
}

export interface WebhookEventsTable {
  /** Recording order. */
  seq: Generated<number>;
  /** The event's id (a UUID), as receivers see it. */
  id: string;
  registry_id: number;
  type: string;
  repository: string | null;
  /** JSON. */
  data: string;
  occurred_at: number;
  /** 0 until turned into deliveries. */
  fanned_out: Generated<number>;
}

export interface WebhookDeliveriesTable {
  id: Generated<number>;
  endpoint_id: string;
  event_seq: number;
  /** The repository, or '' for registry-wide events: one lane delivers in id order. */
  lane: string;
  /** 'pending' | 'delivered' | 'failed' */
  status: string;
  attempts: Generated<number>;
  first_attempt_at: number | null;
  next_attempt_at: number | null;
  response_status: number | null;
  latency_ms: number | null;
  /** The first KiB of the last response's body. */
  response_excerpt: string | null;
  error: string | null;
  /** The delivery this one sends again. */
  redelivery_of: number | null;
  created_at: number;
  updated_at: number;
  completed_at: number | null;
}

export interface WebhookQuotaLevelsTable {
  registry_id: number;
  /** 0, 80 or 100: the storage threshold last reported. */
  level: number;
  updated_at: number;
}

export interface WebhookTables {
  webhook_endpoints: WebhookEndpointsTable;
  webhook_events: WebhookEventsTable;
  webhook_deliveries: WebhookDeliveriesTable;
  webhook_quota_levels: WebhookQuotaLevelsTable;
}
