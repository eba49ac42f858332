import Sqlite from 'better-sqlite3';
import { Kysely, SqliteDialect, sql } from 'kysely';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { describeConcurrentWrites } from '../concurrency.case.test.js';
import { describeMetaStore } from '../meta-store.case.test.js';
import { describeStores } from '../stores.case.test.js';
import { sqliteStores } from '../../../../test/support/meta-stores.js';
import { migrateToLatest } from '../migrations/run.js';
import type { Database } from '../schema.js';
import { storesOver } from '../stores.js';
import { openSqliteDatabase, openSqliteMetaStore, openSqliteStores, withoutWalSync } from './open-sqlite.js';


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

it('sqlite: the page cache is bounded by cacheMiB (4 MiB by default, not the 16 MiB better-sqlite3 builds in)', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'berth-sqlite-'));
  const cacheKiB = (database: Sqlite.Database) => -(database.pragma('cache_size', { simple: true }) as number);
  const byDefault = openSqliteDatabase({ path: join(dir, 'default.db') });
  const configured = openSqliteDatabase({ path: join(dir, 'configured.db'), cacheMiB: 32 });
  try {
    expect(cacheKiB(byDefault)).toBe(4 * 1024);
    expect(cacheKiB(configured)).toBe(32 * 1024);
    expect(byDefault.pragma('journal_mode', { simple: true })).toBe('wal');
  } finally {
    byDefault.close();
    configured.close();
    await rm(dir, { recursive: true, force: true });
  }
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

it('sqlite: a progress write runs without the WAL fsync, alone on the connection, and the setting comes back', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'berth-sqlite-'));
  const database = openSqliteDatabase({ path: join(dir, 'metadata.db'), synchronous: 'FULL' });
  const db = new Kysely<Database>({ dialect: new SqliteDialect({ database }) });
  const level = async (on: Kysely<Database>) => (await sql<{ synchronous: number }>`pragma synchronous`.execute(on)).rows[0]!.synchronous;
  try {
    const progressWrite = withoutWalSync(db, 'FULL');
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    let during = -1;
    const write = progressWrite(async (connection) => {
      during = await level(connection);
      await held;
      return 'written';
    });
    // A query made meanwhile waits for the connection: it can never commit under the relaxed setting.
    const meanwhile = level(db);
    await new Promise((resolve) => setTimeout(resolve, 20));
    release();
    expect(await write).toBe('written');
    expect(during).toBe(1); // NORMAL
    expect(await meanwhile).toBe(2); // FULL, read only after the write gave the connection back
    expect(await level(db)).toBe(2);
    // A failing write puts the setting back too.
    await expect(progressWrite(async () => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
    expect(await level(db)).toBe(2);
  } finally {
    await db.destroy();
    await rm(dir, { recursive: true, force: true });
  }
});

it('an upload session is started and advanced with progress writes; its blob is linked with a synced commit', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'berth-sqlite-'));
  const db = new Kysely<Database>({ dialect: new SqliteDialect({ database: openSqliteDatabase({ path: join(dir, 'metadata.db') }) }) });
  try {
    await migrateToLatest(db);
    const progress: string[] = [];
    const { meta } = storesOver(db, (write) => {
      progress.push('write');
      return write(db);
    });
    const repo = await meta.ensureRepository('library/app' as never, 'library');
    await meta.createUpload({ id: 'u1', repositoryId: repo.id, size: 0, createdAt: Date.now() });
    expect(progress).toEqual(['write']);
    await meta.setUploadSize('u1', 10);
    expect(progress).toEqual(['write', 'write']);
    expect((await meta.getUpload('u1'))?.size).toBe(10);
    await meta.transaction(async (tx) => {
      await tx.linkBlob(repo.id, `sha256:${'a'.repeat(64)}` as never, 10);
      await tx.deleteUpload('u1');
    });
    expect(progress).toHaveLength(2);
    expect(await meta.getUpload('u1')).toBeUndefined();
  } finally {
    await db.destroy();
    await rm(dir, { recursive: true, force: true });
  }
});
