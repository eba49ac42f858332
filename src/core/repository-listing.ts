import type { Digest } from '../oci/digest.js';
import { parseManifest } from '../oci/manifest/parse.js';
import { isIndexMediaType, isNonDistributable } from '../oci/media-types.js';
import { DEFAULT_REGISTRY, parseRepoName, registryOf, type RepoName } from '../oci/name.js';
import type { MetaStore } from '../storage/meta/meta-store.js';
import type { Actor } from './registry-events.js';
import type { Registry } from './registry.js';
import { requireRepository } from './repositories.js';

export interface RepositoryRef {
  id: number;
  name: RepoName;
}

/** A manifest as the listings need it; `updatedAt` is its push or its latest tagging, whichever is later. */
export interface ManifestRow {
  id: number;
  digest: Digest;
  mediaType: string;
  size: number;
  body: Buffer;
  updatedAt: number;
  tags: string[];
}

export interface RepositoryRow extends RepositoryRef {
  tagCount: number;
  manifestCount: number;
  latest?: ManifestRow;
}

export interface TagRow {
  tag: string;
  updatedAt: number;
  manifest: ManifestRow;
}

export interface Slice<T> {
  total: number;
  items: T[];
}

/**
 * The read queries behind the management API's repository listings, and the one
 * write that has no MetaStore equivalent: removing a whole repository.
 */
export interface RepositoryQueries {
  /** A registry's repositories, by name. */
  repositoriesOf(registry: string): Promise<RepositoryRef[]>;
  /** Tag and manifest counts and the latest manifest of each repository, in the order given. */
  summarize(repositories: RepositoryRef[]): Promise<RepositoryRow[]>;
  /** Tags, newest first. */
  tags(repositoryId: number, limit: number, offset: number): Promise<Slice<TagRow>>;
  /** Manifests, newest first. */
  manifests(repositoryId: number, limit: number, offset: number): Promise<Slice<ManifestRow>>;
  manifestsByDigest(repositoryId: number, digests: Digest[]): Promise<ManifestRow[]>;
  /**
   * Deletes the repository, its manifests, tags, blob links and upload records in one
   * transaction, through the same storage accounting as single deletes. Returns the ids
   * of the uploads whose staging files are now orphaned. `within` runs last in that
   * transaction (it records the change).
   */
  deleteRepository(repositoryId: number, within?: (tx: MetaStore, removed: { manifests: number; blobs: number }) => Promise<void>): Promise<{ manifests: number; blobs: number; uploads: string[] }>;
}

export interface BlobSize {
  digest: Digest;
  size: number;
}

/** DOCR's sizes: size_bytes = manifest + config + layers; compressed_size_bytes = the layers as stored. */
export interface MeasuredManifest extends ManifestRow {
  sizeBytes: number;
  compressedSizeBytes: number;
  blobs: BlobSize[];
}

export interface RepositorySummary extends Omit<RepositoryRow, 'latest'> {
  latest?: MeasuredManifest;
}

/** The repository's path inside its registry (`app/web` for `team-a/app/web`), as DigitalOcean names it. */
export function pathInRegistry(registry: string, name: RepoName): string {
  return name.startsWith(`${registry}/`) ? name.slice(registry.length + 1) : name;
}

/**
 * Full names a path may stand for. In `library` a one-component path is the
 * one-component name (`alpine`) first, `library/alpine` second.
 */
function candidateNames(registry: string, path: string): RepoName[] {
  const names = registry === DEFAULT_REGISTRY && !path.includes('/') ? [path, `${registry}/${path}`] : [`${registry}/${path}`];
  const valid: RepoName[] = [];
  for (const n of names) {
    try {
      const name = parseRepoName(n);
      if (registryOf(name) === registry) valid.push(name);
    } catch {
      // Not a valid name: it cannot exist.
    }
  }
  return valid;
}

/** Listings with sizes, and repository deletion that keeps the read cache and storage accounting right. */
export class RepositoryListing {
  constructor(
    private readonly queries: RepositoryQueries,
    private readonly registry: Registry,
  ) {}

  /** The existing repository a path names, or undefined. */
  async resolve(registryName: string, path: string): Promise<RepositoryRef | undefined> {
    for (const name of candidateNames(registryName, path)) {
      const repo = await this.registry.meta.getRepository(name);
      if (repo) return { id: repo.id, name: repo.name };
    }
    return undefined;
  }

  repositoriesOf(registryName: string): Promise<RepositoryRef[]> {
    return this.queries.repositoriesOf(registryName);
  }

  async summarize(repositories: RepositoryRef[]): Promise<RepositorySummary[]> {
    const rows = await this.queries.summarize(repositories);
    return Promise.all(
      rows.map(async (r) => ({ ...r, latest: r.latest ? (await this.measure(r.id, [r.latest]))[0] : undefined })),
    );
  }

