import type { Digest } from '../oci/digest.js';
import type { ClaimingBlobStore } from './gc-claims.js';
import { BLOB_BATCH, deleteBlobIfUnused } from './gc-pass.js';
import { batches, streamBatches } from './gc-plan.js';
import type { GcStore } from './gc.js';

export interface SweepOptions {
  /** Blob rows and files written after this are kept (the grace period). */
  cutoff: number;
  /** Staging files no session owns are removed once last written before this. */
  stagingCutoff: number;
  /** Sessions last written before this are expired, staging file and all. */
  idleCutoff: number;
  checkpoint(): Promise<void>;
}

export interface SweepReport {
  /** Blob rows (and bytes) nothing linked any more: last link removed by DELETE, a deleted repository, another registry's run. */
  blobRows: number;
  /** Blob files the metadata did not know (a crash between committing bytes and recording them). */
  orphanFiles: number;
  stagingFiles: number;
  expiredSessions: number;
}

/**
 * The server-wide part of a run: what no registry owns. Blobs are shared by
 * content across registries, so their last link may go anywhere; files and
 * staging areas may outlive their metadata after a crash. Every deletion is
 * guarded exactly like the registry phases (deleteBlobIfUnused, claims).
 */
export async function sweepStorage(store: GcStore, blobs: ClaimingBlobStore, o: SweepOptions): Promise<SweepReport> {
  const report: SweepReport = { blobRows: 0, orphanFiles: 0, stagingFiles: 0, expiredSessions: 0 };

  for (let after = ''; ; ) {
    const batch = await store.unlinkedBlobs(o.cutoff, after, BLOB_BATCH);
    if (batch.length === 0) break;
    await o.checkpoint();
    report.blobRows += await store.transaction(async (tx) => {
      let n = 0;
      for (const digest of batch) if (await deleteBlobIfUnused(tx, blobs, digest, o.cutoff)) n++;
      return n;
    });
    after = batch[batch.length - 1]!;
  }

  for await (const batch of streamBatches(blobs.list(), BLOB_BATCH * 20)) {
    const known = await store.knownBlobs(batch);
    const orphans: Digest[] = [];
    for (const digest of batch) {
      if (known.has(digest)) continue;
      const modifiedAt = await blobs.modifiedAt(digest);
      if (modifiedAt !== undefined && modifiedAt <= o.cutoff) orphans.push(digest);
    }
    for (const some of batches(orphans, BLOB_BATCH)) {
      await o.checkpoint();
      report.orphanFiles += await store.transaction(async (tx) => {
        let n = 0;
        for (const digest of some) if (await deleteBlobIfUnused(tx, blobs, digest, o.cutoff)) n++;
        return n;
      });
    }
  }

  // A staging file is created just before its session row: only old ones can be ownerless for good.
  for await (const batch of streamBatches(blobs.listUploads(), 500)) {
    const stale = batch.filter((u) => u.modifiedAt <= o.stagingCutoff).map((u) => u.id);
    if (stale.length === 0) continue;
    const open = await store.openSessions(stale);
    for (const id of stale) if (!open.has(id) && (await blobs.deleteUploadUnclaimed(id))) report.stagingFiles++;
  }

  for (const id of await store.idleSessions(o.idleCutoff, 500)) {
    await o.checkpoint();
    const expired = await store.transaction(async (tx) => {
      const updatedAt = await tx.sessionUpdatedAt(id);
      if (updatedAt === undefined || updatedAt >= o.idleCutoff) return false;
      // Staging first, and only if the session is not committing: its link may be on its way.
      if (!(await blobs.deleteUploadUnclaimed(id))) return false;
      return tx.deleteSession(id);
    });
    if (expired) report.expiredSessions++;
  }
  return report;
}
