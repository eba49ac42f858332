import type { Digest } from '../oci/digest.js';
import { parseManifest, type Descriptor } from '../oci/manifest/parse.js';
import { isIndexMediaType, isNonDistributable } from '../oci/media-types.js';
import { DEFAULT_REGISTRY, parseRepoName, registryOf, type RepoName } from '../oci/name.js';
import { SEVERITY_LEVELS } from '../scan/osv/severity.js';
import type { SeveritySummary } from '../scan/report.js';
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
  /** As stored: the manifest's `artifactType`, or for an OCI image manifest without one, its config's media type. */
  artifactType: string | null;
  subjectDigest: Digest | null;
  /** The last pull the retention pull-time recorder wrote (every few seconds), or null. */
  pulledAt: number | null;
}

/** What the repository listing shows and sorts by beyond the counts. */
export interface RepositoryStats {
  /** The distinct blobs its manifests reference, each counted once, plus the manifests' own bytes. */
  sizeBytes: number;
  /** The last push: the newest manifest stored or tag set; null when it holds neither. */
  pushedAt: number | null;
  tagCount: number;
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
  /** Manifests, newest first; `tagged` keeps only those with (true) or without (false) a tag. */
  manifests(repositoryId: number, limit: number, offset: number, tagged?: boolean): Promise<Slice<ManifestRow>>;
  /** Sizes, last pushes and tag counts of many repositories at once (missing ones hold nothing). */
  stats(repositoryIds: number[]): Promise<Map<number, RepositoryStats>>;
  /** The severity summaries of the completed image scans of each repository's manifests (distinct ones; none: no completed scan). */
  scanSummaries(repositoryIds: number[]): Promise<Map<number, SeveritySummary[]>>;
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

/** A platform of an index: one of its children. */
export interface ManifestPlatform {
  digest: Digest;
  os: string | null;
  architecture: string | null;
  variant: string | null;
}

/** DOCR's sizes: size_bytes = manifest + config + layers; compressed_size_bytes = the layers as stored. */
export interface MeasuredManifest extends ManifestRow {
  sizeBytes: number;
  compressedSizeBytes: number;
  blobs: BlobSize[];
  /** An index's platforms, attestations left out; empty for anything else. */
  platforms: ManifestPlatform[];
}

/** The worst finding over a repository's completed image scans; `none`: scanned, nothing found. */
export type WorstSeverity = 'critical' | 'high' | 'medium' | 'low' | 'unknown' | 'none';

export interface RepositorySummary extends Omit<RepositoryRow, 'latest'> {
  latest?: MeasuredManifest;
  sizeBytes: number;
  /** The last push (see RepositoryStats), or null. */
  updatedAt: number | null;
  /** Null when none of its manifests has a completed image scan. */
  worstSeverity: WorstSeverity | null;
}

export const REPOSITORY_SORTS = ['name', '-name', 'size', '-size', 'updated', '-updated', 'tags', '-tags'] as const;
/** A field to sort by; a leading `-` sorts descending. */
export type RepositorySort = (typeof REPOSITORY_SORTS)[number];

/** The worst severity with a finding in any of the summaries; null for no summaries at all. */
export function worstSeverity(summaries: readonly SeveritySummary[]): WorstSeverity | null {
  if (summaries.length === 0) return null;
  const level = SEVERITY_LEVELS.find((l) => summaries.some((s) => s[l] > 0));
  return level ? (level.toLowerCase() as WorstSeverity) : 'none';
}

/** Repositories whose path inside the registry contains `text`, ignoring case. */
export function filterByPath<T extends RepositoryRef>(registry: string, repositories: T[], text: string): T[] {
  const needle = text.toLowerCase();
  return repositories.filter((r) => pathInRegistry(registry, r.name).toLowerCase().includes(needle));
}

/** Image configs: a manifest whose stored artifact type is one of these is an image, not an artifact. */
const IMAGE_CONFIG_TYPES = new Set(['application/vnd.oci.image.config.v1+json', 'application/vnd.docker.container.image.v1+json']);

/** The artifact type a listing shows: the stored one, unless that is only an image's config type. */
export function artifactTypeOf(row: Pick<ManifestRow, 'artifactType'>): string | null {
  return row.artifactType !== null && !IMAGE_CONFIG_TYPES.has(row.artifactType) ? row.artifactType : null;
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

  /** Counts, latest manifest, size, last push and worst severity of each repository; `stats` when already read (sort). */
  async summarize(repositories: RepositoryRef[], stats?: Map<number, RepositoryStats>): Promise<RepositorySummary[]> {
    const ids = repositories.map((r) => r.id);
    const rows = await this.queries.summarize(repositories);
    const known = stats ?? (await this.queries.stats(ids));
    const scans = await this.queries.scanSummaries(ids);
    return Promise.all(
      rows.map(async (r) => ({
        ...r,
        latest: r.latest ? (await this.measure(r.id, [r.latest]))[0] : undefined,
        sizeBytes: known.get(r.id)?.sizeBytes ?? 0,
        updatedAt: known.get(r.id)?.pushedAt ?? null,
        worstSeverity: worstSeverity(scans.get(r.id) ?? []),
      })),
    );
  }

  /**
   * Repositories given by name (as repositoriesOf lists them) in `sort` order, ties
   * by name. Any order but by name reads the stats of every repository given
   * (returned, for summarize); a repository never pushed to counts as the oldest.
   */
  async sort(repositories: RepositoryRef[], sort: RepositorySort): Promise<{ repositories: RepositoryRef[]; stats?: Map<number, RepositoryStats> }> {
    if (sort === 'name') return { repositories };
    if (sort === '-name') return { repositories: [...repositories].reverse() };
    const byName = (a: RepositoryRef, b: RepositoryRef) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);
    const field = sort.replace(/^-/, '') as 'size' | 'updated' | 'tags';
    const sign = sort.startsWith('-') ? -1 : 1;
    const stats = await this.queries.stats(repositories.map((r) => r.id));
    const key = (r: RepositoryRef): number => {
      const s = stats.get(r.id);
      if (field === 'size') return s?.sizeBytes ?? 0;
      if (field === 'tags') return s?.tagCount ?? 0;
      return s?.pushedAt ?? -Infinity;
    };
    const sorted = [...repositories].sort((a, b) => {
      const ka = key(a);
      const kb = key(b);
      return ka === kb ? byName(a, b) : sign * (ka < kb ? -1 : 1);
    });
    return { repositories: sorted, stats };
  }

