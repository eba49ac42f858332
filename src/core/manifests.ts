import { digestBytes, isDigestLike, parseDigest, type Digest } from '../oci/digest.js';
import { RegistryError } from '../oci/errors.js';
import { parseManifest, type Descriptor } from '../oci/manifest/parse.js';
import { isNonDistributable } from '../oci/media-types.js';
import { parseTag, type RepoName } from '../oci/name.js';
import type { ManifestRecord, MetaStore } from '../storage/meta/meta-store.js';
import type { ImmutableTags } from './immutable-tags.js';
import { NO_QUOTA, type Quota } from './quota.js';
import type { ReadCache } from './read-cache.js';
import type { Actor, ChangeRecorder, PullRequest } from './registry-events.js';
import { ensureRepository, requireRepository } from './repositories.js';

/** Manifests above this size are refused with 413, as the spec allows (Distribution uses the same limit). */
export const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;

/** A manifest reference: a tag, or a digest. */
export type Reference = { tag: string } | { digest: Digest };

export function parseReference(reference: string): Reference {
  return isDigestLike(reference) ? { digest: parseDigest(reference).digest } : { tag: parseTag(reference) };
}

export interface PutManifestResult {
  digest: Digest;
  subject?: Digest;
}

/** A manifest that was just stored (its transaction committed). */
export interface ManifestPushed {
  repository: RepoName;
  digest: Digest;
  mediaType: string;
  tag?: string;
}

export class Manifests {
  private readonly pushListeners: ((event: ManifestPushed) => Promise<void>)[] = [];
  private readonly pullListeners: ((repository: RepoName, manifest: ManifestRecord, request?: PullRequest) => void)[] = [];
  /** Rules that make tags immutable; set by the Registry when it has the store. */
  immutableTags?: ImmutableTags;
  /** Records pushes and deletions in their own transactions (webhooks); set by the composition root. */
  recordChange?: ChangeRecorder;

  constructor(
    private readonly meta: MetaStore,
    /** Set only when this process is the metadata's one writer (see ReadCache). */
    private readonly cache?: ReadCache<ManifestRecord>,
    private readonly quota?: Quota,
  ) {}

  /**
   * Calls `listener` after every stored manifest, before the push is answered (so
   * a scan queued there is durable when the client hears of the push). A listener
   * that throws fails the answer, not the stored manifest: it must handle its errors.
   */
  onPushed(listener: (event: ManifestPushed) => Promise<void>): void {
    this.pushListeners.push(listener);
  }

  /** Calls `listener` on every pull (a GET that served the manifest; a HEAD is not a pull). It must be quick and not throw. */
  onPulled(listener: (repository: RepoName, manifest: ManifestRecord, request?: PullRequest) => void): void {
    this.pullListeners.push(listener);
  }

  /** The HTTP layer served `manifest` to a GET. */
  pulled(repository: RepoName, manifest: ManifestRecord, request?: PullRequest): void {
    for (const listener of this.pullListeners) listener(repository, manifest, request);
  }

  async get(name: RepoName, reference: string): Promise<ManifestRecord> {
    const ref = parseReferenceForRead(reference);
    // With several nodes the cache stays right too: a write is answered only once every node has dropped what it replaced.
    const cache = this.cache;
    const cached = cache?.get(name, reference);
    if (cached) return cached;
    const generation = cache?.generation() ?? 0;
    const manifest = await this.meta.findManifest(name, ref);
    if (manifest) {
      cache?.set(name, reference, manifest, generation);
      return manifest;
    }
    await requireRepository(this.meta, name); // NAME_UNKNOWN rather than MANIFEST_UNKNOWN when the repository is missing
    throw unknownManifest(name, reference);
  }

  /**
   * Validates and stores a manifest, in one metadata transaction: every blob
   * and child manifest it names must already be in the repository.
   */
  async put(name: RepoName, reference: string, body: Buffer, contentType: string | undefined, actor?: Actor): Promise<PutManifestResult> {
    if (body.length > MAX_MANIFEST_BYTES) throw tooLarge(body.length);
    const ref = parseReference(reference);
    const parsed = parseManifest(body, contentType);
    const digest = 'digest' in ref ? ref.digest : digestBytes(body);
    if ('digest' in ref) {
      const actual = digestBytes(body, parseDigest(ref.digest).algorithm);
      if (actual !== ref.digest) {
        throw new RegistryError('DIGEST_INVALID', `manifest hashes to ${actual}, not ${ref.digest}`, { expected: ref.digest, actual });
      }
    }
    const blobs = parsed.blobs.filter((d) => !isNonDistributable(d.mediaType));

    const quota = this.quota ? await this.quota.forPush(name) : NO_QUOTA;
    const immutable = 'tag' in ref && this.immutableTags ? { check: this.immutableTags, rules: await this.immutableTags.rulesFor(name) } : undefined;
    this.cache?.invalidate(name);
    await quota.newRepository(name, () => this.meta.transaction(async (tx) => {
      const repo = await ensureRepository(tx, name);
      assertPresent(blobs, await tx.getRepositoryBlobs(repo.id, unique(blobs)), 'blob');
      assertPresent(parsed.children, await tx.getRepositoryManifests(repo.id, unique(parsed.children)), 'manifest');
      // The manifest's own bytes count towards storage; over the limit, the whole put rolls back.
      const id = await quota.withinStorage(tx, () => tx.putManifest({
        repositoryId: repo.id,
        digest,
        mediaType: parsed.mediaType,
        size: body.length,
        body,
        artifactType: parsed.artifactType,
        subjectDigest: parsed.subject?.digest,
        annotations: parsed.annotations,
        blobDigests: blobs.map((d) => d.digest),
        childDigests: parsed.children.map((d) => d.digest),
      }));
      if ('tag' in ref) {
        if (immutable && immutable.rules.length > 0) {
          const current = await tx.getManifestByTag(repo.id, ref.tag);
          immutable.check.assertMayMove(immutable.rules, name, ref.tag, current?.digest, digest);
        }
        await tx.setTag(repo.id, ref.tag, id);
      }
      await this.recordChange?.(tx, { type: 'push', repository: name, ...('tag' in ref ? { tag: ref.tag } : {}), digest, mediaType: parsed.mediaType, size: body.length, actor });
    }));
    await this.cache?.changed(name);
    const event: ManifestPushed = { repository: name, digest, mediaType: parsed.mediaType, ...('tag' in ref ? { tag: ref.tag } : {}) };
    for (const listener of this.pushListeners) await listener(event);
    return { digest, subject: parsed.subject?.digest };
  }

