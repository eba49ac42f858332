import type { Kysely, Selectable } from 'kysely';
import {
  WEBHOOK_DELIVERY_JOB,
  WEBHOOK_FANOUT_JOB,
  type AttemptRecord,
  type DeliveryJobPayload,
  type DeliveryStatus,
  type NewWebhookEndpoint,
  type StoredEvent,
  type WebhookDelivery,
  type WebhookEndpoint,
  type WebhookEndpointPatch,
  type WebhookFormat,
  type WebhookStore,
} from '../../events/webhook-store.js';
import { enqueueJobIn } from './kysely-job-store.js';
import type { OutboxEvent } from './meta-store.js';
import type { Database } from './schema.js';
import { runTransaction } from './transaction.js';
import type { WebhookEndpointsTable } from './webhook-schema.js';

/**
 * Claims of one delivery attempt's job before it is given up: each follows a node
 * that stopped mid-attempt or a metadata error. Failed HTTP attempts do not count
 * here: each attempt is a job of its own, queued when the one before it is recorded.
 */
const DELIVERY_JOB_ATTEMPTS = 5;
const FANOUT_JOB_ATTEMPTS = 10;

/**
 * Keeps an event in the outbox and queues the job that fans it out, in `db`
 * (a transaction: the change that caused the event commits with it). Nothing is
 * kept when no enabled endpoint of the registry subscribes to the event's type.
 */
export async function recordEventIn(db: Kysely<Database>, event: OutboxEvent, now: number): Promise<boolean> {
  const endpoints = await db
    .selectFrom('webhook_endpoints as e')
    .innerJoin('registries as g', 'g.id', 'e.registry_id')
    .select(['e.events', 'g.id as registry_id'])
    .where('g.name', '=', event.registry)
    .where('e.enabled', '=', 1)
    .execute();
  const subscriber = endpoints.find((e) => (JSON.parse(e.events) as string[]).includes(event.type));
  if (!subscriber) return false;
  await db
    .insertInto('webhook_events')
    .values({
      id: event.id,
      registry_id: Number(subscriber.registry_id),
      type: event.type,
      repository: event.repository,
      data: JSON.stringify(event.data),
      occurred_at: event.occurredAt,
    })
    .execute();
  // One job per event, never deduplicated: a fan-out that is already running may have read the outbox before this commit.
  await enqueueJobIn(db, WEBHOOK_FANOUT_JOB, {}, { maxAttempts: FANOUT_JOB_ATTEMPTS }, now);
  return true;
}

type EndpointRow = Selectable<WebhookEndpointsTable> & { registry: string };

