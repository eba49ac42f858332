/**
 * The race GC must never lose, forced deterministically in-process over the real
 * stores: a push finds (or writes) a blob's bytes, and before its link commits,
 * GC finds the blob unreferenced. Without claims the bytes go and the link then
 * points at nothing (shown first, as a control); with claims GC keeps them.
 */
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ClaimingBlobStore } from '../../src/core/gc-claims.js';
import { deleteBlobIfUnused } from '../../src/core/gc-pass.js';
import type { Digest } from '../../src/oci/digest.js';
import type { RepoName } from '../../src/oci/name.js';
import { FilesystemBlobStore } from '../../src/storage/blob/filesystem/filesystem-blob-store.js';
import type { MetaStores } from '../../src/storage/meta/stores.js';
import { openSqliteStores } from '../../src/storage/meta/sqlite/open-sqlite.js';
import { postgresStores, skipPostgres } from '../support/postgres.js';

/** The metadata stores to run every test over: `dir` is the test's own directory. */
const backends: { name: string; skip: boolean; open(dir: string): Promise<{ stores: MetaStores; cleanup(): Promise<void> }> }[] = [
  {
    name: 'sqlite',
    skip: false,
    open: async (dir) => {
      const opened = await openSqliteStores({ path: join(dir, 'metadata.db'), synchronous: 'NORMAL' });
      return { stores: opened, cleanup: () => opened.close() };
    },
  },
  { name: 'postgres', skip: skipPostgres, open: () => postgresStores() },
];

let dir: string;
let files: FilesystemBlobStore;
let stores: MetaStores;
let claiming: ClaimingBlobStore;
let repoId: number;

