import { randomUUID } from 'node:crypto';
import type { GcRun } from '../core/gc.js';
import type { Registry } from '../core/registry.js';
import type { ScanCompletedEvent } from '../scan/scanner.js';
import { DISTRIBUTION_EVENT_TYPES, outboxEvent, pingEvent, repositoryBase, type EventType, type TypedEvent } from './event-types.js';
import { recordEvent } from './outbox.js';
import { checkTarget, parseWebhookUrl, type Resolver, type TargetPolicy } from './ssrf-guard.js';
import { newWebhookSecret } from './webhook-signing.js';
import type { WebhookDelivery, WebhookEndpoint, WebhookFormat, WebhookStore } from './webhook-store.js';

/** A webhook as an admin describes it. */
export interface WebhookInput {
  url: string;
  events: EventType[];
  repositoryFilter: string | null;
  tagFilter: string | null;
  format: WebhookFormat;
  enabled: boolean;
  /** The signing secret; generated when left out. */
  secret?: string;
}

export type WebhookChanges = Partial<Omit<WebhookInput, 'secret'>> & { rotateSecret?: boolean };

/** The request cannot be carried out as asked (the management API answers 422). */
export class WebhookInputError extends Error {
  override name = 'WebhookInputError';
}

export interface PullSeen {
  repository: string;
  reference: string;
  digest: string;
  mediaType: string;
  size: number;
  puller: string | undefined;
}

export interface WebhooksLogger {
  warn(obj: object, msg?: string): void;
}

export interface WebhooksDeps {
  policy: TargetPolicy;
  /** An event was kept: the job worker should look for work now. */
  wake(): void;
  resolve?: Resolver;
  logger?: WebhooksLogger;
  now?: () => number;
}

/**
 * The delivery queue of test pings. Lanes are otherwise repository names or '' (registry-wide
 * events); no repository name starts with ':', so a ping never waits behind an event being retried.
 */
const PING_LANE = ':ping';

/** How long this node trusts its lists of subscribed registries: another node's new subscription applies within this. */
const SUBSCRIPTIONS_TTL_MS = 10_000;

/**
 * Webhooks of registries: managing endpoints and their delivery logs, and
 * recording the events that do not come from a content change (scans, GC runs,
 * storage thresholds, pulls). Content changes are recorded by core itself
 * (outbox.ts); delivery is WebhookDispatcher's.
 */
export class Webhooks {
  /** Per event type, the registries subscribed to it, as this node last read them. */
  private readonly subscriptions = new Map<string, { at: number; names: Promise<Set<string>> }>();
  private readonly now: () => number;

  constructor(
    private readonly store: WebhookStore,
    private readonly deps: WebhooksDeps,
  ) {
    this.now = deps.now ?? Date.now;
  }

  async create(registry: { id: number; name: string }, input: WebhookInput, createdBy: string): Promise<{ endpoint: WebhookEndpoint; secret: string }> {
    await this.check(input);
    const secret = input.secret ?? newWebhookSecret();
    const now = this.now();
    const endpoint = await this.store.createEndpoint({
      id: randomUUID(),
      registryId: registry.id,
      url: input.url,
      secret,
      events: [...new Set(input.events)],
      repositoryFilter: input.repositoryFilter,
      tagFilter: input.tagFilter,
      format: input.format,
      enabled: input.enabled,
      createdBy,
      createdAt: now,
      updatedAt: now,
    });
    this.subscriptions.clear();
    return { endpoint, secret };
  }

  list(registryId: number): Promise<WebhookEndpoint[]> {
    return this.store.listEndpoints(registryId);
  }

  /** The registry's endpoint with this id, or undefined. */
  async get(registryId: number, id: string): Promise<WebhookEndpoint | undefined> {
    const endpoint = await this.store.getEndpoint(id);
    return endpoint?.registryId === registryId ? endpoint : undefined;
  }