  /** By digest: deletes the manifest and its tags. By tag: removes only the tag. */
  async delete(name: RepoName, reference: string, actor?: Actor): Promise<void> {
    const ref = parseReferenceForRead(reference);
    const repo = await requireRepository(this.meta, name);
    const rules = this.immutableTags ? await this.immutableTags.rulesFor(name) : [];
    this.cache?.invalidate(name);
    const deleted = await this.meta.transaction(async (tx) => {
      if (rules.length > 0) {
        const tags = 'tag' in ref ? ((await tx.getManifestByTag(repo.id, ref.tag)) ? [ref.tag] : []) : await tx.tagsOfManifest(repo.id, ref.digest);
        this.immutableTags!.assertMayDelete(rules, name, tags, 'tag' in ref ? `tag ${ref.tag}` : `manifest ${ref.digest}`);
      }
      return this.deleteRecorded(tx, repo.id, name, ref, actor);
    });
    await this.cache?.changed(name);
    if (!deleted) throw unknownManifest(name, reference);
  }

  /** Deletes a tag, or a manifest and its tags, in `tx`; records the change there when changes are recorded. */
  private async deleteRecorded(tx: MetaStore, repositoryId: number, name: RepoName, ref: Reference, actor: Actor | undefined): Promise<boolean> {
    const record = this.recordChange;
    if ('tag' in ref) {
      const tagged = record ? await tx.getManifestByTag(repositoryId, ref.tag) : undefined;
      if (!(await tx.deleteTag(repositoryId, ref.tag))) return false;
      if (record && tagged) await record(tx, { type: 'tag.deleted', repository: name, tag: ref.tag, digest: tagged.digest, actor });
      return true;
    }
    const manifest = record ? await tx.getManifestByDigest(repositoryId, ref.digest) : undefined;
    const tags = manifest ? await tx.tagsOfManifest(repositoryId, ref.digest) : [];
    if (!(await tx.deleteManifest(repositoryId, ref.digest))) return false;
    if (record && manifest) await record(tx, { type: 'manifest.deleted', repository: name, digest: ref.digest, mediaType: manifest.mediaType, tags, actor });
    return true;
  }
}

/** On reads, a reference that is not a valid tag cannot name anything: it is unknown, not a bad manifest. */
function parseReferenceForRead(reference: string): Reference {
  if (isDigestLike(reference)) return { digest: parseDigest(reference).digest };
  try {
    return { tag: parseTag(reference) };
  } catch {
    throw new RegistryError('MANIFEST_UNKNOWN', `invalid tag ${reference.slice(0, 140)}: no manifest can have it`);
  }
}

function assertPresent(wanted: Descriptor[], found: Map<string, number>, kind: 'blob' | 'manifest'): void {
  for (const d of wanted) {
    const size = found.get(d.digest);
    if (size === undefined) {
      throw new RegistryError('MANIFEST_BLOB_UNKNOWN', `${kind} ${d.digest} is referenced by the manifest but not in the repository; push it first`, {
        digest: d.digest,
      });
    }
    if (size !== d.size) {
      throw new RegistryError('MANIFEST_INVALID', `${kind} ${d.digest} has size ${size}, but the manifest says ${d.size}`, { digest: d.digest });
    }
  }
}

function unique(descriptors: Descriptor[]): Digest[] {
  return [...new Set(descriptors.map((d) => d.digest))];
}

function unknownManifest(name: RepoName, reference: string): RegistryError {
  return new RegistryError('MANIFEST_UNKNOWN', `manifest ${reference} unknown to repository ${name}`, { name, reference });
}

export function tooLarge(size: number): RegistryError {
  return new RegistryError('MANIFEST_INVALID', `manifest of ${size} bytes exceeds the limit of ${MAX_MANIFEST_BYTES} bytes`, { limit: MAX_MANIFEST_BYTES }, { status: 413 });
}
