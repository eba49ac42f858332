import type { Digest } from '../oci/digest.js';
import type { Descriptor } from '../oci/manifest/parse.js';
import { MediaType } from '../oci/media-types.js';
import type { RepoName } from '../oci/name.js';
import type { MetaStore } from '../storage/meta/meta-store.js';
import { requireRepository } from './repositories.js';

export interface ReferrersIndex {
  schemaVersion: 2;
  mediaType: typeof MediaType.OciIndex;
  manifests: Descriptor[];
}

/** The referrers of `subject` as an OCI image index (empty when there are none). */
export async function listReferrers(meta: MetaStore, name: RepoName, subject: Digest, artifactType?: string): Promise<ReferrersIndex> {
  const repo = await requireRepository(meta, name);
  const rows = await meta.listReferrers(repo.id, subject, artifactType);
  const manifests = rows.map((r) => {
    const d: Descriptor = { mediaType: r.mediaType, digest: r.digest, size: r.size };
    if (r.artifactType) d.artifactType = r.artifactType;
    if (r.annotations) d.annotations = r.annotations;
    return d;
  });
  return { schemaVersion: 2, mediaType: MediaType.OciIndex, manifests };
}
