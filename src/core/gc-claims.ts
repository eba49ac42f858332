import type { Readable } from 'node:stream';
import type { Digest } from '../oci/digest.js';
import type { BlobStore, ByteRange, StoredItem, BlobReader } from '../storage/blob/blob-store.js';

/** How long a mount's `stat` keeps its blob from collection: far longer than a mount takes to record its link. */
export const MOUNT_CLAIM_MS = 10 * 60_000;

/** Work for one key runs one at a time, in arrival order. */
export class KeyedLock {
  private readonly tails = new Map<string, Promise<void>>();

  async run<T>(key: string, work: () => Promise<T>): Promise<T> {
    const previous = this.tails.get(key) ?? Promise.resolve();
    let release!: () => void;
    const tail = previous.then(() => new Promise<void>((resolve) => (release = resolve)));
    this.tails.set(key, tail);
    await previous;
    try {
      return await work();
    } finally {
      release();
      if (this.tails.get(key) === tail) this.tails.delete(key);
    }
  }
}

/**
 * Claims in the metadata store, where the garbage collector of every node
 * sees them (nodes sharing PostgreSQL). In-memory claims only protect pushes
 * on the node that collects: a push on node A that found a blob's bytes would
 * otherwise lose them to GC on node B before its link commits.
 *
 * `claim` commits before the push looks at the bytes. GC's deletion takes the
 * digest's claim row as a lock in its own transaction (GcTransaction.sharedClaimHeld)
 * and deletes the bytes while holding it. So either GC sees the claim and keeps
 * the bytes, or the claim waits for GC's commit and the push then finds no
 * bytes and writes (or, for a mount, uploads) its own.
 */
export interface SharedBlobClaims {
  /** Claims `digest` until `until` and, for an upload, for as long as its session is open. */
  claim(digest: Digest, uploadId: string | undefined, until: number): Promise<void>;
  /** Forgets claims that have expired and whose sessions have ended. */
  prune(now: number): Promise<void>;
}

interface DigestClaims {
  /** Upload sessions that committed (or are committing) these bytes and may not have recorded them yet. */
  sessions: Set<string>;
  /** When a mount last found the blob present. */
  mountedAt?: number;
}

/**
 * The blob store as uploads, mounts and garbage collection share it. A push
 * decides that a blob's bytes exist (commitUpload: written now, or identical
 * bytes already there; a mount: stat) before the metadata transaction that links
 * them. Between the two no metadata says the blob is wanted, so this store
 * remembers it: a *claim*. Garbage collection deletes bytes only through
 * `deleteUnclaimed`, under the same per-digest lock that commit and stat take.
 *
 * An upload's claim lasts while its session exists: Uploads ends the session in
 * the very transaction that links the blob (or discards it, and then nothing is
 * linked). A mount's claim lasts MOUNT_CLAIM_MS. Claims live in memory: after a
 * restart no push is half-way, so none is needed. With nodes sharing the
 * metadata, each claim is also recorded in it first (`shareClaims`), for the
 * garbage collectors of the other nodes.
 */
export class ClaimingBlobStore implements BlobStore {
  private readonly locks = new KeyedLock();
  private shared?: SharedBlobClaims;
  private readonly claims = new Map<string, DigestClaims>();
  /** uploadId → the digest it committed, and the bytes it had staged. */
  private readonly sessions = new Map<string, { digest: Digest; size: number | undefined }>();

  constructor(
    private readonly inner: BlobStore,
    private readonly mountClaimMs = MOUNT_CLAIM_MS,
  ) {}

  /** Records every claim in the metadata store too, before the push relies on the bytes (several nodes share it). */
  shareClaims(claims: SharedBlobClaims): void {
    this.shared = claims;
  }

  /** The claims other nodes' garbage collectors see, when there are other nodes. */
  get sharedClaims(): SharedBlobClaims | undefined {
    return this.shared;
  }

  /** Under the digest's lock, so it cannot interleave with a deletion: found means claimed. */
  async stat(digest: Digest): Promise<{ size: number } | undefined> {
    // Outside the in-memory lock: GC takes the shared claim before this lock, so the other order could deadlock.
    await this.shared?.claim(digest, undefined, Date.now() + this.mountClaimMs);
    return this.locks.run(`blob:${digest}`, async () => {
      const found = await this.inner.stat(digest);
      if (found) this.claimsOf(digest).mountedAt = Date.now();
      return found;
    });
  }

  async commitUpload(uploadId: string, digest: Digest): Promise<void> {
    await this.shared?.claim(digest, uploadId, Date.now() + this.mountClaimMs);
    return this.locks.run(`upload:${uploadId}`, async () => {
      const size = await this.inner.uploadSize(uploadId);
      this.sessions.set(uploadId, { digest, size });
      this.claimsOf(digest).sessions.add(uploadId);
      try {
        await this.locks.run(`blob:${digest}`, () => this.inner.commitUpload(uploadId, digest));
      } catch (err) {
        this.release(uploadId); // nothing will be linked
        throw err;
      }
    });
  }

