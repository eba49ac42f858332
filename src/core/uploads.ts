import { randomUUID } from 'node:crypto';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createDigester, digestOf, parseDigest, type Digest, type RunningDigest } from '../oci/digest.js';
import { RegistryError } from '../oci/errors.js';
import type { RepoName } from '../oci/name.js';
import type { BodySlots } from './body-slots.js';
import type { BlobStore } from '../storage/blob/blob-store.js';
import type { MetaStore, UploadRecord } from '../storage/meta/meta-store.js';
import { HashingStream } from './hashing-stream.js';
import { NO_QUOTA, type PushQuota, type Quota } from './quota.js';
import { ensureRepository, requireRepository } from './repositories.js';

export interface UploadStatus {
  id: string;
  /** Bytes received so far. */
  size: number;
}

export interface Chunk {
  body: Readable;
  /** Declared by Content-Range (`start-end`, inclusive); absent for streamed PATCHes. */
  range?: { start: number; end: number };
  /** Declared by Content-Length; absent for chunked transfer encoding. */
  length?: number;
  /**
   * The same body offered for a direct receive: the server writes it into the staging file
   * itself (BlobStore.writeUploadThrough) instead of streaming it through `body`. Taken only
   * when the store and the session's running digest allow it and the length is declared.
   */
  direct?: DirectBody;
}

/** A request body the HTTP layer can move into a file without streaming it through JavaScript. */
export interface DirectBody {
  /** Whether `receiveInto` can advance this running digest. */
  canFeed(digest: RunningDigest): boolean;
  /** Writes the whole body into `fd` from `offset`, feeding every byte to `digest`; resolves with its length. */
  receiveInto(fd: number, offset: number, digest: RunningDigest): Promise<number>;
}

export type MountResult = { mounted: true; digest: Digest } | { mounted: false; upload: UploadStatus };

/**
 * Blob upload sessions: create, append chunks, complete with a digest, cancel.
 * Bytes are hashed while they are staged. The running digest is kept in memory
 * per session; after a restart (or on another node) it is rebuilt from the
 * staged bytes, so sessions survive restarts.
 */
export class Uploads {
  private readonly digesters = new Map<string, { hash: RunningDigest; size: number }>();
  /** Sessions a request is writing to on this node, with when that request settles. */
  private readonly busy = new Map<string, Promise<void>>();

  constructor(
    private readonly meta: MetaStore,
    private readonly store: BlobStore,
    private readonly quota?: Quota,
    /** Bounds the upload bodies read at once (see BodySlots); unbounded without it. */
    private readonly bodySlots?: BodySlots,
    /** Starts a session's running SHA-256 (a native one lets bodies be received directly, see DirectBody). */
    private readonly newSha256: () => RunningDigest = () => createDigester(),
  ) {}

  async start(name: RepoName, quota?: PushQuota): Promise<UploadStatus> {
    // A session creates its repository: that is where the tier's repository count applies.
    const q = quota ?? (await this.quotaFor(name));
    const repo = await q.newRepository(name, () => ensureRepository(this.meta, name));
    const id = randomUUID();
    await this.store.createUpload(id);
    await this.meta.createUpload({ id, repositoryId: repo.id, size: 0, createdAt: Date.now() });
    this.digesters.set(id, { hash: this.newSha256(), size: 0 });
    return { id, size: 0 };
  }

  async status(name: RepoName, id: string): Promise<UploadStatus> {
    const upload = await this.load(name, id);
    return { id, size: upload.size };
  }

  async append(name: RepoName, id: string, chunk: Chunk): Promise<UploadStatus> {
    return this.exclusive(id, async () => {
      const upload = await this.load(name, id);
      await this.admit(await this.quotaFor(name), upload, undefined, chunk);
      const size = await this.write(upload, chunk);
      return { id, size };
    });
  }

  /** Finishes the upload with an optional last chunk; the bytes must hash to `digest`. */
  async complete(name: RepoName, id: string, digestParam: string | undefined, chunk?: Chunk, quota?: PushQuota): Promise<Digest> {
    if (!digestParam) throw new RegistryError('DIGEST_INVALID', 'the digest query parameter is required to complete an upload');
    const expected = parseDigest(digestParam);
    return this.exclusive(id, async () => {
      const upload = await this.load(name, id);
      const q = quota ?? (await this.quotaFor(name));
      // The final size is known before the last chunk is read when it declares its length; otherwise only once written.
      const sizedUpFront = chunk !== undefined && declaredLength(chunk) !== undefined;
      if (sizedUpFront) await this.admit(q, upload, expected.digest, chunk);
      // The session row is deleted by the commit below, so the last chunk's size is not recorded (one write fewer per push).
      const size = chunk ? await this.write(upload, chunk, { lastChunk: true }) : upload.size;
      const actual = await this.currentDigest(upload.id, size, expected.algorithm);
      if (actual !== expected.digest) {
        await this.discard(upload.id);
        throw new RegistryError('DIGEST_INVALID', `uploaded content hashes to ${actual}, not ${expected.digest}; the upload was discarded`, {
          expected: expected.digest,
          actual,
        });
      }
      if (!sizedUpFront) await this.admit(q, upload, expected.digest, undefined);
      await this.store.commitUpload(upload.id, expected.digest);
      try {
        await this.meta.transaction(async (tx) => {
          await q.withinStorage(tx, () => tx.linkBlob(upload.repositoryId, expected.digest, size));
          await tx.deleteUpload(upload.id);
        });
      } catch (err) {
        // Refused at commit (a concurrent push took the room), or the metadata failed: the session
        // is over either way. The committed bytes are referenced by nothing, so GC collects them.
        await this.discard(upload.id).catch(() => undefined);
        throw err;
      }
      this.digesters.delete(upload.id);
      // Stores that copy rather than rename keep the staged bytes until now; what this misses, GC sweeps.
      await this.store.deleteUpload(upload.id).catch(() => undefined);
      return expected.digest;
    });
  }

