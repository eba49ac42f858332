import type { Digest } from '../oci/digest.js';
import type { ManifestGraph } from './gc.js';

type ManifestNode = ManifestGraph['manifests'][number];

/**
 * The mark phase for manifests, pure. Kept: tagged manifests, manifests newer
 * than `keepAfter`, and everything those keep — an index its children, a
 * subject its referrers (signatures, SBOMs, attestations), transitively.
 * Returned: the rest, which nothing can reach by tag, indexes first (deleted in
 * batches, an index never names a child already gone). An untagged index goes
 * together with those of its children nothing else keeps.
 */
export function unkeptManifests(graph: ManifestGraph, keepAfter: number): ManifestNode[] {
  const byDigest = new Map<string, ManifestNode>(graph.manifests.map((m) => [m.digest, m]));
  const children = new Map<number, Digest[]>();
  for (const c of graph.children) children.set(c.parentId, [...(children.get(c.parentId) ?? []), c.digest]);
  const referrers = new Map<string, ManifestNode[]>();
  for (const m of graph.manifests) {
    if (m.subjectDigest) referrers.set(m.subjectDigest, [...(referrers.get(m.subjectDigest) ?? []), m]);
  }

  const tagged = new Set(graph.taggedIds);
  const kept = new Set<number>();
  const queue = graph.manifests.filter((m) => tagged.has(m.id) || m.createdAt > keepAfter);
  for (let m = queue.pop(); m; m = queue.pop()) {
    if (kept.has(m.id)) continue;
    kept.add(m.id);
    for (const digest of children.get(m.id) ?? []) {
      const child = byDigest.get(digest);
      if (child) queue.push(child);
    }
    queue.push(...(referrers.get(m.digest) ?? []));
  }
  const parents = new Set(graph.children.map((c) => c.parentId));
  return graph.manifests.filter((m) => !kept.has(m.id)).sort((a, b) => Number(parents.has(b.id)) - Number(parents.has(a.id)));
}

/**
 * The mark phase for blob links, pure: links that no manifest of the repository
 * references, leaving out the references of manifests in `going` (a dry run's
 * manifests that would have been deleted first).
 */
export function unreferencedLinks(links: { digest: Digest }[], references: { manifestId: number; digest: Digest }[], going: ReadonlySet<number>): Digest[] {
  const referenced = new Set(references.filter((r) => !going.has(r.manifestId)).map((r) => r.digest));
  return links.filter((l) => !referenced.has(l.digest)).map((l) => l.digest);
}

/** Splits a list into batches, so no transaction holds the store for long. */
export function* batches<T>(items: readonly T[], size: number): Generator<T[]> {
  for (let i = 0; i < items.length; i += size) yield items.slice(i, i + size);
}

/** Batches of an async stream. */
export async function* streamBatches<T>(items: AsyncIterable<T>, size: number): AsyncGenerator<T[]> {
  let batch: T[] = [];
  for await (const item of items) {
    batch.push(item);
    if (batch.length >= size) {
      yield batch;
      batch = [];
    }
  }
  if (batch.length > 0) yield batch;
}
