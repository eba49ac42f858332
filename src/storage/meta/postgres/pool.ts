import { Kysely } from 'kysely';
import pg from 'pg';
import type { Database } from '../schema.js';
import { BerthPostgresDialect } from './introspector.js';

export interface PostgresOptions {
  /** postgres://user:password@host:port/database */
  url: string;
  /** Connections in the pool (default 10). */
  poolSize?: number;
  /** Longest a statement may run before PostgreSQL cancels it (default 30 s). */
  statementTimeoutMs?: number;
  /** Schema that holds Berth's tables, created if missing (default: the connection's current schema, usually `public`). */
  schema?: string;
  /** Told when an idle pooled connection fails (the server restarted, say); the pool replaces it. Default: ignored. */
  onIdleConnectionError?(err: Error): void;
}

const INT8 = 20;
const NUMERIC = 1700;

/**
 * int8 (ids, sizes, times, COUNT) and numeric (SUM) arrive as strings by
 * default, to be safe past 2^53; Berth's figures never get there, and the
 * stores expect numbers. Set on this pool only: pg's global parsers stay as
 * they are for anything else in the process.
 */
const types: pg.CustomTypesConfig = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
    (oid === INT8 || oid === NUMERIC) && format !== 'binary' ? Number : pg.types.getTypeParser(oid, format)) as pg.CustomTypesConfig['getTypeParser'],
};

/** Schema names go into a connection option unquoted, so only plain identifiers are accepted. */
export function checkSchemaName(schema: string): string {
  if (!/^[a-z_][a-z0-9_]{0,62}$/.test(schema)) throw new Error(`invalid PostgreSQL schema name ${JSON.stringify(schema)}: use lower-case letters, digits and _`);
  return schema;
}

/** A kysely database over a pg pool set up for Berth: number parsing, statement timeout and search_path on every connection. */
export function openPostgresDatabase(options: PostgresOptions): Kysely<Database> {
  const pool = new pg.Pool({
    connectionString: options.url,
    max: options.poolSize ?? 10,
    statement_timeout: options.statementTimeoutMs ?? 30_000,
    options: options.schema === undefined ? undefined : `-c search_path=${checkSchemaName(options.schema)}`,
    types,
  });
  // Without a listener, an idle connection's error would be an unhandled 'error' event and end the process.
  pool.on('error', (err) => options.onIdleConnectionError?.(err));
  return new Kysely<Database>({ dialect: new BerthPostgresDialect({ pool }) });
}
