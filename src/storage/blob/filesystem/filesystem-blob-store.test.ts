import { randomUUID } from 'node:crypto';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { digestBytes } from '../../../oci/digest.js';
import { describeBlobStore } from '../blob-store.case.test.js';
import { FilesystemBlobStore } from './filesystem-blob-store.js';

describeBlobStore('filesystem', async () => {
  const root = await mkdtemp(join(tmpdir(), 'berth-fs-'));
  const store = new FilesystemBlobStore(root);
  await store.init();
  return {
    store,
    stagedUploads: async () => (await readdir(join(root, 'uploads'))).filter((f) => !f.startsWith('.')),
    cleanup: () => rm(root, { recursive: true, force: true }),
  };
});

describe('FilesystemBlobStore: uploads written over many requests', () => {
  const MiB = 1 << 20;
  const piece = (i: number) => Buffer.alloc(8 * MiB, i);

  async function withStore(test: (store: FilesystemBlobStore, root: string) => Promise<void>): Promise<void> {
    const root = await mkdtemp(join(tmpdir(), 'berth-fs-'));
    try {
      const store = new FilesystemBlobStore(root);
      await store.init();
      await test(store, root);
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  }

  it('8 MiB requests past the background-sync threshold commit intact, staging area and all', async () => {
    await withStore(async (store, root) => {
      const id = randomUUID();
      await store.createUpload(id);
      const pieces = Array.from({ length: 9 }, (_, i) => piece(i)); // 72 MiB: two background syncs start along the way
      for (const [i, p] of pieces.entries()) expect(await store.writeUpload(id, i * 8 * MiB, Readable.from([p]))).toBe(8 * MiB);
      const whole = Buffer.concat(pieces);
      const digest = digestBytes(whole);
      await store.commitUpload(id, digest);
      await store.deleteUpload(id);
      const read: Buffer[] = [];
      for await (const chunk of await store.read(digest)) read.push(chunk as Buffer);
      expect(Buffer.concat(read).equals(whole)).toBe(true);
      expect(await readdir(join(root, 'uploads'))).toEqual([]);
    });
  });

  it('a session abandoned right after a request started a background sync is deleted cleanly', async () => {
    await withStore(async (store, root) => {
      const id = randomUUID();
      await store.createUpload(id);
      for (let i = 0; i < 4; i++) await store.writeUpload(id, i * 8 * MiB, Readable.from([piece(i)]));
      await store.deleteUpload(id);
      expect(await readdir(join(root, 'uploads'))).toEqual([]);
      expect(await store.uploadSize(id)).toBeUndefined();
    });
  });
});
