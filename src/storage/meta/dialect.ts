import { PostgresAdapter, type Kysely } from 'kysely';

/**
 * Whether a kysely database (or transaction) speaks PostgreSQL. The stores are
 * written once; the few places where SQLite and PostgreSQL differ ask this.
 */
export function isPostgres(db: Kysely<any>): boolean {
  return db.getExecutor().adapter instanceof PostgresAdapter;
}

/** SQLite's LIKE ignores ASCII case; PostgreSQL needs ILIKE for the same answer. */
export function caseInsensitiveLike(db: Kysely<any>): 'like' | 'ilike' {
  return isPostgres(db) ? 'ilike' : 'like';
}
