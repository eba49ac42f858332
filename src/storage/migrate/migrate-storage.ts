import { randomUUID } from 'node:crypto';
import { existsSync, readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { DeleteObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { sql } from 'kysely';
import { FilesystemBlobStore } from '../blob/filesystem/filesystem-blob-store.js';
import { createS3Client } from '../blob/s3/s3-client.js';
import { S3Keys } from '../blob/s3/s3-keys.js';
import { resolveS3Options, type S3BlobStoreOptions } from '../blob/s3/s3-options.js';
import { lockDataDir } from '../data-dir-lock.js';
import { migrateToLatest, pendingMigrations } from '../meta/migrations/run.js';
import { migratePostgres, pendingPostgresMigrations, type PostgresOptions } from '../meta/postgres/open-postgres.js';
import { openPostgresDatabase } from '../meta/postgres/pool.js';
import { blobProblem, copyBlobs, listBucketBlobs, listSourceBlobs, type BlobFailure, type BucketTarget, type SourceBlob } from './copy-blobs.js';
import { copyTables, findForeignRows, MigrateStorageError, planTables, restartSequences, type SequenceRestart, type TableCopy } from './copy-tables.js';
import { PostgresTarget } from './postgres-target.js';
import { openSqliteFile, SqliteSource } from './sqlite-source.js';

export { MigrateStorageError } from './copy-tables.js';

/** Verification problems listed one by one; past this many only their number. */
const PROBLEMS_SHOWN = 20;
const PROGRESS_EVERY_MS = 2000;

export interface MigrateStorageOptions {
  /** The embedded installation's data directory (metadata.db, blobs/). */
  from: string;
  postgres: PostgresOptions;
  s3: S3BlobStoreOptions;
  /** Report what would be copied; change nothing. */
  dryRun?: boolean;
  /** Blobs in flight at once (default 4). */
  concurrency?: number;
  /** Aborting stops the copy between blobs and batches and cancels uploads in flight. */
  signal?: AbortSignal;
  /** Progress, a line at a time. */
  log?(line: string): void;
}

export interface BlobSummary {
  /** Blob files in the source, and their bytes. */
  total: number;
  totalBytes: number;
  /** Already in the bucket with the right size (an earlier run's): not copied again. */
  skipped: number;
  skippedBytes: number;
  /** To copy this run (dry run: would be copied). */
  pending: number;
  pendingBytes: number;
  copied: number;
  copiedBytes: number;
  failures: BlobFailure[];
}

export interface MigrateStorageReport {
  dryRun: boolean;
  dataDir: string;
  /** Migrations applied to the source first (dry run: pending there). */
  sourceMigrations: string[];
  targetSchema?: string;
  /** Where the blobs go: s3://bucket/prefix */
  bucket: string;
  /** Migrations applied to the target (dry run: pending there). */
  targetMigrations: string[];
  /** Things the operator should know that are not failures. */
  notes: string[];
  /** Dry run only: why a real run would refuse (the target holds another installation's rows). */
  refusal?: string;
  tables: TableCopy[];
  blobs: BlobSummary;
  sequences: SequenceRestart[];
  /** What verification found wrong (empty: the target matches the source). */
  problems: string[];
  elapsedMs: number;
  ok: boolean;
}

/**
 * Copies an embedded installation (SQLite + blob files under one data
 * directory) into PostgreSQL + an S3 bucket, so it can grow into several nodes
 * without anyone pushing again. Safe to run again after an interruption: blobs
 * already in the bucket and rows already in PostgreSQL are not copied twice.
 * Order: lock the source, migrate both schemas, check the target holds only this
 * installation's rows, copy blobs, copy tables in foreign-key order, restart
 * identity sequences, verify.
 */
export async function migrateStorage(options: MigrateStorageOptions): Promise<MigrateStorageReport> {
  const started = Date.now();
  const log = options.log ?? (() => undefined);
  const dryRun = options.dryRun ?? false;
  const dataDir = resolve(options.from);
  const metadataPath = join(dataDir, 'metadata.db');
  if (!existsSync(metadataPath)) throw new MigrateStorageError(`${dataDir} holds no Berth installation: there is no metadata.db in it`);

  const undo: (() => Promise<unknown>)[] = [];
  try {
    undo.unshift(await lockSource(dataDir));
    const sqlite = openSqliteFile(metadataPath, { readonly: dryRun });
    undo.unshift(() => sqlite.close());
    const sourceMigrations = dryRun ? await pendingMigrations(sqlite.db) : await migrateToLatest(sqlite.db);
    if (sourceMigrations.length > 0) log(`source schema: ${dryRun ? 'would apply' : 'applied'} ${sourceMigrations.join(', ')}`);
    const source = new SqliteSource(sqlite.raw);

    const s3 = resolveS3Options(options.s3);
    const bucket: BucketTarget = { client: createS3Client(s3), bucket: s3.bucket, keys: new S3Keys(s3.prefix), partSize: s3.partSizeBytes };
    undo.unshift(async () => bucket.client.destroy());
    if (!dryRun) await probeBucket(bucket);

    const targetMigrations = await step('PostgreSQL', () => (dryRun ? pendingPostgresMigrations(options.postgres) : migratePostgres(options.postgres)));
    if (targetMigrations.length > 0) log(`target schema: ${dryRun ? 'would apply' : 'applied'} ${targetMigrations.join(', ')}`);
    const db = openPostgresDatabase({ ...options.postgres, poolSize: 1 });
    undo.unshift(() => db.destroy());

    return await db.connection().execute(async (conn) => {
      // An administrator's long copy: no statement timeout on this session.
      await sql`set statement_timeout = 0`.execute(conn);
      const target = new PostgresTarget(conn);
      const run: Run = { options, log, dryRun, dataDir, source, bucket, target, started, sourceMigrations, targetMigrations };
      if (dryRun) return await plan(run);
      if (!(await target.lockForCopy())) {
        throw new MigrateStorageError(`another berth migrate-storage is copying into schema ${await target.schema()} right now; wait for it to finish`);
      }
      try {
        return await copy(run);
      } finally {
        await target.unlockCopy().catch(() => undefined);
      }
    });
  } finally {
    for (const step of undo) await step().catch(() => undefined);
  }
}

interface Run {
  options: MigrateStorageOptions;
  log(line: string): void;
  dryRun: boolean;
  dataDir: string;
  source: SqliteSource;
  bucket: BucketTarget;
  target: PostgresTarget;
  started: number;
  sourceMigrations: string[];
  targetMigrations: string[];
}

/** The dry run: what the source holds, what the target already has, what a real run would do or why it would refuse. */
async function plan(run: Run): Promise<MigrateStorageReport> {
  const { source, target } = run;
  // With migrations pending the target's tables are not (all) there yet, so there is nothing in them to compare;
  // with the source's pending, its tables are older than the target's, so only the source's columns are compared.
  const migrated = run.targetMigrations.length === 0;
  const tables = planTables(source, migrated && run.sourceMigrations.length === 0 ? await target.tables() : undefined);
  const foreign = migrated ? await findForeignRows(source, target, tables) : [];
  const copies: TableCopy[] = [];
  for (const table of tables) {
    const targetRowsBefore = migrated ? await target.count(table.name) : 0;
    const sourceRows = source.count(table);
    copies.push({ name: table.name, sourceRows, targetRowsBefore, inserted: Math.max(0, sourceRows - targetRowsBefore) });
  }
  const blobs = await planBlobs(run);
  return {
    ...(await reportBase(run)),
    refusal: foreign.length > 0 ? refusalMessage(foreign) : undefined,
    tables: copies,
    blobs: blobs.summary,
    ok: foreign.length === 0,
  };
}

async function copy(run: Run): Promise<MigrateStorageReport> {
  const { source, target, log, options } = run;
  const tables = planTables(source, await target.tables());
  const foreign = await findForeignRows(source, target, tables);
  if (foreign.length > 0) throw new MigrateStorageError(refusalMessage(foreign));

  const { summary: blobs, pending } = await planBlobs(run);
  const concurrency = options.concurrency ?? 4;
  log(`blobs: ${blobs.total} in the source (${mib(blobs.totalBytes)}); ${blobs.skipped} already in the bucket; copying ${blobs.pending} (${mib(blobs.pendingBytes)}), ${concurrency} at a time`);
  let lastProgress = Date.now();
  let done = 0;
  const copied = await copyBlobs(new FilesystemBlobStore(run.dataDir), run.bucket, pending, {
    concurrency,
    signal: options.signal,
    onCopied: () => {
      done++;
      if (Date.now() - lastProgress < PROGRESS_EVERY_MS && done < pending.length) return;
      lastProgress = Date.now();
      log(`blobs: ${done} of ${pending.length} copied`);
    },
    onFailed: (failure) => log(`blob ${failure.digest} NOT copied: ${failure.reason}`),
  });
  Object.assign(blobs, copied);

  // The metadata goes in only once every blob it names is in the bucket: until then the target holds no rows
  // (nothing a node could serve half of), and the source may still be repaired in any way, even by deleting images.
  const missing = await missingBlobs(run, source.blobRows());
  if (missing.length > 0) {
    log('tables: not copied, since blobs are missing from the bucket');
    return {
      ...(await reportBase(run)),
      tables: await Promise.all(tables.map(async (t) => ({ name: t.name, sourceRows: source.count(t), targetRowsBefore: await target.count(t.name), inserted: 0 }))),
      blobs,
      problems: limitProblems([...missing, 'no table was copied, since the blobs above are not in the bucket: repair the source and run the command again']),
      ok: false,
    };
  }

  const copies = await copyTables(source, target, tables, { signal: options.signal, log });
  const sequences = await restartSequences(source, target, tables);

  log('verifying: row counts, and every blob row against the bucket');
  const problems: string[] = [];
  for (const t of copies) {
    if (t.targetRowsAfter !== t.sourceRows) problems.push(`table ${t.name} has ${t.targetRowsAfter} rows in the target, ${t.sourceRows} in the source`);
  }
  problems.push(...(await missingBlobs(run, target.blobRows())));
  return { ...(await reportBase(run)), tables: copies, blobs, sequences, problems: limitProblems(problems), ok: problems.length === 0 };
}

/** Blob rows whose object is not in the bucket (or has another size), described; notes files missing from the source too. */
async function missingBlobs(run: Run, rows: AsyncIterable<{ digest: string; size: number }> | Iterable<{ digest: string; size: number }>): Promise<string[]> {
  const inBucket = await listBucketBlobs(run.bucket);
  let inSource: Set<string> | undefined;
  const problems: string[] = [];
  for await (const row of rows) {
    const problem = blobProblem(row, inBucket);
    if (problem === undefined) continue;
    inSource ??= new Set((await listSourceBlobs(new FilesystemBlobStore(run.dataDir))).map((b) => b.digest as string));
    problems.push(inSource.has(row.digest) ? problem : `${problem}: its file is missing from the source`);
  }
  return problems;
}

/** What the source holds against what the bucket already has. */
async function planBlobs(run: Run): Promise<{ summary: BlobSummary; pending: SourceBlob[] }> {
  const all = await listSourceBlobs(new FilesystemBlobStore(run.dataDir));
  const inBucket = await step(`S3 bucket ${run.bucket.bucket}`, () => listBucketBlobs(run.bucket));
  const pending = all.filter((b) => inBucket.get(b.digest) !== b.size);
  const bytes = (list: SourceBlob[]) => list.reduce((sum, b) => sum + b.size, 0);
  const summary: BlobSummary = {
    total: all.length,
    totalBytes: bytes(all),
    skipped: all.length - pending.length,
    skippedBytes: bytes(all) - bytes(pending),
    pending: pending.length,
    pendingBytes: bytes(pending),
    copied: 0,
    copiedBytes: 0,
    failures: [],
  };
  return { summary, pending };
}

async function reportBase(run: Run) {
  const targetSchema = run.options.postgres.schema ?? (await run.target.schema());
  return {
    dryRun: run.dryRun,
    dataDir: run.dataDir,
    sourceMigrations: run.sourceMigrations,
    targetSchema,
    bucket: `s3://${run.bucket.bucket}/${run.bucket.keys.prefix}`,
    targetMigrations: run.targetMigrations,
    sequences: [] as SequenceRestart[],
    notes: legacyKeyNote(run),
    problems: [] as string[],
    elapsedMs: Date.now() - run.started,
  };
}

/**
 * Berth versions before the signing keys moved into the metadata kept them as
 * files in `<data>/keys`; a server imports them at start, but a copy of a
 * source never started since then has none in its tables.
 */
function legacyKeyNote(run: Run): string[] {
  const dir = join(run.dataDir, 'keys');
  const files = existsSync(dir) ? readdirSync(dir).filter((f) => f.endsWith('.jwk.json')) : [];
  const table = run.source.tables().find((t) => t.name === 'signing_keys');
  if (files.length === 0 || (table && run.source.count(table) > 0)) return [];
  return [
    `the source's token-signing keys are files in ${dir}, not rows, so they are not copied: copy that folder into the data directory of ` +
      'the first node started on the target (it imports them), or let clients fetch new tokens (old ones expire within minutes)',
  ];
}

function refusalMessage(foreign: string[]): string {
  return [
    'the target already holds data that is not this installation\'s, so nothing was copied.',
    'A target may hold only exact copies of source rows (what an interrupted earlier run leaves); these differ:',
    ...foreign.map((f) => `  ${f}`),
    'Copy into an empty schema (storage.postgres.schema) instead, or empty this one if its data is not needed.',
  ].join('\n');
}

/** The source must be still: a server using it would change rows and files under the copy. */
async function lockSource(dataDir: string): Promise<() => Promise<void>> {
  try {
    return await lockDataDir(dataDir);
  } catch (err) {
    const pid = /pid (\d+)/.exec((err as Error).message)?.[1];
    if (pid) throw new MigrateStorageError(`a Berth server (pid ${pid}) is running on ${dataDir}; stop it first: the copy needs a data directory nothing writes to`);
    throw err;
  }
}

/** Writes and deletes a probe object: the bucket is there, and the credentials may write to it. */
async function probeBucket(target: BucketTarget): Promise<void> {
  const Key = target.keys.probe(randomUUID());
  await step(`S3 bucket ${target.bucket}`, async () => {
    await target.client.send(new PutObjectCommand({ Bucket: target.bucket, Key, Body: 'ok' }));
    await target.client.send(new DeleteObjectCommand({ Bucket: target.bucket, Key }));
  });
}

/** Runs `work`, naming the backend in its error. */
async function step<T>(what: string, work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (err) {
    throw new Error(`${what}: ${(err as Error).message || (err as Error).name}`, { cause: err });
  }
}

function limitProblems(problems: string[]): string[] {
  if (problems.length <= PROBLEMS_SHOWN) return problems;
  return [...problems.slice(0, PROBLEMS_SHOWN), `… and ${problems.length - PROBLEMS_SHOWN} more`];
}

function mib(bytes: number): string {
  return `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
}
