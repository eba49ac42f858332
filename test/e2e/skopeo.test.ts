/**
 * skopeo (containers/image) against Berth: push from an OCI layout with digests
 * preserved, pull back into a layout, inspect, list tags, copy between
 * repositories (cross-repo mount) and delete.
 */
import { createHash } from 'node:crypto';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startBerth, tempDir, type BerthProcess } from '../support/berth-process.js';
import { CommandError, fetchManifest, requireTool, run } from '../support/clients.js';
import { buildTestLayout, layoutRef, readLayoutBlob, type BuiltImage, type TestLayout } from '../support/oci-layout.js';

let berth: BerthProcess;
let layout: TestLayout;
let work: string;

const skopeo = (...args: string[]) => run('skopeo', args);
const sha = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

interface Inspect {
  Digest: string;
  Layers: string[];
  Architecture: string;
}

beforeAll(async () => {
  await requireTool('skopeo');
  work = tempDir('berth-e2e-skopeo-');
  layout = await buildTestLayout({ dir: join(work, 'src'), seed: 'skopeo' });
  berth = await startBerth({ dataDir: join(work, 'berth') });
});

afterAll(async () => {
  await berth?.stop();
  if (work) rmSync(work, { recursive: true, force: true });
});

/** Every blob an image needs is in `dir`, and hashes to its name. */
function expectImageInLayout(dir: string, image: BuiltImage): void {
  expect(sha(readLayoutBlob(dir, image.digest))).toBe(image.digest);
  for (const d of [image.configDigest, ...image.layers]) expect(sha(readLayoutBlob(dir, d))).toBe(d);
}

