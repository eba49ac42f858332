import { randomBytes, randomUUID } from 'node:crypto';
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { digestBytes } from '../../oci/digest.js';
import type { BlobStore } from './blob-store.js';
import type { Digest } from '../../oci/digest.js';


/** What core does to finish an upload: commit the bytes, then (once the metadata has them) drop the staging area. */
export async function commitAsCoreDoes(store: BlobStore, uploadId: string, digest: Digest): Promise<void> {
  await store.commitUpload(uploadId, digest);
  await store.deleteUpload(uploadId);
}

export interface BlobStoreFixture {
  store: BlobStore;
  /** Staged uploads still held by the store: must be empty after commit or delete (leak check). */
  stagedUploads(): Promise<string[]>;
  cleanup(): Promise<void>;
}

async function text(stream: Readable): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const p of stream) parts.push(p as Buffer);
  return Buffer.concat(parts);
}

/** The one suite every BlobStore implementation must pass. */
export function describeBlobStore(name: string, create: () => Promise<BlobStoreFixture>): void {
  describe(`BlobStore: ${name}`, () => {
    const withStore = (test: (f: BlobStoreFixture) => Promise<void>) => async () => {
      const f = await create();
      try {
        await test(f);
      } finally {
        await f.cleanup();
      }
    };

    it('stages in pieces, commits under the digest, and reads whole and ranged', withStore(async ({ store, stagedUploads }) => {
      const bytes = randomBytes(300_000);
      const id = randomUUID();
      await store.createUpload(id);
      expect(await store.writeUpload(id, 0, Readable.from([bytes.subarray(0, 100_000)]))).toBe(100_000);
      expect(await store.writeUpload(id, 100_000, Readable.from([bytes.subarray(100_000)]))).toBe(200_000);
      expect(await store.uploadSize(id)).toBe(300_000);
      expect(await text(store.readUpload(id, 300_000))).toEqual(bytes);
      const digest = digestBytes(bytes);
      await commitAsCoreDoes(store, id, digest);
      expect(await store.stat(digest)).toEqual({ size: 300_000 });
      expect(await text(await store.read(digest))).toEqual(bytes);
      expect(await text(await store.read(digest, { start: 10, end: 19 }))).toEqual(bytes.subarray(10, 20));
      expect(await stagedUploads()).toEqual([]);
    }));

    it('a session still staged after its commit (crash before the metadata) can be written again without changing the committed blob', withStore(async ({ store }) => {
      const bytes = randomBytes(50_000);
      const digest = digestBytes(bytes);
      const id = randomUUID();
      await store.createUpload(id);
      await store.writeUpload(id, 0, Readable.from([bytes]));
      await store.commitUpload(id, digest);
      // The client resumes the session it still holds: rewrites its tail and appends.
      expect(await store.uploadSize(id)).toBe(50_000);
      await store.writeUpload(id, 40_000, Readable.from([Buffer.from('different bytes')]));
      expect(await text(store.readUpload(id, 40_015))).toEqual(Buffer.concat([bytes.subarray(0, 40_000), Buffer.from('different bytes')]));
      expect(await text(await store.read(digest))).toEqual(bytes);
      await store.deleteUpload(id);
      expect(await text(await store.read(digest))).toEqual(bytes);
    }));

    it('rewrites from an offset, discarding what followed it', withStore(async ({ store }) => {
      const id = randomUUID();
      await store.createUpload(id);
      await store.writeUpload(id, 0, Readable.from([Buffer.from('abcdef')]));
      await store.writeUpload(id, 3, Readable.from([Buffer.from('XY')]));
      expect((await text(store.readUpload(id, 5))).toString()).toBe('abcXY');
      expect(await store.uploadSize(id)).toBe(5);
      await store.deleteUpload(id);
    }));

    it('leaves the staging area at the old offset when the source fails', withStore(async ({ store }) => {
      const id = randomUUID();
      await store.createUpload(id);
      await store.writeUpload(id, 0, Readable.from([Buffer.from('keep')]));
      const failing = new Readable({
        read() {
          this.push(Buffer.from('partial'));
          this.destroy(new Error('client went away'));
        },
      });
      await expect(store.writeUpload(id, 4, failing)).rejects.toThrow('client went away');
      expect(await store.uploadSize(id)).toBe(4);
      await store.deleteUpload(id);
    }));

    it('stores identical content once when committed twice', withStore(async ({ store, stagedUploads }) => {
      const bytes = Buffer.from('same bytes');
      const digest = digestBytes(bytes);
      for (let i = 0; i < 2; i++) {
        const id = randomUUID();
        await store.createUpload(id);
        await store.writeUpload(id, 0, Readable.from([bytes]));
        await commitAsCoreDoes(store, id, digest);
      }
      expect(await store.stat(digest)).toEqual({ size: bytes.length });
      expect(await stagedUploads()).toEqual([]);
    }));

    it('reports missing blobs and uploads as absent, and deletes', withStore(async ({ store, stagedUploads }) => {
      const digest = digestBytes(Buffer.from('never stored'));
      expect(await store.stat(digest)).toBeUndefined();
      await expect(store.read(digest)).rejects.toMatchObject({ code: 'ENOENT' });
      expect(await store.uploadSize(randomUUID())).toBeUndefined();
      const id = randomUUID();
      await store.createUpload(id);
      await store.writeUpload(id, 0, Readable.from([Buffer.from('x')]));
      const d = digestBytes(Buffer.from('x'));
      await commitAsCoreDoes(store, id, d);
      await store.delete(d);
      expect(await store.stat(d)).toBeUndefined();
      const dropped = randomUUID();
      await store.createUpload(dropped);
      await store.deleteUpload(dropped);
      expect(await stagedUploads()).toEqual([]);
    }));

    it('commits an empty upload as an empty blob, and reads back a prefix of what is staged', withStore(async ({ store, stagedUploads }) => {
      const id = randomUUID();
      await store.createUpload(id);
      expect(await store.uploadSize(id)).toBe(0);
      expect(await store.writeUpload(id, 0, Readable.from([]))).toBe(0);
      expect(await store.uploadSize(id)).toBe(0);
      const empty = digestBytes(Buffer.alloc(0));
      await commitAsCoreDoes(store, id, empty);
      expect(await store.stat(empty)).toEqual({ size: 0 });
      expect((await text(await store.read(empty))).length).toBe(0);

      const staged = randomUUID();
      await store.createUpload(staged);
      await store.writeUpload(staged, 0, Readable.from([Buffer.from('abc')]));
      await store.writeUpload(staged, 3, Readable.from([Buffer.from('defg')]));
      expect((await text(store.readUpload(staged, 5))).toString()).toBe('abcde');
      await store.deleteUpload(staged);
      expect(await stagedUploads()).toEqual([]);
    }));

    it('lists committed blobs and open uploads, with when they were written', withStore(async ({ store }) => {
      const bytes = Buffer.from('listed');
      const digest = digestBytes(bytes);
      const committed = randomUUID();
      await store.createUpload(committed);
      await store.writeUpload(committed, 0, Readable.from([bytes]));
      await commitAsCoreDoes(store, committed, digest);
      const open = randomUUID();
      await store.createUpload(open);
      const listed: string[] = [];
      for await (const d of store.list()) listed.push(d);
      expect(listed).toEqual([digest]);
      const uploads: { id: string; modifiedAt: number }[] = [];
      for await (const u of store.listUploads()) uploads.push(u);
      expect(uploads.map((u) => u.id)).toEqual([open]);
      // Loose bounds: object stores keep whole seconds, and their clock is not ours.
      expect(Math.abs(uploads[0]!.modifiedAt - Date.now())).toBeLessThan(300_000);
      expect(Math.abs((await store.modifiedAt(digest))! - Date.now())).toBeLessThan(300_000);
      expect(await store.modifiedAt(digestBytes(Buffer.from('absent')))).toBeUndefined();
      await store.deleteUpload(open);
    }));

    it('answers ping', withStore(async ({ store }) => {
      await store.ping();
    }));
  });
}
