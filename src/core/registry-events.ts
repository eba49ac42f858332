import type { Digest } from '../oci/digest.js';
import type { RepoName } from '../oci/name.js';
import type { MetaStore } from '../storage/meta/meta-store.js';

/** Who made a change, as the HTTP layer knows them. */
export interface Actor {
  /** The principal's name (a user, a robot's `registry+name`, `anonymous`). */
  name: string;
  /** The host the client addressed (its Host header): `docker pull` references name it. */
  host?: string;
}

/** How a manifest was pulled: the reference asked for (a tag or a digest), and by whom. */
export interface PullRequest {
  reference: string;
  actor?: Actor;
}

/**
 * Changes to content that subscribers (webhooks) hear of. Core records each one
 * inside the transaction that makes the change, so a committed change is never
 * without its event, nor an event without its change.
 */
export type ContentChange =
  | { type: 'push'; repository: RepoName; tag?: string; digest: Digest; mediaType: string; size: number; actor?: Actor }
  | { type: 'tag.deleted'; repository: RepoName; tag: string; digest: Digest; actor?: Actor }
  | { type: 'manifest.deleted'; repository: RepoName; digest: Digest; mediaType: string; tags: string[]; actor?: Actor }
  | { type: 'repository.deleted'; repository: RepoName; manifests: number; blobs: number; actor?: Actor };

/** Records a change in `tx`, the transaction that makes it; set by the composition root (src/events/outbox.ts). */
export type ChangeRecorder = (tx: MetaStore, change: ContentChange) => Promise<void>;
