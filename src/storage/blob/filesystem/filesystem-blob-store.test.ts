import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
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
