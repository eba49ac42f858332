import type { Detector } from './detect/detector.js';
import type { Inventory } from './inventory.js';
import { inventoryLayer } from './layers/inventory-layer.js';
import { LAYER_INVENTORY_FORMAT, type LayerInventory } from './layers/layer-inventory.js';
import { mergeLayerInventories } from './layers/merge.js';
import { lookupKey, matchPackages } from './osv/match.js';
import { packageKeyId, type PackageKey } from './osv/ecosystem.js';
import type { VulnDbStore } from './osv/vulndb-store.js';
import { addSummaries, blankScan, findingsOf, summarise, type Finding, type ImageScan, type ScanStatus, type SeveritySummary } from './report.js';
import type { ScanPolicy, ScanStore } from './scan-store.js';
import { readImageManifest, type ImageLayers } from './image-manifest.js';
import type { Readable } from 'node:stream';

export const SCAN_JOB = 'scan';
export const REMATCH_JOB = 'scan.rematch';

export interface ScanJobPayload {
  repository: string;
  digest: string;
  /** A rescan: an index passes it on to its platforms, so they are scanned again too. */
  force?: boolean;
}

/** Emitted once per finished scan of an image or index (the webhook work subscribes). */
export interface ScanCompletedEvent {
  repository: string;
  digest: string;
  status: ScanStatus;
  summary: SeveritySummary | null;
}

/** What the scanner needs of the rest of Berth: small functions, so it depends on no store it does not use. */
export interface ScannerDeps {
  scans: ScanStore;
  vulndb: VulnDbStore;
  detectors: readonly Detector[];
  /** A manifest's media type and bytes by digest, as pushed to the repository; undefined when it is gone. */
  findManifest(repository: string, digest: string): Promise<{ mediaType: string; body: Buffer } | undefined>;
  /** A layer blob's bytes (compressed as stored). */
  readBlob(digest: string): Promise<Readable>;
  /** Queues a job durably (the node's job queue); dedupeKey keeps one active job per key. */
  enqueue(kind: string, payload: unknown, dedupeKey: string): Promise<void>;
  /** Records a scan outcome in the audit log. */
  audit(entry: { action: string; outcome: 'success' | 'failure'; registry?: string; resource: string; reason?: string; detail?: Record<string, unknown> }): Promise<void>;
  now?: () => number;
  logger?: { warn(obj: object, msg?: string): void; info(obj: object, msg?: string): void };
}

/** An index's scan as reported: its own row, with each platform's status and summary. */
export interface ScanReport extends ImageScan {
  platforms?: { digest: string; platform?: string; status: ScanStatus | 'not scanned'; summary: SeveritySummary | null }[];
}

/**
 * Scans images natively: inventories each layer once (kept by layer digest),
 * merges the layers' inventories into the image's, matches it against the OSV
 * database, and stores the findings by manifest digest. Runs as durable jobs;
 * when the database changes, stored inventories are matched again without
 * reading any layer.
 */
export class Scanner {
  private readonly listeners: ((event: ScanCompletedEvent) => void)[] = [];
  private readonly now: () => number;

  constructor(private readonly deps: ScannerDeps) {
    this.now = deps.now ?? Date.now;
  }

  /** Calls `listener` after every completed (or failed, or unsupported) scan. */
  onCompleted(listener: (event: ScanCompletedEvent) => void): void {
    this.listeners.push(listener);
  }

  /** Queues a scan of a pushed manifest; one already scanned is left alone unless `force` (a rescan). */
  async queue(repository: string, digest: string, force = false): Promise<boolean> {
    if (!(await this.deps.scans.markQueued(digest, this.now(), force))) return false;
    await this.deps.enqueue(SCAN_JOB, { repository, digest, ...(force ? { force } : {}) } satisfies ScanJobPayload, `scan:${digest}`);
    return true;
  }

  /** A registry's pull policy (NO_POLICY when it has none). */
  policy(registryId: number): Promise<ScanPolicy> {
    return this.deps.scans.getPolicy(registryId);
  }

  setPolicy(registryId: number, policy: ScanPolicy): Promise<void> {
    return this.deps.scans.setPolicy(registryId, policy, this.now());
  }

  /**
   * Queues a pass that matches every stored inventory again (after the database
   * changed). One per database generation: a change while a pass runs gets a pass
   * of its own, and asking twice for the same generation queues one.
   */
  async queueRematch(): Promise<void> {
    const generation = await this.deps.vulndb.generation();
    await this.deps.enqueue(REMATCH_JOB, { generation }, `${REMATCH_JOB}@${generation}`);
  }

  /** The job: scans one manifest. Throws to be retried (a store or blob read failed). */
  async scan(payload: ScanJobPayload): Promise<void> {
    const { repository, digest } = payload;
    const manifest = await this.deps.findManifest(repository, digest);
    if (!manifest) {
      // Deleted before its turn: nothing to report on.
      await this.finish(repository, digest, 'failed', null, 'the manifest was deleted before it was scanned');
      return;
    }
    const started = this.now();
    await this.deps.scans.setStatus(digest, 'scanning', started);
    // What every outcome below stores: when it was queued (kept) and started.
    const base = { ...blankScan(digest, 'scanning', started), queuedAt: (await this.deps.scans.get(digest))?.queuedAt ?? started };
    const image = readImageManifest(manifest.mediaType, manifest.body);
    if (image.kind === 'index') {
      for (const child of image.children) await this.queue(repository, child.digest, payload.force === true);
      await this.deps.scans.saveScan({ ...base, kind: 'index', status: 'complete', children: image.children, completedAt: this.now() });
      await this.finish(repository, digest, 'complete', null);
      return;
    }
    if (image.kind === 'unsupported') {
      await this.deps.scans.saveScan({ ...base, status: 'unsupported', error: image.reason, completedAt: this.now() });
      await this.finish(repository, digest, 'unsupported', null, image.reason);
      return;
    }
    const inventory = await this.inventory(image);
    const generation = await this.deps.vulndb.generation();
    const findings = await this.match(inventory);
    const summary = summarise(findings);
    await this.deps.scans.saveScan({
      ...base,
      status: 'complete',
      inventory,
      findings,
      summary,
      vulndbGeneration: generation,
      completedAt: this.now(),
    });
    await this.finish(repository, digest, 'complete', summary);
  }