  /**
   * A committed session's staging file is gone, but until its session ends it
   * still owns those bytes: report them, so the session is not taken for one a
   * crash broke (Uploads drops such sessions) while its link is being recorded.
   */
  async uploadSize(uploadId: string): Promise<number | undefined> {
    const staged = await this.inner.uploadSize(uploadId);
    return staged ?? this.sessions.get(uploadId)?.size;
  }

  /**
   * Deletes a blob's bytes unless a push still claims them. `sessionOpen` must
   * answer from the caller's metadata transaction (the one that found the blob
   * unreferenced), so a session cannot end and link the blob in between.
   */
  deleteUnclaimed(digest: Digest, sessionOpen: (uploadId: string) => Promise<boolean>): Promise<boolean> {
    return this.locks.run(`blob:${digest}`, async () => {
      // Until no claim is left: a commit may add one while a session is being asked about.
      for (let claims = this.claims.get(digest); claims; claims = this.claims.get(digest)) {
        if (claims.mountedAt !== undefined && Date.now() - claims.mountedAt < this.mountClaimMs) return false;
        claims.mountedAt = undefined;
        if (claims.sessions.size === 0) this.claims.delete(digest);
        for (const uploadId of [...claims.sessions]) {
          if (await sessionOpen(uploadId)) return false;
          this.release(uploadId);
        }
      }
      // A commit that claims the digest from here on waits for this lock, then finds no bytes and writes its own.
      await this.inner.delete(digest);
      return true;
    });
  }

  /** Deletes a staging area unless its session is committing or has committed (its link may not be recorded yet). */
  deleteUploadUnclaimed(uploadId: string): Promise<boolean> {
    return this.locks.run(`upload:${uploadId}`, async () => {
      if (this.sessions.has(uploadId)) return false;
      await this.inner.deleteUpload(uploadId);
      return true;
    });
  }

  /** Forgets claims that can no longer matter: sessions that have ended, mounts older than their time. */
  async prune(openSessions: (uploadIds: string[]) => Promise<Set<string>>): Promise<void> {
    const ids = [...this.sessions.keys()];
    for (let i = 0; i < ids.length; i += 500) {
      const batch = ids.slice(i, i + 500);
      const open = await openSessions(batch);
      for (const id of batch) if (!open.has(id)) this.release(id);
    }
    const now = Date.now();
    for (const [digest, claims] of this.claims) {
      if (claims.mountedAt !== undefined && now - claims.mountedAt >= this.mountClaimMs) claims.mountedAt = undefined;
      if (claims.mountedAt === undefined && claims.sessions.size === 0) this.claims.delete(digest);
    }
  }

  /** Number of claimed digests (for logs and tests). */
  claimedCount(): number {
    return this.claims.size;
  }

  private claimsOf(digest: Digest): DigestClaims {
    let claims = this.claims.get(digest);
    if (!claims) {
      claims = { sessions: new Set() };
      this.claims.set(digest, claims);
    }
    return claims;
  }

  private release(uploadId: string): void {
    const session = this.sessions.get(uploadId);
    if (!session) return;
    this.sessions.delete(uploadId);
    const claims = this.claims.get(session.digest);
    claims?.sessions.delete(uploadId);
    if (claims && claims.sessions.size === 0 && claims.mountedAt === undefined) this.claims.delete(session.digest);
  }

  // Everything else passes straight through.
  read(digest: Digest, range?: ByteRange): Promise<Readable> {
    return this.inner.read(digest, range);
  }
  get openReader(): ((digest: Digest) => Promise<BlobReader>) | undefined {
    return this.inner.openReader?.bind(this.inner);
  }
  delete(digest: Digest): Promise<void> {
    return this.inner.delete(digest);
  }
  createUpload(uploadId: string): Promise<void> {
    return this.inner.createUpload(uploadId);
  }
  writeUpload(uploadId: string, offset: number, source: Readable): Promise<number> {
    return this.inner.writeUpload(uploadId, offset, source);
  }
  get writeUploadThrough(): BlobStore['writeUploadThrough'] {
    return this.inner.writeUploadThrough?.bind(this.inner);
  }
  readUpload(uploadId: string, length: number): Readable {
    return this.inner.readUpload(uploadId, length);
  }
  deleteUpload(uploadId: string): Promise<void> {
    return this.inner.deleteUpload(uploadId);
  }
  list(): AsyncIterable<Digest> {
    return this.inner.list();
  }
  modifiedAt(digest: Digest): Promise<number | undefined> {
    return this.inner.modifiedAt(digest);
  }
  listUploads(): AsyncIterable<StoredItem<string>> {
    return this.inner.listUploads();
  }
  ping(): Promise<void> {
    return this.inner.ping();
  }
}
