/**
 * What the repository listings give a control panel, against a running server:
 * per repository its size (distinct blobs once, plus manifests), last push and
 * worst severity from a real scan; `q` and `sort` with paging; per manifest its
 * media and artifact types, an index's platforms without attestations, a
 * referrer's subject, the last recorded pull, and `tagged` filtering; per tag
 * the same fields for the manifest it names.
 */
import { randomBytes } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Api, ADMIN_PASSWORD, basic, pushBlob, putManifest, send, stopAndClean } from '../auth/helpers.js';
import { MT, descriptorOf, imageManifest, indexManifest, sha256, type Bytes, type Descriptor } from '../conformance/helpers.js';
import { startBerth, type BerthProcess } from '../support/berth-process.js';
import { tarOf } from '../support/oci-layout.js';

const ADMIN = basic('admin', ADMIN_PASSWORD);
const REGISTRY = 'panel';

let berth: BerthProcess;
let admin: Api;

interface Pushed {
  digest: string;
  body: Bytes;
  config: Bytes;
  layers: Bytes[];
  descriptor: Descriptor;
}

/** Pushes config, layers and an OCI image manifest under `reference` (a tag, or its digest when left out). */
async function pushImage(repo: string, layers: Bytes[], options: { reference?: string; platform?: { architecture: string; variant?: string }; extra?: Record<string, unknown>; config?: Bytes; configType?: string; layerType?: string } = {}): Promise<Pushed> {
  const config = options.config ?? (Buffer.from(JSON.stringify({ architecture: options.platform?.architecture ?? 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] }, nonce: randomBytes(6).toString('hex') })) as Bytes);
  await pushBlob(berth.url, ADMIN, `${REGISTRY}/${repo}`, config);
  for (const layer of layers) await pushBlob(berth.url, ADMIN, `${REGISTRY}/${repo}`, layer);
  const manifest = imageManifest(descriptorOf(config, options.configType ?? MT.ociConfig), layers.map((l) => descriptorOf(l, options.layerType ?? MT.ociLayer)), options.extra);
  const body = Buffer.from(JSON.stringify(manifest)) as Bytes;
  const digest = sha256(body);
  const res = await putManifest(berth.url, ADMIN, `${REGISTRY}/${repo}`, options.reference ?? digest, body);
  expect(res.status, await res.text()).toBe(201);
  return { digest, body, config, layers, descriptor: { mediaType: MT.ociManifest, digest, size: body.length } };
}

/** A gzipped layer with npm packages installed under /app/node_modules (what the scanner inventories). */
async function npmLayer(packages: { name: string; version: string }[]): Promise<Bytes> {
  const files = [
    { name: 'app/', type: 'directory' as const },
    { name: 'app/node_modules/', type: 'directory' as const },
    { name: 'app/nonce', content: randomBytes(16) },
    ...packages.flatMap((p) => [
      { name: `app/node_modules/${p.name}/`, type: 'directory' as const },
      { name: `app/node_modules/${p.name}/package.json`, content: Buffer.from(JSON.stringify({ name: p.name, version: p.version, license: 'MIT' })) },
    ]),
  ];
  return gzipSync(await tarOf(files)) as Bytes;
}

/** OSV records (GitHub advisories for npm) with CVSS vectors: one HIGH, one MEDIUM. */
const osv = (id: string, pkg: string, fixed: string, vector: string) => ({
  schema_version: '1.6.0',
  id,
  modified: '2025-01-01T00:00:00Z',
  published: '2025-01-01T00:00:00Z',
  summary: `${pkg} before ${fixed} (listing test)`,
  severity: [{ type: 'CVSS_V3', score: vector }],
  affected: [{ package: { ecosystem: 'npm', name: pkg }, ranges: [{ type: 'SEMVER', events: [{ introduced: '0' }, { fixed }] }] }],
});
const ADVISORIES = [
  osv('GHSA-list-high-0001', 'minimist', '1.2.6', 'CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:H/A:N'),
  osv('GHSA-list-medm-0002', 'ms', '2.1.4', 'CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:U/C:L/I:L/A:N'),
];

