import { describe, expect, it } from 'vitest';
import { META_BACKENDS, withStores } from '../../../test/support/meta-stores.js';
import type { Inventory } from '../../scan/inventory.js';
import type { LayerInventory } from '../../scan/layers/layer-inventory.js';
import { blankScan, type Finding, type ImageScan, type SeveritySummary } from '../../scan/report.js';
import { NO_POLICY } from '../../scan/scan-store.js';

/** Epoch milliseconds of today's order of magnitude: beyond 32 bits, as every stored time is. */
const T0 = 1_730_000_000_000;

const digest = (n: number) => `sha256:${n.toString(16).padStart(64, '0')}`;

const summary = (counts: Partial<SeveritySummary>): SeveritySummary => {
  const s = { CRITICAL: 0, HIGH: 0, MEDIUM: 0, LOW: 0, UNKNOWN: 0, ...counts };
  return { ...s, total: s.CRITICAL + s.HIGH + s.MEDIUM + s.LOW + s.UNKNOWN };
};

const layerInventory = (layerDigest: string, format = 1): LayerInventory => ({
  format,
  digest: layerDigest,
  files: [
    {
      path: 'lib/apk/db/installed',
      findings: [{ detector: 'apk', packages: [{ versionScheme: 'apk', name: 'musl', version: '1.2.4-r2', source: { name: 'musl', version: '1.2.4-r2' }, location: 'lib/apk/db/installed' }] }],
    },
    { path: 'etc/os-release', findings: [] },
  ],
  whiteouts: ['tmp/x'],
  opaqueDirs: [''],
  notes: ['a note with "quotes" and ünïcödé'],
});

const inventory: Inventory = {
  os: { id: 'alpine', versionId: '3.19.1', prettyName: 'Alpine Linux v3.19', ecosystem: 'Alpine:v3.19' },
  packages: [
    { ecosystem: 'Alpine:v3.19', versionScheme: 'apk', name: 'musl', version: '1.2.4-r2', source: { name: 'musl', version: '1.2.4-r2' }, location: 'lib/apk/db/installed', layerDigest: digest(900), arch: 'x86_64', licenses: ['MIT'] },
  ],
  notes: [],
};

const finding = (id: string, severity: Finding['severity']): Finding => ({
  id,
  aliases: [`CVE-${id}`],
  severity,
  score: 7.5,
  vector: 'CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:H',
  summary: 'a flaw',
  package: { ecosystem: 'Alpine:v3.19', name: 'musl', version: '1.2.4-r2', location: 'lib/apk/db/installed', layerDigest: digest(900) },
  fixedVersion: '1.2.4-r3',
});

/** A complete image scan of `inventory` matched at `generation`. */
const completeScan = (d: string, generation: number, at = T0): ImageScan => ({
  ...blankScan(d, 'scanning', at),
  status: 'complete',
  inventory,
  findings: [finding('2024-1', 'HIGH')],
  summary: summary({ HIGH: 1 }),
  vulndbGeneration: generation,
  completedAt: at + 5,
});

