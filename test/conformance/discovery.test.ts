/**
 * Content discovery (OCI Distribution Spec v1.1): tags/list and _catalog with
 * n/last pagination and RFC 5988 Link headers, and the referrers API.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startBerth, type BerthProcess } from '../support/berth-process.js';
import {
  MT, descriptorOf, expectOciError, imageManifest, indexManifest, pushBlob, pushImage, pushManifest, putManifest, randomBlob,
  randomDigest, stopAndClean, uniqueName, type Descriptor,
} from './helpers.js';

let berth: BerthProcess;
let base: string;
beforeAll(async () => {
  berth = await startBerth();
  base = berth.url;
});
afterAll(() => stopAndClean(berth));

/** Parses `Link: <url>; rel="next"`, asserting the RFC 5988 shape. */
function nextLink(res: Response): URL | undefined {
  const link = res.headers.get('link');
  if (link === null) return undefined;
  const m = link.match(/^<([^>]+)>;\s*rel="next"$/);
  expect(m, `Link header ${link}`).not.toBeNull();
  return new URL(m![1]!, base);
}

/** Follows Link headers from `first`, returning every page's items (bounded, so a loop fails instead of hanging). */
async function walk(first: string, key: 'tags' | 'repositories'): Promise<string[][]> {
  const pages: string[][] = [];
  let url: string | undefined = first;
  while (url && pages.length < 100) {
    const res = await fetch(url);
    expect(res.status).toBe(200);
    const next = nextLink(res);
    pages.push(((await res.json()) as Record<string, string[]>)[key]!);
    url = next?.toString();
  }
  return pages;
}

const lexical = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

describe('tags/list', () => {
  const name = uniqueName('disc');
  // Lowercase only: the spec says "lexical (case-insensitive alphanumeric)", which agrees with byte order here.
  const tags = ['latest', 'v1', 'v1.0', 'v1.0.1', 'v10', 'v2', '1', '10', '2', 'a_b', 'a-b', 'a.b', 'zzz'];
  const sorted = [...tags].sort(lexical);
  const list = (query = '') => fetch(`${base}/v2/${name}/tags/list${query}`);

  beforeAll(async () => {
    const img = await pushImage(base, name);
    for (const t of tags) expect((await putManifest(base, name, t, img.body, MT.ociManifest)).status).toBe(201);
  });

  it('lists every tag in lexical order with the repository name', async () => {
    const res = await list();
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^application\/json/);
    expect(await res.json()).toEqual({ name, tags: sorted });
  });

  it('n limits the page and a Link header points at the next one', async () => {
    const res = await list('?n=5');
    expect(((await res.clone().json()) as { tags: string[] }).tags).toEqual(sorted.slice(0, 5));
    const next = nextLink(res)!;
    expect(next.pathname).toBe(`/v2/${name}/tags/list`);
    expect(next.searchParams.get('n')).toBe('5');
    expect(next.searchParams.get('last')).toBe(sorted[4]);
  });

  it('walking the Link headers yields every tag exactly once, in order', async () => {
    for (const n of [1, 4, 13, 50]) {
      const pages = await walk(`${base}/v2/${name}/tags/list?n=${n}`, 'tags');
      expect(pages.flat(), `n=${n}`).toEqual(sorted);
      for (const p of pages.slice(0, -1)) expect(p).toHaveLength(n); // fewer than n only on the last page
    }
  });

  it('last starts after the given tag (non-inclusive), with or without n', async () => {
    expect(((await (await list(`?last=${sorted[3]}`)).json()) as { tags: string[] }).tags).toEqual(sorted.slice(4));
    expect(((await (await list(`?n=2&last=${sorted[3]}`)).json()) as { tags: string[] }).tags).toEqual(sorted.slice(4, 6));
    expect(((await (await list('?last=zzzz')).json()) as { tags: string[] }).tags).toEqual([]);
  });

  it('n=0 returns an empty list and no Link header', async () => {
    const res = await list('?n=0');
    expect(res.status).toBe(200);
    expect(res.headers.get('link')).toBeNull();
    expect(((await res.json()) as { tags: string[] }).tags).toEqual([]);
  });

  it('an n larger than the tag count returns every tag (n is any integer; fewer results are allowed when there are fewer tags)', async () => {
    for (const n of ['14', '20000', '10000000000']) {
      const res = await list(`?n=${n}`);
      expect(res.status, `n=${n}`).toBe(200);
      expect(((await res.json()) as { tags: string[] }).tags).toEqual(sorted);
    }
  });

  it.each(['-1', 'abc', '1.5', '0x10'])('n=%s → 400', async (n) => {
    const res = await list(`?n=${n}`);
    expect(res.status).toBe(400);
    expect(((await res.json()) as { errors: unknown[] }).errors.length).toBeGreaterThan(0);
  });

  it('mixed-case tags paginate consistently with the full listing', async () => {
    const repo = uniqueName('disc');
    const img = await pushImage(base, repo);
    const mixed = ['B', 'a', 'C', 'b', 'A', 'c', '_x', 'Z9'];
    for (const t of mixed) expect((await putManifest(base, repo, t, img.body, MT.ociManifest)).status).toBe(201);
    const all = ((await (await fetch(`${base}/v2/${repo}/tags/list`)).json()) as { tags: string[] }).tags;
    expect([...all].sort()).toEqual([...mixed].sort());
    expect((await walk(`${base}/v2/${repo}/tags/list?n=3`, 'tags')).flat()).toEqual(all);
  });

  it('a repository without tags lists an empty array', async () => {
    const repo = uniqueName('disc');
    await pushBlob(base, repo, randomBlob(8));
    const res = await fetch(`${base}/v2/${repo}/tags/list`);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ name: repo, tags: [] });
  });
});

