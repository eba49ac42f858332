import type { Digest } from '../oci/digest.js';
import type { ClaimingBlobStore } from './gc-claims.js';
import { batches, unkeptManifests, unreferencedLinks } from './gc-plan.js';
import type { GcStore, GcTransaction } from './gc.js';

export interface GcTally {
  manifestsDeleted: number;
  blobsDeleted: number;
  freedBytes: number;
}

export interface GcPassOptions {
  registryId: number;
  dryRun: boolean;
  /** Anything created after this (now minus the grace period) is kept. */
  cutoff: number;
  /** Drops the read cache of a repository; called before and after each change to it. */
  invalidate(repository: string): void;
  /** After the change is committed: drops the repository from every node's read cache. */
  changed(repository: string): Promise<void>;
  /** Called between batches: throws to stop the run (cancelled, or the server is shutting down). */
  checkpoint(): Promise<void>;
}

/** Short transactions: pulls and pushes wait for the store while one runs (blob batches delete files in it). */
const MANIFEST_BATCH = 200;
const LINK_BATCH = 200;
export const BLOB_BATCH = 25;

/**
 * Deletes a blob's row and bytes if, inside `tx`, no repository links it, no
 * manifest names it, it is older than `cutoff` and no push claims it (see gc.ts):
 * on this node (in memory) or, with nodes sharing the metadata, on any node (a
 * claim row, locked by `tx` until it commits, so no push can claim in between).
 */
export async function deleteBlobIfUnused(tx: GcTransaction, blobs: ClaimingBlobStore, digest: Digest, cutoff: number): Promise<boolean> {
  const state = await tx.blobState(digest);
  if (state.linked || state.referenced) return false;
  if (state.row && state.row.createdAt > cutoff) return false;
  if (blobs.sharedClaims && (await tx.sharedClaimHeld(digest, Date.now()))) return false;
  const sessionOpen = async (uploadId: string) => (await tx.openSessions([uploadId])).has(uploadId);
  if (!(await blobs.deleteUnclaimed(digest, sessionOpen))) return false;
  if (state.row) await tx.deleteBlobRow(digest);
  return true;
}

/**
 * One registry's run: untagged manifests, then unreferenced links, then the
 * blobs those were the last links of. Each step plans from a snapshot and
 * re-checks every decision in the transaction that acts on it. A dry run only
 * plans, and simulates the registry's link counts to report what would go.
 */
export class GcPass {
  readonly tally: GcTally = { manifestsDeleted: 0, blobsDeleted: 0, freedBytes: 0 };
  /** Dry run: manifests that would be deleted, per repository, so their references do not keep blobs. */
  private readonly going = new Map<number, Set<number>>();
  /** Dry run: the registry's links per blob, as they would be after the links planned so far. */
  private readonly simulated = new Map<string, { refs: number; size: number }>();
  private readonly unlinked = new Set<Digest>();

  constructor(
    private readonly store: GcStore,
    private readonly blobStore: ClaimingBlobStore,
    private readonly options: GcPassOptions,
  ) {}

  async manifests(repo: { id: number; name: string }): Promise<void> {
    const { cutoff, dryRun } = this.options;
    const plan = unkeptManifests(await this.store.manifestGraph(repo.id), cutoff);
    if (plan.length === 0) return;
    if (dryRun) {
      this.going.set(repo.id, new Set(plan.map((m) => m.id)));
      this.tally.manifestsDeleted += plan.length;
      return;
    }
    for (let more = true; more; ) {
      await this.options.checkpoint();
      const result = await this.changing(repo.name, () =>
        this.store.transaction(async (tx) => {
          // Planned again inside the transaction: a tag, index or referrer pushed since keeps its manifests.
          const unkept = unkeptManifests(await tx.manifestGraph(repo.id), cutoff);
          let deleted = 0;
          for (const m of unkept.slice(0, MANIFEST_BATCH)) if (await tx.meta.deleteManifest(repo.id, m.digest)) deleted++;
          return { deleted, more: unkept.length > MANIFEST_BATCH };
        }),
      );
      this.tally.manifestsDeleted += result.deleted;
      more = result.more;
    }
  }

  async links(repo: { id: number; name: string }): Promise<void> {
    const { cutoff, dryRun, registryId } = this.options;
    const links = await this.store.oldLinks(repo.id, cutoff);
    if (links.length === 0) return;
    const candidates = unreferencedLinks(links, await this.store.referencesIn(repo.id), this.going.get(repo.id) ?? new Set());
    if (dryRun) {
      for (const digest of candidates) await this.simulateUnlink(digest);
      return;
    }
    for (const batch of batches(candidates, LINK_BATCH)) {
      await this.options.checkpoint();
      const result = await this.changing(repo.name, () =>
        this.store.transaction(async (tx) => {
          const unlinked: Digest[] = [];
          const removedSizes: number[] = [];
          for (const digest of batch) {
            const createdAt = await tx.linkCreatedAt(repo.id, digest);
            if (createdAt === undefined || createdAt > cutoff || (await tx.isReferencedIn(repo.id, digest))) continue;
            const held = await tx.registryBlob(registryId, digest);
            if (!(await tx.meta.unlinkBlob(repo.id, digest))) continue;
            unlinked.push(digest);
            if (held && held.refs <= 1) removedSizes.push(held.size);
          }
          return { unlinked, removedSizes };
        }),
      );
      for (const digest of result.unlinked) this.unlinked.add(digest);
      this.tally.blobsDeleted += result.removedSizes.length;
      this.tally.freedBytes += result.removedSizes.reduce((a, b) => a + b, 0);
    }
  }

  /** Rows and bytes of the blobs whose links this run removed, when nothing links them any more. */
  async blobs(): Promise<void> {
    for (const batch of batches([...this.unlinked], BLOB_BATCH)) {
      await this.options.checkpoint();
      await this.store.transaction(async (tx) => {
        for (const digest of batch) await deleteBlobIfUnused(tx, this.blobStore, digest, this.options.cutoff);
      });
    }
  }

  private async simulateUnlink(digest: Digest): Promise<void> {
    let held = this.simulated.get(digest);
    if (!held) {
      held = (await this.store.registryBlob(this.options.registryId, digest)) ?? { refs: 0, size: 0 };
      this.simulated.set(digest, held);
    }
    if (held.refs <= 0) return;
    held.refs--;
    if (held.refs === 0) {
      this.tally.blobsDeleted++;
      this.tally.freedBytes += held.size;
    }
  }

  private async changing<T>(repository: string, work: () => Promise<T>): Promise<T> {
    this.options.invalidate(repository);
    try {
      return await work();
    } finally {
      await this.options.changed(repository);
    }
  }
}
