import { createHash } from 'node:crypto';
import type { Readable } from 'node:stream';
import { DeleteObjectsCommand, GetObjectCommand, ListObjectsV2Command, S3Client, type _Object } from '@aws-sdk/client-s3';
import type { ResolvedS3Options } from './s3-options.js';

/** DeleteObjects takes at most this many keys. */
const DELETE_BATCH = 1000;

export function createS3Client(options: ResolvedS3Options): S3Client {
  const client = new S3Client({
    region: options.region,
    endpoint: options.endpoint,
    forcePathStyle: options.forcePathStyle,
    credentials:
      options.accessKeyId !== undefined && options.secretAccessKey !== undefined
        ? { accessKeyId: options.accessKeyId, secretAccessKey: options.secretAccessKey, sessionToken: options.sessionToken }
        : undefined, // the SDK's default chain
    // Since SDK 3.729 every upload carries a CRC32 trailer in aws-chunked encoding, which
    // many S3-compatible servers (older MinIO and Ceph, Spaces, s3rver) reject or store
    // verbatim. Core verifies the blob digest itself, so send checksums only where required.
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
  // DeleteObjects must carry a checksum; the SDK now sends CRC32 only, and some servers
  // (older MinIO and Ceph) still insist on Content-MD5. Both are fine for AWS.
  client.middlewareStack.add(
    (next, context) => async (args) => {
      const request = args.request as { headers?: Record<string, string>; body?: unknown };
      if (context.commandName === 'DeleteObjectsCommand' && request.headers && typeof request.body === 'string') {
        request.headers['content-md5'] = createHash('md5').update(request.body).digest('base64');
      }
      return next(args);
    },
    { step: 'build', name: 'berthDeleteObjectsContentMd5' },
  );
  return client;
}

/** Every object under `prefix`, in key order, one ListObjectsV2 page at a time. */
export async function* listObjects(client: S3Client, bucket: string, prefix: string): AsyncIterable<_Object & { Key: string }> {
  let token: string | undefined;
  do {
    const page = await client.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken: token }));
    for (const object of page.Contents ?? []) {
      if (object.Key !== undefined) yield object as _Object & { Key: string };
    }
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token);
}

/** Deletes keys in DeleteObjects batches; missing keys are not an error (S3 reports them deleted). */
export async function deleteKeys(client: S3Client, bucket: string, keys: string[]): Promise<void> {
  for (let i = 0; i < keys.length; i += DELETE_BATCH) {
    const batch = keys.slice(i, i + DELETE_BATCH);
    const result = await client.send(
      new DeleteObjectsCommand({ Bucket: bucket, Delete: { Objects: batch.map((Key) => ({ Key })), Quiet: true } }),
    );
    const failed = result.Errors ?? [];
    if (failed.length > 0) {
      const first = failed[0];
      throw new Error(`S3 DeleteObjects failed for ${failed.length} key(s), e.g. ${first?.Key}: ${first?.Code} ${first?.Message}`);
    }
  }
}

/** Streams an object, or `length` bytes of it from `start`; a missing object rejects with ENOENT. */
export async function getObjectStream(client: S3Client, bucket: string, key: string, range?: { start: number; length: number }): Promise<Readable> {
  const Range = range ? `bytes=${range.start}-${range.start + range.length - 1}` : undefined;
  try {
    const result = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key, Range }));
    // In Node the body is the response's IncomingMessage.
    return result.Body as Readable;
  } catch (err) {
    if (isNotFound(err)) throw notFound(`no object ${key}`, err);
    throw err;
  }
}

export function isNotFound(err: unknown): boolean {
  const e = err as { name?: string; $metadata?: { httpStatusCode?: number } };
  return e?.name === 'NotFound' || e?.name === 'NoSuchKey' || e?.$metadata?.httpStatusCode === 404;
}

/** The server does not implement a call (s3rver and some gateways for UploadPartCopy). */
export function isNotImplemented(err: unknown): boolean {
  const e = err as { name?: string; $metadata?: { httpStatusCode?: number } };
  return e?.name === 'NotImplemented' || e?.$metadata?.httpStatusCode === 501;
}

/** Absence reported the way the filesystem store reports it, so core handles both alike. */
export function notFound(message: string, cause?: unknown): NodeJS.ErrnoException {
  return Object.assign(new Error(message, { cause }), { code: 'ENOENT' });
}
