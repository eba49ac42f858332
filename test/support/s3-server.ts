import { createHash, randomUUID } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, mkdtemp, open, rename, rm, rmdir, writeFile, type FileHandle } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';

/** Where the S3 tests run: s3rver in this process, or the external server named by BERTH_TEST_S3_*. */
export interface S3TestServer {
  endpoint: string;
  bucket: string;
  region: string;
  accessKeyId: string;
  secretAccessKey: string;
  forcePathStyle: boolean;
  /** A real server (MinIO, AWS…) from the environment rather than s3rver. */
  external: boolean;
  stop(): Promise<void>;
}

export interface S3TestServerOptions {
  /**
   * s3rver answers UploadPartCopy with NotImplemented. With this set, the fake gains
   * a small UploadPartCopy (ranged read of the source, stored as the part), so the
   * store's server-side copy path runs here too. Ignored for an external server.
   */
  partCopy?: boolean;
}

/**
 * Starts s3rver over real HTTP on a free loopback port with a temporary directory
 * and one bucket. When BERTH_TEST_S3_ENDPOINT is set (with _BUCKET, _ACCESS_KEY_ID,
 * _SECRET_ACCESS_KEY, _REGION and optionally _FORCE_PATH_STYLE=false), that server
 * and its existing bucket are used instead; tests isolate themselves by key prefix.
 */
export async function startS3Server(options: S3TestServerOptions = {}): Promise<S3TestServer> {
  const external = process.env.BERTH_TEST_S3_ENDPOINT;
  if (external) {
    return {
      endpoint: external,
      bucket: requireEnv('BERTH_TEST_S3_BUCKET'),
      region: process.env.BERTH_TEST_S3_REGION ?? 'us-east-1',
      accessKeyId: requireEnv('BERTH_TEST_S3_ACCESS_KEY_ID'),
      secretAccessKey: requireEnv('BERTH_TEST_S3_SECRET_ACCESS_KEY'),
      forcePathStyle: process.env.BERTH_TEST_S3_FORCE_PATH_STYLE !== 'false',
      external: true,
      stop: async () => undefined,
    };
  }
  const directory = await mkdtemp(join(tmpdir(), 'berth-s3rver-'));
  const bucket = 'berth-test';
  const server = new S3rver({ address: '127.0.0.1', port: 0, silent: process.env.BERTH_TEST_S3RVER_LOG !== '1', directory, configureBuckets: [{ name: bucket }] });
  harden(server.store);
  // Before the router: handlers for calls s3rver lacks.
  server.middleware.splice(server.middleware.length - 1, 0, missingCalls(server.store, options.partCopy ?? false));
  const { port } = await server.run();
  return {
    endpoint: `http://127.0.0.1:${port}`,
    bucket,
    region: 'us-east-1',
    accessKeyId: 'S3RVER', // s3rver's built-in account
    secretAccessKey: 'S3RVER',
    forcePathStyle: true,
    external: false,
    stop: async () => {
      await server.close();
      await rm(directory, { recursive: true, force: true });
    },
  };
}

function requireEnv(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`BERTH_TEST_S3_ENDPOINT is set, so ${name} must be too`);
  return value;
}

// ---- s3rver (CommonJS, untyped): just the surface used here ----

interface FsStore {
  getBucketPath(bucket: string): string;
  getResourcePath(bucket: string, key: string | undefined, resource: string): string;
  getMetadata(bucket: string, key: string): Promise<Record<string, string>>;
  putMetadata(bucket: string, key: string, metadata: Record<string, string>, md5?: string): Promise<void>;
  getObject(bucket: string, key: string, options?: { start: number; end: number }): Promise<{ content?: Readable } | null>;
  putObject(object: { bucket: string; key: string; content: Readable | Buffer; metadata: Record<string, string> }): Promise<{ md5: string; size: number }>;
  copyObject(srcBucket: string, srcKey: string, destBucket: string, destKey: string, replacement?: Record<string, string>): Promise<Record<string, string>>;
  deleteObject(bucket: string, key: string): Promise<void>;
  putPart(bucket: string, uploadId: string, partNumber: number, content: Readable): Promise<{ md5: string; size: number }>;
  getBucket(bucket: string): Promise<object | null>;
  listObjects(
    bucket: string,
    options: { prefix: string; startAfter: string; maxKeys: number },
  ): Promise<{ objects: { key: string; size: number; lastModifiedDate: Date; metadata: Record<string, string> }[]; isTruncated: boolean }>;
}

