import type { OutboxEvent } from '../storage/meta/meta-store.js';

/**
 * The webhooks' port on the metadata store (kysely-webhook-store.ts): endpoints,
 * the event outbox, deliveries and their log. Delivery attempts are jobs in the
 * job queue, which the store queues in the same transactions that change the
 * deliveries, so neither can be lost without the other.
 */

/** The job that makes one attempt of one delivery. */
export const WEBHOOK_DELIVERY_JOB = 'webhook.deliver';
/** The job that turns recorded events into deliveries. */
export const WEBHOOK_FANOUT_JOB = 'webhook.fanout';

export interface DeliveryJobPayload {
  deliveryId: number;
  /** The attempt this job makes (1 for the first): a job for an attempt already recorded is stale. */
  attempt: number;
}

export type WebhookFormat = 'cloudevents' | 'distribution';
export type DeliveryStatus = 'pending' | 'delivered' | 'failed';

export interface WebhookEndpoint {
  id: string;
  registryId: number;
  /** The registry's name. */
  registry: string;
  url: string;
  secret: string;
  events: string[];
  repositoryFilter: string | null;
  tagFilter: string | null;
  format: WebhookFormat;
  enabled: boolean;
  disabledReason: string | null;
  /** Since when every attempt has failed; null once one succeeded. */
  failingSince: number | null;
  createdBy: string;
  createdAt: number;
  updatedAt: number;
}

export type NewWebhookEndpoint = Omit<WebhookEndpoint, 'registry' | 'disabledReason' | 'failingSince'>;

export type WebhookEndpointPatch = Partial<Pick<WebhookEndpoint, 'url' | 'secret' | 'events' | 'repositoryFilter' | 'tagFilter' | 'format' | 'enabled'>> & {
  updatedAt: number;
};

/** An event as the outbox keeps it: `seq` is its place in recording order. */
export interface StoredEvent extends OutboxEvent {
  seq: number;
}

export interface WebhookDelivery {
  id: number;
  endpointId: string;
  eventSeq: number;
  eventId: string;
  eventType: string;
  repository: string | null;
  status: DeliveryStatus;
  attempts: number;
  firstAttemptAt: number | null;
  /** When the next attempt is due (pending, after a failed attempt). */
  nextAttemptAt: number | null;
  responseStatus: number | null;
  latencyMs: number | null;
  /** The first KiB of the last response's body. */
  responseExcerpt: string | null;
  error: string | null;
  redeliveryOf: number | null;
  createdAt: number;
  updatedAt: number;
  completedAt: number | null;
}

export type AttemptOutcome = { kind: 'delivered' } | { kind: 'failed' } | { kind: 'retry'; at: number };

export interface AttemptRecord {
  deliveryId: number;
  /** Recorded only if this is the delivery's next attempt (a stale job records nothing). */
  attempt: number;
  at: number;
  responseStatus: number | null;
  latencyMs: number;
  responseExcerpt: string | null;
  error: string | null;
  outcome: AttemptOutcome;
  /** A failure disables the endpoint when it has been failing since this time or earlier. */
  disableIfFailingSince: number;
}

export interface WebhookStore {
  createEndpoint(endpoint: NewWebhookEndpoint): Promise<WebhookEndpoint>;
  /** A registry's endpoints, oldest first. */
  listEndpoints(registryId: number): Promise<WebhookEndpoint[]>;
  getEndpoint(id: string): Promise<WebhookEndpoint | undefined>;
  /** Disabling an endpoint ends its pending deliveries as failed; enabling it clears why it was disabled. */
  updateEndpoint(id: string, patch: WebhookEndpointPatch): Promise<WebhookEndpoint | undefined>;
  /** Deletes the endpoint and its delivery log. */
  deleteEndpoint(id: string): Promise<boolean>;

  /** Keeps an event (outside any other change: scans, GC, pulls), as MetaStore.recordEvent does inside one. */
  recordEvent(event: OutboxEvent): Promise<boolean>;
  /** Names of the registries with an enabled endpoint subscribed to `type`. */
  registriesSubscribedTo(type: string): Promise<Set<string>>;

  /**
   * Turns up to `limit` recorded events into deliveries, in recording order, in
   * one transaction: `select` picks the endpoints of each (from its registry's
   * enabled ones). A delivery at the head of its lane gets its job at once; the
   * others get theirs when the one before them ends. Returns how many events.
   */
  fanOut(limit: number, select: (event: StoredEvent, endpoints: WebhookEndpoint[]) => WebhookEndpoint[]): Promise<number>;

  deliveryContext(deliveryId: number): Promise<{ delivery: WebhookDelivery; endpoint: WebhookEndpoint; event: StoredEvent } | undefined>;
  /**
   * Records an attempt, in one transaction with what follows from it: the job of
   * the next attempt, or, when the delivery ended, the job of the next delivery
   * in its lane; the endpoint's failing streak; and disabling an endpoint that
   * has failed for too long (returned as `disabled`).
   */
  recordAttempt(record: AttemptRecord): Promise<{ recorded: boolean; disabled?: WebhookEndpoint }>;
  /** Ends a pending delivery as failed without an attempt (its endpoint is disabled, its job gave up), and starts the next in its lane. */
  abandon(deliveryId: number, error: string): Promise<boolean>;
  /** Newest first. */
  listDeliveries(endpointId: string, limit: number, offset: number): Promise<{ deliveries: WebhookDelivery[]; total: number }>;
  getDelivery(deliveryId: number): Promise<WebhookDelivery | undefined>;
  /** A new delivery of the same event to the same endpoint, at the end of its lane. */
  redeliver(deliveryId: number): Promise<WebhookDelivery | undefined>;
  /**
   * Keeps an event meant for one endpoint alone (a test ping) with its delivery, at
   * the end of `lane`, in one transaction; fan-out never sees it. Undefined when the
   * endpoint does not exist.
   */
  deliverTo(endpointId: string, event: OutboxEvent, lane: string): Promise<WebhookDelivery | undefined>;
  /** Deletes ended deliveries last changed before `before`, and events older than that with no delivery left. */
  prune(before: number): Promise<{ deliveries: number; events: number }>;
  /**
   * Sets the storage threshold (0, 80, 100) a registry is at, and keeps `event`
   * only if the level rose; true when it rose.
   */
  reachQuotaLevel(registry: string, level: number, event: OutboxEvent): Promise<boolean>;
}
