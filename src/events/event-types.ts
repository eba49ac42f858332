/**
 * What webhooks send: the event types, the data of each (a stable, documented
 * schema: docs/webhooks.md), and the two envelopes an endpoint can choose —
 * CloudEvents 1.0 in structured mode (the default), or the notification
 * envelope of CNCF Distribution for tools built for it.
 */
import type { ContentChange } from '../core/registry-events.js';
import { registryOf, type RepoName } from '../oci/name.js';
import type { OutboxEvent } from '../storage/meta/meta-store.js';

export const EVENT_TYPES = ['push', 'tag.deleted', 'manifest.deleted', 'repository.deleted', 'scan.completed', 'quota.warning', 'gc.completed', 'pull'] as const;
export type EventType = (typeof EVENT_TYPES)[number];

/** The types Distribution's envelope can carry (as its `push`, `pull` and `delete` actions). */
export const DISTRIBUTION_EVENT_TYPES: readonly EventType[] = ['push', 'pull', 'tag.deleted', 'manifest.deleted', 'repository.deleted'];

/** Events that concern tags: a tag filter lets them through only when one of their tags matches. */
export const TAGGED_EVENT_TYPES: readonly EventType[] = ['push', 'pull', 'tag.deleted', 'manifest.deleted'];

export interface PushData {
  registry: string;
  repository: string;
  /** Null for a push by digest. */
  tag: string | null;
  digest: string;
  media_type: string;
  size: number;
  /** Who pushed (user, or robot as `registry+name`). */
  pusher: string | null;
  /** What `docker pull` takes: `host/repository:tag` (or `@digest`); null when the host the client used is unknown. */
  pull_reference: string | null;
}

export interface TagDeletedData {
  registry: string;
  repository: string;
  tag: string;
  /** The manifest the tag named. */
  digest: string;
  actor: string | null;
}

export interface ManifestDeletedData {
  registry: string;
  repository: string;
  digest: string;
  media_type: string;
  /** The tags that named it, deleted with it. */
  tags: string[];
  actor: string | null;
}

export interface RepositoryDeletedData {
  registry: string;
  repository: string;
  manifests_deleted: number;
  blobs_unlinked: number;
  actor: string | null;
}

export interface SeverityCounts {
  critical: number;
  high: number;
  medium: number;
  low: number;
  unknown: number;
  total: number;
}

export interface ScanCompletedData {
  registry: string;
  repository: string;
  digest: string;
  /** complete, failed or unsupported. */
  status: string;
  /** Null unless the scan completed on an image. */
  severity_counts: SeverityCounts | null;
}

export interface QuotaWarningData {
  registry: string;
  tier: string;
  /** 80 or 100. */
  threshold_percent: number;
  used_bytes: number;
  limit_bytes: number;
  used_percent: number;
}

export interface GcCompletedData {
  registry: string;
  run_id: string;
  type: string;
  /** succeeded, failed or cancelled. */
  status: string;
  dry_run: boolean;
  manifests_deleted: number;
  blobs_deleted: number;
  freed_bytes: number;
  error: string | null;
}

export interface PullData {
  registry: string;
  repository: string;
  /** The reference the client asked for: a tag or a digest. */
  reference: string;
  tag: string | null;
  digest: string;
  media_type: string;
  size: number;
  puller: string | null;
}

export interface EventData {
  push: PushData;
  'tag.deleted': TagDeletedData;
  'manifest.deleted': ManifestDeletedData;
  'repository.deleted': RepositoryDeletedData;
  'scan.completed': ScanCompletedData;
  'quota.warning': QuotaWarningData;
  'gc.completed': GcCompletedData;
  pull: PullData;
}

/**
 * The event an admin sends to one webhook to test it (`POST …/webhooks/{id}/test`).
 * It is not one of EVENT_TYPES: nothing subscribes to it, and it goes to that one
 * webhook whatever its event types and filters.
 */
export const PING_EVENT_TYPE = 'ping';

export interface PingData {
  registry: string;
  webhook_id: string;
  /** The event types the webhook subscribes to. */
  events: string[];
  /** Who asked for the test. */
  requested_by: string | null;
}

/** A test ping of one webhook, as the outbox keeps it (registry-wide: no repository). */
export function pingEvent(data: PingData, id: string, occurredAt: number): OutboxEvent {
  return { id, occurredAt, type: PING_EVENT_TYPE, registry: data.registry, repository: null, data: { ...data } };
}

/** An event before it is kept: its type and data, typed together. */
export type TypedEvent = { [K in EventType]: { type: K; registry: string; repository: string | null; data: EventData[K] } }[EventType];

/** Gives a typed event its id and time, as the outbox keeps it. */
export function outboxEvent(event: TypedEvent, id: string, occurredAt: number): OutboxEvent {
  return { id, occurredAt, type: event.type, registry: event.registry, repository: event.repository, data: { ...event.data } };
}

export function pullReference(host: string | undefined, repository: string, tag: string | undefined, digest: string): string | null {
  if (!host) return null;
  return tag ? `${host}/${repository}:${tag}` : `${host}/${repository}@${digest}`;
}