interface KoaContext {
  method: string;
  path: string;
  query: Record<string, string>;
  status: number;
  body: unknown;
  get(header: string): string;
}

interface S3rverInstance {
  store: FsStore;
  middleware: ((ctx: KoaContext, next: () => Promise<void>) => Promise<void>)[];
  run(): Promise<{ port: number }>;
  close(): Promise<void>;
}

const require = createRequire(import.meta.url);
const S3rver = require('s3rver') as new (options: Record<string, unknown>) => S3rverInstance;

/**
 * s3rver writes objects in place and answers before the file is flushed, and its
 * directory cleanup after a delete races with concurrent writes and deletes. Real S3
 * makes a PUT, copy or multipart completion visible atomically and the store relies on
 * that, so the fake's writes go to a temporary file renamed into place once complete.
 */
function harden(store: FsStore): void {
  store.putObject = async (object) => {
    const path = store.getResourcePath(object.bucket, object.key, 'object');
    const { md5, size } = await writeAtomically(path, object.content);
    await store.putMetadata(object.bucket, object.key, object.metadata, md5);
    return { md5, size };
  };
  store.putPart = async (bucket, uploadId, partNumber, content) => {
    const path = join(store.getResourcePath(bucket, undefined, 'uploads'), uploadId, String(partNumber));
    const result = await writeAtomically(path, content);
    await writeFile(`${path}.md5`, result.md5);
    return result;
  };
  // s3rver reads `bytes=N-0` to the end of the object (0 taken as "no end").
  const getObject = store.getObject.bind(store);
  store.getObject = async (bucket, key, options) => {
    const object = await getObject(bucket, key, options);
    if (options?.end !== 0 || !object?.content) return object;
    object.content.destroy();
    const content = createReadStream(store.getResourcePath(bucket, key, 'object'), { start: options.start, end: 0 });
    return Object.assign(object, { content, range: { start: options.start, end: 0 } });
  };
  store.copyObject = async (srcBucket, srcKey, destBucket, destKey, replacement) => {
    const metadata = replacement ?? (await store.getMetadata(srcBucket, srcKey));
    const content = createReadStream(store.getResourcePath(srcBucket, srcKey, 'object'));
    await store.putObject({ bucket: destBucket, key: destKey, content, metadata });
    return store.getMetadata(destBucket, destKey);
  };
  store.deleteObject = async (bucket, key) => {
    for (const resource of ['object', 'object.md5', 'metadata.json']) await rm(store.getResourcePath(bucket, key, resource), { force: true });
    // Remove emptied parent folders; one that is not empty (or already gone) ends the walk.
    const parts = key.split('/').slice(0, -1);
    for (; parts.length > 0; parts.pop()) {
      try {
        await rmdir(join(store.getBucketPath(bucket), ...parts));
      } catch {
        break;
      }
    }
  };
}

async function writeAtomically(path: string, content: Readable | Buffer): Promise<{ md5: string; size: number }> {
  const temp = `${path}.${randomUUID()}.tmp`;
  const hash = createHash('md5');
  let size = 0;
  // A concurrent delete may remove the folder between mkdir and open; once the temp file is open it cannot.
  let handle: FileHandle;
  for (let attempt = 0; ; attempt++) {
    await mkdir(dirname(path), { recursive: true });
    try {
      handle = await open(temp, 'w');
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT' || attempt >= 5) throw err;
    }
  }
  try {
    const counting = new Transform({
      transform(chunk: Buffer, _encoding, done) {
        hash.update(chunk);
        size += chunk.length;
        done(null, chunk);
      },
    });
    await pipeline(Buffer.isBuffer(content) ? Readable.from([content]) : content, counting, handle.createWriteStream());
    await rename(temp, path);
  } catch (err) {
    await rm(temp, { force: true });
    throw err;
  }
  return { md5: hash.digest('hex'), size };
}

