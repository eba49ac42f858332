import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { globMatches } from '../auth/scopes.js';
import { pathInRegistry } from '../core/repository-listing.js';
import type { JobHandler } from '../jobs/worker.js';
import type { RepoName } from '../oci/name.js';
import { BERTH_VERSION } from '../version.js';
import { CLOUDEVENTS_CONTENT_TYPE, DISTRIBUTION_CONTENT_TYPE, TAGGED_EVENT_TYPES, tagsOf, toCloudEvent, toDistributionEnvelope, type EventType } from './event-types.js';
import type { Resolver, TargetPolicy } from './ssrf-guard.js';
import { classify, nextStep, postOnce, type RetryPolicy } from './webhook-delivery.js';
import { SIGNATURE_HEADER, signatureHeader } from './webhook-signing.js';
import { WEBHOOK_DELIVERY_JOB, WEBHOOK_FANOUT_JOB, type DeliveryJobPayload, type StoredEvent, type WebhookEndpoint, type WebhookStore } from './webhook-store.js';

/** Events turned into deliveries per transaction. */
const FANOUT_BATCH = 100;

export interface DispatchLogger {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
}

export interface DispatchOptions {
  timeoutMs: number;
  retry: RetryPolicy;
  /** An endpoint whose attempts have all failed for this long is disabled. */
  disableAfterMs: number;
  policy: TargetPolicy;
  resolve?: Resolver;
  logger?: DispatchLogger;
  /** An endpoint was just disabled for failing too long (audit it). */
  onDisabled?(endpoint: WebhookEndpoint): Promise<void>;
  now?: () => number;
  random?: () => number;
}

/** Where the dispatcher's jobs run: the node's job worker. */
export interface DispatchQueue {
  handle(kind: string, handler: JobHandler): unknown;
}

/** Whether an endpoint wants an event: its type, then the repository and tag filters. */
export function endpointWants(endpoint: WebhookEndpoint, event: StoredEvent): boolean {
  if (!endpoint.events.includes(event.type)) return false;
  if (endpoint.repositoryFilter !== null && event.repository !== null && !globMatches(endpoint.repositoryFilter, pathInRegistry(event.registry, event.repository as RepoName))) return false;
  if (endpoint.tagFilter !== null && TAGGED_EVENT_TYPES.includes(event.type as EventType)) {
    const filter = endpoint.tagFilter;
    if (!tagsOf(event).some((tag) => globMatches(filter, tag))) return false;
  }
  return true;
}

/**
 * Carries events to endpoints, as two kinds of jobs. The fan-out job turns
 * recorded events into deliveries, in recording order. A delivery job makes one
 * attempt of one delivery and records it, in one transaction with the job of
 * what follows: the next attempt (backoff with jitter, Retry-After honoured)
 * or, once the delivery has ended, the first attempt of the next delivery in
 * its lane. So the deliveries of one endpoint and repository go out one at a
 * time, in order, and a stale job (its attempt already recorded) does nothing.
 */
export class WebhookDispatcher {
  /** Distribution's `source` of this node's deliveries. */
  private readonly source = { addr: hostname(), instanceID: randomUUID() };
  private readonly now: () => number;

  constructor(
    private readonly store: WebhookStore,
    private readonly options: DispatchOptions,
  ) {
    this.now = options.now ?? Date.now;
  }

  attach(queue: DispatchQueue): void {
    queue.handle(WEBHOOK_FANOUT_JOB, { run: () => this.fanOut(), retry: { baseMs: 500, maxMs: 30_000 } });
    queue.handle(WEBHOOK_DELIVERY_JOB, {
      run: (job, context) => this.deliver(job.payload as DeliveryJobPayload, context.signal),
      // The job, not the delivery, ran out of attempts (nodes stopping mid-attempt, metadata errors): end it, so its lane moves on.
      exhausted: async (job, error) => void (await this.store.abandon((job.payload as DeliveryJobPayload).deliveryId, `the delivery job failed: ${error}`)),
      retry: { baseMs: 1_000, maxMs: 60_000 },
    });
  }

