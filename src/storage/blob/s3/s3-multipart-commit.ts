import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  CreateMultipartUploadCommand,
  PutObjectCommand,
  UploadPartCommand,
  UploadPartCopyCommand,
  type CompletedPart,
  type S3Client,
} from '@aws-sdk/client-s3';
import { getObjectStream, isNotImplemented } from './s3-client.js';
import { copySource } from './s3-keys.js';
import { MAX_COPY_BYTES } from './s3-options.js';
import { planParts, type PartPlan, type SourceRange, type StagedChunk } from './s3-part-plan.js';

/**
 * Parts in flight at once while assembling a blob. Each uploaded part holds its
 * bytes (≤ partSize) in memory, so this bounds a commit's memory to about 4 × partSize.
 */
const PARTS_IN_FLIGHT = 4;

export interface CommitTarget {
  client: S3Client;
  bucket: string;
  key: string;
  partSize: number;
  equalParts: boolean;
  /** UploadPartCopy support: 'auto' until the first attempt tells, then what it told. */
  partCopy: { value: boolean | 'auto' };
}

/** A server answered UploadPartCopy with NotImplemented. */
class PartCopyUnsupported extends Error {}

/**
 * Publishes the concatenation of `chunks` under `target.key`. S3 makes an object
 * visible only when its PutObject, CopyObject or CompleteMultipartUpload succeeds,
 * so readers see the whole blob or nothing. Every copy happens server-side where the
 * server allows it; only runs of small chunks pass through this node, a part at a time.
 */
export async function commitChunks(target: CommitTarget, chunks: StagedChunk[]): Promise<void> {
  const { client, bucket, key } = target;
  const only = chunks[0];
  if (!only) {
    await client.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: new Uint8Array(0) }));
    return;
  }
  if (chunks.length === 1 && only.size <= MAX_COPY_BYTES) {
    await client.send(new CopyObjectCommand({ Bucket: bucket, Key: key, CopySource: copySource(bucket, only.key) }));
    return;
  }
  const plan = (copy: boolean) => planParts(chunks, { partSize: target.partSize, copy, equalParts: target.equalParts });
  if (target.partCopy.value === false) return assemble(target, plan(false));
  const withCopies = plan(true);
  try {
    await assemble(target, withCopies);
    if (withCopies.some((p) => p.kind === 'copy')) target.partCopy.value = true;
  } catch (err) {
    if (!(err instanceof PartCopyUnsupported) || target.partCopy.value !== 'auto') throw err;
    target.partCopy.value = false; // remembered for this process: later commits stream at once
    await assemble(target, plan(false));
  }
}

/** One multipart upload running the plan's parts, aborted on any failure. */
async function assemble(target: CommitTarget, plan: PartPlan[]): Promise<void> {
  const { client, bucket, key } = target;
  const { UploadId } = await client.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: key }));
  if (!UploadId) throw new Error(`S3 CreateMultipartUpload for ${key} returned no upload id`);
  const completed: CompletedPart[] = [];
  let next = 0;
  let failure: unknown;
  const worker = async () => {
    while (failure === undefined && next < plan.length) {
      const index = next++;
      try {
        const ETag = await sendPart(target, UploadId, index + 1, plan[index]!);
        completed.push({ PartNumber: index + 1, ETag });
      } catch (err) {
        failure ??= err;
      }
    }
  };
  try {
    await Promise.all(Array.from({ length: Math.min(PARTS_IN_FLIGHT, plan.length) }, worker));
    if (failure !== undefined) throw failure;
    completed.sort((a, b) => a.PartNumber! - b.PartNumber!);
    await client.send(new CompleteMultipartUploadCommand({ Bucket: bucket, Key: key, UploadId, MultipartUpload: { Parts: completed } }));
  } catch (err) {
    // Best effort: the original failure is what matters. Parts of an upload that is
    // never aborted (a node killed here) cost storage until the bucket's lifecycle rule
    // (AbortIncompleteMultipartUpload) removes them.
    await client.send(new AbortMultipartUploadCommand({ Bucket: bucket, Key: key, UploadId })).catch(() => undefined);
    throw err;
  }
}

async function sendPart(target: CommitTarget, UploadId: string, PartNumber: number, part: PartPlan): Promise<string | undefined> {
  const { client, bucket, key } = target;
  if (part.kind === 'copy') {
    const { start, length } = part.source;
    try {
      const result = await client.send(
        new UploadPartCopyCommand({
          Bucket: bucket,
          Key: key,
          UploadId,
          PartNumber,
          CopySource: copySource(bucket, part.source.key),
          CopySourceRange: `bytes=${start}-${start + length - 1}`,
        }),
      );
      return result.CopyPartResult?.ETag;
    } catch (err) {
      if (isNotImplemented(err)) throw new PartCopyUnsupported('the S3 server does not implement UploadPartCopy', { cause: err });
      throw err;
    }
  }
  const body = await gather(target, part.sources, part.size);
  const result = await client.send(new UploadPartCommand({ Bucket: bucket, Key: key, UploadId, PartNumber, Body: body, ContentLength: body.length }));
  return result.ETag;
}

/** Reads the part's source ranges into one buffer of exactly `size` bytes (a buffer, so the SDK can retry the part). */
async function gather(target: CommitTarget, sources: SourceRange[], size: number): Promise<Buffer> {
  const buffer = Buffer.allocUnsafe(size);
  let position = 0;
  for (const source of sources) {
    const body = await getObjectStream(target.client, target.bucket, source.key, { start: source.start, length: source.length });
    const end = position + source.length;
    for await (const piece of body) {
      const bytes = piece as Buffer;
      if (position + bytes.length > end) throw new Error(`staged chunk ${source.key} is longer than listed`);
      bytes.copy(buffer, position);
      position += bytes.length;
    }
    if (position !== end) throw new Error(`staged chunk ${source.key} is shorter than listed`);
  }
  return buffer;
}