  /** Undefined when the registry has no such endpoint; `secret` only when it was rotated. */
  async update(registryId: number, id: string, changes: WebhookChanges): Promise<{ endpoint: WebhookEndpoint; secret?: string } | undefined> {
    const current = await this.get(registryId, id);
    if (!current) return undefined;
    const { rotateSecret, ...fields } = changes;
    await this.check({ url: current.url, events: current.events as EventType[], repositoryFilter: current.repositoryFilter, tagFilter: current.tagFilter, format: current.format, enabled: current.enabled, ...fields }, fields.url !== undefined);
    const secret = rotateSecret ? newWebhookSecret() : undefined;
    const endpoint = await this.store.updateEndpoint(id, { ...fields, ...(fields.events ? { events: [...new Set(fields.events)] } : {}), ...(secret ? { secret } : {}), updatedAt: this.now() });
    this.subscriptions.clear();
    return endpoint && { endpoint, ...(secret ? { secret } : {}) };
  }

  async remove(registryId: number, id: string): Promise<boolean> {
    if (!(await this.get(registryId, id))) return false;
    this.subscriptions.clear();
    return this.store.deleteEndpoint(id);
  }

  async deliveries(registryId: number, id: string, limit: number, offset: number): Promise<{ deliveries: WebhookDelivery[]; total: number } | undefined> {
    if (!(await this.get(registryId, id))) return undefined;
    return this.store.listDeliveries(id, limit, offset);
  }

  async delivery(registryId: number, id: string, deliveryId: number): Promise<WebhookDelivery | undefined> {
    if (!(await this.get(registryId, id))) return undefined;
    const delivery = await this.store.getDelivery(deliveryId);
    return delivery?.endpointId === id ? delivery : undefined;
  }

  /** Sends an event again, as a new delivery at the end of its lane. */
  async redeliver(registryId: number, id: string, deliveryId: number): Promise<{ delivery: WebhookDelivery } | { disabled: WebhookEndpoint } | undefined> {
    const endpoint = await this.get(registryId, id);
    if (!endpoint) return undefined;
    const original = await this.store.getDelivery(deliveryId);
    if (original?.endpointId !== id) return undefined;
    if (!endpoint.enabled) return { disabled: endpoint };
    const delivery = await this.store.redeliver(deliveryId);
    if (!delivery) return undefined;
    this.deps.wake();
    return { delivery };
  }

  /**
   * Sends a `ping` event to one endpoint, whatever its event types and filters: a
   * delivery like any other (signed, logged, retried), in a queue of its own.
   */
  async ping(registryId: number, id: string, requestedBy: string | null): Promise<{ delivery: WebhookDelivery } | { disabled: WebhookEndpoint } | undefined> {
    const endpoint = await this.get(registryId, id);
    if (!endpoint) return undefined;
    if (!endpoint.enabled) return { disabled: endpoint };
    const event = pingEvent({ registry: endpoint.registry, webhook_id: endpoint.id, events: endpoint.events, requested_by: requestedBy }, randomUUID(), this.now());
    const delivery = await this.store.deliverTo(endpoint.id, event, PING_LANE);
    if (!delivery) return undefined; // deleted meanwhile
    this.deps.wake();
    return { delivery };
  }

  /** A manifest was pulled (GET): recorded only for registries with a pull subscription, without holding up the pull. */
  pulled(pull: PullSeen): void {
    void this.recordPull(pull).catch((err: unknown) => this.deps.logger?.warn({ err, repository: pull.repository }, 'webhooks: could not record a pull'));
  }

  scanCompleted(event: ScanCompletedEvent): Promise<void> {
    const s = event.summary;
    return this.record({
      type: 'scan.completed',
      ...repositoryBase(event.repository),
      data: {
        ...repositoryBase(event.repository),
        digest: event.digest,
        status: event.status,
        severity_counts: s ? { critical: s.CRITICAL, high: s.HIGH, medium: s.MEDIUM, low: s.LOW, unknown: s.UNKNOWN, total: s.total } : null,
      },
    });
  }