/** The event of a change core records in its transaction. */
export function eventOfChange(change: ContentChange): TypedEvent {
  const repository = change.repository;
  const base = { registry: registryOf(repository), repository };
  const actor = change.actor?.name ?? null;
  switch (change.type) {
    case 'push':
      return {
        type: 'push',
        ...base,
        data: {
          ...base,
          tag: change.tag ?? null,
          digest: change.digest,
          media_type: change.mediaType,
          size: change.size,
          pusher: actor,
          pull_reference: pullReference(change.actor?.host, repository, change.tag, change.digest),
        },
      };
    case 'tag.deleted':
      return { type: 'tag.deleted', ...base, data: { ...base, tag: change.tag, digest: change.digest, actor } };
    case 'manifest.deleted':
      return { type: 'manifest.deleted', ...base, data: { ...base, digest: change.digest, media_type: change.mediaType, tags: change.tags, actor } };
    case 'repository.deleted':
      return { type: 'repository.deleted', ...base, data: { ...base, manifests_deleted: change.manifests, blobs_unlinked: change.blobs, actor } };
  }
}

/** Tags an event concerns (for tag filters). */
export function tagsOf(event: OutboxEvent): string[] {
  const data = event.data as { tag?: string | null; tags?: string[] };
  if (Array.isArray(data.tags)) return data.tags;
  return typeof data.tag === 'string' ? [data.tag] : [];
}

export interface CloudEvent {
  specversion: '1.0';
  id: string;
  /** `/registries/<registry>`. */
  source: string;
  /** `berth.<event type>`, e.g. `berth.push`. */
  type: string;
  /** What the event is about: `repository:tag`, `repository@digest`, the repository, or a GC run. */
  subject?: string;
  time: string;
  datacontenttype: 'application/json';
  data: Record<string, unknown>;
}

export const CLOUDEVENTS_CONTENT_TYPE = 'application/cloudevents+json; charset=utf-8';
export const DISTRIBUTION_CONTENT_TYPE = 'application/vnd.docker.distribution.events.v1+json';
export const CLOUDEVENT_TYPE_PREFIX = 'berth.';

export function toCloudEvent(event: OutboxEvent): CloudEvent {
  const out: CloudEvent = {
    specversion: '1.0',
    id: event.id,
    source: `/registries/${event.registry}`,
    type: `${CLOUDEVENT_TYPE_PREFIX}${event.type}`,
    time: new Date(event.occurredAt).toISOString(),
    datacontenttype: 'application/json',
    data: event.data,
  };
  const subject = subjectOf(event);
  if (subject) out.subject = subject;
  return out;
}

function subjectOf(event: OutboxEvent): string | undefined {
  const data = event.data as { tag?: string | null; digest?: string; run_id?: string };
  if (event.type === 'gc.completed') return data.run_id;
  if (!event.repository) return undefined;
  if (data.tag) return `${event.repository}:${data.tag}`;
  if (data.digest) return `${event.repository}@${data.digest}`;
  return event.repository;
}

/** One event of Distribution's notification envelope (`{"events": [...]}`). */
export interface DistributionEvent {
  id: string;
  timestamp: string;
  action: 'push' | 'pull' | 'delete';
  target: { mediaType?: string; digest?: string; size?: number; length?: number; repository: string; url?: string; tag?: string };
  request?: { host?: string; method: string };
  actor: { name?: string };
  source: { addr: string; instanceID: string };
}

/** Distribution's envelope for the event (with no events for a ping); undefined for types it has no action for. */
export function toDistributionEnvelope(event: OutboxEvent, source: { addr: string; instanceID: string }): { events: DistributionEvent[] } | undefined {
  // Distribution has no test event: a ping is an envelope with no events, which its receivers take as nothing to do.
  if (event.type === PING_EVENT_TYPE) return { events: [] };
  const type = event.type as EventType;
  if (!DISTRIBUTION_EVENT_TYPES.includes(type) || !event.repository) return undefined;
  const d = event.data as Partial<PushData & PullData & ManifestDeletedData & TagDeletedData>;
  const action = type === 'push' ? 'push' : type === 'pull' ? 'pull' : 'delete';
  const target: DistributionEvent['target'] = { repository: event.repository };
  if (d.media_type) target.mediaType = d.media_type;
  if (d.digest) target.digest = d.digest;
  if (typeof d.size === 'number') target.size = target.length = d.size;
  if (d.tag) target.tag = d.tag;
  const host = d.pull_reference ? d.pull_reference.slice(0, d.pull_reference.indexOf('/')) : undefined;
  if (host && d.digest) target.url = `https://${host}/v2/${event.repository}/manifests/${d.digest}`;
  const name = d.pusher ?? d.puller ?? d.actor ?? undefined;
  const method = action === 'push' ? 'PUT' : action === 'pull' ? 'GET' : 'DELETE';
  return {
    events: [
      {
        id: event.id,
        timestamp: new Date(event.occurredAt).toISOString(),
        action,
        target,
        request: { ...(host ? { host } : {}), method },
        actor: name ? { name } : {},
        source,
      },
    ],
  };
}

/** The data of a repository-scoped event, for builders outside core (scans, pulls). */
export function repositoryBase(repository: string): { registry: string; repository: string } {
  return { registry: registryOf(repository as RepoName), repository };
}
