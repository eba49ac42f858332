import { join, resolve } from 'node:path';
import type { Command } from 'commander';
import { ConfigError, loadConfig } from '../../config/load.js';
import type { Config } from '../../config/schema.js';
import type { MetadataSchemaTarget } from '../../storage/migrate/metadata-schema.js';
import { examples, exitOnUsageError, say } from '../output.js';

interface Flags {
  config?: string;
  data?: string;
  dryRun?: boolean;
}

/** Loads the server's configuration as `berth serve` does; an invalid one ends the process with exit code 2. */
export function loadConfigOrExit(flags: { config?: string; data?: string }): Config {
  try {
    return loadConfig({ file: flags.config ?? process.env.BERTH_CONFIG, env: process.env, flags: { data: flags.data } });
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    return exitWith(2, err.message);
  }
}

export function exitWith(code: number, message: string): never {
  process.stderr.write(`berth: ${message}\n`);
  process.exit(code);
}

/** Reports a failure and sets the exit code, letting the process end once everything is closed. */
export function fail(code: number, message: string): void {
  process.stderr.write(`berth: ${message}\n`);
  process.exitCode = code;
}

export function registerMigrateCommand(program: Command): void {
  const command = program
    .command('migrate')
    .description("bring the configured metadata store's schema up to date (SQLite or PostgreSQL)")
    .option('--dry-run', 'list the pending migrations; change nothing')
    .option('--config <file>', 'YAML config file (also BERTH_CONFIG)')
    .option('--data <dir>', 'data directory of the embedded SQLite store (default ./data)')
    .exitOverride(exitOnUsageError)
    .action(async (flags: Flags) => {
      const config = loadConfigOrExit(flags);
      // Loaded here, not at the top: other commands should not pay for loading the stores.
      const { target, description } = await schemaTarget(config);
      const { applySchemaMigrations, pendingSchemaMigrations } = await import('../../storage/migrate/metadata-schema.js');
      say(`metadata: ${description}`);
      try {
        if (flags.dryRun) {
          const pending = await pendingSchemaMigrations(target);
          say(pending.length === 0 ? 'the schema is up to date: nothing pending' : `${pending.length} pending (dry run: nothing applied):`);
          for (const name of pending) say(`  ${name}`);
        } else {
          const applied = await applySchemaMigrations(target);
          say(applied.length === 0 ? 'the schema is up to date: nothing to apply' : `applied ${applied.length}:`);
          for (const name of applied) say(`  ${name}`);
        }
      } catch (err) {
        fail(1, `migrating ${description} failed: ${(err as Error).message}`);
      }
    });
  examples(command, ['berth migrate --dry-run --config berth.yaml', 'BERTH_STORAGE_METADATA=postgres BERTH_STORAGE_POSTGRES_URL=postgres://berth@db/berth berth migrate']);
}

async function schemaTarget(config: Config): Promise<{ target: MetadataSchemaTarget; description: string }> {
  if (config.storage.metadata === 'postgres') {
    const { postgresStoreOptions, redactUrl } = await import('../../open-backends.js');
    const options = postgresStoreOptions(config);
    return { target: { kind: 'postgres', options }, description: `PostgreSQL ${redactUrl(options.url)}${options.schema ? ` (schema ${options.schema})` : ''}` };
  }
  const path = join(resolve(config.data), 'metadata.db');
  return { target: { kind: 'sqlite', path }, description: `SQLite ${path}` };
}
