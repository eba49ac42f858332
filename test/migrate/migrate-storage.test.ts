/**
 * `berth migrate-storage` end to end: a real embedded Berth fills a data
 * directory, the built CLI copies it into a fresh PostgreSQL schema and s3rver
 * (over HTTP), and a Berth on the copy serves every image and credential.
 */
import { closeSync, existsSync, openSync, readFileSync, readSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Api, basic, ADMIN_PASSWORD, passwordOf, pushImage, send } from '../auth/helpers.js';
import { startBerth, tempDir } from '../support/berth-process.js';
import pg from 'pg';
import { adminQuery, dropSchema, POSTGRES_URL, skipPostgres, uniqueSchema } from '../support/postgres.js';
import { startS3Server, type S3TestServer } from '../support/s3-server.js';
import {
  blobFile,
  blobKey,
  bucketObjects,
  buildSourceInstallation,
  copyOf,
  EMBEDDED_ENV,
  expectExit,
  pullAndVerify,
  removeInstallations,
  runCli,
  scaleOutEnv,
  sourceCounts,
  spawnCli,
  type SourceInstallation,
} from './migrate-support.js';

let s3: S3TestServer;
let source: SourceInstallation;
const schemas: string[] = [];
let prefixes = 0;

/** A target of its own: a fresh schema and key prefix. */
function freshTarget(): { schema: string; prefix: string; env: Record<string, string> } {
  const schema = uniqueSchema();
  schemas.push(schema);
  const prefix = `migrate-${++prefixes}-${schema}/`;
  return { schema, prefix, env: scaleOutEnv(s3, schema, prefix) };
}

async function tableCounts(schema: string): Promise<Map<string, number>> {
  const tables = await adminQuery<{ table_name: string }>(`select table_name from information_schema.tables where table_schema = $1 and table_name not like 'kysely_%'`, [schema]);
  const counts = new Map<string, number>();
  for (const { table_name } of tables) counts.set(table_name, Number((await adminQuery<{ n: string }>(`select count(*) as n from ${schema}."${table_name}"`))[0]!.n));
  return counts;
}

/** Waits until the bucket holds at least `count` blobs under `prefix` (failing if `run` ends first); returns how many. */

/** Tables holding rows, leaving out the one row migrations seed themselves (the vulnerability database's state). */
function copiedRows(counts: Map<string, number>): string[] {
  return [...counts].filter(([table, n]) => n > (table === 'vulndb_state' ? 1 : 0)).map(([table, n]) => `${table}: ${n}`);
}

