import { sql, type ColumnDefinitionBuilder, type CreateTableBuilder, type Kysely } from 'kysely';
import { isPostgres } from '../dialect.js';

/** What `addColumn` accepts as a type (kysely does not export the name). */
type DataTypeExpression = Parameters<CreateTableBuilder<string, never>['addColumn']>[1];

export interface ColumnTypes {
  /** Row ids and the columns that point at them: SQLite's 64-bit `integer`; `bigint` on PostgreSQL (read back as numbers). */
  id: DataTypeExpression;
  /** Text compared byte by byte, as SQLite does: PostgreSQL's `collate "C"` keeps listings in lexical order whatever the database's locale. */
  text: DataTypeExpression;
  /** Raw bytes (manifest bodies). */
  bytes: DataTypeExpression;
  /** Makes `c` an auto-numbered primary key. */
  autoIncrementKey(c: ColumnDefinitionBuilder): ColumnDefinitionBuilder;
}

/**
 * The types the migrations use where dialects differ. On SQLite they are
 * exactly what the first migrations wrote, so existing databases stay valid;
 * booleans stay integer 0/1 on both, so the stores read them one way.
 */
export function columnTypes(db: Kysely<unknown>): ColumnTypes {
  if (isPostgres(db)) {
    return {
      id: 'bigint',
      text: sql`text collate "C"`,
      bytes: 'bytea',
      autoIncrementKey: (c) => c.primaryKey().generatedByDefaultAsIdentity(),
    };
  }
  return {
    id: 'integer',
    text: 'text',
    bytes: sql`blob`,
    autoIncrementKey: (c) => c.primaryKey().autoIncrement(),
  };
}