  async tags(repo: RepositoryRef, limit: number, offset: number): Promise<Slice<TagRow & { manifest: MeasuredManifest }>> {
    const page = await this.queries.tags(repo.id, limit, offset);
    const measured = await this.measure(repo.id, page.items.map((t) => t.manifest));
    return { total: page.total, items: page.items.map((t, i) => ({ ...t, manifest: measured[i]! })) };
  }

  async manifests(repo: RepositoryRef, limit: number, offset: number, tagged?: boolean): Promise<Slice<MeasuredManifest>> {
    const page = await this.queries.manifests(repo.id, limit, offset, tagged);
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
      return { ...row, sizeBytes, compressedSizeBytes: compressed, blobs: list, platforms: own.platforms };
    });
  }
}

interface Parsed {
  blobs: { digest: Digest; size: number; layer: boolean }[];
  children: Digest[];
  platforms: ManifestPlatform[];
}

function parse(row: ManifestRow): Parsed {
  try {
    const m = parseManifest(row.body, row.mediaType);
    if (isIndexMediaType(m.mediaType)) return { blobs: [], children: m.children.map((c) => c.digest), platforms: m.children.filter((c) => !isAttestation(c)).map(platformOf) };
    // Foreign (non-distributable) layers are not stored here, so they are not counted.
    const stored = m.blobs.filter((b) => !isNonDistributable(b.mediaType));
    // The config comes first; everything after it is a layer.
    return { blobs: stored.map((b) => ({ digest: b.digest, size: b.size, layer: b !== m.blobs[0] })), children: [], platforms: [] };
  } catch {
    return { blobs: [], children: [], platforms: [] }; // stored before a parser change: list it without sizes rather than fail the page
  }
}

/** An index entry describing another entry (buildx's attestation manifests: annotated, and platform unknown/unknown), not a platform. */
function isAttestation(child: Descriptor): boolean {
  if (child.annotations?.['vnd.docker.reference.type'] !== undefined) return true;
  return child.platform?.os === 'unknown' && child.platform?.architecture === 'unknown';
}

function platformOf(child: Descriptor): ManifestPlatform {
  const field = (name: string) => (typeof child.platform?.[name] === 'string' ? (child.platform[name] as string) : null);
  return { digest: child.digest, os: field('os'), architecture: field('architecture'), variant: field('variant') };
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
