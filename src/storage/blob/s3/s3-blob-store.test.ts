import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { Readable } from 'node:stream';
import { ListObjectsV2Command, PutObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, describe, expect, it } from 'vitest';
import { startS3Server, type S3TestServer } from '../../../../test/support/s3-server.js';
import { digestBytes, type Digest } from '../../../oci/digest.js';
import { commitAsCoreDoes, describeBlobStore } from '../blob-store.case.test.js';
import { S3BlobStore } from './s3-blob-store.js';
import { deleteKeys, listObjects } from './s3-client.js';
import { S3Keys } from './s3-keys.js';
import { MIB, MIN_PART_BYTES, type S3BlobStoreOptions } from './s3-options.js';

// Two fakes: plain s3rver (no UploadPartCopy) and one taught UploadPartCopy, so both
// commit paths run. With BERTH_TEST_S3_ENDPOINT both are the external server.
const servers: Record<'plain' | 'partCopy', Promise<S3TestServer> | undefined> = { plain: undefined, partCopy: undefined };
const server = (kind: 'plain' | 'partCopy') => (servers[kind] ??= startS3Server({ partCopy: kind === 'partCopy' }));
const stores: S3BlobStore[] = [];

afterAll(async () => {
  // Empty every prefix a test used (an external bucket is shared), then stop.
  for (const store of stores) {
    const keys: string[] = [];
    const { bucket, prefix } = store['options'];
    try {
      for await (const object of listObjects(store.client, bucket, prefix!)) keys.push(object.Key);
      await deleteKeys(store.client, bucket, keys);
    } catch {
      // the store whose bucket does not exist
    }
    store.close();
  }
  for (const s of Object.values(servers)) await (await s)?.stop();
});

async function newStore(kind: 'plain' | 'partCopy' = 'partCopy', options: Partial<S3BlobStoreOptions> = {}): Promise<S3BlobStore> {
  const s = await server(kind);
  const store = new S3BlobStore({
    endpoint: s.endpoint,
    region: s.region,
    bucket: s.bucket,
    forcePathStyle: s.forcePathStyle,
    accessKeyId: s.accessKeyId,
    secretAccessKey: s.secretAccessKey,
    prefix: `test-${randomUUID()}/`,
    partSizeBytes: MIN_PART_BYTES,
    ...options,
  });
  stores.push(store);
  return store;
}

async function bytesOf(stream: Readable): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const p of stream) parts.push(p as Buffer);
  return Buffer.concat(parts);
}

async function collect<T>(items: AsyncIterable<T>): Promise<T[]> {
  const all: T[] = [];
  for await (const item of items) all.push(item);
  return all;
}

/** Stages `sizes` as one writeUpload each and commits; resolves with the blob's bytes and digest. */
async function push(store: S3BlobStore, sizes: number[]): Promise<{ bytes: Buffer; digest: Digest }> {
  const bytes = randomBytes(sizes.reduce((a, b) => a + b, 0));
  const id = randomUUID();
  await store.createUpload(id);
  let offset = 0;
  for (const size of sizes) {
    expect(await store.writeUpload(id, offset, Readable.from([bytes.subarray(offset, offset + size)]))).toBe(size);
    offset += size;
  }
  const digest = digestBytes(bytes);
  await commitAsCoreDoes(store, id, digest);
  return { bytes, digest };
}

interface Call {
  command: string;
  input: Record<string, unknown>;
  ok: boolean;
}

/** Every S3 call the store's client makes from now on, and whether it succeeded. */
function record(store: S3BlobStore): Call[] {
  const calls: Call[] = [];
  store.client.middlewareStack.add(
    (next, context) => async (args) => {
      const call: Call = { command: context.commandName ?? '', input: args.input as Record<string, unknown>, ok: false };
      calls.push(call);
      const result = await next(args);
      call.ok = true;
      return result;
    },
    { step: 'initialize', name: `recorder-${randomUUID()}` },
  );
  return calls;
}