  /** A single-request push (`POST ?digest=` with the blob as body). */
  async monolithic(name: RepoName, digestParam: string, chunk: Chunk): Promise<Digest> {
    const { digest } = parseDigest(digestParam); // fail before creating anything
    const q = await this.quotaFor(name);
    const declared = declaredLength(chunk);
    if (declared !== undefined) {
      // Refused before the session (and a new repository) exists, and before any byte is read.
      await q.admitBlob(digest, declared).catch((err: unknown) => {
        chunk.body.resume();
        throw err;
      });
    }
    const upload = await this.start(name, q);
    try {
      return await this.complete(name, upload.id, digestParam, chunk, q);
    } catch (err) {
      await this.discard(upload.id).catch(() => undefined);
      throw err;
    }
  }

  async cancel(name: RepoName, id: string): Promise<void> {
    await this.exclusive(id, async () => {
      await this.load(name, id);
      await this.discard(id);
    });
  }

  /**
   * Cross-repository mount: links a blob from `from` (or, when the caller may
   * read everything, from any repository) into `name`. Falls back to a new
   * upload session when the blob cannot be mounted, as the spec asks.
   */
  async mount(name: RepoName, digest: Digest, source: { from: RepoName } | 'any-repository' | 'none'): Promise<MountResult> {
    let size: number | undefined;
    if (typeof source === 'object') {
      const repo = await this.meta.getRepository(source.from);
      size = repo ? (await this.meta.getRepositoryBlob(repo.id, digest))?.size : undefined;
    } else if (source === 'any-repository') {
      size = (await this.meta.getBlob(digest))?.size;
    }
    if (size !== undefined && (await this.store.stat(digest))) {
      const q = await this.quotaFor(name);
      // One transaction: a refused mount leaves neither the link nor a new, empty repository.
      await q.newRepository(name, () =>
        this.meta.transaction(async (tx) => {
          const repo = await ensureRepository(tx, name);
          await q.withinStorage(tx, () => tx.linkBlob(repo.id, digest, size));
        }),
      );
      return { mounted: true, digest };
    }
    return { mounted: false, upload: await this.start(name) };
  }

  private async quotaFor(name: RepoName): Promise<PushQuota> {
    return this.quota ? this.quota.forPush(name) : NO_QUOTA;
  }

  /**
   * Refuses a chunk of known length that would take the blob past the registry's
   * storage quota (`chunk` absent: checks the bytes already received). The session
   * is discarded: its blob could never be committed.
   */
  private async admit(q: PushQuota, upload: UploadRecord, digest: Digest | undefined, chunk: Chunk | undefined): Promise<void> {
    const declared = chunk ? declaredLength(chunk) : 0;
    if (declared === undefined) return;
    try {
      await q.admitBlob(digest, upload.size + declared);
    } catch (err) {
      chunk?.body.resume();
      await this.discard(upload.id);
      throw err;
    }
  }

  private async load(name: RepoName, id: string): Promise<UploadRecord> {
    const unknown = new RegistryError('BLOB_UPLOAD_UNKNOWN', `upload ${id.slice(0, 64)} unknown to repository ${name}`);
    if (!/^[a-f0-9-]{36}$/.test(id)) throw unknown;
    const repo = await requireRepository(this.meta, name).catch(() => undefined);
    const upload = await this.meta.getUpload(id);
    if (!repo || !upload || upload.repositoryId !== repo.id) throw unknown;
    if (!this.digesters.has(id)) {
      // First use since a restart: a crash between committing the blob and
      // forgetting the session can leave a record whose staged bytes are gone.
      const staged = await this.store.uploadSize(id);
      if (staged === undefined || staged < upload.size) {
        await this.meta.deleteUpload(id);
        throw unknown;
      }
    }
    return upload;
  }

