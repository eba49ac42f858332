export const MIB = 1024 * 1024;
/** S3's smallest part (every part of a multipart upload but the last). */
export const MIN_PART_BYTES = 5 * MIB;
/** S3's largest part, and the largest object CopyObject copies in one request. */
export const MAX_COPY_BYTES = 5 * 1024 * MIB;
export const MAX_PARTS = 10_000;
const DEFAULT_PART_BYTES = 8 * MIB;
/** The longest a SigV4 presigned URL may live. */
const MAX_PRESIGN_SECONDS = 7 * 24 * 3600;

/** How a deployment reaches its bucket: AWS S3, DigitalOcean Spaces, MinIO, Ceph RGW, Cloudflare R2. */
export interface S3BlobStoreOptions {
  /** e.g. https://fra1.digitaloceanspaces.com; omitted for AWS S3. */
  endpoint?: string;
  region: string;
  bucket: string;
  /** A folder inside the bucket, so several registries can share it. */
  prefix?: string;
  /** Path-style URLs (endpoint/bucket/key): MinIO and most self-hosted servers need them. */
  forcePathStyle?: boolean;
  /** Without keys the SDK's default chain is used (env, profile, instance or task role). */
  accessKeyId?: string;
  secretAccessKey?: string;
  sessionToken?: string;
  /** Part size for multipart uploads and for coalescing small chunks at commit. Default 8 MiB, at least 5 MiB. */
  partSizeBytes?: number;
  /** Presigned blob GETs (a later feature redirects pulls to them). */
  redirect?: { expiresSeconds: number };
  /**
   * Server-side UploadPartCopy at commit. 'auto' (default) tries it and falls back to
   * streaming parts through this node when the server answers NotImplemented.
   */
  partCopy?: boolean | 'auto';
  /**
   * Every part but the last the same size, as Cloudflare R2 requires. Defaults to
   * true for an endpoint on r2.cloudflarestorage.com, false elsewhere.
   */
  equalParts?: boolean;
}

export interface ResolvedS3Options extends S3BlobStoreOptions {
  partSizeBytes: number;
  partCopy: boolean | 'auto';
  equalParts: boolean;
}

export function resolveS3Options(options: S3BlobStoreOptions): ResolvedS3Options {
  if (!options.bucket) throw new Error('S3 blob store: a bucket is required');
  if (!options.region) throw new Error('S3 blob store: a region is required');
  if ((options.accessKeyId === undefined) !== (options.secretAccessKey === undefined)) {
    throw new Error('S3 blob store: give both accessKeyId and secretAccessKey, or neither');
  }
  const partSizeBytes = options.partSizeBytes ?? DEFAULT_PART_BYTES;
  if (!Number.isSafeInteger(partSizeBytes) || partSizeBytes < MIN_PART_BYTES || partSizeBytes > MAX_COPY_BYTES) {
    throw new Error(`S3 blob store: partSizeBytes must be an integer between ${MIN_PART_BYTES} and ${MAX_COPY_BYTES}`);
  }
  const expires = options.redirect?.expiresSeconds;
  if (expires !== undefined && (!Number.isInteger(expires) || expires < 1 || expires > MAX_PRESIGN_SECONDS)) {
    throw new Error(`S3 blob store: redirect.expiresSeconds must be an integer between 1 and ${MAX_PRESIGN_SECONDS}`);
  }
  return {
    ...options,
    partSizeBytes,
    partCopy: options.partCopy ?? 'auto',
    equalParts: options.equalParts ?? isR2(options.endpoint),
  };
}

function isR2(endpoint: string | undefined): boolean {
  if (!endpoint) return false;
  try {
    return new URL(endpoint).hostname.endsWith('.r2.cloudflarestorage.com');
  } catch {
    return false;
  }
}
