import type { Kysely } from 'kysely';
import { ecosystemBase, packageKey, type PackageKey } from '../../scan/osv/ecosystem.js';
import type { OsvRecord } from '../../scan/osv/record.js';
import type { PreparedRecord, PutRecordsResult, VulnDbStatus, VulnDbStore, VulnSource } from '../../scan/osv/vulndb-store.js';
import type { Database } from './schema.js';
import { runTransaction } from './transaction.js';

/** Rows per multi-row INSERT and values per IN list: far below SQLite's 32,766 and PostgreSQL's 65,535 parameters. */
const CHUNK = 500;

/**
 * The vulnerability database in the metadata store. A batch of records is one
 * transaction: a record is never stored without its index rows, and the
 * generation grows in the same commit as the records it accounts for. On
 * PostgreSQL, two imports at once conflict on the generation row and one is
 * retried (runTransaction); a batch only reads and writes these tables, so
 * running it again is safe.
 */
export class KyselyVulnDbStore implements VulnDbStore {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly now: () => number = Date.now,
  ) {}

  putRecords(records: readonly PreparedRecord[], source: string): Promise<PutRecordsResult> {
    return runTransaction(this.db, async (trx) => {
      const stored = new Map<string, { modified: string; hash: string }>();
      for (const ids of chunks(records.map((r) => r.id))) {
        const rows = await trx.selectFrom('vulndb_records').select(['id', 'modified', 'content_hash']).where('id', 'in', ids).execute();
        for (const row of rows) stored.set(row.id, { modified: row.modified, hash: row.content_hash });
      }
      const result: PutRecordsResult = { imported: 0, updated: 0, unchanged: 0, stale: [], generation: 0 };
      const writes: PreparedRecord[] = [];
      const replaced: string[] = [];
      for (const record of records) {
        const old = stored.get(record.id);
        if (!old) {
          result.imported++;
          writes.push(record);
        } else if (old.hash === record.hash) {
          result.unchanged++;
        } else if (Date.parse(record.modified) < Date.parse(old.modified)) {
          result.stale.push(record.id);
        } else {
          result.updated++;
          replaced.push(record.id);
          writes.push(record);
        }
      }

      for (const ids of chunks(replaced)) {
        await trx.deleteFrom('vulndb_packages').where('record_id', 'in', ids).execute();
        await trx.deleteFrom('vulndb_records').where('id', 'in', ids).execute();
      }
      const now = this.now();
      for (const batch of chunks(writes)) {
        await trx
          .insertInto('vulndb_records')
          .values(batch.map((r) => ({ id: r.id, modified: r.modified, withdrawn: r.withdrawn, content_hash: r.hash, body: r.body, source, updated_at: now })))
          .execute();
      }
      const packageRows = writes.flatMap((r) =>
        r.packages.map((p) => ({ ecosystem: p.ecosystem, package: p.name, record_id: r.id, ecosystem_base: p.ecosystemBase })),
      );
      for (const batch of chunks(packageRows)) await trx.insertInto('vulndb_packages').values(batch).execute();

      if (writes.length > 0) {
        await trx
          .updateTable('vulndb_state')
          .set((eb) => ({ generation: eb('generation', '+', 1), changed_at: now }))
          .where('id', '=', 1)
          .execute();
      }
      result.generation = await generationIn(trx);
      return result;
    });
  }

  async recordSource(source: VulnSource): Promise<void> {
    const values = { imported_at: source.importedAt, record_count: source.records, latest_modified: source.latestModified };
    await this.db
      .insertInto('vulndb_sources')
      .values({ name: source.name, ...values })
      .onConflict((oc) => oc.column('name').doUpdateSet(values))
      .execute();
  }

  async recordsForPackage(ecosystem: string, name: string, options: { anyRelease?: boolean } = {}): Promise<OsvRecord[]> {
    const key = packageKey(ecosystem, name);
    let query = this.db
      .selectFrom('vulndb_packages as p')
      .innerJoin('vulndb_records as r', 'r.id', 'p.record_id')
      .select(['r.id', 'r.body'])
      .where('p.package', '=', key.name)
      .where('r.withdrawn', 'is', null);
    query = options.anyRelease ? query.where('p.ecosystem_base', '=', ecosystemBase(ecosystem)) : query.where('p.ecosystem', '=', key.ecosystem);
    return distinctRecords(await query.orderBy('r.id').execute());
  }

  async recordsForPackages(keys: readonly PackageKey[]): Promise<OsvRecord[]> {
    const namesByEcosystem = new Map<string, Set<string>>();
    for (const key of keys) namesByEcosystem.set(key.ecosystem, (namesByEcosystem.get(key.ecosystem) ?? new Set()).add(key.name));
    const rows: { id: string; body: string }[] = [];
    for (const [ecosystem, names] of namesByEcosystem) {
      for (const batch of chunks([...names])) {
        rows.push(
          ...(await this.db
            .selectFrom('vulndb_packages as p')
            .innerJoin('vulndb_records as r', 'r.id', 'p.record_id')
            .select(['r.id', 'r.body'])
            .where('p.ecosystem', '=', ecosystem)
            .where('p.package', 'in', batch)
            .where('r.withdrawn', 'is', null)
            .execute()),
        );
      }
    }
    return distinctRecords(rows);
  }

  async record(id: string): Promise<OsvRecord | undefined> {
    const row = await this.db.selectFrom('vulndb_records').select('body').where('id', '=', id).executeTakeFirst();
    return row ? (JSON.parse(row.body) as OsvRecord) : undefined;
  }

  generation(): Promise<number> {
    return generationIn(this.db);
  }

  async status(): Promise<VulnDbStatus> {
    const state = await this.db.selectFrom('vulndb_state').select(['generation', 'changed_at']).where('id', '=', 1).executeTakeFirstOrThrow();
    const counts = await this.db
      .selectFrom('vulndb_records')
      .select((eb) => [eb.fn.countAll<number>().as('records'), eb.fn.count<number>('withdrawn').as('withdrawn')])
      .executeTakeFirstOrThrow();
    const ecosystems = await this.db
      .selectFrom('vulndb_packages')
      .select((eb) => ['ecosystem_base', eb.fn.count<number>('record_id').distinct().as('records')])
      .groupBy('ecosystem_base')
      .execute();
    const sources = await this.db.selectFrom('vulndb_sources').selectAll().orderBy('name').execute();
    return {
      generation: Number(state.generation),
      changedAt: state.changed_at === null ? null : Number(state.changed_at),
      records: Number(counts.records),
      withdrawn: Number(counts.withdrawn),
      ecosystems: ecosystems
        .map((e) => ({ ecosystem: e.ecosystem_base, records: Number(e.records) }))
        .sort((a, b) => b.records - a.records || (a.ecosystem < b.ecosystem ? -1 : 1)),
      sources: sources.map((s) => ({
        name: s.name,
        importedAt: Number(s.imported_at),
        records: Number(s.record_count),
        latestModified: s.latest_modified,
      })),
    };
  }
}

async function generationIn(db: Kysely<Database>): Promise<number> {
  const row = await db.selectFrom('vulndb_state').select('generation').where('id', '=', 1).executeTakeFirstOrThrow();
  return Number(row.generation);
}

function distinctRecords(rows: readonly { id: string; body: string }[]): OsvRecord[] {
  const byId = new Map<string, OsvRecord>();
  for (const row of rows) if (!byId.has(row.id)) byId.set(row.id, JSON.parse(row.body) as OsvRecord);
  return [...byId.values()];
}

function chunks<T>(items: readonly T[]): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += CHUNK) out.push(items.slice(i, i + CHUNK));
  return out;
}