const digestOf = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}` as Digest;
const blobPath = (d: Digest) => join(dir, 'blobs', 'sha256', d.slice(7, 9), d.slice(7));

/** An upload session with `bytes` staged, as Uploads leaves it before completing. */
async function stage(bytes: Buffer): Promise<string> {
  const id = randomUUID();
  await files.createUpload(id);
  await files.writeUpload(id, 0, Readable.from([bytes]));
  await stores.meta.createUpload({ id, repositoryId: repoId, size: bytes.length, createdAt: Date.now() });
  return id;
}
/** The transaction that ends a completed session (Uploads.complete). */
const link = (uploadId: string, digest: Digest, size: number) =>
  stores.meta.transaction(async (tx) => {
    await tx.linkBlob(repoId, digest, size);
    await tx.deleteUpload(uploadId);
  });
/** GC's deletion of one blob, as its phases and sweep run it. */
const collect = (digest: Digest, store = claiming) => stores.gc.transaction((tx) => deleteBlobIfUnused(tx, store, digest, Date.now()));

/** A blob that was pushed and whose only link was removed: garbage, bytes still there. */
async function garbage(): Promise<{ bytes: Buffer; digest: Digest }> {
  const bytes = randomBytes(512);
  const digest = digestOf(bytes);
  const id = await stage(bytes);
  await claiming.commitUpload(id, digest);
  await link(id, digest, bytes.length);
  await stores.meta.unlinkBlob(repoId, digest);
  return { bytes, digest };
}

for (const backend of backends) {
  describe.skipIf(backend.skip)(`over ${backend.name} metadata`, () => {
    let cleanup: () => Promise<void>;
    beforeEach(async () => {
      dir = mkdtempSync(join(tmpdir(), 'berth-gc-claims-'));
      files = new FilesystemBlobStore(dir);
      await files.init();
      ({ stores, cleanup } = await backend.open(dir));
      claiming = new ClaimingBlobStore(files);
      repoId = (await stores.meta.ensureRepository('t/r' as RepoName, 't')).id;
    });
    afterEach(() => cleanup());

    describe('a push that finds identical bytes already stored, racing their deletion', () => {
      it('control: without a claim, GC deletes the bytes and the push then links a blob that does not exist', async () => {
        const { bytes, digest } = await garbage();
        const id = await stage(bytes);
        await files.commitUpload(id, digest); // the bare store: no claim
        expect(await collect(digest)).toBe(true);
        await link(id, digest, bytes.length);
        expect(await stores.meta.getRepositoryBlob(repoId, digest)).toBeDefined();
        expect(existsSync(blobPath(digest))).toBe(false); // the hazard claims exist for
      });

      it('with the claim, GC keeps the bytes until the push has linked them; once unreferenced again they go', async () => {
        const { bytes, digest } = await garbage();
        const id = await stage(bytes);
        await claiming.commitUpload(id, digest);
        expect(await collect(digest)).toBe(false);
        await link(id, digest, bytes.length);
        expect(existsSync(blobPath(digest))).toBe(true);
        expect(await collect(digest)).toBe(false); // linked now

        await stores.meta.unlinkBlob(repoId, digest);
        expect(await collect(digest)).toBe(true); // the session is over: its claim is released
        expect(existsSync(blobPath(digest))).toBe(false);
        expect(claiming.claimedCount()).toBe(0);
      });

      it('a commit arriving while the deletion holds the digest waits, then writes the bytes itself', async () => {
        const { bytes, digest } = await garbage();
        const id = await stage(bytes);
        const deletion = claiming.deleteUnclaimed(digest, async () => false);
        const commit = claiming.commitUpload(id, digest);
        expect(await deletion).toBe(true);
        await commit;
        await link(id, digest, bytes.length);
        expect(digestOf(await readAll(digest))).toBe(digest);
      });

      it('a claim added while the deletion is asking about another session stops it', async () => {
        const { bytes, digest } = await garbage();
        const first = await stage(bytes);
        await claiming.commitUpload(first, digest); // claimed by `first`, whose session is about to end
        await stores.meta.deleteUpload(first);
        const second = await stage(bytes);
        let commit: Promise<void> | undefined;
        const kept = await claiming.deleteUnclaimed(digest, async (uploadId) => {
          if (uploadId === first) {
            commit = claiming.commitUpload(second, digest); // claims at once, then waits for the digest
            await new Promise((r) => setTimeout(r, 20));
            return false;
          }
          return (await stores.gc.openSessions([uploadId])).has(uploadId);
        });
        expect(kept).toBe(false);
        await commit;
        await link(second, digest, bytes.length);
        expect(existsSync(blobPath(digest))).toBe(true);
      });
    });

    describe('other claims', () => {
      it('a file the metadata does not know yet (just committed, link pending) is not an orphan', async () => {
        const bytes = randomBytes(256);
        const digest = digestOf(bytes);
        const id = await stage(bytes);
        await claiming.commitUpload(id, digest);
        expect(await collect(digest)).toBe(false);
        await link(id, digest, bytes.length);
        expect(existsSync(blobPath(digest))).toBe(true);
      });

      it('a mount that found the bytes keeps them for its claim time', async () => {
        const { digest } = await garbage();
        expect(await claiming.stat(digest)).toBeDefined();
        expect(await collect(digest)).toBe(false);
        const impatient = new ClaimingBlobStore(files, 0);
        expect(await impatient.stat(digest)).toBeDefined();
        expect(await collect(digest, impatient)).toBe(true);
      });

      it('a committing session keeps its staging area and reports its size until it ends; a failed commit claims nothing', async () => {
        const bytes = randomBytes(300);
        const digest = digestOf(bytes);
        const id = await stage(bytes);
        await claiming.commitUpload(id, digest);
        // The filesystem store links the staged file into place and keeps it (a crash before the
        // metadata commit leaves the session whole); stores that rename report the claimed size.
        expect([undefined, 300]).toContain(await files.uploadSize(id));
        expect(await claiming.uploadSize(id)).toBe(300); // not mistaken for a session a crash broke
        expect(await claiming.deleteUploadUnclaimed(id)).toBe(false);
        await link(id, digest, bytes.length);
        await claiming.deleteUpload(id); // as core does once the metadata records the blob
        await claiming.prune((ids) => stores.gc.openSessions(ids));
        expect(await claiming.uploadSize(id)).toBeUndefined();
        expect(claiming.claimedCount()).toBe(0);

        await expect(claiming.commitUpload(randomUUID(), digestOf(randomBytes(8)))).rejects.toThrow();
        expect(claiming.claimedCount()).toBe(0);
      });
    });
  });
}

async function readAll(digest: Digest): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of await files.read(digest)) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}
