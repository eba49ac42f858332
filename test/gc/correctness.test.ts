/**
 * Garbage collection removes exactly what nothing keeps: untagged manifests
 * (not an index's children, not a kept subject's referrers), links no manifest
 * references, blobs nothing links, files the metadata does not know, stale
 * staging; counts, freed bytes and storage usage agree; dry runs delete nothing;
 * the grace period protects fresh content.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, utimesSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stopAndClean } from '../conformance/helpers.js';
import type { BerthProcess } from '../support/berth-process.js';
import { Client, blobFile, hasFile, rand, sha256, startGcBerth, storageUsage, withDb, type Blob, type Pushed } from './gc-support.js';

const BOTH = 'untagged manifests and unreferenced blobs';
let berth: BerthProcess;
let c: Client;
const layer = (n = 300) => randomBytes(n + Math.floor(Math.random() * 200));
const sum = (blobs: Blob[]) => blobs.reduce((a, b) => a + b.size, 0);
const unique = (blobs: Blob[]) => [...new Map(blobs.map((b) => [b.digest, b])).values()];

beforeAll(async () => {
  berth = await startGcBerth();
  c = new Client(berth.url);
});
afterAll(() => stopAndClean(berth));

describe('a run of both kinds, dry run first', () => {
  it('deletes exactly the unkept manifests and the blobs only they used; counts, bytes and usage agree', async () => {
    const reg = `gc-${rand()}`;
    const app = `${reg}/app`;
    const other = `${reg}/other`;
    const shared = layer(1000);
    const a = await c.pushImage(app, 'a', [shared, layer()]);
    const b = await c.pushImage(app, 'b', [shared, layer()]);
    const untagged = await c.pushImage(app, 'c', [shared, layer()]);
    const sbomOfUntagged = await c.pushImage(app, undefined, [layer()], { subject: untagged, artifactType: 'application/spdx+json' });
    expect((await c.req('DELETE', `/v2/${app}/manifests/c`)).status).toBe(202); // untagged now
    const byDigest = await c.pushImage(app, undefined, [layer()]);
    const e1 = await c.pushImage(app, undefined, [layer()]);
    const e2 = await c.pushImage(app, undefined, [layer()]);
    const untaggedIndex = await c.pushIndex(app, undefined, [e1, e2]);
    const f1 = await c.pushImage(app, undefined, [layer()]);
    const taggedIndex = await c.pushIndex(app, 'multi', [f1]);
    const signatureOfA = await c.pushImage(app, undefined, [layer()], { subject: a, artifactType: 'application/vnd.dev.cosign.artifact.sig.v1+json' });
    const dangling = await c.pushBlob(app, layer());
    const o = await c.pushImage(other, 'o', [shared, layer()]);
    expect((await c.req('DELETE', `/v2/${other}/manifests/${o.digest}`)).status).toBe(202);

    const goneManifests = [untagged, sbomOfUntagged, byDigest, e1, e2, untaggedIndex];
    const keptManifests = [a, b, f1, taggedIndex, signatureOfA];
    const goneBlobs = unique([...goneManifests, o].flatMap((m) => m.blobs).filter((x) => x.digest !== sha256(shared)).concat(dangling));
    const keptBlobs = unique(keptManifests.flatMap((m) => m.blobs));
    const before = await storageUsage(c, berth, reg);

    const dry = await c.gc(reg, BOTH, true);
    expect(dry).toMatchObject({ dry_run: true, type: BOTH, registry_name: reg, manifests_deleted: goneManifests.length, blobs_deleted: goneBlobs.length, freed_bytes: sum(goneBlobs) });
    for (const m of goneManifests) expect(await c.manifestStatus(app, m.digest)).toBe(200);
    for (const x of goneBlobs) expect(hasFile(berth, x.digest), x.digest).toBe(true);
    expect(await storageUsage(c, berth, reg)).toBe(before);

    const run = await c.gc(reg, BOTH);
    expect(run).toMatchObject({ dry_run: false, manifests_deleted: goneManifests.length, blobs_deleted: goneBlobs.length, freed_bytes: sum(goneBlobs) });
    for (const m of goneManifests) expect(await c.manifestStatus(app, m.digest), m.digest).toBe(404);
    for (const x of goneBlobs) {
      expect(hasFile(berth, x.digest), `file of ${x.digest}`).toBe(false);
      expect(await c.blobStatus(app, x.digest)).toBe(404);
    }
    for (const m of keptManifests) expect(await c.verify(m)).toEqual([]);
    for (const x of keptBlobs) expect(hasFile(berth, x.digest)).toBe(true);
    expect(await c.verify(a, 'a')).toEqual([]);
    expect(await c.manifestStatus(app, 'multi')).toBe(200);
    // The shared layer stays (app's images use it) but its link in `other` went.
    expect(await c.blobStatus(other, sha256(shared))).toBe(404);
    expect(await c.blobStatus(app, sha256(shared))).toBe(200);
    const manifestBytes = goneManifests.reduce((n, m) => n + m.size, 0);
    expect(await storageUsage(c, berth, reg)).toBe(before - sum(goneBlobs) - manifestBytes);

    // Nothing is left to collect.
    expect(await c.gc(reg, BOTH)).toMatchObject({ manifests_deleted: 0, blobs_deleted: 0, freed_bytes: 0 });
  });
});

describe('one kind at a time', () => {
  it('"untagged manifests only" keeps blobs; "unreferenced blobs only" then collects them', async () => {
    const reg = `gc-${rand()}`;
    const repo = `${reg}/r`;
    const kept = await c.pushImage(repo, 'v1', [layer()]);
    const untagged = await c.pushImage(repo, undefined, [layer()]);

    const manifestsRun = await c.gc(reg, 'untagged manifests only');
    expect(manifestsRun).toMatchObject({ manifests_deleted: 1, blobs_deleted: 0, freed_bytes: 0 });
    expect(await c.manifestStatus(repo, untagged.digest)).toBe(404);
    for (const x of untagged.blobs) expect(await c.blobStatus(repo, x.digest)).toBe(200);

    const blobsRun = await c.gc(reg, 'unreferenced blobs only');
    expect(blobsRun).toMatchObject({ manifests_deleted: 0, blobs_deleted: 2, freed_bytes: sum(untagged.blobs) });
    for (const x of untagged.blobs) {
      expect(await c.blobStatus(repo, x.digest)).toBe(404);
      expect(hasFile(berth, x.digest)).toBe(false);
    }
    expect(await c.verify(kept, 'v1')).toEqual([]);
  });

  it('a blob still linked in another registry loses only this registry\'s link; its bytes stay', async () => {
    const [r1, r2] = [`gc-${rand()}`, `gc-${rand()}`];
    const data = layer();
    const blob = await c.pushBlob(`${r1}/x`, data);
    const image = await c.pushImage(`${r2}/y`, 'v1', [data]);
    const run = await c.gc(r1, 'unreferenced blobs only');
    expect(run).toMatchObject({ blobs_deleted: 1, freed_bytes: blob.size });
    expect(hasFile(berth, blob.digest)).toBe(true);
    expect(await c.verify(image, 'v1')).toEqual([]);
  });
});

describe('what no registry owns', () => {
  it('removes files the metadata does not know, blobs unlinked by DELETE, stale staging and idle sessions', async () => {
    const orphan = randomBytes(100);
    const orphanPath = blobFile(berth, sha256(orphan));
    mkdirSync(dirname(orphanPath), { recursive: true });
    writeFileSync(orphanPath, orphan);

    const reg = `gc-${rand()}`;
    const deletedBlob = await c.pushBlob(`${reg}/r`, layer());
    expect((await c.req('DELETE', `/v2/${reg}/r/blobs/${deletedBlob.digest}`)).status).toBe(202);

    const hourAgo = new Date(Date.now() - 3_600_000);
    const stale = join(berth.dataDir, 'uploads', '00000000-0000-4000-8000-000000000000');
    writeFileSync(stale, 'half an upload');
    utimesSync(stale, hourAgo, hourAgo);

    const idle = await c.req('POST', `/v2/${reg}/r/blobs/uploads/`);
    const idleId = new URL(idle.headers.get('location')!, berth.url).pathname.split('/').pop()!;
    withDb(berth, (db) => db.prepare('update uploads set updated_at = 0 where id = ?').run(idleId));
    const open = await c.req('POST', `/v2/${reg}/r/blobs/uploads/`);
    const openPath = new URL(open.headers.get('location')!, berth.url).pathname;

    await c.gc(reg, 'unreferenced blobs only');
    expect(existsSync(orphanPath)).toBe(false);
    expect(hasFile(berth, deletedBlob.digest)).toBe(false);
    expect(existsSync(stale)).toBe(false);
    expect(existsSync(join(berth.dataDir, 'uploads', idleId))).toBe(false);
    expect((await c.req('GET', `/v2/${reg}/r/blobs/uploads/${idleId}`)).status).toBe(404);
    // An open session keeps its staged data.
    expect((await c.req('GET', openPath)).status).toBe(204);
  });
});

describe('grace period', () => {
  let graceful: BerthProcess;
  afterAll(() => stopAndClean(graceful));

  it('with the default grace (1h), nothing fresh is collected', async () => {
    graceful = await startGcBerth({});
    const g = new Client(graceful.url);
    const reg = `gc-${rand()}`;
    const untagged = await g.pushImage(`${reg}/r`, undefined, [layer()]);
    const blob = await g.pushBlob(`${reg}/r`, layer());
    const orphan = randomBytes(64);
    const orphanPath = blobFile(graceful, sha256(orphan));
    mkdirSync(dirname(orphanPath), { recursive: true });
    writeFileSync(orphanPath, orphan);

    const run = await g.gc(reg, BOTH);
    expect(run).toMatchObject({ manifests_deleted: 0, blobs_deleted: 0, freed_bytes: 0 });
    expect(await g.verify(untagged)).toEqual([]);
    expect(await g.blobStatus(`${reg}/r`, blob.digest)).toBe(200);
    expect(existsSync(orphanPath)).toBe(true);
  });
});
