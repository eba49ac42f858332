import type { Command } from 'commander';
import type { MigrateStorageReport } from '../../storage/migrate/migrate-storage.js';
import { examples, exitOnUsageError, humanBytes, positiveInt, printTable, say } from '../output.js';
import { exitWith, fail, loadConfigOrExit } from './migrate.js';

interface Flags {
  from: string;
  config?: string;
  dryRun?: boolean;
  concurrency: number;
}

export function registerMigrateStorageCommand(program: Command): void {
  const command = program
    .command('migrate-storage')
    .description('copy an embedded installation (SQLite + blob files) into the configured PostgreSQL + S3, resumably')
    .requiredOption('--from <data-dir>', 'data directory of the embedded installation to copy')
    .option('--config <file>', 'YAML config file naming the PostgreSQL + S3 target (also BERTH_CONFIG and BERTH_STORAGE_*)')
    .option('--dry-run', 'list what would be copied; change nothing')
    .option('--concurrency <n>', 'blobs copied at once', positiveInt, 4)
    .exitOverride(exitOnUsageError)
    .action(async (flags: Flags) => {
      const config = loadConfigOrExit({ config: flags.config });
      if (config.storage.metadata !== 'postgres' || config.storage.blobs !== 's3') {
        exitWith(
          2,
          `migrate-storage copies into PostgreSQL + S3, but the configuration names storage.metadata=${config.storage.metadata} and storage.blobs=${config.storage.blobs}; ` +
            'set storage.metadata: postgres and storage.blobs: s3 (or BERTH_STORAGE_METADATA=postgres, BERTH_STORAGE_BLOBS=s3) with their settings',
        );
      }
      // Loaded here, not at the top: other commands should not pay for loading the stores.
      const { postgresStoreOptions, redactUrl, s3StoreOptions } = await import('../../open-backends.js');
      const { MigrateStorageError, migrateStorage } = await import('../../storage/migrate/migrate-storage.js');
      const postgres = postgresStoreOptions(config);
      const s3 = s3StoreOptions(config);
      process.stderr.write(`copying ${flags.from} → PostgreSQL ${redactUrl(postgres.url)}${postgres.schema ? ` (schema ${postgres.schema})` : ''} + s3://${s3.bucket}/${s3.prefix ?? ''}${flags.dryRun ? ' (dry run)' : ''}\n`);

      // Ctrl-C stops cleanly: uploads in flight are aborted, and a later run resumes. A second one ends at once.
      const interrupt = new AbortController();
      const onSignal = () => {
        if (interrupt.signal.aborted) process.exit(130);
        process.stderr.write('berth: interrupted; stopping (run the same command again to resume)\n');
        interrupt.abort();
      };
      process.on('SIGINT', onSignal).on('SIGTERM', onSignal);
      try {
        const report = await migrateStorage({
          from: flags.from,
          postgres,
          s3,
          dryRun: flags.dryRun,
          concurrency: flags.concurrency,
          signal: interrupt.signal,
          log: (line) => process.stderr.write(`${line}\n`),
        });
        printReport(report);
        if (!report.ok) process.exitCode = 1;
      } catch (err) {
        if (interrupt.signal.aborted) fail(130, 'interrupted: what was copied stays; run the same command again to finish');
        else if (err instanceof MigrateStorageError) fail(1, err.message);
        else fail(1, `migrate-storage failed: ${(err as Error).message}`);
      } finally {
        process.off('SIGINT', onSignal).off('SIGTERM', onSignal);
      }
    });
  examples(command, [
    'berth migrate-storage --from /var/lib/berth --config scale-out.yaml --dry-run',
    'berth migrate-storage --from /var/lib/berth --config scale-out.yaml --concurrency 8',
  ]);
}

function printReport(r: MigrateStorageReport): void {
  const verb = r.dryRun ? 'would apply' : 'applied';
  say(r.dryRun ? 'DRY RUN: nothing was changed' : 'migrate-storage summary');
  say(`source     ${r.dataDir}${r.sourceMigrations.length > 0 ? ` (migrations ${verb}: ${r.sourceMigrations.join(', ')})` : ''}`);
  say(`target     schema ${r.targetSchema ?? '-'}${r.targetMigrations.length > 0 ? ` (migrations ${verb}: ${r.targetMigrations.join(', ')})` : ''}; blobs in ${r.bucket}`);
  const rows = r.tables.reduce((sum, t) => sum + t.sourceRows, 0);
  say(`tables     ${r.tables.length} tables, ${rows} rows (in foreign-key order):`);
  printTable(
    r.dryRun ? ['  TABLE', 'SOURCE ROWS', 'IN TARGET', 'TO COPY'] : ['  TABLE', 'SOURCE ROWS', 'ALREADY THERE', 'COPIED', 'TARGET ROWS'],
    r.tables.map((t) => (r.dryRun ? [`  ${t.name}`, t.sourceRows, t.targetRowsBefore, t.inserted] : [`  ${t.name}`, t.sourceRows, t.targetRowsBefore, t.inserted, t.targetRowsAfter ?? t.targetRowsBefore])),
  );
  const b = r.blobs;
  say(
    r.dryRun
      ? `blobs      ${b.total} (${humanBytes(b.totalBytes)}): ${b.pending} to copy (${humanBytes(b.pendingBytes)}), ${b.skipped} already in the bucket`
      : `blobs      ${b.total} (${humanBytes(b.totalBytes)}): ${b.copied} copied (${humanBytes(b.copiedBytes)}), ${b.skipped} already in the bucket (${humanBytes(b.skippedBytes)}), ${b.failures.length} failed`,
  );
  for (const f of b.failures) say(`  FAILED ${f.digest}: ${f.reason}`);
  if (r.sequences.length > 0) say(`sequences  ${r.sequences.map((s) => `${s.table}.${s.column} → ${s.next}`).join(', ')}`);
  for (const note of r.notes) say(`note       ${note}`);
  if (r.refusal) say(`REFUSED    a real run would refuse: ${r.refusal}`);
  if (!r.dryRun) {
    if (r.problems.length === 0) say('verified   row counts equal in every table; every blob row has its object in the bucket, with its size');
    else {
      say(r.blobs.failures.length > 0 ? 'NOT DONE:' : 'verification FAILED:');
      for (const p of r.problems) say(`  ${p}`);
    }
  }
  say(`time       ${(r.elapsedMs / 1000).toFixed(1)} s`);
  if (!r.dryRun) say(r.ok ? 'result     OK: the target is complete' : 'result     INCOMPLETE: fix what is listed above and run the same command again; what was copied stays');
}
