/**
 * The push/GC race across nodes (see claims.test.ts for one node): node A's
 * push finds or writes a blob's bytes, and before its link commits, GC on node
 * B finds the blob unreferenced. B's in-memory claims know nothing of A's push,
 * so without claims in the shared metadata B deletes the bytes and A then
 * links a blob that does not exist (shown first, as a control). With them, B
 * keeps the bytes, or A's claim waits for B's deletion and A writes its own.
 */
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { existsSync, mkdtempSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ClaimingBlobStore } from '../../src/core/gc-claims.js';
import { deleteBlobIfUnused } from '../../src/core/gc-pass.js';
import type { Digest } from '../../src/oci/digest.js';
import type { RepoName } from '../../src/oci/name.js';
import { FilesystemBlobStore } from '../../src/storage/blob/filesystem/filesystem-blob-store.js';
import { openPostgresStores } from '../../src/storage/meta/postgres/open-postgres.js';
import type { MetaStores } from '../../src/storage/meta/stores.js';
import { adminQuery, POSTGRES_URL, postgresStores, skipPostgres, type PostgresStoresFixture } from '../support/postgres.js';

const digestOf = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}` as Digest;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A node: its own pool, blob store instance (over the shared volume) and claims. */
interface Node {
  stores: MetaStores;
  files: FilesystemBlobStore;
  claiming: ClaimingBlobStore;
}

let dir: string;
let fixture: PostgresStoresFixture;
let a: Node;
let b: Node;
let repoId: number;

async function node(stores: MetaStores, claimMs = 200): Promise<Node> {
  const files = new FilesystemBlobStore(dir);
  await files.init();
  const claiming = new ClaimingBlobStore(files, claimMs);
  claiming.shareClaims(stores.gc.sharedClaims!);
  return { stores, files, claiming };
}

const blobPath = (d: Digest) => join(dir, 'blobs', 'sha256', d.slice(7, 9), d.slice(7));

/** An upload session on node `n` with `bytes` staged, as Uploads leaves it before completing. */
async function stage(n: Node, bytes: Buffer): Promise<string> {
  const id = randomUUID();
  await n.files.createUpload(id);
  await n.files.writeUpload(id, 0, Readable.from([bytes]));
  await n.stores.meta.createUpload({ id, repositoryId: repoId, size: bytes.length, createdAt: Date.now() });
  return id;
}
/** The transaction that ends a completed session (Uploads.complete). */
const link = (n: Node, uploadId: string, digest: Digest, size: number) =>
  n.stores.meta.transaction(async (tx) => {
    await tx.linkBlob(repoId, digest, size);
    await tx.deleteUpload(uploadId);
  });
/** GC on node `n` deleting one blob, as its phases and sweep do. */
const collect = (n: Node, digest: Digest, claiming = n.claiming) => n.stores.gc.transaction((tx) => deleteBlobIfUnused(tx, claiming, digest, Date.now()));

/** A blob pushed long ago through node B whose only link was removed: garbage, bytes still there, claims long expired. */
async function garbage(): Promise<{ bytes: Buffer; digest: Digest }> {
  const bytes = randomBytes(512);
  const digest = digestOf(bytes);
  const id = await stage(b, bytes);
  await b.files.commitUpload(id, digest);
  await link(b, id, digest, bytes.length);
  await b.stores.meta.unlinkBlob(repoId, digest);
  return { bytes, digest };
}

async function readAll(files: FilesystemBlobStore, digest: Digest): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of await files.read(digest)) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

describe.skipIf(skipPostgres)('push on node A, GC on node B (shared PostgreSQL, shared blob volume)', () => {
  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'berth-gc-cross-'));
    fixture = await postgresStores({ poolSize: 4 });
    a = await node(fixture.stores);
    b = await node(await openPostgresStores({ url: POSTGRES_URL, schema: fixture.schema, poolSize: 4 }));
    repoId = (await a.stores.meta.ensureRepository('t/r' as RepoName, 't')).id;
  });
  afterEach(async () => {
    await b.stores.close();
    await fixture.cleanup();
    await rm(dir, { recursive: true, force: true });
  });

  it('control: with claims only in memory, B deletes the bytes A found, and A links a blob that does not exist', async () => {
    const { bytes, digest } = await garbage();
    const memoryOnly = new ClaimingBlobStore(a.files); // A as it was: claims B cannot see
    const id = await stage(a, bytes);
    await memoryOnly.commitUpload(id, digest); // identical bytes already there: nothing written
    expect(await collect(b, digest)).toBe(true);
    await link(a, id, digest, bytes.length);
    expect(await a.stores.meta.getRepositoryBlob(repoId, digest)).toBeDefined();
    expect(existsSync(blobPath(digest))).toBe(false); // the hazard
  });

  it("B keeps the bytes A's push has claimed until A has linked them; unreferenced again and unclaimed, they go", async () => {
    const { bytes, digest } = await garbage();
    const id = await stage(a, bytes);
    await a.claiming.commitUpload(id, digest);
    expect(await collect(b, digest)).toBe(false);
    await sleep(250); // past the time claim: the open session still holds it
    expect(await collect(b, digest)).toBe(false);
    await link(a, id, digest, bytes.length);
    expect(existsSync(blobPath(digest))).toBe(true);
    expect(await collect(b, digest)).toBe(false); // linked now

    await a.stores.meta.unlinkBlob(repoId, digest);
    expect(await collect(b, digest)).toBe(true); // session over, time claim expired
    expect(existsSync(blobPath(digest))).toBe(false);
  });

  it("a mount on A that found the bytes keeps them from B's GC for its claim time", async () => {
    const { digest } = await garbage();
    expect(await a.claiming.stat(digest)).toBeDefined();
    expect(await collect(b, digest)).toBe(false);
    await sleep(250);
    expect(await collect(b, digest)).toBe(true);
  });

  it("A's claim waits while B's deletion holds the digest, then A finds no bytes and writes its own", async () => {
    const { bytes, digest } = await garbage();
    const id = await stage(a, bytes);
    let commit: Promise<void> | undefined;
    let settled = false;
    let blocked = false;
    await b.stores.gc.transaction(async (tx) => {
      const deleted = await deleteBlobIfUnused(tx, b.claiming, digest, Date.now());
      if (!deleted) return; // a retried transaction finds the bytes gone already
      expect(existsSync(blobPath(digest))).toBe(false);
      commit = a.claiming.commitUpload(id, digest).finally(() => (settled = true));
      await sleep(150);
      expect(settled).toBe(false); // blocked on B's lock of the digest's claim row
      blocked = true;
    });
    expect(blocked).toBe(true);
    await commit;
    await link(a, id, digest, bytes.length);
    expect(digestOf(await readAll(a.files, digest))).toBe(digest);
  });

  it('claims are pruned once expired and their sessions ended', async () => {
    const count = async () => Number((await adminQuery<{ n: string }>(`select count(*) as n from ${fixture.schema}.blob_claims`))[0]!.n);
    const bytes = randomBytes(64);
    const digest = digestOf(bytes);
    const id = await stage(a, bytes);
    await a.claiming.commitUpload(id, digest);
    expect(await count()).toBe(2); // the digest's row and the session's
    await sleep(250);
    await b.stores.gc.sharedClaims!.prune(Date.now());
    expect(await count()).toBe(1); // the session is open: its claim stays
    await link(a, id, digest, bytes.length);
    await b.stores.gc.sharedClaims!.prune(Date.now());
    expect(await count()).toBe(0);
  });
});