  async fanOut(): Promise<void> {
    while ((await this.store.fanOut(FANOUT_BATCH, (event, endpoints) => endpoints.filter((e) => endpointWants(e, event)))) === FANOUT_BATCH);
  }

  /** One attempt of one delivery. Throws only when the metadata store fails (the job is then retried) or the worker shuts down. */
  async deliver(payload: DeliveryJobPayload, signal?: AbortSignal): Promise<void> {
    const found = await this.store.deliveryContext(payload.deliveryId);
    if (!found) return; // its endpoint was deleted
    const { delivery, endpoint, event } = found;
    if (delivery.status !== 'pending' || delivery.attempts !== payload.attempt - 1) return; // stale: that attempt was recorded
    if (!endpoint.enabled) {
      await this.store.abandon(delivery.id, 'the endpoint is disabled');
      return;
    }
    const body = this.render(endpoint, event);
    if (!body) {
      await this.store.abandon(delivery.id, `${event.type} events have no equivalent in the Distribution envelope`);
      return;
    }
    const startedAt = this.now();
    const headers = {
      'content-type': endpoint.format === 'distribution' ? DISTRIBUTION_CONTENT_TYPE : CLOUDEVENTS_CONTENT_TYPE,
      'user-agent': `Berth-Webhooks/${BERTH_VERSION}`,
      'berth-event': event.type,
      'berth-event-id': event.id,
      'berth-delivery': String(delivery.id),
      'berth-webhook-id': endpoint.id,
      [SIGNATURE_HEADER]: signatureHeader(endpoint.secret, Math.floor(startedAt / 1000), body),
    };
    const attempt = await postOnce(endpoint.url, body, headers, { timeoutMs: this.options.timeoutMs, policy: this.options.policy, signal, resolve: this.options.resolve });
    if (signal?.aborted) throw signal.reason; // shutting down: the worker gives the job back, this attempt unrecorded
    const at = this.now();
    const step = nextStep(classify(attempt, at), payload.attempt, delivery.firstAttemptAt ?? startedAt, at, this.options.retry, this.options.random);
    const result = await this.store.recordAttempt({
      deliveryId: delivery.id,
      attempt: payload.attempt,
      at: startedAt,
      responseStatus: attempt.status,
      latencyMs: attempt.latencyMs,
      responseExcerpt: attempt.excerpt,
      error: step.error,
      outcome: step.outcome,
      disableIfFailingSince: at - this.options.disableAfterMs,
    });
    const fields = { webhook: endpoint.id, registry: endpoint.registry, delivery: delivery.id, event: event.type, attempt: payload.attempt, status: attempt.status };
    if (step.outcome.kind === 'retry') this.options.logger?.info({ ...fields, error: step.error, retryAt: new Date(step.outcome.at).toISOString() }, 'webhooks: delivery attempt failed; it will be retried');
    else if (step.outcome.kind === 'failed') this.options.logger?.warn({ ...fields, error: step.error }, 'webhooks: delivery failed');
    if (result.disabled) {
      this.options.logger?.warn({ webhook: endpoint.id, registry: endpoint.registry, reason: result.disabled.disabledReason }, 'webhooks: endpoint disabled after failing for too long');
      await this.options.onDisabled?.(result.disabled);
    }
  }

  /** The request body of an event in the endpoint's format (undefined: the format cannot carry it). */
  render(endpoint: WebhookEndpoint, event: StoredEvent): Buffer | undefined {
    const { seq: _seq, ...outbox } = event;
    if (endpoint.format === 'distribution') {
      const envelope = toDistributionEnvelope(outbox, this.source);
      return envelope ? Buffer.from(JSON.stringify(envelope)) : undefined;
    }
    return Buffer.from(JSON.stringify(toCloudEvent(outbox)));
  }
}
