import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { describeConcurrentWrites } from '../concurrency.case.test.js';
import { describeMetaStore } from '../meta-store.case.test.js';
import { describeStores } from '../stores.case.test.js';
import { sqliteStores } from '../../../../test/support/meta-stores.js';
import { openSqliteMetaStore, openSqliteStores } from './open-sqlite.js';


describeMetaStore('sqlite', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'berth-sqlite-'));
  const meta = await openSqliteMetaStore({ path: join(dir, 'metadata.db') });
  return {
    meta,
    cleanup: async () => {
      await meta.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
});
describeStores('sqlite', sqliteStores);
describeConcurrentWrites('sqlite', sqliteStores);

it('sqlite: reopening an existing database keeps its data and does not re-run migrations', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'berth-sqlite-'));
  const path = join(dir, 'metadata.db');
  const first = await openSqliteMetaStore({ path });
  await first.ensureRepository('kept' as never, 'library');
  await first.close();
  const second = await openSqliteMetaStore({ path });
  expect(await second.listRepositories(10)).toEqual(['kept']);
  await second.close();
  await rm(dir, { recursive: true, force: true });
});

it('sqlite: the metadata file (password hashes, signing keys) is readable by its owner only', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'berth-sqlite-'));
  const path = join(dir, 'metadata.db');
  const meta = await openSqliteMetaStore({ path });
  await meta.ensureRepository('kept' as never, 'library');
  expect((await stat(path)).mode & 0o777).toBe(0o600);
  await meta.close();
  await rm(dir, { recursive: true, force: true });
});
