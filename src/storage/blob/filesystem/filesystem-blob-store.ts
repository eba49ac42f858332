import { createReadStream } from 'node:fs';
import { mkdir, open, rename, rm, stat, truncate, writeFile, unlink } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { Readable } from 'node:stream';
import { parseDigest, type Digest } from '../../../oci/digest.js';
import type { BlobStore, ByteRange } from '../blob-store.js';

const UPLOAD_ID = /^[a-f0-9-]{36}$/;
/** Large reads and writes keep syscalls few when streaming big layers. */
const READ_CHUNK = 1024 * 1024;
const WRITE_BATCH = 256 * 1024;
/** Bytes written between background fdatasyncs of a staged upload. */
const SYNC_EVERY = 32 * 1024 * 1024;

/**
 * Blobs as files under `<root>/blobs/<alg>/<xx>/<hex>`, staged under
 * `<root>/uploads/<id>`. Paths are built only from validated digests and
 * upload ids, never from repository names.
 */
export class FilesystemBlobStore implements BlobStore {
  private readonly blobsDir: string;
  private readonly uploadsDir: string;

  constructor(root: string) {
    this.blobsDir = join(root, 'blobs');
    this.uploadsDir = join(root, 'uploads');
  }

  async init(): Promise<void> {
    await mkdir(this.blobsDir, { recursive: true });
    await mkdir(this.uploadsDir, { recursive: true });
  }

  private blobPath(digest: Digest): string {
    const { algorithm, hex } = parseDigest(digest);
    return join(this.blobsDir, algorithm, hex.slice(0, 2), hex);
  }

  private uploadPath(uploadId: string): string {
    if (!UPLOAD_ID.test(uploadId)) throw new Error(`invalid upload id ${uploadId}`);
    return join(this.uploadsDir, uploadId);
  }

  async stat(digest: Digest): Promise<{ size: number } | undefined> {
    try {
      const s = await stat(this.blobPath(digest));
      return { size: s.size };
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  }

  async read(digest: Digest, range?: ByteRange): Promise<Readable> {
    const path = this.blobPath(digest);
    // Open first so a missing file fails here rather than mid-response.
    const handle = await open(path, 'r');
    return handle.createReadStream({ start: range?.start, end: range?.end, highWaterMark: READ_CHUNK, autoClose: true });
  }

  async delete(digest: Digest): Promise<void> {
    await rm(this.blobPath(digest), { force: true });
  }

  async createUpload(uploadId: string): Promise<void> {
    await writeFile(this.uploadPath(uploadId), new Uint8Array(0), { flag: 'wx' });
  }

  async uploadSize(uploadId: string): Promise<number | undefined> {
    try {
      return (await stat(this.uploadPath(uploadId))).size;
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  }

  async writeUpload(uploadId: string, offset: number, source: Readable): Promise<number> {
    const path = this.uploadPath(uploadId);
    await truncate(path, offset);
    const handle = await open(path, 'r+');
    let position = offset;
    let inFlight: Promise<unknown> = Promise.resolve();
    const syncs: Promise<void>[] = [];
    try {
      let batch: Buffer[] = [];
      let batchBytes = 0;
      let unsynced = 0;
      const flush = async () => {
        // One write in flight while the next batch arrives: disk and network overlap.
        await inFlight;
        inFlight = handle.writev(batch, position);
        inFlight.catch(() => undefined); // awaited at the next flush or below
        position += batchBytes;
        unsynced += batchBytes;
        batch = [];
        batchBytes = 0;
        if (unsynced >= SYNC_EVERY) {
          // Flush to disk as the upload goes, so the fsync at commit has only the tail left to write.
          const written = inFlight;
          const sync = written.then(() => handle.datasync());
          sync.catch(() => undefined); // awaited below; this only keeps an early failure from being "unhandled"
          syncs.push(sync);
          unsynced = 0;
        }
      };
      for await (const chunk of source) {
        batch.push(chunk as Buffer);
        batchBytes += (chunk as Buffer).length;
        if (batchBytes >= WRITE_BATCH) await flush();
      }
      if (batchBytes > 0) await flush();
      await inFlight;
      await Promise.all(syncs);
    } catch (err) {
      // Let any write or sync still running settle (and fail quietly) before truncating.
      await Promise.allSettled([inFlight, ...syncs]);
      await truncate(path, offset).catch(() => undefined);
      throw err;
    } finally {
      await handle.close();
    }
    return position - offset;
  }

  readUpload(uploadId: string, length: number): Readable {
    if (length === 0) return Readable.from([]);
    return createReadStream(this.uploadPath(uploadId), { start: 0, end: length - 1, highWaterMark: READ_CHUNK });
  }

  async commitUpload(uploadId: string, digest: Digest): Promise<void> {
    const staged = this.uploadPath(uploadId);
    const target = this.blobPath(digest);
    if (await this.stat(digest)) {
      // Content-addressed: identical bytes are already durable under this digest.
      await unlink(staged).catch(() => undefined);
      return;
    }
    await fsyncPath(staged);
    await mkdir(dirname(target), { recursive: true });
    // rename is atomic: readers see the whole blob or nothing, never a partial one.
    await rename(staged, target);
    await fsyncPath(dirname(target));
  }

  async deleteUpload(uploadId: string): Promise<void> {
    await rm(this.uploadPath(uploadId), { force: true });
  }

  async ping(): Promise<void> {
    const probe = join(this.uploadsDir, '.ready-probe');
    await writeFile(probe, 'ok');
    await unlink(probe);
  }
}

async function fsyncPath(path: string): Promise<void> {
  const handle = await open(path, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

function isNotFound(err: unknown): boolean {
  return (err as NodeJS.ErrnoException).code === 'ENOENT';
}