/** Endpoints, the outbox, deliveries and their log over kysely, for every dialect. */
export class KyselyWebhookStore implements WebhookStore {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly now: () => number = Date.now,
  ) {}

  async createEndpoint(e: NewWebhookEndpoint): Promise<WebhookEndpoint> {
    await this.db
      .insertInto('webhook_endpoints')
      .values({
        id: e.id,
        registry_id: e.registryId,
        url: e.url,
        secret: e.secret,
        events: JSON.stringify(e.events),
        repository_filter: e.repositoryFilter,
        tag_filter: e.tagFilter,
        format: e.format,
        enabled: e.enabled ? 1 : 0,
        disabled_reason: null,
        failing_since: null,
        created_by: e.createdBy,
        created_at: e.createdAt,
        updated_at: e.updatedAt,
      })
      .execute();
    return (await this.getEndpoint(e.id))!;
  }

  async listEndpoints(registryId: number): Promise<WebhookEndpoint[]> {
    const rows = await this.endpoints(this.db).where('e.registry_id', '=', registryId).orderBy('e.created_at').orderBy('e.id').execute();
    return rows.map(toEndpoint);
  }

  async getEndpoint(id: string): Promise<WebhookEndpoint | undefined> {
    const row = await this.endpoints(this.db).where('e.id', '=', id).executeTakeFirst();
    return row ? toEndpoint(row) : undefined;
  }

  async updateEndpoint(id: string, patch: WebhookEndpointPatch): Promise<WebhookEndpoint | undefined> {
    return runTransaction(this.db, async (trx) => {
      const values: Partial<Selectable<WebhookEndpointsTable>> = { updated_at: patch.updatedAt };
      if (patch.url !== undefined) values.url = patch.url;
      if (patch.secret !== undefined) values.secret = patch.secret;
      if (patch.events !== undefined) values.events = JSON.stringify(patch.events);
      if (patch.repositoryFilter !== undefined) values.repository_filter = patch.repositoryFilter;
      if (patch.tagFilter !== undefined) values.tag_filter = patch.tagFilter;
      if (patch.format !== undefined) values.format = patch.format;
      if (patch.enabled !== undefined) {
        values.enabled = patch.enabled ? 1 : 0;
        if (patch.enabled) Object.assign(values, { disabled_reason: null, failing_since: null });
      }
      const res = await trx.updateTable('webhook_endpoints').set(values).where('id', '=', id).executeTakeFirst();
      if (Number(res.numUpdatedRows) === 0) return undefined;
      if (patch.enabled === false) await this.failPending(trx, id, 'the endpoint was disabled', patch.updatedAt);
      return toEndpoint((await this.endpoints(trx).where('e.id', '=', id).executeTakeFirst())!);
    });
  }

  async deleteEndpoint(id: string): Promise<boolean> {
    return runTransaction(this.db, async (trx) => {
      // Explicitly, as the other stores do: correct whether or not the dialect enforces ON DELETE CASCADE.
      await trx.deleteFrom('webhook_deliveries').where('endpoint_id', '=', id).execute();
      const res = await trx.deleteFrom('webhook_endpoints').where('id', '=', id).executeTakeFirst();
      return Number(res.numDeletedRows) > 0;
    });
  }

  recordEvent(event: OutboxEvent): Promise<boolean> {
    return runTransaction(this.db, (trx) => recordEventIn(trx, event, this.now()));
  }

  async registriesSubscribedTo(type: string): Promise<Set<string>> {
    const rows = await this.db
      .selectFrom('webhook_endpoints as e')
      .innerJoin('registries as g', 'g.id', 'e.registry_id')
      .select(['g.name', 'e.events'])
      .where('e.enabled', '=', 1)
      .execute();
    return new Set(rows.filter((r) => (JSON.parse(r.events) as string[]).includes(type)).map((r) => r.name));
  }

  async fanOut(limit: number, select: (event: StoredEvent, endpoints: WebhookEndpoint[]) => WebhookEndpoint[]): Promise<number> {
    return runTransaction(this.db, async (trx) => {
      const rows = await this.events(trx).where('v.fanned_out', '=', 0).orderBy('v.seq').limit(limit).execute();
      if (rows.length === 0) return 0;
      const registryIds = [...new Set(rows.map((r) => Number(r.registry_id)))];
      const endpoints = (await this.endpoints(trx).where('e.registry_id', 'in', registryIds).where('e.enabled', '=', 1).orderBy('e.id').execute()).map(toEndpoint);
      const now = this.now();
      for (const row of rows) {
        const event = toEvent(row);
        const candidates = endpoints.filter((e) => e.registryId === Number(row.registry_id));
        for (const endpoint of select(event, candidates)) await this.addDelivery(trx, endpoint.id, event, null, now);
      }
      await trx.updateTable('webhook_events').set({ fanned_out: 1 }).where('seq', 'in', rows.map((r) => r.seq)).execute();
      return rows.length;
    });
  }

  async deliveryContext(deliveryId: number): Promise<{ delivery: WebhookDelivery; endpoint: WebhookEndpoint; event: StoredEvent } | undefined> {
    const delivery = await this.getDelivery(deliveryId);
    if (!delivery) return undefined;
    const [endpoint, event] = await Promise.all([
      this.getEndpoint(delivery.endpointId),
      this.events(this.db).where('v.seq', '=', delivery.eventSeq).executeTakeFirst(),
    ]);
    if (!endpoint || !event) return undefined;
    return { delivery, endpoint, event: toEvent(event) };
  }

  async recordAttempt(r: AttemptRecord): Promise<{ recorded: boolean; disabled?: WebhookEndpoint }> {
    return runTransaction(this.db, async (trx) => {
      const d = await trx.selectFrom('webhook_deliveries').selectAll().where('id', '=', r.deliveryId).executeTakeFirst();
      if (!d || d.status !== 'pending' || Number(d.attempts) !== r.attempt - 1) return { recorded: false };
      const now = this.now();
      const { outcome } = r;
      const status: DeliveryStatus = outcome.kind === 'delivered' ? 'delivered' : outcome.kind === 'failed' ? 'failed' : 'pending';
      await trx
        .updateTable('webhook_deliveries')
        .set({
          status,
          attempts: r.attempt,
          first_attempt_at: d.first_attempt_at ?? r.at,
          next_attempt_at: outcome.kind === 'retry' ? outcome.at : null,
          response_status: r.responseStatus,
          latency_ms: Math.round(r.latencyMs),
          response_excerpt: r.responseExcerpt,
          error: r.error === null ? null : r.error.slice(0, 2000),
          updated_at: now,
          completed_at: status === 'pending' ? null : now,
        })
        .where('id', '=', d.id)
        .execute();
      if (outcome.kind === 'retry') await queueAttempt(trx, Number(d.id), r.attempt + 1, outcome.at, now);
      else await this.startNext(trx, d.endpoint_id, d.lane, now);

      const endpoint = await this.endpoints(trx).where('e.id', '=', d.endpoint_id).executeTakeFirst();
      if (!endpoint) return { recorded: true };
      if (outcome.kind === 'delivered') {
        if (endpoint.failing_since !== null) await trx.updateTable('webhook_endpoints').set({ failing_since: null }).where('id', '=', endpoint.id).execute();
        return { recorded: true };
      }
      const failingSince = endpoint.failing_since === null ? r.at : Math.min(Number(endpoint.failing_since), r.at);
      if (endpoint.failing_since === null) await trx.updateTable('webhook_endpoints').set({ failing_since: failingSince }).where('id', '=', endpoint.id).execute();
      if (!endpoint.enabled || failingSince > r.disableIfFailingSince) return { recorded: true };
      const reason = `every delivery attempt failed since ${new Date(failingSince).toISOString()}`;
      await trx.updateTable('webhook_endpoints').set({ enabled: 0, disabled_reason: reason, updated_at: now }).where('id', '=', endpoint.id).execute();
      await this.failPending(trx, endpoint.id, 'the endpoint was disabled after failing for too long', now);
      return { recorded: true, disabled: toEndpoint({ ...endpoint, enabled: 0, disabled_reason: reason, failing_since: failingSince, updated_at: now }) };
    });
  }

  async abandon(deliveryId: number, error: string): Promise<boolean> {
    return runTransaction(this.db, async (trx) => {
      const d = await trx.selectFrom('webhook_deliveries').select(['endpoint_id', 'lane', 'status']).where('id', '=', deliveryId).executeTakeFirst();
      if (!d || d.status !== 'pending') return false;
      const now = this.now();
      await trx.updateTable('webhook_deliveries').set({ status: 'failed', error: error.slice(0, 2000), next_attempt_at: null, updated_at: now, completed_at: now }).where('id', '=', deliveryId).execute();
      await this.startNext(trx, d.endpoint_id, d.lane, now);
      return true;
    });
  }

  async listDeliveries(endpointId: string, limit: number, offset: number): Promise<{ deliveries: WebhookDelivery[]; total: number }> {
    const [rows, count] = await Promise.all([
      this.deliveries(this.db).where('d.endpoint_id', '=', endpointId).orderBy('d.id', 'desc').limit(limit).offset(offset).execute(),
      this.db.selectFrom('webhook_deliveries').select((eb) => eb.fn.countAll<number>().as('n')).where('endpoint_id', '=', endpointId).executeTakeFirstOrThrow(),
    ]);
    return { deliveries: rows.map(toDelivery), total: Number(count.n) };
  }

  async getDelivery(deliveryId: number): Promise<WebhookDelivery | undefined> {
    const row = await this.deliveries(this.db).where('d.id', '=', deliveryId).executeTakeFirst();
    return row ? toDelivery(row) : undefined;
  }

  async redeliver(deliveryId: number): Promise<WebhookDelivery | undefined> {
    return runTransaction(this.db, async (trx) => {
      const original = await this.deliveries(trx).where('d.id', '=', deliveryId).executeTakeFirst();
      if (!original) return undefined;
      const id = await this.addDelivery(trx, original.endpoint_id, { seq: Number(original.event_seq), repository: original.repository }, Number(original.id), this.now(), original.lane);
      return toDelivery((await this.deliveries(trx).where('d.id', '=', id).executeTakeFirst())!);
    });
  }

  async deliverTo(endpointId: string, event: OutboxEvent, lane: string): Promise<WebhookDelivery | undefined> {
    return runTransaction(this.db, async (trx) => {
      const endpoint = await trx.selectFrom('webhook_endpoints').select('registry_id').where('id', '=', endpointId).executeTakeFirst();
      if (!endpoint) return undefined;
      const row = await trx
        .insertInto('webhook_events')
        .values({ id: event.id, registry_id: Number(endpoint.registry_id), type: event.type, repository: event.repository, data: JSON.stringify(event.data), occurred_at: event.occurredAt, fanned_out: 1 })
        .returning('seq')
        .executeTakeFirstOrThrow();
      const id = await this.addDelivery(trx, endpointId, { seq: Number(row.seq), repository: event.repository }, null, this.now(), lane);
      return toDelivery((await this.deliveries(trx).where('d.id', '=', id).executeTakeFirst())!);
    });
  }

  async prune(before: number): Promise<{ deliveries: number; events: number }> {
    return runTransaction(this.db, async (trx) => {
      const d = await trx.deleteFrom('webhook_deliveries').where('status', '!=', 'pending').where('updated_at', '<', before).executeTakeFirst();
      const e = await trx
        .deleteFrom('webhook_events')
        .where('fanned_out', '=', 1)
        .where('occurred_at', '<', before)
        .where(({ not, exists, selectFrom }) => not(exists(selectFrom('webhook_deliveries as d').select('d.id').whereRef('d.event_seq', '=', 'webhook_events.seq'))))
        .executeTakeFirst();
      return { deliveries: Number(d.numDeletedRows), events: Number(e.numDeletedRows) };
    });
  }

  async reachQuotaLevel(registry: string, level: number, event: OutboxEvent): Promise<boolean> {
    return runTransaction(this.db, async (trx) => {
      const reg = await trx.selectFrom('registries').select('id').where('name', '=', registry).executeTakeFirst();
      if (!reg) return false;
      const current = await trx.selectFrom('webhook_quota_levels').select('level').where('registry_id', '=', reg.id).executeTakeFirst();
      const before = current ? Number(current.level) : 0;
      if (before === level) return false;
      const now = this.now();
      await trx
        .insertInto('webhook_quota_levels')
        .values({ registry_id: reg.id, level, updated_at: now })
        .onConflict((oc) => oc.column('registry_id').doUpdateSet({ level, updated_at: now }))
        .execute();
      if (level < before) return false;
      await recordEventIn(trx, event, now);
      return true;
    });
  }

  /** Adds a delivery at the end of its lane; the head of the lane (nothing pending before it) gets its job now. */
  private async addDelivery(trx: Kysely<Database>, endpointId: string, event: { seq: number; repository: string | null }, redeliveryOf: number | null, now: number, lane = event.repository ?? ''): Promise<number> {
    const waiting = await trx
      .selectFrom('webhook_deliveries')
      .select('id')
      .where('endpoint_id', '=', endpointId)
      .where('lane', '=', lane)
      .where('status', '=', 'pending')
      .limit(1)
      .executeTakeFirst();
    const row = await trx
      .insertInto('webhook_deliveries')
      .values({ endpoint_id: endpointId, event_seq: event.seq, lane, status: 'pending', attempts: 0, redelivery_of: redeliveryOf, created_at: now, updated_at: now })
      .returning('id')
      .executeTakeFirstOrThrow();
    const id = Number(row.id);
    if (!waiting) await queueAttempt(trx, id, 1, now, now);
    return id;
  }

  /** After a delivery ended: the next in its lane becomes the head, and gets its job. */
  private async startNext(trx: Kysely<Database>, endpointId: string, lane: string, now: number): Promise<void> {
    const next = await trx
      .selectFrom('webhook_deliveries')
      .select(['id', 'attempts', 'next_attempt_at'])
      .where('endpoint_id', '=', endpointId)
      .where('lane', '=', lane)
      .where('status', '=', 'pending')
      .orderBy('id')
      .limit(1)
      .executeTakeFirst();
    if (next) await queueAttempt(trx, Number(next.id), Number(next.attempts) + 1, Math.max(now, Number(next.next_attempt_at ?? now)), now);
  }

  private async failPending(trx: Kysely<Database>, endpointId: string, error: string, now: number): Promise<void> {
    await trx
      .updateTable('webhook_deliveries')
      .set({ status: 'failed', error, next_attempt_at: null, updated_at: now, completed_at: now })
      .where('endpoint_id', '=', endpointId)
      .where('status', '=', 'pending')
      .execute();
  }

  private endpoints(db: Kysely<Database>) {
    return db.selectFrom('webhook_endpoints as e').innerJoin('registries as g', 'g.id', 'e.registry_id').selectAll('e').select('g.name as registry');
  }

  private events(db: Kysely<Database>) {
    return db.selectFrom('webhook_events as v').innerJoin('registries as g', 'g.id', 'v.registry_id').selectAll('v').select('g.name as registry');
  }

  private deliveries(db: Kysely<Database>) {
    return db
      .selectFrom('webhook_deliveries as d')
      .innerJoin('webhook_events as v', 'v.seq', 'd.event_seq')
      .selectAll('d')
      .select(['v.id as event_id', 'v.type as event_type', 'v.repository']);
  }
}