const list = (query = '') => admin.ok('GET', `/registries/${REGISTRY}/repositoriesV2${query}`);
const names = (body: { repositories: { name: string }[] }) => body.repositories.map((r) => r.name);
const byName = async (name: string) => (await list('?per_page=200')).repositories.find((r: { name: string }) => r.name === name);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function eventually<T>(read: () => Promise<T>, done: (value: T) => boolean, what: string, ms = 60_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const value = await read();
    if (done(value)) return value;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}; last: ${JSON.stringify(value).slice(0, 2000)}`);
    await sleep(250);
  }
}

// Repositories, pushed in this order (so `updated` orders them so): sizes and tag counts differ on purpose.
let shared: Bytes;
let web1: Pushed;
let web2: Pushed;
let db: Pushed;

beforeAll(async () => {
  berth = await startBerth({ adminPassword: ADMIN_PASSWORD });
  admin = new Api(berth.url, ADMIN);
  await admin.createRegistry(REGISTRY);
  const imported = await send(berth.url, { method: 'POST', path: '/api/v2/vulndb/imports?source=listing-test', auth: ADMIN, body: ADVISORIES.map((r) => JSON.stringify(r)).join('\n') + '\n', headers: { 'content-type': 'application/x-ndjson' } });
  expect(imported.status, await imported.text()).toBe(200);

  shared = randomBytes(4000) as Bytes;
  web1 = await pushImage('app/web', [shared, randomBytes(100) as Bytes], { reference: 'v1' });
  await sleep(5);
  web2 = await pushImage('app/web', [shared], { reference: 'v2' });
  await sleep(5);
  db = await pushImage('db', [randomBytes(9000) as Bytes], { reference: 'latest' });
  await sleep(5);
  // Three tags, one small manifest, scanned with findings.
  const vulnerable = await pushImage('tools/vuln', [await npmLayer([{ name: 'minimist', version: '1.2.5' }, { name: 'ms', version: '2.1.3' }])], { reference: 'a' });
  for (const tag of ['b', 'c']) expect((await putManifest(berth.url, ADMIN, `${REGISTRY}/tools/vuln`, tag, vulnerable.body)).status).toBe(201);
  await sleep(5);
  await pushImage('tools/clean', [await npmLayer([{ name: 'ms', version: '2.1.4' }])], { reference: 'latest' });
});
afterAll(() => stopAndClean(berth));

describe('GET /registries/{r}/repositoriesV2: size, last push, worst severity', () => {
  it('size_bytes counts each distinct blob the manifests reference once, plus the manifests', async () => {
    const web = await byName('app/web');
    const expected = web1.body.length + web2.body.length + web1.config.length + web2.config.length + shared.length + web1.layers[1]!.length;
    expect(web).toMatchObject({ name: 'app/web', tag_count: 2, manifest_count: 2, size_bytes: expected });
    expect((await byName('db')).size_bytes).toBe(db.body.length + db.config.length + db.layers[0]!.length);
    // Kept fields are still there.
    expect(web.latest_manifest).toMatchObject({ digest: web2.digest, tags: ['v2'] });
  });

  it('updated_at is the last push; a new tag on an old manifest is a push', async () => {
    const before = await byName('db');
    expect(Date.parse(before.updated_at)).toBeGreaterThanOrEqual(Date.parse(before.latest_manifest.updated_at));
    await sleep(5);
    expect((await putManifest(berth.url, ADMIN, `${REGISTRY}/db`, 'stable', db.body)).status).toBe(201);
    const after = await byName('db');
    expect(Date.parse(after.updated_at)).toBeGreaterThan(Date.parse(before.updated_at));
    expect(after.size_bytes).toBe(before.size_bytes);
  });

  it('worst_severity comes from the completed scans: high for the vulnerable image, none for the clean one', async () => {
    const scanned = await eventually(
      () => list('?per_page=200'),
      (b) => ['tools/vuln', 'tools/clean'].every((n) => b.repositories.find((r: { name: string }) => r.name === n)?.worst_severity !== null),
      'the scans of tools/vuln and tools/clean',
    );
    const worst = Object.fromEntries(scanned.repositories.map((r: { name: string; worst_severity: string | null }) => [r.name, r.worst_severity]));
    expect(worst['tools/vuln']).toBe('high');
    expect(worst['tools/clean']).toBe('none');
    // Their layers are random bytes, not tars: the scan fails, which is not a completed scan.
    expect(worst['db']).toBeNull();
  });

  it('a repository with nothing in it has size 0 and no last push', async () => {
    const image = await pushImage('emptied', [randomBytes(10) as Bytes], { reference: 'x' });
    await admin.ok('DELETE', `/registries/${REGISTRY}/repositories/emptied/digests/${image.digest}`);
    expect(await byName('emptied')).toMatchObject({ size_bytes: 0, updated_at: null, worst_severity: null, manifest_count: 0, latest_manifest: null });
    await admin.ok('DELETE', `/registries/${REGISTRY}/repositories/emptied`);
  });
});

describe('GET /registries/{r}/repositoriesV2: q and sort', () => {
  it('q filters by path, ignoring case', async () => {
    expect(names(await list('?q=TOOLS'))).toEqual(['tools/clean', 'tools/vuln']);
    expect(names(await list('?q=p%2Fw'))).toEqual(['app/web']);
    expect((await list('?q=nothing-like-it')).meta.total).toBe(0);
  });

  it('sorts by name, size, last push and tag count, either way, ties by name', async () => {
    const sizes = Object.fromEntries((await list('?per_page=200')).repositories.map((r: { name: string; size_bytes: number }) => [r.name, r.size_bytes]));
    const bySize = Object.keys(sizes).sort((a, b) => sizes[a]! - sizes[b]! || (a < b ? -1 : 1));
    expect(names(await list('?sort=size'))).toEqual(bySize);
    expect(names(await list('?sort=-size'))).toEqual([...bySize].reverse());
    expect(names(await list('?sort=name'))).toEqual(['app/web', 'db', 'tools/clean', 'tools/vuln']);
    expect(names(await list('?sort=-name'))).toEqual(['tools/vuln', 'tools/clean', 'db', 'app/web']);
    expect(names(await list('?sort=-updated'))).toEqual(['db', 'tools/clean', 'tools/vuln', 'app/web']); // db was tagged again above
    // app/web and db hold two tags each: by name between them.
    expect(names(await list('?sort=updated'))).toEqual(['app/web', 'tools/vuln', 'tools/clean', 'db']);
    expect(names(await list('?sort=-tags'))).toEqual(['tools/vuln', 'app/web', 'db', 'tools/clean']);
    expect(names(await list('?sort=tags&q=tools'))).toEqual(['tools/clean', 'tools/vuln']);
  });

  it('pages a sorted list by page and per_page; links keep q and sort and carry no page_token', async () => {
    const p2 = await list('?sort=-tags&per_page=1&page=2');
    expect(names(p2)).toEqual(['app/web']);
    expect(p2.meta.total).toBe(4);
    const next = new URL(p2.links.pages.next, berth.url);
    expect(Object.fromEntries(next.searchParams)).toEqual({ sort: '-tags', page: '3', per_page: '1' });
    const filtered = await list('?q=tools&per_page=1');
    const token = new URL(filtered.links.pages.next, berth.url).searchParams;
    expect(token.get('q')).toBe('tools');
    expect(names(await list(`?${token}`))).toEqual(['tools/vuln']);
  });

  it.each([
    ['sort=bigness', /sort must be one of/],
    ['sort=-', /sort must be one of/],
    [`q=${'x'.repeat(201)}`, /^q: /],
    ['sort=size&page_token=eyJhZnRlciI6ImEifQ', /page_token pages the name order only/],
  ])('422 in the API error shape for %s', async (query, message) => {
    const r = await admin.call('GET', `/registries/${REGISTRY}/repositoriesV2?${query}`);
    expect(r.status).toBe(422);
    expect(r.body).toEqual({ id: 'unprocessable_entity', message: expect.stringMatching(message), request_id: expect.any(String) });
  });
});

describe('GET /registries/{r}/repositories/{repo}/digests and tags: kinds, platforms, subjects, pulls', () => {
  let amd64: Pushed;
  let arm64: Pushed;
  let attestation: Pushed;
  let sbom: Pushed;
  let index: { digest: string; body: Bytes };

  beforeAll(async () => {
    amd64 = await pushImage('multi', [randomBytes(50) as Bytes], { platform: { architecture: 'amd64' } });
    arm64 = await pushImage('multi', [randomBytes(60) as Bytes], { platform: { architecture: 'arm64', variant: 'v8' } });
    attestation = await pushImage('multi', [Buffer.from('{"_type":"https://in-toto.io/Statement/v0.1"}') as Bytes], { layerType: 'application/vnd.in-toto+json' });
    index = { digest: '', body: Buffer.from(JSON.stringify(indexManifest([
      { ...amd64.descriptor, platform: { os: 'linux', architecture: 'amd64' } },
      { ...arm64.descriptor, platform: { os: 'linux', architecture: 'arm64', variant: 'v8' } },
      { ...attestation.descriptor, platform: { os: 'unknown', architecture: 'unknown' }, annotations: { 'vnd.docker.reference.type': 'attestation-manifest', 'vnd.docker.reference.digest': amd64.digest } },
    ]))) as Bytes };
    index.digest = sha256(index.body);
    const put = await send(berth.url, { method: 'PUT', path: `/v2/${REGISTRY}/multi/manifests/v1`, auth: ADMIN, body: index.body, headers: { 'content-type': MT.ociIndex } });
    expect(put.status, await put.text()).toBe(201);
    // A referrer: an artifact (empty config) whose subject is the amd64 image.
    const empty = Buffer.from('{}') as Bytes;
    sbom = await pushImage('multi', [Buffer.from('{"spdxVersion":"SPDX-2.3"}') as Bytes], { config: empty, configType: MT.ociEmpty, layerType: 'application/spdx+json', extra: { artifactType: 'application/spdx+json', subject: amd64.descriptor } });
  });

  const digests = async (query = '') => (await admin.ok('GET', `/registries/${REGISTRY}/repositories/multi/digests${query}`)).manifests as any[];
  const find = (rows: any[], digest: string) => rows.find((m) => m.digest === digest);

  it('gives each manifest its media type, artifact type, platforms and subject', async () => {
    const all = await digests();
    expect(all).toHaveLength(5);
    expect(find(all, index.digest)).toMatchObject({
      media_type: MT.ociIndex,
      artifact_type: null,
      subject_digest: null,
      tags: ['v1'],
      platforms: [
        { digest: amd64.digest, os: 'linux', architecture: 'amd64', variant: null },
        { digest: arm64.digest, os: 'linux', architecture: 'arm64', variant: 'v8' },
      ],
    });
    expect(find(all, amd64.digest)).toMatchObject({ media_type: MT.ociManifest, artifact_type: null, platforms: [], subject_digest: null, pulled_at: null });
    expect(find(all, sbom.digest)).toMatchObject({ media_type: MT.ociManifest, artifact_type: 'application/spdx+json', platforms: [], subject_digest: amd64.digest });
  });

  it('tagged=true lists the tagged manifests, tagged=false the others, each with its own total and links', async () => {
    const tagged = await admin.ok('GET', `/registries/${REGISTRY}/repositories/multi/digests?tagged=true`);
    expect(tagged.manifests.map((m: { digest: string }) => m.digest)).toEqual([index.digest]);
    expect(tagged.meta.total).toBe(1);
    const untagged = await admin.ok('GET', `/registries/${REGISTRY}/repositories/multi/digests?tagged=false&per_page=2`);
    expect(untagged.meta.total).toBe(4);
    expect(untagged.manifests).toHaveLength(2);
    expect(new URL(untagged.links.pages.next, berth.url).searchParams.get('tagged')).toBe('false');
    const rest = await admin.ok('GET', `/registries/${REGISTRY}/repositories/multi/digests?tagged=false&per_page=2&page=2`);
    expect([...untagged.manifests, ...rest.manifests].map((m: { digest: string }) => m.digest).sort()).toEqual([amd64.digest, arm64.digest, attestation.digest, sbom.digest].sort());
    const bad = await admin.call('GET', `/registries/${REGISTRY}/repositories/multi/digests?tagged=maybe`);
    expect(bad.status).toBe(422);
    expect(bad.body).toMatchObject({ id: 'unprocessable_entity', message: expect.stringContaining('tagged') });
  });

  it('pulled_at shows the last pull once it is recorded; the tags listing has media_type and pulled_at too', async () => {
    const tagsBefore = await admin.ok('GET', `/registries/${REGISTRY}/repositories/multi/tags`);
    expect(tagsBefore.tags[0]).toMatchObject({ tag: 'v1', manifest_digest: index.digest, media_type: MT.ociIndex, pulled_at: null });
    const started = Date.now();
    const pulled = await send(berth.url, { path: `/v2/${REGISTRY}/multi/manifests/v1`, auth: ADMIN, headers: { accept: MT.ociIndex } });
    expect(pulled.status).toBe(200);
    // Pull times are written every few seconds.
    const after = await eventually(() => digests(), (rows) => find(rows, index.digest)?.pulled_at !== null, 'the pull to be recorded', 30_000);
    expect(Date.parse(find(after, index.digest).pulled_at)).toBeGreaterThanOrEqual(started - 1000);
    expect(find(after, amd64.digest).pulled_at).toBeNull();
    const tags = await admin.ok('GET', `/registries/${REGISTRY}/repositories/multi/tags`);
    expect(tags.tags[0].pulled_at).toBe(find(after, index.digest).pulled_at);
  });

  it('gives each tag the artifact type, platforms and subject of the manifest it names, as the digests listing does', async () => {
    // Tag the SBOM and the amd64 image too: a tagged artifact and a tagged plain image beside the tagged index.
    for (const [tag, pushed] of [['sbom', sbom], ['amd64', amd64]] as const) {
      const res = await putManifest(berth.url, ADMIN, `${REGISTRY}/multi`, tag, pushed.body);
      expect(res.status, await res.text()).toBe(201);
    }
    const tags = (await admin.ok('GET', `/registries/${REGISTRY}/repositories/multi/tags`)).tags as any[];
    const tag = (name: string) => tags.find((t) => t.tag === name);
    expect(tags.map((t) => t.tag).sort()).toEqual(['amd64', 'sbom', 'v1']);
    expect(tag('v1')).toMatchObject({
      manifest_digest: index.digest,
      media_type: MT.ociIndex,
      artifact_type: null,
      subject_digest: null,
      platforms: [
        { digest: amd64.digest, os: 'linux', architecture: 'amd64', variant: null },
        { digest: arm64.digest, os: 'linux', architecture: 'arm64', variant: 'v8' },
      ],
    });
    expect(tag('sbom')).toMatchObject({ manifest_digest: sbom.digest, media_type: MT.ociManifest, artifact_type: 'application/spdx+json', platforms: [], subject_digest: amd64.digest, pulled_at: null });
    expect(tag('amd64')).toMatchObject({ manifest_digest: amd64.digest, media_type: MT.ociManifest, artifact_type: null, platforms: [], subject_digest: null, pulled_at: null });
    // The same five fields, with the same values, as the manifest's row in the digests listing.
    const all = await digests();
    const detail = ({ media_type, artifact_type, platforms, subject_digest, pulled_at }: any) => ({ media_type, artifact_type, platforms, subject_digest, pulled_at });
    for (const t of tags) expect(detail(t), t.tag).toEqual(detail(find(all, t.manifest_digest)));
  });
});
