import { createHash, type Hash } from 'node:crypto';
import { pipeline, Transform, type Readable, type TransformCallback } from 'node:stream';
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  PutObjectCommand,
  UploadPartCommand,
  type CompletedPart,
  type S3Client,
} from '@aws-sdk/client-s3';
import { parseDigest, type Digest } from '../../oci/digest.js';
import type { BlobStore } from '../blob/blob-store.js';
import { listObjects } from '../blob/s3/s3-client.js';
import type { S3Keys } from '../blob/s3/s3-keys.js';
import { MAX_PARTS } from '../blob/s3/s3-options.js';

/** Attempts per blob when the bucket or network fails (never for a digest mismatch). */
const ATTEMPTS = 3;

/** Where blobs go: the bucket and key layout the S3 blob store reads. */
export interface BucketTarget {
  client: S3Client;
  bucket: string;
  keys: S3Keys;
  /** Multipart part size; the memory one blob in flight costs is a stream buffer, not a part. */
  partSize: number;
}

export interface SourceBlob {
  digest: Digest;
  size: number;
}

export interface BlobFailure {
  digest: string;
  reason: string;
}

export interface BlobCopyTotals {
  copied: number;
  copiedBytes: number;
  failures: BlobFailure[];
}

/** The source's bytes are not what their name says: never copied, never retried. */
export class DigestMismatch extends Error {
  override name = 'DigestMismatch';
}

/** Every committed blob of the source store with its size. */
export async function listSourceBlobs(store: BlobStore): Promise<SourceBlob[]> {
  const blobs: SourceBlob[] = [];
  for await (const digest of store.list()) {
    const stat = await store.stat(digest);
    if (stat) blobs.push({ digest, size: stat.size });
  }
  return blobs;
}

/** Size of every blob object already in the bucket, by digest: one listing instead of a HEAD per blob. */
export async function listBucketBlobs(target: BucketTarget): Promise<Map<string, number>> {
  const sizes = new Map<string, number>();
  for await (const object of listObjects(target.client, target.bucket, target.keys.blobsPrefix)) {
    const digest = target.keys.parseBlob(object.Key);
    if (digest) sizes.set(digest, object.Size ?? 0);
  }
  return sizes;
}

/**
 * Copies blobs with at most `concurrency` in flight. A failure is recorded and
 * the rest go on; an abort stops starting new ones and cancels those in flight.
 */
export async function copyBlobs(
  store: BlobStore,
  target: BucketTarget,
  blobs: SourceBlob[],
  options: { concurrency: number; signal?: AbortSignal; onCopied?(blob: SourceBlob): void; onFailed?(failure: BlobFailure): void },
): Promise<BlobCopyTotals> {
  const totals: BlobCopyTotals = { copied: 0, copiedBytes: 0, failures: [] };
  let next = 0;
  const worker = async () => {
    while (next < blobs.length && !options.signal?.aborted) {
      const blob = blobs[next++]!;
      try {
        await copyWithRetries(store, target, blob, options.signal);
        totals.copied++;
        totals.copiedBytes += blob.size;
        options.onCopied?.(blob);
      } catch (err) {
        if (options.signal?.aborted) break;
        const failure = { digest: blob.digest, reason: (err as Error).message };
        totals.failures.push(failure);
        options.onFailed?.(failure);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(options.concurrency, blobs.length) }, worker));
  options.signal?.throwIfAborted();
  return totals;
}

async function copyWithRetries(store: BlobStore, target: BucketTarget, blob: SourceBlob, signal: AbortSignal | undefined): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await copyBlob(store, target, blob, signal);
    } catch (err) {
      if (err instanceof DigestMismatch || signal?.aborted || attempt >= ATTEMPTS) throw err;
      await new Promise((resolve) => setTimeout(resolve, 500 * attempt));
    }
  }
}

/**
 * Streams one blob into the bucket as a multipart upload, hashing the bytes as
 * they go. The object becomes visible only at CompleteMultipartUpload, which is
 * sent only when the bytes hash to the blob's name: a corrupt file is aborted and
 * never appears in the bucket, even if this process dies half-way. Each part is
 * streamed from its range of the file with its length known, so nothing is buffered.
 */
export async function copyBlob(store: BlobStore, target: BucketTarget, blob: SourceBlob, signal?: AbortSignal): Promise<void> {
  const { client, bucket } = target;
  const { algorithm } = parseDigest(blob.digest);
  const hash = createHash(algorithm);
  const Key = target.keys.blob(blob.digest);
  const check = () => {
    const actual = `${algorithm}:${hash.digest('hex')}`;
    if (actual !== blob.digest) throw new DigestMismatch(`digest mismatch: the file's bytes hash to ${actual}`);
  };
  if (blob.size === 0) {
    const body = await store.read(blob.digest);
    for await (const _ of hashed(body, new CountingHash(hash, 0))); // an empty file has nothing to pass on
    check();
    await client.send(new PutObjectCommand({ Bucket: bucket, Key, Body: new Uint8Array(0) }), { abortSignal: signal });
    return;
  }
  const partSize = Math.max(target.partSize, Math.ceil(blob.size / MAX_PARTS));
  const { UploadId } = await client.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key }), { abortSignal: signal });
  try {
    const parts: CompletedPart[] = [];
    for (let start = 0, PartNumber = 1; start < blob.size; start += partSize, PartNumber++) {
      const length = Math.min(partSize, blob.size - start);
      const source = await store.read(blob.digest, { start, end: start + length - 1 });
      const Body = hashed(source, new CountingHash(hash, length));
      const { ETag } = await client.send(new UploadPartCommand({ Bucket: bucket, Key, UploadId, PartNumber, Body, ContentLength: length }), { abortSignal: signal });
      parts.push({ ETag, PartNumber });
    }
    check();
    await client.send(new CompleteMultipartUploadCommand({ Bucket: bucket, Key, UploadId, MultipartUpload: { Parts: parts } }), { abortSignal: signal });
  } catch (err) {
    // Nothing became visible; drop the parts so the bucket does not keep (and bill) them.
    await client.send(new AbortMultipartUploadCommand({ Bucket: bucket, Key, UploadId })).catch(() => undefined);
    throw err;
  }
}

/** `source` through `tap`; an error on either side fails the body the SDK is sending. */
function hashed(source: Readable, tap: CountingHash): Readable {
  return pipeline(source, tap, () => undefined);
}

/** Feeds bytes to a hash on their way through, failing unless exactly `length` pass (a file changed under us). */
class CountingHash extends Transform {
  private seen = 0;

  constructor(
    private readonly hash: Hash,
    private readonly length: number,
  ) {
    super();
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, done: TransformCallback): void {
    this.seen += chunk.length;
    if (this.seen > this.length) return done(new Error(`the file is longer than the ${this.length} bytes expected`));
    this.hash.update(chunk);
    done(null, chunk);
  }

  override _flush(done: TransformCallback): void {
    done(this.seen === this.length ? null : new Error(`the file ended after ${this.seen} of ${this.length} bytes`));
  }
}

/** What verification finds wrong with a blob row: no object in the bucket, or one of another size. */
export function blobProblem(row: { digest: string; size: number }, bucket: Map<string, number>): string | undefined {
  const size = bucket.get(row.digest);
  if (size === undefined) return `blob ${row.digest} (${row.size} bytes) is not in the bucket`;
  if (size !== row.size) return `blob ${row.digest} has ${size} bytes in the bucket, ${row.size} in the metadata`;
  return undefined;
}
