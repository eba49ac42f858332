import { createWriteStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { importOsvZip, type ImportReport } from './osv/import.js';
import type { VulnDbStore } from './osv/vulndb-store.js';

export const VULNDB_REFRESH_JOB = 'vulndb.refresh';

/** Downloads an OSV zip to a temporary file (streamed, never held in memory) and imports it under its URL. */
export async function importOsvZipFromUrl(store: VulnDbStore, url: string, signal?: AbortSignal): Promise<ImportReport> {
  const dir = await mkdtemp(join(tmpdir(), 'berth-osv-'));
  try {
    const response = await fetch(url, { signal, redirect: 'follow' });
    if (!response.ok || !response.body) throw new Error(`GET ${url} answered ${response.status} ${response.statusText}`);
    const path = join(dir, 'source.zip');
    await pipeline(Readable.fromWeb(response.body as import('node:stream/web').ReadableStream), createWriteStream(path));
    return await importOsvZip(store, path, { source: url });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

export interface VulnDbRefreshDeps {
  store: VulnDbStore;
  sources: readonly string[];
  intervalMs: number;
  /** Queues the next refresh (a durable job at `runAt`, one at a time across nodes). */
  schedule(runAt: number): Promise<void>;
  /** The database may have changed: match stored inventories again (idempotent per generation). */
  changed(): Promise<void>;
  logger?: { info(obj: object, msg?: string): void; warn(obj: object, msg?: string): void };
  now?: () => number;
}

/**
 * Imports the configured OSV sources, then schedules the next run. One source
 * failing (the network is down) does not keep the others from being imported;
 * the job fails, and is retried, only when every source failed.
 */
export async function refreshVulnDb(deps: VulnDbRefreshDeps, signal?: AbortSignal): Promise<void> {
  const failures: string[] = [];
  for (const url of deps.sources) {
    try {
      const report = await importOsvZipFromUrl(deps.store, url, signal);
      deps.logger?.info({ source: url, imported: report.imported, updated: report.updated, withdrawn: report.withdrawn }, 'vulnerability database source imported');
    } catch (err) {
      failures.push(`${url}: ${(err as Error).message}`);
      deps.logger?.warn({ err, source: url }, 'could not import a vulnerability database source');
    }
  }
  // After any import, changed or not: rematches are queued once per generation, so this costs
  // nothing when nothing changed, and a retry after a failed `changed()` still queues the rematch
  // the first attempt's import needed (its own import then changes nothing).
  if (failures.length < deps.sources.length) await deps.changed();
  await deps.schedule((deps.now ?? Date.now)() + deps.intervalMs);
  if (failures.length === deps.sources.length && failures.length > 0) throw new Error(`no source could be imported: ${failures.join('; ')}`);
}