  /**
   * Appends a chunk at the session's recorded size and records the new size. A session's
   * last chunk need not be recorded: if the push then fails or the node crashes, the
   * session stays at its recorded size and the next write truncates the staged bytes to it.
   */
  private async write(upload: UploadRecord, chunk: Chunk, options: { lastChunk?: boolean } = {}): Promise<number> {
    const declared = declaredLength(chunk);
    if (chunk.range && chunk.range.start !== upload.size) {
      chunk.body.resume();
      throw outOfOrder(upload.size, `chunk starts at ${chunk.range.start}, but ${upload.size} bytes have been received`);
    }
    const state = await this.digester(upload);
    const before = state.hash.copy();
    const direct = chunk.direct;
    // No body slot: the receiver thread reads every direct body through one buffer of its own.
    if (direct && this.store.writeUploadThrough && declared !== undefined && declared === chunk.length && direct.canFeed(state.hash)) {
      let written: number;
      try {
        written = await this.store.writeUploadThrough(upload.id, upload.size, (fd, offset) => direct.receiveInto(fd, offset, state.hash));
      } catch (err) {
        state.hash = before;
        state.size = upload.size;
        throw err;
      }
      return this.recordWritten(upload, state, written, options);
    }
    const hashing = new HashingStream(state.hash, declared);
    // The store may not start reading until after an await, and an error (a size
    // mismatch, a client hanging up) can come first: keep it here, so it is never an
    // unhandled 'error' event, and rethrow it below.
    let failure: Error | undefined;
    hashing.on('error', (err) => (failure ??= err));
    // pipe() does not forward a source's failure (a client that hangs up mid-body): do it here.
    const abort = (err?: Error) => {
      if (!chunk.body.readableEnded) hashing.destroy(err ?? new Error('request body aborted'));
    };
    chunk.body.once('error', abort).once('close', abort);
    // The client may have hung up while this request waited on the stores: 'close' has fired already.
    if (chunk.body.destroyed) abort();
    await this.bodySlots?.acquire();
    try {
      await this.store.writeUpload(upload.id, upload.size, chunk.body.pipe(hashing));
      if (failure) throw failure;
    } catch (err) {
      state.hash = before;
      state.size = upload.size;
      chunk.body.resume();
      throw failure ?? err;
    } finally {
      this.bodySlots?.release();
    }
    return this.recordWritten(upload, state, hashing.bytes, options);
  }

  private async recordWritten(upload: UploadRecord, state: { size: number }, written: number, options: { lastChunk?: boolean }): Promise<number> {
    const size = upload.size + written;
    state.size = size;
    if (!options.lastChunk) await this.meta.setUploadSize(upload.id, size);
    upload.size = size;
    return size;
  }

  private async digester(upload: UploadRecord): Promise<{ hash: RunningDigest; size: number }> {
    const cached = this.digesters.get(upload.id);
    if (cached && cached.size === upload.size) return cached;
    const hash = this.newSha256();
    await pipeline(this.store.readUpload(upload.id, upload.size), async function* (source) {
      for await (const chunk of source) hash.update(chunk as Buffer);
    });
    const state = { hash, size: upload.size };
    this.digesters.set(upload.id, state);
    return state;
  }

  private async currentDigest(id: string, size: number, algorithm: 'sha256' | 'sha512'): Promise<Digest> {
    if (algorithm === 'sha256') {
      const state = this.digesters.get(id);
      if (state && state.size === size) return digestOf('sha256', state.hash.copy());
    }
    const hash = createDigester(algorithm);
    for await (const chunk of this.store.readUpload(id, size)) hash.update(chunk as Buffer);
    return digestOf(algorithm, hash);
  }

  private async discard(id: string): Promise<void> {
    this.digesters.delete(id);
    await this.meta.deleteUpload(id);
    await this.store.deleteUpload(id);
  }

  /**
   * One request at a time per session on this node: a second one waits a little
   * for the first to settle (an aborted chunk may still be cleaning up its
   * staged bytes when the client retries), then is refused, never interleaved.
   */
  private async exclusive<T>(id: string, work: () => Promise<T>): Promise<T> {
    const deadline = Date.now() + BUSY_WAIT_MS;
    for (let running = this.busy.get(id); running; running = this.busy.get(id)) {
      const left = deadline - Date.now();
      if (left <= 0) throw new RegistryError('BLOB_UPLOAD_INVALID', 'another request is writing to this upload session; retry when it finishes');
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([running, new Promise((resolve) => (timer = setTimeout(resolve, left)))]);
      clearTimeout(timer);
    }
    const done = work();
    const settled = done.then(() => undefined, () => undefined);
    this.busy.set(id, settled);
    try {
      return await done;
    } finally {
      if (this.busy.get(id) === settled) this.busy.delete(id);
    }
  }
}

/** How long a request waits for another one on the same session before it is refused. */
const BUSY_WAIT_MS = 5_000;

function declaredLength(chunk: Chunk): number | undefined {
  if (chunk.range) {
    const fromRange = chunk.range.end - chunk.range.start + 1;
    if (chunk.length !== undefined && chunk.length !== fromRange) {
      chunk.body.resume();
      throw new RegistryError('SIZE_INVALID', `Content-Length ${chunk.length} disagrees with Content-Range ${chunk.range.start}-${chunk.range.end}`);
    }
    return fromRange;
  }
  return chunk.length;
}

/** 416 with the session's current Range, so the client can resume from the right offset. */
export function outOfOrder(size: number, message: string): RegistryError {
  return new RegistryError('BLOB_UPLOAD_INVALID', message, { received: size }, {
    status: 416,
    headers: { Range: `0-${Math.max(size - 1, 0)}` },
  });
}
