import { sql } from 'kysely';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { adminQuery, dropSchema, POSTGRES_URL, skipPostgres, uniqueSchema } from '../../../../test/support/postgres.js';
import { migrationProvider } from '../migrations/index.js';
import { MIGRATION_LOCK_KEY } from './migrate.js';
import { migratePostgres, openPostgresStores, pendingPostgresMigrations } from './open-postgres.js';
import { openPostgresDatabase } from './pool.js';

/** Every migration there is, in order: what a fresh schema needs. */
const ALL = Object.keys(await migrationProvider.getMigrations()).sort();

/** Runs `test` with a schema name of its own, dropped afterwards. */
const withSchema = (test: (schema: string) => Promise<void>) => async () => {
  const schema = uniqueSchema();
  try {
    await test(schema);
  } finally {
    await dropSchema(schema);
  }
};

describe.skipIf(skipPostgres)('postgres: opening and migrating', () => {
  it('three nodes starting at once on a fresh schema all open it, and it is migrated once', withSchema(async (schema) => {
    const nodes = await Promise.all([1, 2, 3].map(() => openPostgresStores({ url: POSTGRES_URL, schema, poolSize: 2 })));
    try {
      const rows = await adminQuery<{ name: string }>(`select name from ${schema}.kysely_migration order by name`);
      expect(rows.map((r) => r.name)).toEqual(ALL);
      // Each node sees what the others write: one database, one schema.
      const repo = await nodes[0]!.meta.ensureRepository('shared/app' as never, 'shared');
      expect((await nodes[2]!.meta.getRepository('shared/app' as never))?.id).toBe(repo.id);
    } finally {
      await Promise.all(nodes.map((n) => n.close()));
    }
    // Three more, by the migrate command's function: exactly one applies anything.
    const other = uniqueSchema();
    try {
      const applied = await Promise.all([1, 2, 3].map(() => migratePostgres({ url: POSTGRES_URL, schema: other })));
      expect(applied.filter((a) => a.length > 0)).toEqual([ALL]);
    } finally {
      await dropSchema(other);
    }
  }));

  it('waits for the migration lock another node holds, then finds nothing left to do', withSchema(async (schema) => {
    await migratePostgres({ url: POSTGRES_URL, schema });
    const holder = new pg.Client({ connectionString: POSTGRES_URL });
    await holder.connect();
    try {
      await holder.query(`select pg_advisory_lock(${MIGRATION_LOCK_KEY})`);
      let opened = false;
      const opening = openPostgresStores({ url: POSTGRES_URL, schema, poolSize: 1 }).then((s) => ((opened = true), s));
      await new Promise((r) => setTimeout(r, 300));
      expect(opened).toBe(false);
      await holder.query(`select pg_advisory_unlock(${MIGRATION_LOCK_KEY})`);
      await (await opening).close();
      expect(opened).toBe(true);
    } finally {
      await holder.end();
    }
  }));

  it('lists pending migrations without running them, then runs them', withSchema(async (schema) => {
    expect(await pendingPostgresMigrations({ url: POSTGRES_URL, schema })).toEqual(ALL);
    expect(await adminQuery('select 1 from pg_namespace where nspname = $1', [schema])).toEqual([]); // dry run: nothing created
    expect(await migratePostgres({ url: POSTGRES_URL, schema })).toEqual(ALL);
    expect(await pendingPostgresMigrations({ url: POSTGRES_URL, schema })).toEqual([]);
    expect(await migratePostgres({ url: POSTGRES_URL, schema })).toEqual([]);
  }));

  it('sets the statement timeout and search_path on every connection of the pool', withSchema(async (schema) => {
    await migratePostgres({ url: POSTGRES_URL, schema });
    const db = openPostgresDatabase({ url: POSTGRES_URL, schema, statementTimeoutMs: 250, poolSize: 3 });
    try {
      const settings = await Promise.all([1, 2, 3].map(() => sql<{ t: string; p: string }>`select current_setting('statement_timeout') as t, current_setting('search_path') as p, pg_sleep(0.05)`.execute(db)));
      expect(settings.map((s) => s.rows[0])).toEqual(Array(3).fill(expect.objectContaining({ t: '250ms', p: schema })));
      await expect(sql`select pg_sleep(2)`.execute(db)).rejects.toMatchObject({ code: '57014' });
    } finally {
      await db.destroy();
    }
  }));

  it('introspects only its own schema: kysely\'s migrator asks it which tables exist', withSchema(async (schema) => {
    const other = uniqueSchema();
    try {
      await Promise.all([migratePostgres({ url: POSTGRES_URL, schema }), migratePostgres({ url: POSTGRES_URL, schema: other })]);
      const db = openPostgresDatabase({ url: POSTGRES_URL, schema });
      try {
        const tables = await db.introspection.getTables({ withInternalKyselyTables: true });
        expect(new Set(tables.map((t) => t.schema))).toEqual(new Set([schema]));
        expect(tables.map((t) => t.name)).toContain('kysely_migration');
        expect((await db.introspection.getTables()).map((t) => t.name)).not.toContain('kysely_migration');
        const manifests = tables.find((t) => t.name === 'manifests')!;
        expect(manifests.columns.find((c) => c.name === 'id')).toMatchObject({ dataType: 'int8', isAutoIncrementing: true, isNullable: false });
        expect(manifests.columns.find((c) => c.name === 'body')).toMatchObject({ dataType: 'bytea', isAutoIncrementing: false });
      } finally {
        await db.destroy();
      }
    } finally {
      await dropSchema(other);
    }
  }));

  it('reads int8 and numeric as numbers on its own pool only', async () => {
    const db = openPostgresDatabase({ url: POSTGRES_URL });
    const plain = new pg.Pool({ connectionString: POSTGRES_URL, max: 1 });
    const query = `select 9007199254740991::bigint as max, count(*) as n, sum(x) as total, 2::int as small
      from (values (5000000000::bigint), (3::bigint)) as v(x)`;
    try {
      const row = (await sql.raw(query).execute(db)).rows[0];
      expect(row).toEqual({ max: Number.MAX_SAFE_INTEGER, n: 2, total: 5_000_000_003, small: 2 });
      // pg's global parsers are untouched: other pools in the process still get strings.
      expect((await plain.query(query)).rows[0]).toMatchObject({ max: '9007199254740991', n: '2', total: '5000000003' });
    } finally {
      await db.destroy();
      await plain.end();
    }
  });

  it('refuses a schema name it would have to quote', () => {
    expect(() => openPostgresDatabase({ url: POSTGRES_URL, schema: 'Robert"; drop' })).toThrow(/invalid PostgreSQL schema name/);
  });
});