describe('_catalog', () => {
  const names = Array.from({ length: 7 }, (_, i) => `catalog/${String.fromCharCode(103 - i)}${i}`); // deliberately unsorted

  beforeAll(async () => {
    for (const n of names) await pushBlob(base, n, randomBlob(4));
  });

  it('lists repositories in lexical order', async () => {
    const res = await fetch(`${base}/v2/_catalog`);
    expect(res.status).toBe(200);
    const { repositories } = (await res.json()) as { repositories: string[] };
    expect(repositories).toEqual([...repositories].sort(lexical));
    expect(repositories).toEqual(expect.arrayContaining(names));
  });

  it('paginates with n, last and Link, covering every repository once', async () => {
    const all = ((await (await fetch(`${base}/v2/_catalog`)).json()) as { repositories: string[] }).repositories;
    const res = await fetch(`${base}/v2/_catalog?n=2`);
    const next = nextLink(res)!;
    expect(next.pathname).toBe('/v2/_catalog');
    expect(next.searchParams.get('n')).toBe('2');
    expect(next.searchParams.get('last')).toBe(all[1]);
    expect((await walk(`${base}/v2/_catalog?n=3`, 'repositories')).flat()).toEqual(all);
    const after = ((await (await fetch(`${base}/v2/_catalog?last=${all[2]}`)).json()) as { repositories: string[] }).repositories;
    expect(after).toEqual(all.slice(3));
  });

  it('n=0 → empty list without Link; invalid n → 400', async () => {
    const res = await fetch(`${base}/v2/_catalog?n=0`);
    expect(res.headers.get('link')).toBeNull();
    expect(((await res.json()) as { repositories: string[] }).repositories).toEqual([]);
    expect((await fetch(`${base}/v2/_catalog?n=-3`)).status).toBe(400);
  });
});

