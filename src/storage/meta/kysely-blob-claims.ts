import { sql, type Kysely } from 'kysely';
import type { SharedBlobClaims } from '../../core/gc-claims.js';
import type { Digest } from '../../oci/digest.js';
import type { Database } from './schema.js';

/** The claimant of a digest's own row: its time claim, and the row GC and pushes lock. */
const DIGEST_ROW = '';
/** Never shortens a claim (a mount may claim for longer than the upload that follows). */
const LATER_EXPIRY = sql<number>`case when excluded.expires_at > blob_claims.expires_at then excluded.expires_at else blob_claims.expires_at end`;

/**
 * Pushes' claims on blob bytes, in the metadata every node shares (see
 * SharedBlobClaims in core/gc-claims.ts). Each digest has its own row, which
 * every claim updates and every GC deletion locks: PostgreSQL's row lock
 * orders the two. Upload claims also get a row of their session, which keeps
 * the claim for as long as the session is open, however long that is.
 */
export class KyselySharedBlobClaims implements SharedBlobClaims {
  constructor(private readonly db: Kysely<Database>) {}

  async claim(digest: Digest, uploadId: string | undefined, until: number): Promise<void> {
    // READ COMMITTED, not SERIALIZABLE: a claim waits for a GC deletion holding the row, then goes ahead (no retries).
    await this.db.transaction().execute(async (trx) => {
      await trx
        .insertInto('blob_claims')
        .values({ digest, claimant: DIGEST_ROW, expires_at: until })
        .onConflict((oc) => oc.columns(['digest', 'claimant']).doUpdateSet({ expires_at: LATER_EXPIRY }))
        .execute();
      if (uploadId !== undefined) {
        await trx
          .insertInto('blob_claims')
          .values({ digest, claimant: uploadId, expires_at: until })
          .onConflict((oc) => oc.columns(['digest', 'claimant']).doUpdateSet({ expires_at: until }))
          .execute();
      }
    });
  }

  async prune(now: number): Promise<void> {
    await this.db
      .deleteFrom('blob_claims')
      .where('expires_at', '<', now)
      .where((eb) => eb.or([eb('claimant', '=', DIGEST_ROW), eb.not(eb.exists(eb.selectFrom('uploads').select('uploads.id').whereRef('uploads.id', '=', 'blob_claims.claimant')))]))
      .execute();
  }
}

/**
 * In GC's deletion transaction `trx`: locks the digest's claim row (writing it,
 * so PostgreSQL holds the lock until `trx` ends, and fails `trx` for a retry if
 * a claim committed since its snapshot) and answers whether a push claims the
 * digest. An unclaimed digest's rows are deleted: its bytes are about to go.
 */
export async function sharedClaimHeld(trx: Kysely<Database>, digest: Digest, now: number): Promise<boolean> {
  await trx
    .insertInto('blob_claims')
    .values({ digest, claimant: DIGEST_ROW, expires_at: 0 })
    .onConflict((oc) => oc.columns(['digest', 'claimant']).doUpdateSet((eb) => ({ expires_at: eb.ref('blob_claims.expires_at') })))
    .execute();
  const rows = await trx.selectFrom('blob_claims').select(['claimant', 'expires_at']).where('digest', '=', digest).execute();
  if (rows.some((r) => Number(r.expires_at) > now)) return true;
  const sessions = rows.map((r) => r.claimant).filter((c) => c !== DIGEST_ROW);
  if (sessions.length > 0) {
    const open = await trx.selectFrom('uploads').select('id').where('id', 'in', sessions).limit(1).executeTakeFirst();
    if (open) return true;
  }
  await trx.deleteFrom('blob_claims').where('digest', '=', digest).execute();
  return false;
}