async function blobsInBucket(prefix: string, count: number, run?: ReturnType<typeof spawnCli>): Promise<number> {
  for (;;) {
    const blobs = [...(await bucketObjects(s3, prefix)).keys()].filter((k) => k.startsWith('blobs/')).length;
    if (blobs >= count) return blobs;
    if (run && run.child.exitCode !== null) throw new Error(`finished before it could be interrupted:\n${(await run.done).stdout}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe.skipIf(skipPostgres)('berth migrate-storage (embedded → PostgreSQL + S3)', () => {
  beforeAll(async () => {
    s3 = await startS3Server();
    source = await buildSourceInstallation();
  });
  afterAll(async () => {
    for (const schema of schemas) await dropSchema(schema);
    await s3?.stop();
    if (source) removeInstallations(source.dataDir);
  });

  it('--dry-run lists the tables and blobs it would copy, and changes nothing', async () => {
    const target = freshTarget();
    const run = await runCli(['migrate-storage', '--from', source.dataDir, '--dry-run'], target.env);
    expectExit(run, 0);
    expect(run.stdout).toContain('DRY RUN');
    const counts = sourceCounts(source.dataDir);
    expect(counts.get('login_failures')).toBeGreaterThan(0);
    for (const table of ['login_failures', 'registries', 'repositories', 'blobs', 'manifests', 'manifest_references', 'tags', 'users', 'tokens', 'robots', 'grants']) {
      expect(run.stdout, table).toMatch(new RegExp(`\\n\\s+${table}\\s+${counts.get(table)}\\s+0\\s+${counts.get(table)}\\n`));
    }
    expect(run.stdout).not.toMatch(/kysely_migration/);
    expect(run.stdout).toMatch(/blobs\s+\d+ \(.*\): \d+ to copy/);
    expect(run.stdout).toContain('would apply: 001-initial');
    // Nothing was created: no schema, no objects.
    expect(await adminQuery(`select 1 from pg_namespace where nspname = $1`, [target.schema])).toEqual([]);
    expect((await bucketObjects(s3, target.prefix)).size).toBe(0);
  });

  it('a copy killed part-way resumes without duplicates, and Berth on the copy serves every image, tag and credential', async () => {
    const target = freshTarget();
    const dataDir = copyOf(source.dataDir);
    const expected = sourceCounts(dataDir);
    const allBlobs = new Set(source.images.flatMap((i) => [...i.blobs.keys()]));

    // Ctrl-C part-way: stops cleanly (exit 130), uploads in flight aborted, the source's lock released.
    const interrupted = spawnCli(['migrate-storage', '--from', dataDir, '--concurrency', '1'], target.env);
    await blobsInBucket(target.prefix, 3, interrupted);
    interrupted.child.kill('SIGINT');
    const stopped = await interrupted.done;
    expectExit(stopped, 130);
    expect(stopped.stderr).toContain('berth: interrupted: what was copied stays; run the same command again to finish');
    expect(existsSync(join(dataDir, 'berth.lock'))).toBe(false);

    // One blob at a time again, killed (SIGKILL: no clean-up at all) once a few more blobs are in the bucket.
    const first = spawnCli(['migrate-storage', '--from', dataDir, '--concurrency', '1'], target.env);
    await blobsInBucket(target.prefix, (await blobsInBucket(target.prefix, 0)) + 3, first);
    first.child.kill('SIGKILL');
    const killed = await first.done;
    expect(killed.signal).toBe('SIGKILL');
    const partial = [...(await bucketObjects(s3, target.prefix)).keys()].filter((k) => k.startsWith('blobs/'));
    expect(partial.length).toBeLessThan(allBlobs.size);

    // Again: the dead run's lock is stale, blobs already there are skipped, the rest is copied.
    const second = await runCli(['migrate-storage', '--from', dataDir], target.env);
    expectExit(second, 0);
    if (process.env.BERTH_TEST_SHOW_OUTPUT) console.log(second.stdout, second.stderr);
    const skipped = Number(/(\d+) already in the bucket/.exec(second.stdout)?.[1]);
    expect(skipped).toBeGreaterThanOrEqual(partial.length);
    expect(second.stdout).toContain('result     OK');
    expect(second.stdout).toContain('verified');
    expect(await tableCounts(target.schema)).toEqual(expected);

    // An interruption during the table copy: the target lacks some rows (still only this installation's). A re-run adds them back.
    await adminQuery(`delete from ${target.schema}.tags`);
    await adminQuery(`delete from ${target.schema}.audit_events where id > (select min(id) from ${target.schema}.audit_events)`);
    const third = await runCli(['migrate-storage', '--from', dataDir], target.env);
    expectExit(third, 0);
    expect(third.stdout).toMatch(new RegExp(`\\n\\s+tags\\s+${expected.get('tags')}\\s+0\\s+${expected.get('tags')}\\s+${expected.get('tags')}\\n`));
    expect(await tableCounts(target.schema)).toEqual(expected);

    // Once complete, another run copies nothing.
    const fourth = await runCli(['migrate-storage', '--from', dataDir], target.env);
    expectExit(fourth, 0);
    expect(fourth.stdout).toMatch(new RegExp(`blobs\\s+${allBlobs.size} \\(.*\\): 0 copied \\(0 B\\), ${allBlobs.size} already in the bucket`));
    expect(fourth.stdout).not.toMatch(/\n\s+\w+\s+\d+\s+\d+\s+[1-9]\d*\s+\d+\n/); // no table copied a row
    expect(await tableCounts(target.schema)).toEqual(expected);

    // Identity sequences continue after SQLite's high-water mark (a deleted user's id is not reused).
    const [{ max_id }] = await adminQuery<{ max_id: string }>(`select max(id) as max_id from ${target.schema}.users`) as [{ max_id: string }];

    // Berth on the copy (its own, empty data directory): everything pulls, every credential works, writes work.
    const berth = await startBerth({ adminPassword: ADMIN_PASSWORD, env: target.env, dataDir: `${tempDir()}/data` });
    try {
      const admin = source.credentials[0]!.auth;
      await pullAndVerify(berth.url, admin, source.images);
      const tags = await (await send(berth.url, { path: '/v2/acme/app/tags/list', auth: admin })).json();
      expect(tags.tags).toEqual(['v1', 'v2']);
      for (const { name, auth } of source.credentials) {
        const res = await send(berth.url, { path: '/v2/acme/app/manifests/v1', auth, headers: { accept: 'application/vnd.oci.image.manifest.v1+json' } });
        expect(res.status, name).toBe(200);
      }
      await pullAndVerify(berth.url, source.credentials[3]!.auth, source.images.filter((i) => i.repo === 'acme/many'));
      // New rows get fresh ids: users after the deleted one's, repositories and manifests after the copied ones.
      const api = new Api(berth.url, admin);
      await api.createUser('newbie');
      const [{ id }] = (await adminQuery<{ id: string }>(`select id from ${target.schema}.users where username = 'newbie'`)) as [{ id: string }];
      expect(Number(id)).toBe(Number(max_id) + 2);
      expect((await send(berth.url, { path: '/v2/', auth: basic('newbie', passwordOf('newbie')) })).status).toBe(200);
      const fresh = await pushImage(berth.url, admin, 'acme/fresh', 'v1');
      const res = await send(berth.url, { path: `/v2/acme/fresh/manifests/${fresh.digest}`, auth: admin, headers: { accept: 'application/vnd.oci.image.manifest.v1+json' } });
      expect(res.status).toBe(200);
    } finally {
      await berth.stop();
    }
  }, 300_000); // five copies and two servers: minutes on a busy machine

  it('a corrupt blob file is reported and not copied, the tables wait for it, and the command fails; a repaired source then completes', async () => {
    const target = freshTarget();
    const dataDir = copyOf(source.dataDir);
    const victim = [...source.images[2]!.blobs.keys()][5]!;
    const path = blobFile(dataDir, victim);
    const original = readFileSync(path);
    const fd = openSync(path, 'r+');
    const byte = Buffer.alloc(1);
    readSync(fd, byte, 0, 1, 1000);
    byte[0] = byte[0]! ^ 0xff; // same size, different bytes
    writeSync(fd, byte, 0, 1, 1000);
    closeSync(fd);

    const run = await runCli(['migrate-storage', '--from', dataDir], target.env);
    expectExit(run, 1);
    expect(run.stderr).toMatch(new RegExp(`blob ${victim} NOT copied: digest mismatch: the file's bytes hash to sha256:[0-9a-f]{64}`));
    expect(run.stdout).toContain(`FAILED ${victim}: digest mismatch`);
    expect(run.stdout).toMatch(/\d+ copied .*, 0 already in the bucket .*, 1 failed/);
    expect(run.stdout).toContain(`blob ${victim} (${256 * 1024} bytes) is not in the bucket`);
    expect(run.stdout).toContain('no table was copied, since the blobs above are not in the bucket');
    expect(run.stdout).toContain('INCOMPLETE');
    const objects = await bucketObjects(s3, target.prefix);
    expect(objects.has(blobKey(victim))).toBe(false);
    const others = source.images.flatMap((i) => [...i.blobs.keys()]).filter((d) => d !== victim);
    for (const digest of others) expect(objects.has(blobKey(digest)), digest).toBe(true);
    expect(copiedRows(await tableCounts(target.schema))).toEqual([]);

    // The file restored (from a backup, say): the next run copies that blob and every table.
    writeFileSync(path, original);
    const repaired = await runCli(['migrate-storage', '--from', dataDir], target.env);
    expectExit(repaired, 0);
    expect(repaired.stdout).toMatch(new RegExp(`: 1 copied .*, ${others.length} already in the bucket .*, 0 failed`));
    expect(await tableCounts(target.schema)).toEqual(sourceCounts(dataDir));
  });

  it('a blob the metadata names but whose file is gone from the source fails the copy before any table is copied', async () => {
    const target = freshTarget();
    const dataDir = copyOf(source.dataDir);
    const lost = [...source.images[0]!.blobs.keys()][0]!;
    rmSync(blobFile(dataDir, lost));
    const run = await runCli(['migrate-storage', '--from', dataDir], target.env);
    expectExit(run, 1);
    expect(run.stdout).toMatch(new RegExp(`blob ${lost} \\(\\d+ bytes\\) is not in the bucket: its file is missing from the source`));
    expect(run.stdout).toContain('0 failed'); // nothing failed to copy: the file was never there
    expect(copiedRows(await tableCounts(target.schema))).toEqual([]);
  });

  it("refuses a target holding another installation's data, before copying anything", async () => {
    const target = freshTarget();
    expectExit(await runCli(['migrate'], target.env), 0);
    // Same registry name, another id: a different installation (or one written to since).
    await adminQuery(`insert into ${target.schema}.registries (id, name, created_at) values (77, 'acme', 0)`);
    const run = await runCli(['migrate-storage', '--from', copyOf(source.dataDir)], target.env);
    expectExit(run, 1);
    expect(run.stderr).toContain("the target already holds data that is not this installation's");
    expect(run.stderr).toContain('registries (id=77): not in the source');
    expect((await bucketObjects(s3, target.prefix)).size).toBe(0);
    expect((await tableCounts(target.schema)).get('registries')).toBe(1);

    // A row with the source's key but other values is refused the same way, and the dry run says so.
    await adminQuery(`delete from ${target.schema}.registries`);
    await adminQuery(`insert into ${target.schema}.registries (id, name, created_at) values (1, 'other', 0)`);
    const dry = await runCli(['migrate-storage', '--from', source.dataDir, '--dry-run'], target.env);
    expectExit(dry, 1); // a dry run exits 1 when the real run would refuse
    expect(dry.stdout).toMatch(/REFUSED.*\n(.*\n)*.*registries \(id=1\): name is "other" in the target, "acme" in the source/);
  });

  it('refuses while another copy holds the target schema', async () => {
    const target = freshTarget();
    expectExit(await runCli(['migrate'], target.env), 0);
    const holder = new pg.Client({ connectionString: POSTGRES_URL });
    await holder.connect();
    try {
      await holder.query('select pg_advisory_lock($1, hashtext($2))', [0x6d696772, target.schema]);
      const run = await runCli(['migrate-storage', '--from', copyOf(source.dataDir)], target.env);
      expectExit(run, 1);
      expect(run.stderr).toContain(`another berth migrate-storage is copying into schema ${target.schema} right now`);
    } finally {
      await holder.end();
    }
  });

  it('refuses while a Berth server holds the source data directory', async () => {
    const dataDir = copyOf(source.dataDir);
    const berth = await startBerth({ dataDir, env: EMBEDDED_ENV });
    try {
      const run = await runCli(['migrate-storage', '--from', dataDir], freshTarget().env);
      expectExit(run, 1);
      expect(run.stderr).toContain(`a Berth server (pid ${berth.child.pid}) is running on ${dataDir}`);
    } finally {
      await berth.stop();
    }
  });

  it('refuses a configuration that does not name PostgreSQL and S3, with exit code 2', async () => {
    const run = await runCli(['migrate-storage', '--from', source.dataDir], { BERTH_STORAGE_METADATA: 'postgres', BERTH_STORAGE_POSTGRES_URL: 'postgres://x@127.0.0.1/x' });
    expectExit(run, 2);
    expect(run.stderr).toContain('storage.blobs=filesystem');
    expectExit(await runCli(['migrate-storage'], {}), 2); // --from is required
    const missing = await runCli(['migrate-storage', '--from', tempDir()], freshTarget().env);
    expectExit(missing, 1);
    expect(missing.stderr).toContain('holds no Berth installation');
  });
});
