/**
 * containerd's `ctr` (1.6) against Berth, through the containerd that a
 * private dockerd starts: import an OCI layout and push it, pull it into
 * another namespace (one platform, and --all-platforms for the index), and
 * push what was pulled to another repository. ctr copies manifests as they
 * are, so every manifest and layer digest must survive unchanged.
 */
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startBerth, tempDir, type BerthProcess } from '../support/berth-process.js';
import { ctr, fetchManifest, startDockerd, type Dockerd } from '../support/clients.js';
import { buildTestLayout, layoutTar, type BuiltImage, type TestLayout } from '../support/oci-layout.js';

let berth: BerthProcess;
let dockerd: Dockerd;
let layout: TestLayout;
let work: string;

/** ctr in namespace `ns` of dockerd's containerd. */
const c = (ns: string, ...args: string[]) => ctr(dockerd.containerdSocket, ns, args);

/** `ctr images ls` as ref → target digest. */
async function images(ns: string): Promise<Map<string, string>> {
  const out = (await c(ns, 'images', 'ls')).stdout.trim().split('\n').slice(1);
  return new Map(out.map((line) => line.split(/\s+/)).map((cols) => [cols[0]!, cols[2]!]));
}

/** Digests of everything in the namespace's content store. */
async function content(ns: string): Promise<Set<string>> {
  const out = (await c(ns, 'content', 'ls', '-q')).stdout;
  return new Set(out.split('\n').filter(Boolean));
}

function expectImageContent(store: Set<string>, image: BuiltImage): void {
  for (const d of [image.digest, image.configDigest, ...image.layers]) expect(store, d).toContain(d);
}

/** Berth holds `image` unchanged under `repo:tag` (or by digest). */
async function expectHeldImage(repo: string, reference: string, image: BuiltImage): Promise<void> {
  const held = await fetchManifest(berth.url, repo, reference);
  expect(held.digest).toBe(image.digest);
  expect(held.json.config?.digest).toBe(image.configDigest);
  expect(held.json.layers?.map((l) => l.digest)).toEqual(image.layers);
}

async function expectHeldIndex(repo: string, tag: string): Promise<void> {
  const held = await fetchManifest(berth.url, repo, tag);
  expect(held.digest).toBe(layout.index.digest);
  for (const image of Object.values(layout.index.platforms)) await expectHeldImage(repo, image.digest, image);
}

beforeAll(async () => {
  work = tempDir('berth-e2e-ctr-');
  layout = await buildTestLayout({ dir: join(work, 'layout'), seed: 'ctr' });
  writeFileSync(join(work, 'layout.tar'), await layoutTar(layout.dir));
  berth = await startBerth({ dataDir: join(work, 'berth') });
  dockerd = await startDockerd();
});

afterAll(async () => {
  await dockerd?.stop();
  await berth?.stop();
  if (work) rmSync(work, { recursive: true, force: true });
});

describe('ctr', () => {
  const src = () => `${berth.host}/ctr/src`;

  it('pushes an imported multi-layer image and a two-platform index (blobs uploaded by ctr)', async () => {
    // ctr names the layout's refs (image, multi) under --base-name.
    await c('import', 'images', 'import', '--all-platforms', '--no-unpack', '--base-name', src(), join(work, 'layout.tar'));
    const imported = await images('import');
    expect(imported.get(`${src()}:image`)).toBe(layout.image.digest);
    expect(imported.get(`${src()}:multi`)).toBe(layout.index.digest);

    await c('import', 'images', 'push', '--plain-http', `${src()}:image`);
    await c('import', 'images', 'push', '--plain-http', `${src()}:multi`);
    await expectHeldImage('ctr/src', 'image', layout.image);
    await expectHeldIndex('ctr/src', 'multi');
  });

  it('pulls the image by tag and by digest', async () => {
    await c('pull', 'images', 'pull', '--plain-http', `${src()}:image`);
    await c('pull', 'images', 'pull', '--plain-http', `${src()}@${layout.image.digest}`);
    const pulled = await images('pull');
    expect(pulled.get(`${src()}:image`)).toBe(layout.image.digest);
    expect(pulled.get(`${src()}@${layout.image.digest}`)).toBe(layout.image.digest);
    expectImageContent(await content('pull'), layout.image);
  });

  it('pulls one platform of the index, then all platforms', async () => {
    await c('one', 'images', 'pull', '--plain-http', '--platform', 'linux/arm64', `${src()}:multi`);
    expect((await images('one')).get(`${src()}:multi`)).toBe(layout.index.digest);
    const one = await content('one');
    expectImageContent(one, layout.index.platforms.arm64!);
    // Only the platform asked for was fetched.
    for (const layer of layout.index.platforms.amd64!.layers) expect(one).not.toContain(layer);

    await c('pull', 'images', 'pull', '--plain-http', '--all-platforms', `${src()}:multi`);
    expect((await images('pull')).get(`${src()}:multi`)).toBe(layout.index.digest);
    const all = await content('pull');
    expect(all).toContain(layout.index.digest);
    for (const image of Object.values(layout.index.platforms)) expectImageContent(all, image);
  });

  it('pushes what it pulled to another repository, digests unchanged', async () => {
    const dst = `${berth.host}/ctr/copy`;
    await c('pull', 'images', 'tag', `${src()}:image`, `${dst}:image`);
    await c('pull', 'images', 'push', '--plain-http', `${dst}:image`);
    // push REMOTE LOCAL: pushes the local index under another name.
    await c('pull', 'images', 'push', '--plain-http', `${dst}:multi`, `${src()}:multi`);

    await expectHeldImage('ctr/copy', 'image', layout.image);
    await expectHeldIndex('ctr/copy', 'multi');
    const tags = (await (await fetch(`${berth.url}/v2/ctr/copy/tags/list`)).json()) as { tags: string[] };
    expect([...tags.tags].sort()).toEqual(['image', 'multi']);

    // And a fresh namespace pulls the copy back whole.
    await c('back', 'images', 'pull', '--plain-http', '--all-platforms', `${dst}:multi`);
    expect((await images('back')).get(`${dst}:multi`)).toBe(layout.index.digest);
    for (const image of Object.values(layout.index.platforms)) expectImageContent(await content('back'), image);
  });
});