describe('referrers', () => {
  const name = uniqueName('disc');
  const empty = Buffer.from('{}');
  let subject: Descriptor;
  const referrers = (digest: string, query = '') => fetch(`${base}/v2/${name}/referrers/${digest}${query}`);
  const emptyIndex = { schemaVersion: 2, mediaType: MT.ociIndex, manifests: [] };
  const artifact = (extra: Record<string, unknown>, config = descriptorOf(empty, MT.ociEmpty)) =>
    imageManifest(config, [descriptorOf(empty, MT.ociEmpty)], { subject, ...extra });

  beforeAll(async () => {
    const img = await pushImage(base, name, 'app');
    subject = descriptorOf(img.body, MT.ociManifest);
    await pushBlob(base, name, empty);
  });

  it('no referrers → 200 with an empty OCI index', async () => {
    for (const digest of [subject.digest, randomDigest()]) {
      const res = await referrers(digest);
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toBe(MT.ociIndex);
      expect(await res.json()).toEqual(emptyIndex);
    }
  });

  it('lists referrers with artifactType (own, or the config mediaType) and annotations; filters by artifactType', async () => {
    const sbom = await pushManifest(base, name, undefined, artifact({ artifactType: 'application/vnd.example.sbom', annotations: { 'org.example.kind': 'sbom' } }));
    const config = Buffer.from('{"sig":true}');
    await pushBlob(base, name, config);
    const sig = await pushManifest(base, name, undefined, artifact({ annotations: { 'org.example.kind': 'sig' } }, descriptorOf(config, 'application/vnd.example.sig.config')));
    const idx = await pushManifest(base, name, undefined, indexManifest([], { subject, annotations: { 'org.example.kind': 'index' } }));
    const other = await pushManifest(base, name, undefined, artifact({ artifactType: 'application/vnd.example.sbom', subject: { ...subject, digest: randomDigest() } }));

    const res = await referrers(subject.digest);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe(MT.ociIndex);
    const index = (await res.json()) as { schemaVersion: number; mediaType: string; manifests: Descriptor[] };
    expect(index.schemaVersion).toBe(2);
    expect(index.mediaType).toBe(MT.ociIndex);
    const byDigest = new Map(index.manifests.map((d) => [d.digest, d]));
    expect([...byDigest.keys()].sort()).toEqual([sbom.digest, sig.digest, idx.digest].sort());
    expect(byDigest.has(other.digest)).toBe(false);
    expect(byDigest.get(sbom.digest)).toEqual({ mediaType: MT.ociManifest, digest: sbom.digest, size: sbom.body.length, artifactType: 'application/vnd.example.sbom', annotations: { 'org.example.kind': 'sbom' } });
    expect(byDigest.get(sig.digest)).toMatchObject({ size: sig.body.length, artifactType: 'application/vnd.example.sig.config', annotations: { 'org.example.kind': 'sig' } });
    // "If the artifactType is empty or missing in an index, the artifactType MUST be omitted."
    expect(byDigest.get(idx.digest)).toEqual({ mediaType: MT.ociIndex, digest: idx.digest, size: idx.body.length, annotations: { 'org.example.kind': 'index' } });

    const filtered = await referrers(subject.digest, '?artifactType=application/vnd.example.sbom');
    expect(filtered.headers.get('oci-filters-applied')).toBe('artifactType');
    expect(((await filtered.json()) as typeof index).manifests.map((d) => d.digest)).toEqual([sbom.digest]);

    const none = await referrers(subject.digest, '?artifactType=application/vnd.example.none');
    expect(none.status).toBe(200);
    expect(none.headers.get('oci-filters-applied')).toBe('artifactType');
    expect(await none.json()).toEqual(emptyIndex);
  });

  it('a referrer pushed before its subject exists is listed', async () => {
    const later = randomDigest();
    const early = await pushManifest(base, name, undefined, artifact({ artifactType: 'application/vnd.example.early', subject: { mediaType: MT.ociManifest, digest: later, size: 10 } }));
    const index = (await (await referrers(later)).json()) as { manifests: Descriptor[] };
    expect(index.manifests.map((d) => d.digest)).toEqual([early.digest]);
  });

  it('referrers are per repository', async () => {
    const repo = uniqueName('disc');
    await pushBlob(base, repo, empty);
    const res = await fetch(`${base}/v2/${repo}/referrers/${subject.digest}`);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual(emptyIndex);
  });

  it('an invalid digest → 400', async () => {
    await expectOciError(await referrers('sha256:nothex'), 400, 'DIGEST_INVALID');
    expect((await referrers('12345')).status).toBe(400);
  });
});
