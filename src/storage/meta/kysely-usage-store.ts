import { sql, type Kysely, type Selectable } from 'kysely';
import type { DeletedRegistry, RegistryAccount, TransferRow, UsageStore } from '../../core/usage.js';
import type { Digest } from '../../oci/digest.js';
import type { Database, RegistriesTable } from './schema.js';
import { runTransaction } from './transaction.js';

/** Tiers, quotas and usage over the same kysely database as the MetaStore, in portable SQL. */
export class KyselyUsageStore implements UsageStore {
  constructor(private readonly db: Kysely<Database>) {}

  async getAccount(registry: string): Promise<RegistryAccount | undefined> {
    const row = await this.db.selectFrom('registries').selectAll().where('name', '=', registry).executeTakeFirst();
    return row ? toAccount(row) : undefined;
  }

  async listAccounts(): Promise<RegistryAccount[]> {
    return (await this.db.selectFrom('registries').selectAll().orderBy('name').execute()).map(toAccount);
  }

  async ensureRegistry(registry: string, settings: { tierSlug: string; region: string }): Promise<void> {
    await this.db
      .insertInto('registries')
      .values({ name: registry, created_at: Date.now(), tier_slug: settings.tierSlug, region: settings.region, tier_updated_at: Date.now() })
      .onConflict((oc) => oc.column('name').doNothing())
      .execute();
  }

  async setTier(registry: string, tierSlug: string, at: number): Promise<void> {
    await this.db.updateTable('registries').set({ tier_slug: tierSlug, tier_updated_at: at }).where('name', '=', registry).execute();
  }

  async countRepositories(registry: string): Promise<number> {
    const row = await this.db
      .selectFrom('repositories as r')
      .innerJoin('registries as g', 'g.id', 'r.registry_id')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('g.name', '=', registry)
      .executeTakeFirstOrThrow();
    return Number(row.n);
  }

  async holdsBlob(registry: string, digest: Digest): Promise<boolean> {
    const row = await this.db
      .selectFrom('registry_blobs as b')
      .innerJoin('registries as g', 'g.id', 'b.registry_id')
      .select('b.refs')
      .where('g.name', '=', registry)
      .where('b.digest', '=', digest)
      .executeTakeFirst();
    return row !== undefined;
  }

  async addTransfer(rows: TransferRow[]): Promise<void> {
    if (rows.length === 0) return;
    await runTransaction(this.db, async (trx) => {
      for (const r of rows) {
        // INSERT … SELECT: a registry deleted since the bytes were counted matches nothing.
        await sql`insert into transfer_usage (registry_id, month, bytes)
          select id, ${r.month}, ${r.bytes} from registries where name = ${r.registry}
          on conflict (registry_id, month) do update set bytes = transfer_usage.bytes + excluded.bytes`.execute(trx);
      }
    });
  }

  async transferByMonth(registry: string): Promise<{ month: string; bytes: number }[]> {
    const rows = await this.db
      .selectFrom('transfer_usage as t')
      .innerJoin('registries as g', 'g.id', 't.registry_id')
      .select(['t.month', 't.bytes'])
      .where('g.name', '=', registry)
      .orderBy('t.month', 'desc')
      .execute();
    return rows.map((r) => ({ month: r.month, bytes: Number(r.bytes) }));
  }

  async storageHistory(registry: string, sinceDay: string): Promise<{ day: string; bytes: number }[]> {
    const history = (q: 'since' | 'before') => {
      let query = this.db
        .selectFrom('storage_history as h')
        .innerJoin('registries as g', 'g.id', 'h.registry_id')
        .select(['h.day', 'h.bytes'])
        .where('g.name', '=', registry);
      query = q === 'since' ? query.where('h.day', '>=', sinceDay).orderBy('h.day') : query.where('h.day', '<', sinceDay).orderBy('h.day', 'desc').limit(1);
      return query.execute();
    };
    const rows = [...(await history('before')), ...(await history('since'))];
    return rows.map((r) => ({ day: r.day, bytes: Number(r.bytes) }));
  }

  async deleteRegistry(registry: string): Promise<DeletedRegistry | undefined> {
    return runTransaction(this.db, async (trx) => {
      const reg = await trx.selectFrom('registries').select('id').where('name', '=', registry).executeTakeFirst();
      if (!reg) return undefined;
      const id = Number(reg.id);
      const repos = await trx.selectFrom('repositories').select(['id', 'name']).where('registry_id', '=', id).execute();
      const repoIds = trx.selectFrom('repositories').select('id').where('registry_id', '=', id);
      const uploads = await trx.selectFrom('uploads').select('id').where('repository_id', 'in', repoIds).execute();
      const manifestIds = trx.selectFrom('manifests').select('id').where('repository_id', 'in', repoIds);
      // Children first, explicitly: correct on dialects that do not enforce ON DELETE CASCADE.
      await trx.deleteFrom('tags').where('repository_id', 'in', repoIds).execute();
      await trx.deleteFrom('manifest_references').where('manifest_id', 'in', manifestIds).execute();
      await trx.deleteFrom('manifests').where('repository_id', 'in', repoIds).execute();
      await trx.deleteFrom('repository_blobs').where('repository_id', 'in', repoIds).execute();
      await trx.deleteFrom('uploads').where('repository_id', 'in', repoIds).execute();
      await trx.deleteFrom('repositories').where('registry_id', '=', id).execute();
      for (const table of ['registry_blobs', 'transfer_usage', 'storage_history', 'gc_runs'] as const) {
        await trx.deleteFrom(table).where('registry_id', '=', id).execute();
      }
      const robotIds = trx.selectFrom('robots').select('id').where('registry_id', '=', id);
      await trx.deleteFrom('tokens').where('owner_kind', '=', 'robot').where('owner_id', 'in', robotIds).execute();
      await trx
        .deleteFrom('grants')
        .where((eb) => eb.or([eb('registry_id', '=', id), eb.and([eb('subject_kind', '=', 'robot'), eb('subject_id', 'in', robotIds)])]))
        .execute();
      await trx.deleteFrom('robots').where('registry_id', '=', id).execute();
      await trx.deleteFrom('registries').where('id', '=', id).execute();
      return { repositories: repos.map((r) => r.name), uploadIds: uploads.map((u) => u.id) };
    });
  }
}

function toAccount(row: Selectable<RegistriesTable>): RegistryAccount {
  return {
    name: row.name,
    createdAt: Number(row.created_at),
    region: row.region,
    tierSlug: row.tier_slug,
    tierUpdatedAt: row.tier_updated_at === null ? null : Number(row.tier_updated_at),
    storageBytes: Number(row.storage_bytes),
    storageUpdatedAt: row.storage_updated_at === null ? null : Number(row.storage_updated_at),
  };
}