  /** After the attempts of a scan job are spent: the scan failed. */
  async failed(payload: ScanJobPayload, error: string): Promise<void> {
    await this.finish(payload.repository, payload.digest, 'failed', null, error.slice(0, 2000));
  }

  /** The job: matches complete scans of an older database generation again, from their stored inventories. */
  async rematch(signal?: AbortSignal): Promise<number> {
    const generation = await this.deps.vulndb.generation();
    let after = '';
    let count = 0;
    for (;;) {
      if (signal?.aborted) throw signal.reason;
      const stale = await this.deps.scans.staleScans(generation, after, 100);
      if (stale.length === 0) return count;
      for (const scan of stale) {
        const findings = scan.inventory ? await this.match(scan.inventory) : [];
        await this.deps.scans.saveFindings(scan.digest, findings, summarise(findings), generation);
        count++;
      }
      after = stale[stale.length - 1]!.digest;
    }
  }

  /** A manifest's scan, with an index's platforms; undefined when it was never queued. */
  async report(digest: string): Promise<ScanReport | undefined> {
    const scan = await this.deps.scans.get(digest);
    if (!scan || scan.kind !== 'index' || !scan.children) return scan;
    const byDigest = await this.deps.scans.summaries(scan.children.map((c) => c.digest));
    const platforms = scan.children.map((c) => ({ ...c, status: byDigest.get(c.digest)?.status ?? ('not scanned' as const), summary: byDigest.get(c.digest)?.summary ?? null }));
    // The index is as far along as its least finished platform.
    const order: (ScanStatus | 'not scanned')[] = ['failed', 'not scanned', 'queued', 'scanning', 'complete', 'unsupported'];
    const least = platforms.map((p) => p.status).sort((a, b) => order.indexOf(a) - order.indexOf(b))[0];
    const status: ScanStatus = least === undefined ? 'complete' : least === 'not scanned' ? 'queued' : least === 'unsupported' ? 'complete' : least;
    const summary = addSummaries(platforms.map((p) => p.summary).filter((s): s is SeveritySummary => s !== null));
    return { ...scan, status, summary, platforms };
  }

  /** Findings of every platform of an index (or of the image itself), for policies and reports. */
  async findingsOf(digest: string): Promise<{ status: ScanStatus | 'not scanned'; findings: Finding[] }> {
    const report = await this.report(digest);
    if (!report) return { status: 'not scanned', findings: [] };
    if (!report.platforms) return { status: report.status, findings: report.findings ?? [] };
    // The same finding on several platforms (one package built for amd64 and arm64) counts once.
    const findings = new Map<string, Finding>();
    for (const p of report.platforms) {
      for (const f of (await this.deps.scans.get(p.digest))?.findings ?? []) findings.set(`${f.id}\0${f.package.ecosystem}\0${f.package.name}\0${f.package.version}`, f);
    }
    return { status: report.status, findings: [...findings.values()] };
  }

  private async inventory(image: ImageLayers): Promise<Inventory> {
    const layers: LayerInventory[] = [];
    for (const digest of image.layers) {
      let layer = await this.deps.scans.getLayer(digest, LAYER_INVENTORY_FORMAT);
      if (!layer) {
        layer = await inventoryLayer({ digest, open: () => this.deps.readBlob(digest) }, this.deps.detectors);
        await this.deps.scans.putLayer(layer, this.now());
      }
      layers.push(layer);
    }
    return mergeLayerInventories(layers);
  }

  private async match(inventory: Inventory): Promise<Finding[]> {
    const keys = new Map<string, PackageKey>();
    for (const pkg of inventory.packages) {
      const key = lookupKey(pkg);
      if (key) keys.set(packageKeyId(key), key);
    }
    if (keys.size === 0) return [];
    const records = await this.deps.vulndb.recordsForPackages([...keys.values()]);
    return findingsOf(matchPackages(inventory.packages, records));
  }

  private async finish(repository: string, digest: string, status: ScanStatus, summary: SeveritySummary | null, reason?: string): Promise<void> {
    if (status === 'failed') await this.deps.scans.setStatus(digest, 'failed', this.now(), reason);
    await this.deps.audit({
      action: 'scan.complete',
      outcome: status === 'failed' ? 'failure' : 'success',
      registry: repository.split('/')[0],
      resource: `${repository}@${digest}`,
      reason: reason ?? status,
      ...(summary ? { detail: { ...summary } } : {}),
    });
    const event: ScanCompletedEvent = { repository, digest, status, summary };
    for (const listener of this.listeners) {
      try {
        listener(event);
      } catch (err) {
        this.deps.logger?.warn({ err, digest }, 'a scan.completed listener failed');
      }
    }
  }
}