  gcFinished(run: GcRun, registry: string): Promise<void> {
    return this.record({
      type: 'gc.completed',
      registry,
      repository: null,
      data: {
        registry,
        run_id: run.id,
        type: run.type,
        status: run.status,
        dry_run: run.dryRun,
        manifests_deleted: run.manifestsDeleted,
        blobs_deleted: run.blobsDeleted,
        freed_bytes: run.freedBytes,
        error: run.error,
      },
    });
  }

  /** A registry's storage after a push: a quota.warning when it first reaches 80 % or 100 % of its tier's limit (again after falling below). */
  async storageMeasured(registry: string, tier: string, usedBytes: number, limitBytes: number): Promise<void> {
    const level = usedBytes >= limitBytes ? 100 : usedBytes >= 0.8 * limitBytes ? 80 : 0;
    const usedPercent = limitBytes > 0 ? Math.round((usedBytes / limitBytes) * 1000) / 10 : 100;
    const event: TypedEvent = {
      type: 'quota.warning',
      registry,
      repository: null,
      data: { registry, tier, threshold_percent: level, used_bytes: usedBytes, limit_bytes: limitBytes, used_percent: usedPercent },
    };
    if (await this.store.reachQuotaLevel(registry, level, outboxEvent(event, randomUUID(), this.now()))) this.deps.wake();
  }

  private async recordPull(pull: PullSeen): Promise<void> {
    const base = repositoryBase(pull.repository);
    if (!(await this.subscribed('pull', base.registry))) return;
    const tag = pull.reference.includes(':') ? null : pull.reference;
    await this.record({
      type: 'pull',
      ...base,
      data: { ...base, reference: pull.reference, tag, digest: pull.digest, media_type: pull.mediaType, size: pull.size, puller: pull.puller ?? null },
    });
  }

  /**
   * Whether an enabled endpoint of the registry subscribes to `type`, from a list
   * read at most every few seconds: for the events checked on every pull or push,
   * so that a registry without such webhooks costs no query.
   */
  async subscribed(type: EventType, registry: string): Promise<boolean> {
    let cached = this.subscriptions.get(type);
    if (!cached || this.now() - cached.at >= SUBSCRIPTIONS_TTL_MS) {
      const names = this.store.registriesSubscribedTo(type);
      cached = { at: this.now(), names };
      this.subscriptions.set(type, cached);
      names.catch(() => this.subscriptions.delete(type));
    }
    return (await cached.names).has(registry);
  }

  private async record(event: TypedEvent): Promise<void> {
    if (await recordEvent(this.store, event, this.now())) this.deps.wake();
  }

  /** Throws WebhookInputError for what the API cannot accept; `checkUrl` resolves the URL's host and checks every address. */
  private async check(input: WebhookInput, checkUrl = true): Promise<void> {
    if (input.format === 'distribution') {
      const foreign = input.events.filter((e) => !DISTRIBUTION_EVENT_TYPES.includes(e));
      if (foreign.length > 0) throw new WebhookInputError(`the distribution format carries only ${DISTRIBUTION_EVENT_TYPES.join(', ')}; not ${foreign.join(', ')}`);
    }
    if (!checkUrl) return;
    try {
      await checkTarget(parseWebhookUrl(input.url), this.deps.policy, this.deps.resolve);
    } catch (err) {
      throw new WebhookInputError(`url: ${(err as Error).message}`);
    }
  }
}

const wired = new WeakMap<Registry, Webhooks>();

/** Wires webhooks to a registry (composition root); the HTTP layer finds them through it. */
export function provideWebhooks(registry: Registry, webhooks: Webhooks): void {
  wired.set(registry, webhooks);
}

/** The registry's webhooks, or undefined when the server runs without them. */
export function webhooksOf(registry: Registry): Webhooks | undefined {
  return wired.get(registry);
}