/**
 * Calls s3rver lacks or breaks: AbortMultipartUpload (it answers MethodNotAllowed),
 * ListObjectsV2 past one page (its continuation tokens use DES, which OpenSSL 3 no
 * longer has: a 500 on Node 17+), and, when asked, UploadPartCopy.
 */
function missingCalls(store: FsStore, partCopy: boolean) {
  return async (ctx: KoaContext, next: () => Promise<void>) => {
    const { uploadId, partNumber } = ctx.query;
    const [bucket = '', ...key] = ctx.path.split('/').slice(1);
    if (ctx.method === 'GET' && key.join('') === '' && ctx.query['list-type'] === '2' && !ctx.query.delimiter) {
      await listObjectsV2(store, bucket, ctx);
      return;
    }
    if (ctx.method === 'DELETE' && uploadId !== undefined) {
      await rm(join(store.getResourcePath(bucket, undefined, 'uploads'), uploadId), { recursive: true, force: true });
      ctx.status = 204;
      return;
    }
    const source = ctx.get('x-amz-copy-source');
    if (partCopy && ctx.method === 'PUT' && uploadId !== undefined && partNumber !== undefined && source) {
      const [srcBucket = '', ...srcKey] = decodeURIComponent(source).replace(/^\//, '').split('/');
      const range = /^bytes=(\d+)-(\d+)$/.exec(ctx.get('x-amz-copy-source-range'));
      const object = await store.getObject(srcBucket, srcKey.join('/'), range ? { start: Number(range[1]), end: Number(range[2]) } : undefined);
      if (!object?.content) {
        ctx.status = 404;
        ctx.body = { Error: { Code: 'NoSuchKey', Message: 'The specified key does not exist.' } };
        return;
      }
      const { md5 } = await store.putPart(bucket, uploadId, Number(partNumber), object.content);
      ctx.body = { CopyPartResult: { LastModified: new Date().toISOString(), ETag: JSON.stringify(md5) } };
      return;
    }
    await next();
  };
}

/** ListObjectsV2 without a delimiter; the continuation token is the last key listed, in base64. */
async function listObjectsV2(store: FsStore, bucket: string, ctx: KoaContext): Promise<void> {
  const token = ctx.query['continuation-token'];
  const prefix = ctx.query.prefix ?? '';
  const maxKeys = Math.min(1000, Number(ctx.query['max-keys'] ?? 1000));
  const startAfter = token ? Buffer.from(token, 'base64').toString('utf8') : (ctx.query['start-after'] ?? '');
  if (!(await store.getBucket(bucket))) {
    ctx.status = 404;
    ctx.body = { Error: { Code: 'NoSuchBucket', Message: 'The specified bucket does not exist' } };
    return;
  }
  const result = await store.listObjects(bucket, { prefix, startAfter, maxKeys });
  const last = result.objects.at(-1)?.key;
  ctx.body = {
    ListBucketResult: {
      Name: bucket,
      Prefix: prefix,
      KeyCount: result.objects.length,
      MaxKeys: maxKeys,
      IsTruncated: result.isTruncated,
      ContinuationToken: token,
      NextContinuationToken: result.isTruncated && last ? Buffer.from(last).toString('base64') : undefined,
      Contents: result.objects.map((o) => ({
        Key: o.key,
        LastModified: o.lastModifiedDate.toISOString(),
        ETag: o.metadata.etag,
        Size: o.size,
        StorageClass: 'STANDARD',
      })),
    },
  };
}
