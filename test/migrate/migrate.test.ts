/** `berth migrate`: pending migrations (dry run) and applying them, on a fresh PostgreSQL schema and on SQLite. */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { migrationProvider } from '../../src/storage/meta/migrations/index.js';
import { startBerth, tempDir } from '../support/berth-process.js';
import { adminQuery, dropSchema, POSTGRES_URL, skipPostgres, uniqueSchema } from '../support/postgres.js';
import { EMBEDDED_ENV, expectExit, runCli } from './migrate-support.js';

const ALL = Object.keys(await migrationProvider.getMigrations()).sort();
const listed = (names: string[]) => names.map((n) => `  ${n}\n`).join('');

describe.skipIf(skipPostgres)('berth migrate on PostgreSQL', () => {
  const schema = uniqueSchema();
  const env = { BERTH_STORAGE_METADATA: 'postgres', BERTH_STORAGE_POSTGRES_URL: POSTGRES_URL, BERTH_STORAGE_POSTGRES_SCHEMA: schema };
  afterAll(() => dropSchema(schema));

  it('--dry-run lists every migration of a fresh schema and creates nothing; migrate applies them once', async () => {
    const dry = await runCli(['migrate', '--dry-run'], env);
    expectExit(dry, 0);
    expect(dry.stdout).toContain(`metadata: PostgreSQL ${POSTGRES_URL} (schema ${schema})`);
    expect(dry.stdout).toContain(`${ALL.length} pending (dry run: nothing applied):\n${listed(ALL)}`);
    expect(await adminQuery('select 1 from pg_namespace where nspname = $1', [schema])).toEqual([]);

    const applied = await runCli(['migrate'], env);
    expectExit(applied, 0);
    expect(applied.stdout).toContain(`applied ${ALL.length}:\n${listed(ALL)}`);
    const rows = await adminQuery<{ name: string }>(`select name from ${schema}.kysely_migration order by name`);
    expect(rows.map((r) => r.name)).toEqual(ALL);

    const again = await runCli(['migrate'], env);
    expectExit(again, 0);
    expect(again.stdout).toContain('the schema is up to date: nothing to apply');
    const dryAgain = await runCli(['migrate', '--dry-run'], env);
    expectExit(dryAgain, 0);
    expect(dryAgain.stdout).toContain('the schema is up to date: nothing pending');
  });

  it('an unreachable server fails with exit code 1 and a readable message (the password hidden)', async () => {
    const run = await runCli(['migrate'], { ...env, BERTH_STORAGE_POSTGRES_URL: 'postgres://berth:secret@127.0.0.1:1/berth' });
    expectExit(run, 1);
    expect(run.stderr).toMatch(/berth: migrating PostgreSQL postgres:\/\/berth:\*\*\*@127\.0\.0\.1:1\/berth .*failed: .*ECONNREFUSED/);
    expect(run.stderr).not.toContain('secret');
  });
});

describe('berth migrate on SQLite', () => {
  it('--dry-run lists every migration of a new data directory and creates nothing; migrate applies them once', async () => {
    const data = join(tempDir(), 'data');
    const dry = await runCli(['migrate', '--dry-run', '--data', data], EMBEDDED_ENV);
    expectExit(dry, 0);
    expect(dry.stdout).toContain(`metadata: SQLite ${join(data, 'metadata.db')}`);
    expect(dry.stdout).toContain(`${ALL.length} pending (dry run: nothing applied):\n${listed(ALL)}`);
    expect(existsSync(data)).toBe(false);

    const applied = await runCli(['migrate', '--data', data], EMBEDDED_ENV);
    expectExit(applied, 0);
    expect(applied.stdout).toContain(`applied ${ALL.length}:\n${listed(ALL)}`);
    expect(existsSync(join(data, 'berth.lock'))).toBe(false); // the lock was released

    const again = await runCli(['migrate', '--data', data], EMBEDDED_ENV);
    expectExit(again, 0);
    expect(again.stdout).toContain('the schema is up to date: nothing to apply');
  });

  it('refuses to migrate while a server holds the data directory; a dry run still reads it', async () => {
    const berth = await startBerth({ env: EMBEDDED_ENV });
    try {
      const run = await runCli(['migrate', '--data', berth.dataDir], EMBEDDED_ENV);
      expectExit(run, 1);
      expect(run.stderr).toContain(`is in use by another Berth process (pid ${berth.child.pid})`);
      const dry = await runCli(['migrate', '--dry-run', '--data', berth.dataDir], EMBEDDED_ENV);
      expectExit(dry, 0);
      expect(dry.stdout).toContain('the schema is up to date: nothing pending');
    } finally {
      await berth.stop();
    }
  });

  it('an invalid configuration exits 2', async () => {
    const run = await runCli(['migrate'], { BERTH_STORAGE_METADATA: 'postgres' });
    expectExit(run, 2);
    expect(run.stderr).toContain('storage.postgres.url');
  });
});
