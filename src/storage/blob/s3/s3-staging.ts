import { Readable } from 'node:stream';
import { DeleteObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import type { StoredItem } from '../blob-store.js';
import { deleteKeys, getObjectStream, listObjects, notFound } from './s3-client.js';
import type { S3Keys } from './s3-keys.js';
import type { StagedChunk } from './s3-part-plan.js';

/**
 * Parts one chunk upload sends at once: memory per writing upload is about
 * (UPLOAD_QUEUE + 1) × partSize, and a registry takes many uploads at a time.
 */
const UPLOAD_QUEUE = 2;

/** What S3 holds for one upload session. */
export interface StagingState {
  /** Whether createUpload's marker is there: without it the session is gone. */
  marker: boolean;
  /** Chunks forming bytes [0, size): contiguous, non-empty, in order. */
  chain: StagedChunk[];
  size: number;
  /** Every key under the upload (marker, chain, and any chunk past a gap). */
  keys: string[];
  /** Offsets of every chunk object, chained or not. */
  chunkOffsets: { key: string; offset: number }[];
}

/**
 * An upload's staged bytes as objects every node can see: one object per
 * writeUpload at `uploads/<id>/chunk-<offset>`, and the marker createUpload leaves.
 * No node-local state, so a session's PATCHes may land on different nodes, and a
 * node killed mid-write leaves no partial chunk (a chunk object appears only when its
 * PutObject or CompleteMultipartUpload succeeds).
 */
export class S3Staging {
  constructor(
    private readonly client: S3Client,
    private readonly bucket: string,
    private readonly keys: S3Keys,
    private readonly partSize: number,
  ) {}

  async create(uploadId: string): Promise<void> {
    await this.client.send(new PutObjectCommand({ Bucket: this.bucket, Key: this.keys.marker(uploadId), Body: new Uint8Array(0) }));
  }

  async inspect(uploadId: string): Promise<StagingState> {
    let marker = false;
    const keys: string[] = [];
    const chunks: StagedChunk[] = [];
    for await (const object of listObjects(this.client, this.bucket, this.keys.upload(uploadId))) {
      keys.push(object.Key);
      const entry = this.keys.parseStaging(object.Key)?.entry;
      if (entry?.kind === 'marker') marker = true;
      else if (entry?.kind === 'chunk') chunks.push({ key: object.Key, offset: entry.offset, size: object.Size ?? 0 });
    }
    chunks.sort((a, b) => a.offset - b.offset); // listing order already is, but do not rely on it
    // Only bytes reachable from 0 without a gap or an overlap count (either means two
    // nodes raced on one session). What lies beyond is never read or committed, and the
    // next write at or before it deletes it; if it cut the staged size short of what core
    // recorded, core drops the session rather than commit doubtful bytes.
    const chain: StagedChunk[] = [];
    let size = 0;
    for (const chunk of chunks) {
      if (chunk.offset !== size) break;
      if (chunk.size > 0) chain.push(chunk);
      size += chunk.size;
    }
    return { marker, chain, size, keys, chunkOffsets: chunks.map(({ key, offset }) => ({ key, offset })) };
  }

  async size(uploadId: string): Promise<number | undefined> {
    const state = await this.inspect(uploadId);
    return state.marker ? state.size : undefined;
  }

  async write(uploadId: string, offset: number, source: Readable): Promise<number> {
    const state = await this.inspect(uploadId);
    if (!state.marker) throw notFound(`upload ${uploadId} is not staged`);
    if (offset > state.size) throw new Error(`cannot write upload ${uploadId} at ${offset}: ${state.size} bytes are staged`);
    // Discard what is staged past `offset`: a chunk straddling it keeps its head, later chunks go.
    const straddling = state.chain.find((c) => c.offset < offset && offset < c.offset + c.size);
    if (straddling) await this.keepHead(straddling, offset - straddling.offset);
    await deleteKeys(this.client, this.bucket, state.chunkOffsets.filter((c) => c.offset >= offset).map((c) => c.key));

    const key = this.keys.chunk(uploadId, offset);
    try {
      return await this.putStream(key, source);
    } catch (err) {
      // A chunk can exist after a failure (a CompleteMultipartUpload whose answer was lost):
      // remove it, so the staged size is `offset` again.
      await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: key })).catch(() => undefined);
      throw err;
    }
  }

  /** Streams the first `length` staged bytes, chunk after chunk. */
  read(uploadId: string, length: number): Readable {
    const stage = this;
    return Readable.from(
      (async function* () {
        if (length === 0) return;
        const state = await stage.inspect(uploadId);
        if (!state.marker) throw notFound(`upload ${uploadId} is not staged`);
        if (state.size < length) throw new Error(`upload ${uploadId} has ${state.size} bytes staged, not ${length}`);
        let remaining = length;
        for (const chunk of state.chain) {
          if (remaining === 0) break;
          const n = Math.min(chunk.size, remaining);
          yield* exactly(n, await getObjectStream(stage.client, stage.bucket, chunk.key, n < chunk.size ? { start: 0, length: n } : undefined));
          remaining -= n;
        }
      })(),
      { objectMode: false },
    );
  }

  /** Deletes the marker first (the session is gone at once), then the rest. */
  async remove(uploadId: string, keys?: string[]): Promise<void> {
    const marker = this.keys.marker(uploadId);
    const all = keys ?? (await this.inspect(uploadId)).keys;
    await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: marker }));
    await deleteKeys(this.client, this.bucket, all.filter((k) => k !== marker));
  }

  /** Every upload id with objects, and the newest write among them. */
  async *sessions(): AsyncIterable<StoredItem<string>> {
    let current: StoredItem<string> | undefined;
    // Keys come in order, so one upload's objects are adjacent.
    for await (const object of listObjects(this.client, this.bucket, this.keys.uploadsPrefix)) {
      const id = this.keys.parseStaging(object.Key)?.uploadId;
      if (id === undefined) continue;
      const modifiedAt = object.LastModified?.getTime() ?? 0;
      if (current?.id === id) current.modifiedAt = Math.max(current.modifiedAt, modifiedAt);
      else {
        if (current) yield current;
        current = { id, modifiedAt };
      }
    }
    if (current) yield current;
  }

  /**
   * Rewrites a chunk as its first `keep` bytes. The replacement becomes visible only
   * once PutObject (or CompleteMultipartUpload) succeeds, after the whole head was read.
   */
  private async keepHead(chunk: StagedChunk, keep: number): Promise<void> {
    const head = await getObjectStream(this.client, this.bucket, chunk.key, { start: 0, length: keep });
    const written = await this.putStream(chunk.key, head);
    if (written !== keep) throw new Error(`rewriting ${chunk.key}: read ${written} bytes, expected ${keep}`);
  }

  /**
   * Streams `source` into one object (multipart past partSize, so memory stays
   * bounded). Writes nothing for an empty source. Resolves with the bytes written.
   */
  private async putStream(key: string, source: Readable): Promise<number> {
    const iterator = source[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
    let first = await iterator.next();
    while (!first.done && first.value.length === 0) first = await iterator.next();
    if (first.done) return 0;
    let bytes = 0;
    let sourceError: unknown;
    const counted = Readable.from(
      (async function* () {
        try {
          for (let next: IteratorResult<Buffer> = first; !next.done; next = await iterator.next()) {
            bytes += next.value.length;
            yield next.value;
          }
        } catch (err) {
          sourceError = err;
          throw err;
        }
      })(),
      { objectMode: false },
    );
    try {
      const upload = new Upload({
        client: this.client,
        params: { Bucket: this.bucket, Key: key, Body: counted },
        partSize: this.partSize,
        queueSize: UPLOAD_QUEUE,
      });
      await upload.done();
    } catch (err) {
      // The source's own failure (a client hanging up) is the one to report,
      // not whatever the uploader hit while giving up.
      throw sourceError ?? err;
    } finally {
      counted.destroy();
    }
    return bytes;
  }
}

/** Passes a body through, failing unless it holds exactly `length` bytes (an object replaced meanwhile). */
async function* exactly(length: number, body: Readable): AsyncIterable<Buffer> {
  let seen = 0;
  for await (const piece of body) {
    seen += (piece as Buffer).length;
    yield piece as Buffer;
  }
  if (seen !== length) throw new Error(`staged chunk changed while read: ${seen} bytes, expected ${length}`);
}