function queueAttempt(trx: Kysely<Database>, deliveryId: number, attempt: number, runAt: number, now: number): Promise<unknown> {
  const payload: DeliveryJobPayload = { deliveryId, attempt };
  return enqueueJobIn(trx, WEBHOOK_DELIVERY_JOB, payload, { runAt, maxAttempts: DELIVERY_JOB_ATTEMPTS }, now);
}

function toEndpoint(row: EndpointRow): WebhookEndpoint {
  return {
    id: row.id,
    registryId: Number(row.registry_id),
    registry: row.registry,
    url: row.url,
    secret: row.secret,
    events: JSON.parse(row.events) as string[],
    repositoryFilter: row.repository_filter,
    tagFilter: row.tag_filter,
    format: row.format as WebhookFormat,
    enabled: Number(row.enabled) === 1,
    disabledReason: row.disabled_reason,
    failingSince: row.failing_since === null ? null : Number(row.failing_since),
    createdBy: row.created_by,
    createdAt: Number(row.created_at),
    updatedAt: Number(row.updated_at),
  };
}

function toEvent(row: { seq: number; id: string; type: string; registry: string; repository: string | null; data: string; occurred_at: number }): StoredEvent {
  return {
    seq: Number(row.seq),
    id: row.id,
    type: row.type,
    registry: row.registry,
    repository: row.repository,
    occurredAt: Number(row.occurred_at),
    data: JSON.parse(row.data) as Record<string, unknown>,
  };
}

function toDelivery(row: Selectable<Database['webhook_deliveries']> & { event_id: string; event_type: string; repository: string | null }): WebhookDelivery {
  const n = (v: number | null) => (v === null ? null : Number(v));
  return {
    id: Number(row.id),
    endpointId: row.endpoint_id,
    eventSeq: Number(row.event_seq),
    eventId: row.event_id,
    eventType: row.event_type,
    repository: row.repository,
    status: row.status as DeliveryStatus,
    attempts: Number(row.attempts),
    firstAttemptAt: n(row.first_attempt_at),
    nextAttemptAt: n(row.next_attempt_at),
    responseStatus: n(row.response_status),
    latencyMs: n(row.latency_ms),
    responseExcerpt: row.response_excerpt,
    error: row.error,
    redeliveryOf: n(row.redelivery_of),
    createdAt: Number(row.created_at),
    updatedAt: Number(row.updated_at),
    completedAt: n(row.completed_at),
  };
}