for (const backend of META_BACKENDS) {
  describe.skipIf(backend.skip)(`KyselyScanStore: ${backend.name}`, () => {
    describe('layer inventories', () => {
      it('keeps a layer inventory whole by layer digest, found only in its own format', withStores(backend, async ({ scans }) => {
        expect(await scans.getLayer(digest(1), 1)).toBeUndefined();
        await scans.putLayer(layerInventory(digest(1)), T0);
        expect(await scans.getLayer(digest(1), 1)).toEqual(layerInventory(digest(1)));
        expect(await scans.getLayer(digest(1), 2)).toBeUndefined();
        expect(await scans.getLayer(digest(2), 1)).toBeUndefined();
      }));

      it('replaces a layer inventory put again (a new format)', withStores(backend, async ({ scans }) => {
        await scans.putLayer(layerInventory(digest(1), 1), T0);
        await scans.putLayer({ ...layerInventory(digest(1), 2), notes: [] }, T0 + 1);
        expect(await scans.getLayer(digest(1), 1)).toBeUndefined();
        expect(await scans.getLayer(digest(1), 2)).toEqual({ ...layerInventory(digest(1), 2), notes: [] });
      }));
    });

    describe('markQueued', () => {
      it('queues a manifest never scanned: a blank scan, due', withStores(backend, async ({ scans }) => {
        expect(await scans.get(digest(1))).toBeUndefined();
        expect(await scans.markQueued(digest(1), T0, false)).toBe(true);
        expect(await scans.get(digest(1))).toEqual(blankScan(digest(1), 'queued', T0));
      }));

      it('leaves a queued or scanning scan as it is, and says it is due', withStores(backend, async ({ scans }) => {
        await scans.markQueued(digest(1), T0, false);
        expect(await scans.markQueued(digest(1), T0 + 10, false)).toBe(true);
        expect(await scans.markQueued(digest(1), T0 + 20, true)).toBe(true);
        expect(await scans.get(digest(1))).toEqual(blankScan(digest(1), 'queued', T0));

        await scans.setStatus(digest(1), 'scanning', T0 + 30);
        expect(await scans.markQueued(digest(1), T0 + 40, false)).toBe(true);
        expect(await scans.markQueued(digest(1), T0 + 50, true)).toBe(true);
        expect(await scans.get(digest(1))).toMatchObject({ status: 'scanning', queuedAt: T0, startedAt: T0 + 30 });
      }));

      it('leaves a complete or unsupported scan alone unless forced; forced, queues it again keeping its results', withStores(backend, async ({ scans }) => {
        await scans.saveScan(completeScan(digest(1), 3));
        await scans.saveScan({ ...blankScan(digest(2), 'scanning', T0), status: 'unsupported', error: 'an artifact' });
        expect(await scans.markQueued(digest(1), T0 + 100, false)).toBe(false);
        expect(await scans.markQueued(digest(2), T0 + 100, false)).toBe(false);
        expect(await scans.get(digest(1))).toEqual(completeScan(digest(1), 3));
        expect((await scans.get(digest(2)))?.status).toBe('unsupported');

        expect(await scans.markQueued(digest(1), T0 + 200, true)).toBe(true);
        expect(await scans.markQueued(digest(2), T0 + 200, true)).toBe(true);
        expect(await scans.get(digest(1))).toEqual({ ...completeScan(digest(1), 3), status: 'queued', queuedAt: T0 + 200 });
        expect(await scans.get(digest(2))).toMatchObject({ status: 'queued', queuedAt: T0 + 200, error: null });
      }));

      it('queues a failed scan again, clearing its error, forced or not', withStores(backend, async ({ scans }) => {
        await scans.markQueued(digest(1), T0, false);
        await scans.setStatus(digest(1), 'failed', T0 + 10, 'blob missing');
        expect(await scans.markQueued(digest(1), T0 + 20, false)).toBe(true);
        expect(await scans.get(digest(1))).toMatchObject({ status: 'queued', queuedAt: T0 + 20, error: null });
      }));

      it('queues one row when many pushes queue the same new manifest at once', withStores(backend, async ({ scans }) => {
        // A push of one image to several repositories at once: every caller learns the scan is due, none fails.
        const results = await Promise.all(Array.from({ length: 8 }, (_, i) => scans.markQueued(digest(7), T0 + i, false)));
        expect(results).toEqual(Array(8).fill(true));
        expect((await scans.get(digest(7)))?.status).toBe('queued');
      }));
    });

    describe('setStatus', () => {
      it('records when a scan started, was queued, or ended, and its error (cleared by the next change)', withStores(backend, async ({ scans }) => {
        await scans.markQueued(digest(1), T0, false);
        await scans.setStatus(digest(1), 'scanning', T0 + 1);
        expect(await scans.get(digest(1))).toMatchObject({ status: 'scanning', queuedAt: T0, startedAt: T0 + 1, completedAt: null, error: null });
        await scans.setStatus(digest(1), 'failed', T0 + 2, 'no such blob');
        expect(await scans.get(digest(1))).toMatchObject({ status: 'failed', startedAt: T0 + 1, completedAt: T0 + 2, error: 'no such blob' });
        await scans.setStatus(digest(1), 'queued', T0 + 3);
        expect(await scans.get(digest(1))).toMatchObject({ status: 'queued', queuedAt: T0 + 3, error: null });
      }));

      it('changes nothing for a manifest without a scan', withStores(backend, async ({ scans }) => {
        await scans.setStatus(digest(1), 'failed', T0, 'gone');
        expect(await scans.get(digest(1))).toBeUndefined();
      }));
    });

    describe('saveScan and get', () => {
      it('inserts a scan, then replaces every field of it, JSON and times intact', withStores(backend, async ({ scans }) => {
        const index: ImageScan = {
          ...blankScan(digest(1), 'scanning', T0),
          kind: 'index',
          status: 'complete',
          children: [{ digest: digest(2), platform: 'linux/arm64/v8' }, { digest: digest(3) }],
        };
        await scans.saveScan(index);
        expect(await scans.get(digest(1))).toEqual(index);

        const image = { ...completeScan(digest(1), 9_007_199_254, T0 + 1000), error: 'a note' };
        await scans.saveScan(image);
        expect(await scans.get(digest(1))).toEqual(image);
        expect(await scans.get(digest(2))).toBeUndefined();
      }));
    });

    describe('saveFindings', () => {
      it('replaces the findings, summary and generation of a complete scan, keeping its inventory', withStores(backend, async ({ scans }) => {
        await scans.saveScan(completeScan(digest(1), 1));
        const findings = [finding('2025-2', 'CRITICAL'), finding('2024-1', 'HIGH')];
        await scans.saveFindings(digest(1), findings, summary({ CRITICAL: 1, HIGH: 1 }), 2);
        expect(await scans.get(digest(1))).toEqual({ ...completeScan(digest(1), 1), findings, summary: summary({ CRITICAL: 1, HIGH: 1 }), vulndbGeneration: 2 });
      }));

      it('leaves a scan that is not complete (queued for a rescan, failed, unsupported) as it is', withStores(backend, async ({ scans }) => {
        await scans.saveScan({ ...completeScan(digest(1), 1), status: 'queued' });
        await scans.saveScan({ ...completeScan(digest(2), 1), status: 'failed', error: 'x' });
        await scans.saveScan({ ...blankScan(digest(3), 'scanning', T0), status: 'unsupported' });
        for (const d of [digest(1), digest(2), digest(3)]) {
          const before = await scans.get(d);
          await scans.saveFindings(d, [], summary({}), 5);
          expect(await scans.get(d)).toEqual(before);
        }
        await scans.saveFindings(digest(4), [], summary({}), 5);
        expect(await scans.get(digest(4))).toBeUndefined();
      }));
    });

    describe('summaries', () => {
      it('gives status and summary of the scanned digests among many (more than one slice), leaving out the rest', withStores(backend, async ({ scans }) => {
        expect(await scans.summaries([])).toEqual(new Map());
        // Scans at both sides of each 500-digest slice boundary, and at the very end.
        await scans.saveScan(completeScan(digest(0), 1));
        await scans.markQueued(digest(499), T0, false);
        await scans.saveScan({ ...completeScan(digest(500), 1), summary: summary({ LOW: 3 }) });
        await scans.saveScan({ ...blankScan(digest(1000), 'scanning', T0), status: 'unsupported' });
        await scans.markQueued(digest(1200), T0, false);
        await scans.setStatus(digest(1200), 'failed', T0, 'x');
        const asked = Array.from({ length: 1201 }, (_, i) => digest(i));
        const result = await scans.summaries(asked);
        expect(result).toEqual(
          new Map([
            [digest(0), { status: 'complete', summary: summary({ HIGH: 1 }) }],
            [digest(499), { status: 'queued', summary: null }],
            [digest(500), { status: 'complete', summary: summary({ LOW: 3 }) }],
            [digest(1000), { status: 'unsupported', summary: null }],
            [digest(1200), { status: 'failed', summary: null }],
          ]),
        );
      }));
    });

    describe('staleScans', () => {
      it('gives complete image scans matched at an older generation, by digest, a page at a time', withStores(backend, async ({ scans }) => {
        // Stale: complete images at generation < 5.
        for (const n of [9, 3, 7, 1, 5]) await scans.saveScan(completeScan(digest(n), n % 2 === 0 ? 5 : 4));
        await scans.saveScan(completeScan(digest(2), 0));
        // Not stale: current, newer, not complete, or an index.
        await scans.saveScan(completeScan(digest(4), 5));
        await scans.saveScan(completeScan(digest(6), 6));
        await scans.saveScan({ ...completeScan(digest(8), 1), status: 'failed' });
        await scans.saveScan({ ...completeScan(digest(10), 1), status: 'queued' });
        await scans.saveScan({ ...blankScan(digest(11), 'scanning', T0), status: 'unsupported' });
        await scans.saveScan({ ...blankScan(digest(12), 'scanning', T0), status: 'complete', kind: 'index', children: [{ digest: digest(1) }] });

        const all = await scans.staleScans(5, '', 100);
        expect(all.map((s) => s.digest)).toEqual([1, 2, 3, 5, 7, 9].map(digest));
        expect(all[0]).toEqual(completeScan(digest(1), 4));

        const pages: string[][] = [];
        let after = '';
        for (let page = await scans.staleScans(5, after, 4); page.length > 0; page = await scans.staleScans(5, after, 4)) {
          pages.push(page.map((s) => s.digest));
          after = page.at(-1)!.digest;
        }
        expect(pages).toEqual([[1, 2, 3, 5].map(digest), [7, 9].map(digest)]);
        expect(await scans.staleScans(1, '', 100)).toEqual([completeScan(digest(2), 0)]);
        expect(await scans.staleScans(0, '', 100)).toEqual([]);
      }));
    });

    describe('pull policies', () => {
      it('gives NO_POLICY for a registry without one; sets, reads back and replaces a policy', withStores(backend, async ({ scans, access }) => {
        const acme = await access.createRegistry('acme', false);
        const other = await access.createRegistry('other', false);
        expect(await scans.getPolicy(acme.id)).toEqual(NO_POLICY);

        await scans.setPolicy(acme.id, { blockSeverity: 'CRITICAL', allowlist: ['CVE-2024-1', 'GHSA-xxxx-yyyy-zzzz'], blockUnscanned: true }, T0);
        expect(await scans.getPolicy(acme.id)).toEqual({ blockSeverity: 'CRITICAL', allowlist: ['CVE-2024-1', 'GHSA-xxxx-yyyy-zzzz'], blockUnscanned: true });
        expect(await scans.getPolicy(other.id)).toEqual(NO_POLICY);

        await scans.setPolicy(acme.id, { blockSeverity: null, allowlist: [], blockUnscanned: false }, T0 + 1);
        expect(await scans.getPolicy(acme.id)).toEqual(NO_POLICY);
        await scans.setPolicy(acme.id, { blockSeverity: 'LOW', allowlist: [], blockUnscanned: false }, T0 + 2);
        expect(await scans.getPolicy(acme.id)).toEqual({ blockSeverity: 'LOW', allowlist: [], blockUnscanned: false });
      }));

      it('refuses a policy for a registry that does not exist', withStores(backend, async ({ scans }) => {
        await expect(scans.setPolicy(424242, NO_POLICY, T0)).rejects.toThrow();
      }));

      it('deletes a registry’s policy with the registry', withStores(backend, async ({ scans, access, usage }) => {
        const acme = await access.createRegistry('acme', false);
        await scans.setPolicy(acme.id, { blockSeverity: 'HIGH', allowlist: ['CVE-2024-1'], blockUnscanned: true }, T0);
        expect(await usage.deleteRegistry('acme')).toBeDefined();
        expect(await scans.getPolicy(acme.id)).toEqual(NO_POLICY);
        // A registry created again under the name starts without one.
        const again = await access.createRegistry('acme', false);
        expect(await scans.getPolicy(again.id)).toEqual(NO_POLICY);
      }));
    });
  });
}
