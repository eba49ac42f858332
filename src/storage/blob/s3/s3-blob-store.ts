import { randomUUID } from 'node:crypto';
import type { Readable } from 'node:stream';
import { DeleteObjectCommand, GetObjectCommand, HeadObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import type { Digest } from '../../../oci/digest.js';
import type { BlobStore, ByteRange, StoredItem } from '../blob-store.js';
import { createS3Client, getObjectStream, isNotFound, listObjects, notFound } from './s3-client.js';
import { S3Keys } from './s3-keys.js';
import { commitChunks } from './s3-multipart-commit.js';
import { resolveS3Options, type ResolvedS3Options, type S3BlobStoreOptions } from './s3-options.js';
import { S3Staging } from './s3-staging.js';

/**
 * Blobs in an S3-compatible bucket (AWS S3, DigitalOcean Spaces, MinIO, Ceph RGW, R2),
 * shared by any number of stateless nodes: everything an upload needs lives in the
 * bucket (see S3Staging), so consecutive PATCHes may land on different nodes.
 * No openReader: over S3 a positional reader costs a request per read, where a
 * stream is one ranged GET.
 */
export class S3BlobStore implements BlobStore {
  /** The SDK client, exposed so tests (and server.ts, for shutdown) can reach it. */
  readonly client: S3Client;
  private readonly options: ResolvedS3Options;
  private readonly keys: S3Keys;
  private readonly staging: S3Staging;
  /** Learned on the first commit that tries UploadPartCopy when configured 'auto'. */
  private readonly partCopy: { value: boolean | 'auto' };
  private readonly instanceId = randomUUID();

  constructor(options: S3BlobStoreOptions) {
    this.options = resolveS3Options(options);
    this.client = createS3Client(this.options);
    this.keys = new S3Keys(this.options.prefix);
    this.staging = new S3Staging(this.client, this.bucket, this.keys, this.options.partSizeBytes);
    this.partCopy = { value: this.options.partCopy };
  }

  private get bucket(): string {
    return this.options.bucket;
  }

  /** Whether commits copy parts server-side: 'auto' until the first commit that needed to know. */
  get partCopySupport(): boolean | 'auto' {
    return this.partCopy.value;
  }

  async stat(digest: Digest): Promise<{ size: number } | undefined> {
    const head = await this.head(digest);
    return head && { size: head.ContentLength ?? 0 };
  }

  read(digest: Digest, range?: ByteRange): Promise<Readable> {
    const part = range && { start: range.start, length: range.end - range.start + 1 };
    return getObjectStream(this.client, this.bucket, this.keys.blob(digest), part);
  }

  async delete(digest: Digest): Promise<void> {
    await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: this.keys.blob(digest) }));
  }

  createUpload(uploadId: string): Promise<void> {
    return this.staging.create(uploadId);
  }

  uploadSize(uploadId: string): Promise<number | undefined> {
    return this.staging.size(uploadId);
  }

  writeUpload(uploadId: string, offset: number, source: Readable): Promise<number> {
    return this.staging.write(uploadId, offset, source);
  }

  readUpload(uploadId: string, length: number): Readable {
    return this.staging.read(uploadId, length);
  }

  /**
   * Leaves the staging objects in place: core deletes them once the metadata records the
   * blob, so a node dying in between leaves a session the client can still complete.
   */
  async commitUpload(uploadId: string, digest: Digest): Promise<void> {
    const key = this.keys.blob(digest);
    // Content-addressed: if any node already stored this digest, the bytes are the same.
    if (await this.head(digest)) return;
    const state = await this.staging.inspect(uploadId);
    if (!state.marker) throw notFound(`upload ${uploadId} is not staged`);
    await commitChunks(
      {
        client: this.client,
        bucket: this.bucket,
        key,
        partSize: this.options.partSizeBytes,
        equalParts: this.options.equalParts,
        partCopy: this.partCopy,
      },
      state.chain,
    );
  }


  deleteUpload(uploadId: string): Promise<void> {
    return this.staging.remove(uploadId);
  }

  async *list(): AsyncIterable<Digest> {
    for await (const object of listObjects(this.client, this.bucket, this.keys.blobsPrefix)) {
      const digest = this.keys.parseBlob(object.Key);
      if (digest) yield digest;
    }
  }

  async modifiedAt(digest: Digest): Promise<number | undefined> {
    return (await this.head(digest))?.LastModified?.getTime();
  }

  listUploads(): AsyncIterable<StoredItem<string>> {
    return this.staging.sessions();
  }

  /** Writes and deletes a probe object: reachable, credentials valid, and allowed to write. */
  async ping(): Promise<void> {
    const Key = this.keys.probe(this.instanceId);
    await this.client.send(new PutObjectCommand({ Bucket: this.bucket, Key, Body: 'ok' }));
    await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key }));
  }

  /**
   * A presigned GET of the blob, valid for `redirect.expiresSeconds`. With a range,
   * the Range header is part of the signature: the client must send exactly that
   * header (HTTP clients keep it when following a redirect).
   */
  async presignedGetUrl(digest: Digest, range?: ByteRange): Promise<string> {
    const expiresIn = this.options.redirect?.expiresSeconds;
    if (expiresIn === undefined) throw new Error('S3 blob store: presigned URLs need redirect.expiresSeconds');
    const Range = range && `bytes=${range.start}-${range.end}`;
    return getSignedUrl(this.client, new GetObjectCommand({ Bucket: this.bucket, Key: this.keys.blob(digest), Range }), { expiresIn });
  }

  /** Stops the client's sockets (tests, shutdown). */
  close(): void {
    this.client.destroy();
  }

  private async head(digest: Digest) {
    try {
      return await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: this.keys.blob(digest) }));
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  }
}