/** The parts of the multipart upload that completed under `key`, in order, as [kind, size]. */
function completedParts(calls: Call[], key: string): ['copy' | 'upload', number][] {
  const complete = calls.find((c) => c.command === 'CompleteMultipartUploadCommand' && c.ok && c.input.Key === key);
  if (!complete) return [];
  return calls
    .filter((c) => c.ok && c.input.UploadId === complete.input.UploadId && c.input.PartNumber !== undefined)
    .sort((a, b) => (a.input.PartNumber as number) - (b.input.PartNumber as number))
    .map((c) => {
      if (c.command === 'UploadPartCopyCommand') {
        const [start, end] = String(c.input.CopySourceRange).replace('bytes=', '').split('-').map(Number) as [number, number];
        return ['copy', end - start + 1];
      }
      return ['upload', c.input.ContentLength as number];
    });
}

describeBlobStore('s3', async () => {
  const store = await newStore();
  const s = await server('partCopy');
  const uploadsPrefix = `${new S3Keys(store['options'].prefix).uploadsPrefix}`;
  return {
    store,
    // Upload ids that still have any object in the bucket.
    stagedUploads: async () => {
      const page = await store.client.send(new ListObjectsV2Command({ Bucket: s.bucket, Prefix: uploadsPrefix }));
      return [...new Set((page.Contents ?? []).map((o) => o.Key!.slice(uploadsPrefix.length).split('/')[0]!))];
    },
    cleanup: async () => undefined, // afterAll empties every store
  };
});

const variants = [
  { name: 'server-side part copy', kind: 'partCopy', options: {} },
  { name: 'part copy found missing', kind: 'plain', options: {} },
  { name: 'streamed parts (partCopy: false)', kind: 'partCopy', options: { partCopy: false } },
  { name: 'equal parts (R2)', kind: 'partCopy', options: { equalParts: true } },
] as const;

describe.each(variants)('S3BlobStore commit: $name', ({ kind, options }) => {
  const check = async (store: S3BlobStore, sizes: number[]) => {
    const calls = record(store);
    const { bytes, digest } = await push(store, sizes);
    expect((await bytesOf(await store.read(digest))).equals(bytes)).toBe(true);
    expect(await store.stat(digest)).toEqual({ size: bytes.length });
    expect(await collect(store.listUploads())).toEqual([]);
    const parts = completedParts(calls, new S3Keys(store['options'].prefix).blob(digest));
    parts.slice(0, -1).forEach(([, size]) => expect(size).toBeGreaterThanOrEqual(MIN_PART_BYTES));
    if ('equalParts' in options) parts.slice(0, -1).forEach(([, size]) => expect(size).toBe(parts[0]![1]));
    if ('partCopy' in options) expect(calls.some((c) => c.command === 'UploadPartCopyCommand')).toBe(false);
    return parts;
  };

  it('assembles chunks of mixed sizes to exactly the staged bytes', async () => {
    const store = await newStore(kind, options);
    await check(store, [300 * 1024, 7 * MIB, 1, 6 * MIB, 2 * MIB, 3 * MIB, 5 * MIB, 100 * 1024]);
    await check(store, [6 * MIB, 300 * 1024, 11 * MIB, 2, 5 * MIB]);
  });

  it('copies chunks of 5 MiB and more server-side where it can', async () => {
    const store = await newStore(kind, options);
    const parts = await check(store, [6 * MIB, 5 * MIB, 6 * MIB + 3]);
    const { external } = await server(kind);
    if (kind === 'plain' && !external) expect(store.partCopySupport).toBe(false); // learned, and remembered
    if (kind === 'partCopy' && !('partCopy' in options)) {
      if (!external) expect(store.partCopySupport).toBe(true);
      // Unequal chunks: with equal parts only the 5 MiB runs inside one chunk are copies.
      expect(parts).toEqual(
        'equalParts' in options
          ? [['copy', 5 * MIB], ['upload', 5 * MIB], ['upload', 5 * MIB], ['copy', 2 * MIB + 3]]
          : [['copy', 6 * MIB], ['copy', 5 * MIB], ['copy', 6 * MIB + 3]],
      );
    }
  });

  it('coalesces many small chunks into parts of partSize', async () => {
    const store = await newStore(kind, options);
    const parts = await check(store, Array.from({ length: 30 }, () => 200 * 1024));
    expect(parts[0]).toEqual(['upload', 5 * MIB]);
    expect(parts.reduce((n, [, size]) => n + size, 0)).toBe(30 * 200 * 1024);
  });

  it('commits one chunk by a server-side copy, and an empty blob', async () => {
    const store = await newStore(kind, options);
    const calls = record(store);
    await check(store, [7 * MIB]);
    expect(calls.filter((c) => c.command === 'CopyObjectCommand' && c.ok)).toHaveLength(1);
    await check(store, []);
  });
});