  async tags(repo: RepositoryRef, limit: number, offset: number): Promise<Slice<TagRow & { manifest: MeasuredManifest }>> {
    const page = await this.queries.tags(repo.id, limit, offset);
    const measured = await this.measure(repo.id, page.items.map((t) => t.manifest));
    return { total: page.total, items: page.items.map((t, i) => ({ ...t, manifest: measured[i]! })) };
  }

  async manifests(repo: RepositoryRef, limit: number, offset: number): Promise<Slice<MeasuredManifest>> {
    const page = await this.queries.manifests(repo.id, limit, offset);
    return { total: page.total, items: await this.measure(repo.id, page.items) };
  }

  async deleteRepository(name: RepoName, actor?: Actor): Promise<{ manifests: number; blobs: number }> {
    const repo = await requireRepository(this.registry.meta, name);
    await this.assertNoImmutableTags(name, repo.id);
    // Before and after, like Manifests: a read racing the delete must not cache what it removed.
    this.registry.invalidateRepository(name);
    // Recorded in the deleting transaction, as Manifests records its changes.
    const record = this.registry.manifests.recordChange;
    const removed = await this.queries.deleteRepository(repo.id, record && ((tx, counts) => record(tx, { type: 'repository.deleted', repository: name, ...counts, actor })));
    await this.registry.repositoryChanged(name);
    for (const id of removed.uploads) await this.registry.blobStore.deleteUpload(id).catch(() => undefined);
    return { manifests: removed.manifests, blobs: removed.blobs };
  }

  /** A repository holding an immutable tag cannot be deleted: that would delete the tag. */
  private async assertNoImmutableTags(name: RepoName, repositoryId: number): Promise<void> {
    const immutable = this.registry.immutableTags;
    if (!immutable) return;
    const rules = await immutable.rulesFor(name);
    if (rules.length === 0) return;
    for (let last: string | undefined, page: string[]; (page = await this.registry.meta.listTags(repositoryId, 1000, last)).length > 0; last = page[page.length - 1]) {
      immutable.assertMayDelete(rules, name, page, `repository ${name}`);
    }
  }

  /**
   * Sizes from the manifests' own descriptors (a push checks they match the stored
   * blobs). An index counts its children in this repository and their distinct blobs.
   */
  private async measure(repositoryId: number, rows: ManifestRow[]): Promise<MeasuredManifest[]> {
    const parsed = rows.map(parse);
    const childDigests = [...new Set(parsed.flatMap((p) => p.children))];
    const children = new Map<string, ManifestRow>();
    if (childDigests.length > 0) {
      for (const c of await this.queries.manifestsByDigest(repositoryId, childDigests)) children.set(c.digest, c);
    }
    return rows.map((row, i) => {
      const own = parsed[i]!;
      let sizeBytes = row.size;
      const blobs = new Map<string, { size: number; layer: boolean }>();
      const add = (p: Parsed) => p.blobs.forEach((b) => blobs.set(b.digest, { size: b.size, layer: b.layer }));
      add(own);
      for (const digest of own.children) {
        const child = children.get(digest);
        if (!child) continue;
        sizeBytes += child.size;
        add(parse(child));
      }
      let compressed = 0;
      for (const b of blobs.values()) {
        sizeBytes += b.size;
        if (b.layer) compressed += b.size;
      }
      const list = [...blobs].map(([digest, b]) => ({ digest: digest as Digest, size: b.size }));
      return { ...row, sizeBytes, compressedSizeBytes: compressed, blobs: list };
    });
  }
}

interface Parsed {
  blobs: { digest: Digest; size: number; layer: boolean }[];
  children: Digest[];
}

function parse(row: ManifestRow): Parsed {
  try {
    const m = parseManifest(row.body, row.mediaType);
    if (isIndexMediaType(m.mediaType)) return { blobs: [], children: m.children.map((c) => c.digest) };
    // Foreign (non-distributable) layers are not stored here, so they are not counted.
    const stored = m.blobs.filter((b) => !isNonDistributable(b.mediaType));
    // The config comes first; everything after it is a layer.
    return { blobs: stored.map((b) => ({ digest: b.digest, size: b.size, layer: b !== m.blobs[0] })), children: [] };
  } catch {
    return { blobs: [], children: [] }; // stored before a parser change: list it without sizes rather than fail the page
  }
}

const wired = new WeakMap<Registry, RepositoryListing>();

/** Wires the listing queries to a registry (composition root); the management API finds them through it. */
export function provideRepositoryListing(registry: Registry, queries: RepositoryQueries): RepositoryListing {
  const listing = new RepositoryListing(queries, registry);
  wired.set(registry, listing);
  return listing;
}

export function repositoryListingOf(registry: Registry): RepositoryListing {
  const listing = wired.get(registry);
  if (!listing) throw new Error('repository listing queries are not wired to this registry (see server.ts)');
  return listing;
}
