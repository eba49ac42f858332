import type { Kysely, Selectable } from 'kysely';
import type { LayerInventory } from '../../scan/layers/layer-inventory.js';
import { blankScan, type Finding, type ImageScan, type ScanStatus, type SeveritySummary } from '../../scan/report.js';
import { NO_POLICY, type ScanPolicy, type ScanStore } from '../../scan/scan-store.js';
import type { ImageScansTable } from './scan-schema.js';
import type { Database } from './schema.js';
import { runTransaction } from './transaction.js';

/** Scans that are already due or running: queueing again changes nothing. */
const PENDING: ScanStatus[] = ['queued', 'scanning'];


export class KyselyScanStore implements ScanStore {
  constructor(private readonly db: Kysely<Database>) {}

  async getLayer(digest: string, format: number): Promise<LayerInventory | undefined> {
    const row = await this.db.selectFrom('scan_layers').select('inventory').where('layer_digest', '=', digest).where('format', '=', format).executeTakeFirst();
    return row ? (JSON.parse(row.inventory) as LayerInventory) : undefined;
  }

  async putLayer(inventory: LayerInventory, at: number): Promise<void> {
    const values = { layer_digest: inventory.digest, format: inventory.format, inventory: JSON.stringify(inventory), created_at: at };
    await this.db
      .insertInto('scan_layers')
      .values(values)
      .onConflict((oc) => oc.column('layer_digest').doUpdateSet({ format: values.format, inventory: values.inventory, created_at: at }))
      .execute();
  }

  markQueued(digest: string, at: number, force: boolean): Promise<boolean> {
    return runTransaction(this.db, async (trx) => {
      const row = await trx.selectFrom('image_scans').select('status').where('manifest_digest', '=', digest).executeTakeFirst();
      if (!row) {
        await trx.insertInto('image_scans').values(toRow(blankScan(digest, 'queued', at))).execute();
        return true;
      }
      if (PENDING.includes(row.status as ScanStatus)) return true;
      if (!force && row.status !== 'failed') return false;
      await trx.updateTable('image_scans').set({ status: 'queued', queued_at: at, error: null }).where('manifest_digest', '=', digest).execute();
      return true;
    });
  }

  async setStatus(digest: string, status: ScanStatus, at: number, error?: string): Promise<void> {
    const times = status === 'scanning' ? { started_at: at } : status === 'queued' ? { queued_at: at } : { completed_at: at };
    await this.db
      .updateTable('image_scans')
      .set({ status, ...times, error: error ?? null })
      .where('manifest_digest', '=', digest)
      .execute();
  }

  async saveScan(scan: ImageScan): Promise<void> {
    const row = toRow(scan);
    await this.db
      .insertInto('image_scans')
      .values(row)
      .onConflict((oc) => oc.column('manifest_digest').doUpdateSet({ ...row, manifest_digest: undefined }))
      .execute();
  }

  async saveFindings(digest: string, findings: Finding[], summary: SeveritySummary, generation: number): Promise<void> {
    await this.db
      .updateTable('image_scans')
      .set({ findings: JSON.stringify(findings), summary: JSON.stringify(summary), vulndb_generation: generation })
      .where('manifest_digest', '=', digest)
      .where('status', '=', 'complete')
      .execute();
  }

  async get(digest: string): Promise<ImageScan | undefined> {
    const row = await this.db.selectFrom('image_scans').selectAll().where('manifest_digest', '=', digest).executeTakeFirst();
    return row ? fromRow(row) : undefined;
  }

  async summaries(digests: readonly string[]): Promise<Map<string, { status: ScanStatus; summary: SeveritySummary | null }>> {
    const result = new Map<string, { status: ScanStatus; summary: SeveritySummary | null }>();
    // In slices: a page of a listing is at most a few hundred digests, well under any bound-parameter limit.
    for (let i = 0; i < digests.length; i += 500) {
      const rows = await this.db
        .selectFrom('image_scans')
        .select(['manifest_digest', 'status', 'summary'])
        .where('manifest_digest', 'in', digests.slice(i, i + 500))
        .execute();
      for (const r of rows) result.set(r.manifest_digest, { status: r.status as ScanStatus, summary: r.summary ? (JSON.parse(r.summary) as SeveritySummary) : null });
    }
    return result;
  }

  async staleScans(generation: number, after: string, limit: number): Promise<ImageScan[]> {
    const rows = await this.db
      .selectFrom('image_scans')
      .selectAll()
      .where('status', '=', 'complete')
      .where('kind', '=', 'image')
      .where('vulndb_generation', '<', generation)
      .where('manifest_digest', '>', after)
      .orderBy('manifest_digest')
      .limit(limit)
      .execute();
    return rows.map(fromRow);
  }

  async getPolicy(registryId: number): Promise<ScanPolicy> {
    const row = await this.db.selectFrom('scan_policies').selectAll().where('registry_id', '=', registryId).executeTakeFirst();
    if (!row) return NO_POLICY;
    return {
      blockSeverity: row.block_severity as ScanPolicy['blockSeverity'],
      allowlist: JSON.parse(row.allowlist) as string[],
      blockUnscanned: row.block_unscanned === 1,
    };
  }

  async setPolicy(registryId: number, policy: ScanPolicy, at: number): Promise<void> {
    const values = {
      block_severity: policy.blockSeverity,
      allowlist: JSON.stringify(policy.allowlist),
      block_unscanned: policy.blockUnscanned ? 1 : 0,
      updated_at: at,
    };
    await this.db
      .insertInto('scan_policies')
      .values({ registry_id: registryId, ...values })
      .onConflict((oc) => oc.column('registry_id').doUpdateSet(values))
      .execute();
  }
}

function toRow(scan: ImageScan): ImageScansTable {
  const json = (v: unknown) => (v === null || v === undefined ? null : JSON.stringify(v));
  return {
    manifest_digest: scan.digest,
    status: scan.status,
    kind: scan.kind,
    inventory: json(scan.inventory),
    findings: json(scan.findings),
    summary: json(scan.summary),
    children: json(scan.children),
    vulndb_generation: scan.vulndbGeneration,
    error: scan.error,
    queued_at: scan.queuedAt,
    started_at: scan.startedAt,
    completed_at: scan.completedAt,
  };
}

function fromRow(row: Selectable<ImageScansTable>): ImageScan {
  const parse = <T>(text: string | null): T | null => (text === null ? null : (JSON.parse(text) as T));
  return {
    digest: row.manifest_digest,
    status: row.status as ScanStatus,
    kind: row.kind as ImageScan['kind'],
    inventory: parse(row.inventory),
    findings: parse(row.findings),
    summary: parse(row.summary),
    children: parse(row.children),
    vulndbGeneration: Number(row.vulndb_generation),
    error: row.error,
    queuedAt: Number(row.queued_at),
    startedAt: row.started_at === null ? null : Number(row.started_at),
    completedAt: row.completed_at === null ? null : Number(row.completed_at),
  };
}