describe('S3BlobStore', () => {
  it('resumes at the old offset after a failed multipart write, reporting the source failure', async () => {
    const store = await newStore();
    const bytes = randomBytes(13 * MIB);
    const id = randomUUID();
    await store.createUpload(id);
    await store.writeUpload(id, 0, Readable.from([bytes.subarray(0, MIB)]));
    let sent = 0;
    const failing = new Readable({
      read() {
        // Past partSize, so the chunk was going up as a multipart upload when the client went away.
        if (sent < 9 * MIB) this.push(bytes.subarray(MIB + sent, MIB + (sent += MIB)));
        else this.destroy(new Error('client went away'));
      },
    });
    await expect(store.writeUpload(id, MIB, failing)).rejects.toThrow('client went away');
    expect(await store.uploadSize(id)).toBe(MIB);
    expect(await store.writeUpload(id, MIB, Readable.from([bytes.subarray(MIB)]))).toBe(12 * MIB);
    expect((await bytesOf(store.readUpload(id, 13 * MIB))).equals(bytes)).toBe(true);
    await commitAsCoreDoes(store, id, digestBytes(bytes));
    expect((await bytesOf(await store.read(digestBytes(bytes)))).equals(bytes)).toBe(true);
  });

  it('retries an offset whose chunk was already written, and ignores a chunk past a gap', async () => {
    const store = await newStore();
    const keys = new S3Keys(store['options'].prefix);
    const id = randomUUID();
    await store.createUpload(id);
    await store.writeUpload(id, 0, Readable.from([Buffer.from('hello ')]));
    await store.writeUpload(id, 6, Readable.from([Buffer.from('wrold')])); // the node died before recording it
    // A stray chunk far past the end (a write that raced a rewind elsewhere).
    const s = await server('partCopy');
    await store.client.send(new PutObjectCommand({ Bucket: s.bucket, Key: keys.chunk(id, 100), Body: 'stray' }));
    expect(await store.uploadSize(id)).toBe(11);
    await store.writeUpload(id, 6, Readable.from([Buffer.from('world')]));
    expect((await bytesOf(store.readUpload(id, 11))).toString()).toBe('hello world');
    expect((await bytesOf(store.readUpload(id, 8))).toString()).toBe('hello wo');
    expect(await store.writeUpload(id, 11, Readable.from([]))).toBe(0); // an empty PATCH writes nothing
    await commitAsCoreDoes(store, id, digestBytes(Buffer.from('hello world')));
    expect((await bytesOf(await store.read(digestBytes(Buffer.from('hello world'))))).toString()).toBe('hello world');
    expect(await collect(store.listUploads())).toEqual([]);
  });

  it('lets two nodes take turns writing one upload', async () => {
    const a = await newStore();
    const b = new S3BlobStore({ ...a['options'] });
    stores.push(b);
    const pieces = [randomBytes(300_000), randomBytes(6 * MIB), randomBytes(1), randomBytes(2 * MIB)];
    const bytes = Buffer.concat(pieces);
    const id = randomUUID();
    await a.createUpload(id);
    let offset = 0;
    for (const [i, piece] of pieces.entries()) {
      const node = i % 2 === 0 ? a : b;
      expect(await node.uploadSize(id)).toBe(offset);
      offset += await node.writeUpload(id, offset, Readable.from([piece]));
    }
    expect((await bytesOf(a.readUpload(id, bytes.length))).equals(bytes)).toBe(true);
    await commitAsCoreDoes(b, id, digestBytes(bytes));
    expect((await bytesOf(await a.read(digestBytes(bytes)))).equals(bytes)).toBe(true);
    expect(await a.uploadSize(id)).toBeUndefined();
  });

  it('commits the same digest from two nodes at once', async () => {
    const a = await newStore();
    const b = new S3BlobStore({ ...a['options'] });
    stores.push(b);
    const bytes = randomBytes(6 * MIB + 100 * 1024);
    const digest = digestBytes(bytes);
    const ids = [randomUUID(), randomUUID()];
    await Promise.all(
      [a, b].map(async (node, i) => {
        await node.createUpload(ids[i]!);
        await node.writeUpload(ids[i]!, 0, Readable.from([bytes.subarray(0, 6 * MIB)]));
        await node.writeUpload(ids[i]!, 6 * MIB, Readable.from([bytes.subarray(6 * MIB)]));
      }),
    );
    await Promise.all([commitAsCoreDoes(a, ids[0]!, digest), commitAsCoreDoes(b, ids[1]!, digest)]);
    expect((await bytesOf(await b.read(digest))).equals(bytes)).toBe(true);
    expect(await collect(a.listUploads())).toEqual([]);
    expect(await collect(a.list())).toEqual([digest]);
  });

  it('reads ranges, and reports a missing blob as ENOENT', async () => {
    const store = await newStore();
    const { bytes, digest } = await push(store, [MIB, 2 * MIB + 5]);
    for (const [start, end] of [[0, 0], [MIB - 10, MIB + 10], [bytes.length - 1, bytes.length - 1], [0, bytes.length - 1]] as const) {
      expect((await bytesOf(await store.read(digest, { start, end }))).equals(bytes.subarray(start, end + 1))).toBe(true);
    }
    await expect(store.read(digestBytes(Buffer.from('absent')))).rejects.toMatchObject({ code: 'ENOENT' });
    expect(await store.modifiedAt(digest)).toBeGreaterThan(Date.now() - 600_000);
    expect(await store.modifiedAt(digestBytes(Buffer.from('absent')))).toBeUndefined();
  });

  it('signs GET URLs that plain fetch() can follow, whole or ranged', async () => {
    const store = await newStore('partCopy', { redirect: { expiresSeconds: 60 } });
    const { bytes, digest } = await push(store, [100_000]);
    const url = await store.presignedGetUrl(digest);
    expect(new URL(url).searchParams.get('X-Amz-Expires')).toBe('60');
    const whole = await fetch(url);
    expect(whole.status).toBe(200);
    expect(Buffer.from(await whole.arrayBuffer()).equals(bytes)).toBe(true);
    const ranged = await store.presignedGetUrl(digest, { start: 10, end: 19 });
    expect(new URL(ranged).searchParams.get('X-Amz-SignedHeaders')).toContain('range');
    const part = await fetch(ranged, { headers: { range: 'bytes=10-19' } });
    expect(part.status).toBe(206);
    expect(Buffer.from(await part.arrayBuffer()).equals(bytes.subarray(10, 20))).toBe(true);

    const brief = await newStore('partCopy', { ...store['options'], redirect: { expiresSeconds: 1 } });
    const expiring = await brief.presignedGetUrl(digest);
    await new Promise((resolve) => setTimeout(resolve, 2100));
    expect((await fetch(expiring)).status).toBe(403);
    await expect((await newStore()).presignedGetUrl(digest)).rejects.toThrow('redirect.expiresSeconds');
  });

  it('keeps prefixes in one bucket apart', async () => {
    const a = await newStore();
    const b = await newStore();
    const inA = await push(a, [10]);
    const inB = await push(b, [20]);
    const open = randomUUID();
    await b.createUpload(open);
    expect(await collect(a.list())).toEqual([inA.digest]);
    expect(await collect(b.list())).toEqual([inB.digest]);
    expect(await collect(a.listUploads())).toEqual([]);
    expect((await collect(b.listUploads())).map((u) => u.id)).toEqual([open]);
    expect(await a.stat(inB.digest)).toBeUndefined();
    await b.deleteUpload(open);
  });

  it('lists only well-formed blob keys and upload ids', async () => {
    const store = await newStore();
    const { digest } = await push(store, [5]);
    const prefix = store['options'].prefix!;
    const hex = digest.slice('sha256:'.length);
    const s = await server('partCopy');
    for (const junk of [`blobs/sha256/zz/${hex}`, 'blobs/sha256/ab/abc', 'blobs/readme', 'uploads/not-an-id/session', 'uploads/x']) {
      await store.client.send(new PutObjectCommand({ Bucket: s.bucket, Key: `${prefix}${junk}`, Body: 'junk' }));
    }
    const open = randomUUID();
    await store.createUpload(open);
    await store.writeUpload(open, 0, Readable.from([Buffer.from('abc')]));
    expect(await collect(store.list())).toEqual([digest]);
    const uploads = await collect(store.listUploads());
    expect(uploads.map((u) => u.id)).toEqual([open]);
    expect(uploads[0]!.modifiedAt).toBeGreaterThan(Date.now() - 600_000);
    await store.deleteUpload(open);
  });

  it('pages through listings of more than 1,000 keys', async () => {
    const store = await newStore();
    const { bucket, prefix } = store['options'];
    const keys = new S3Keys(prefix);
    const digests = Array.from({ length: 1005 }, (_, i) => digestBytes(Buffer.from(`blob ${i}`)));
    for (let i = 0; i < digests.length; i += 50) {
      await Promise.all(digests.slice(i, i + 50).map((d) => store.client.send(new PutObjectCommand({ Bucket: bucket, Key: keys.blob(d), Body: '' }))));
    }
    expect(new Set(await collect(store.list()))).toEqual(new Set(digests));
  });

  it('sends Content-MD5 with DeleteObjects, which older MinIO and Ceph require', async () => {
    const store = await newStore();
    const seen: { md5?: string; body: string }[] = [];
    store.client.middlewareStack.add(
      (next, context) => async (args) => {
        const request = args.request as { headers: Record<string, string>; body: string };
        if (context.commandName === 'DeleteObjectsCommand') seen.push({ md5: request.headers['content-md5'], body: request.body });
        return next(args);
      },
      { step: 'finalizeRequest', name: 'content-md5-probe' },
    );
    await push(store, [10, 10]); // the commit deletes its chunks with DeleteObjects
    expect(seen.length).toBeGreaterThan(0);
    for (const { md5, body } of seen) expect(md5).toBe(createHash('md5').update(body).digest('base64'));
  });

  it('refuses to read more than is staged, or to write past the end', async () => {
    const store = await newStore();
    const id = randomUUID();
    await store.createUpload(id);
    await store.writeUpload(id, 0, Readable.from([Buffer.from('abc')]));
    await expect(bytesOf(store.readUpload(id, 4))).rejects.toThrow('3 bytes staged');
    await expect(store.writeUpload(id, 5, Readable.from([Buffer.from('x')]))).rejects.toThrow('3 bytes are staged');
    await store.deleteUpload(id);
    await expect(store.writeUpload(id, 0, Readable.from([Buffer.from('x')]))).rejects.toMatchObject({ code: 'ENOENT' });
    await expect(store.commitUpload(id, digestBytes(Buffer.from('abc')))).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('fails ping for a bucket it cannot reach', async () => {
    const store = await newStore('partCopy', { bucket: `missing-${randomUUID()}` });
    await expect(store.ping()).rejects.toThrow();
  });
});