describe('skopeo', () => {
  const repo = () => `${berth.host}/skopeo/app`;

  it('pushes a multi-layer image with its digests preserved', async () => {
    await skopeo('copy', '--preserve-digests', '--dest-tls-verify=false', `oci:${layout.dir}:image`, `docker://${repo()}:v1`);

    // The registry serves the very bytes of the layout's manifest.
    const raw = (await skopeo('inspect', '--tls-verify=false', '--raw', `docker://${repo()}:v1`)).stdout;
    expect(sha(Buffer.from(raw))).toBe(layout.image.digest);
    const digest = (await skopeo('inspect', '--tls-verify=false', '--format', '{{.Digest}}', `docker://${repo()}:v1`)).stdout.trim();
    expect(digest).toBe(layout.image.digest);
    const info = JSON.parse((await skopeo('inspect', '--tls-verify=false', `docker://${repo()}:v1`)).stdout) as Inspect;
    expect(info.Layers).toEqual(layout.image.layers);
    // And Berth itself reports the same digest and media type.
    const held = await fetchManifest(berth.url, 'skopeo/app', 'v1');
    expect(held.digest).toBe(layout.image.digest);
    expect(held.mediaType).toBe('application/vnd.oci.image.manifest.v1+json');
  });

  it('pushes a two-platform index with --all', async () => {
    await skopeo('copy', '--all', '--preserve-digests', '--dest-tls-verify=false', `oci:${layout.dir}:multi`, `docker://${repo()}:multi`);

    const raw = (await skopeo('inspect', '--tls-verify=false', '--raw', `docker://${repo()}:multi`)).stdout;
    expect(sha(Buffer.from(raw))).toBe(layout.index.digest);
    for (const arch of ['amd64', 'arm64']) {
      const want = layout.index.platforms[arch]!;
      const info = JSON.parse((await skopeo('inspect', '--tls-verify=false', '--override-arch', arch, `docker://${repo()}:multi`)).stdout) as Inspect;
      expect(info.Architecture).toBe(arch);
      expect(info.Layers).toEqual(want.layers);
      // Each child is addressable by its own digest too.
      const child = (await skopeo('inspect', '--tls-verify=false', '--raw', `docker://${repo()}@${want.digest}`)).stdout;
      expect(sha(Buffer.from(child))).toBe(want.digest);
    }
  });

  it('pulls the image and the index back into an OCI layout, byte for byte', async () => {
    const out = join(work, 'pulled');
    await skopeo('copy', '--preserve-digests', '--src-tls-verify=false', `docker://${repo()}:v1`, `oci:${out}:v1`);
    await skopeo('copy', '--all', '--preserve-digests', '--src-tls-verify=false', `docker://${repo()}:multi`, `oci:${out}:multi`);

    expect(layoutRef(out, 'v1').digest).toBe(layout.image.digest);
    expectImageInLayout(out, layout.image);
    expect(layoutRef(out, 'multi').digest).toBe(layout.index.digest);
    expect(sha(readLayoutBlob(out, layout.index.digest))).toBe(layout.index.digest);
    for (const image of Object.values(layout.index.platforms)) expectImageInLayout(out, image);
  });

  it('copies between repositories (cross-repository mount) without changing a digest', async () => {
    await skopeo('copy', '--all', '--preserve-digests', '--src-tls-verify=false', '--dest-tls-verify=false', `docker://${repo()}:multi`, `docker://${berth.host}/skopeo/mirror:multi`);
    await skopeo('copy', '--preserve-digests', '--src-tls-verify=false', '--dest-tls-verify=false', `docker://${repo()}:v1`, `docker://${berth.host}/skopeo/mirror:v1`);

    expect((await fetchManifest(berth.url, 'skopeo/mirror', 'multi')).digest).toBe(layout.index.digest);
    expect((await fetchManifest(berth.url, 'skopeo/mirror', 'v1')).digest).toBe(layout.image.digest);
    const info = JSON.parse((await skopeo('inspect', '--tls-verify=false', '--override-arch', 'arm64', `docker://${berth.host}/skopeo/mirror:multi`)).stdout) as Inspect;
    expect(info.Layers).toEqual(layout.index.platforms.arm64!.layers);
  });

  it('lists tags', async () => {
    const tags = JSON.parse((await skopeo('list-tags', '--tls-verify=false', `docker://${repo()}`)).stdout) as { Tags: string[] };
    expect([...tags.Tags].sort()).toEqual(['multi', 'v1']);
  });

  it('deletes an image: its manifest and tag are gone, other tags stay', async () => {
    await skopeo('delete', '--tls-verify=false', `docker://${repo()}:v1`);

    const err = await skopeo('inspect', '--tls-verify=false', '--raw', `docker://${repo()}:v1`).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CommandError);
    expect((err as CommandError).stderr).toMatch(/manifest unknown|not found/i);
    const byDigest = await fetch(`${berth.url}/v2/skopeo/app/manifests/${layout.image.digest}`, { method: 'HEAD' });
    expect(byDigest.status).toBe(404);
    const tags = JSON.parse((await skopeo('list-tags', '--tls-verify=false', `docker://${repo()}`)).stdout) as { Tags: string[] };
    expect(tags.Tags).toEqual(['multi']);
    // The copy in the other repository is untouched.
    expect((await fetchManifest(berth.url, 'skopeo/mirror', 'v1')).digest).toBe(layout.image.digest);
  });

  it('deletes an index by digest; its children stay addressable', async () => {
    await skopeo('delete', '--tls-verify=false', `docker://${repo()}@${layout.index.digest}`);

    const gone = await fetch(`${berth.url}/v2/skopeo/app/manifests/multi`, { method: 'HEAD' });
    expect(gone.status).toBe(404);
    const tags = JSON.parse((await skopeo('list-tags', '--tls-verify=false', `docker://${repo()}`)).stdout) as { Tags: string[] };
    expect(tags.Tags).toEqual([]);
    const child = (await skopeo('inspect', '--tls-verify=false', '--raw', `docker://${repo()}@${layout.index.platforms.amd64!.digest}`)).stdout;
    expect(sha(Buffer.from(child))).toBe(layout.index.platforms.amd64!.digest);
  });
});
