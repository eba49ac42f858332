/**
 * podman against Berth: pull an image and an index that skopeo pushed, push
 * them on as OCI and as Docker v2s2 (images and manifest lists), then pull them
 * back into a fresh storage and check every digest.
 */
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startBerth, tempDir, type BerthProcess } from '../support/berth-process.js';
import { childDigest, fetchManifest, newStorage, podman, removeStorage, requireTool, seedWithSkopeo, type Storage } from '../support/clients.js';
import { buildTestLayout, type TestLayout } from '../support/oci-layout.js';

const DOCKER_V2 = 'application/vnd.docker.distribution.manifest.v2+json';
const DOCKER_LIST = 'application/vnd.docker.distribution.manifest.list.v2+json';
const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';

let berth: BerthProcess;
let layout: TestLayout;
let work: string;
// Separate storages: what is pulled into `fresh` must come from the registry, not a local cache.
let store: Storage;
let fresh: Storage;

interface ImageInfo {
  Id: string;
  Digest: string;
  RepoDigests: string[];
  Architecture: string;
}

async function inspect(s: Storage, ref: string): Promise<ImageInfo> {
  const out = (await podman(s, ['image', 'inspect', ref])).stdout;
  return (JSON.parse(out) as ImageInfo[])[0]!;
}

/** Runs a podman push/manifest push with --digestfile and returns the digest it reports. */
async function pushed(s: Storage, args: string[]): Promise<string> {
  const file = join(s.dir, `digest-${Date.now()}-${Math.random()}`);
  await podman(s, [...args.slice(0, -2), '--digestfile', file, ...args.slice(-2)]);
  return readFileSync(file, 'utf8').trim();
}

beforeAll(async () => {
  await requireTool('podman');
  work = tempDir('berth-e2e-podman-');
  layout = await buildTestLayout({ dir: join(work, 'layout'), seed: 'podman' });
  berth = await startBerth({ dataDir: join(work, 'berth') });
  await seedWithSkopeo(layout, berth.host, 'podman/seed');
  store = newStorage('berth-e2e-podman-a-');
  fresh = newStorage('berth-e2e-podman-b-');
});

afterAll(async () => {
  await berth?.stop();
  for (const s of [store, fresh]) if (s) removeStorage(s);
  if (work) rmSync(work, { recursive: true, force: true });
});

describe('podman', () => {
  const h = () => berth.host;

  it('pulls a multi-layer image by tag and by digest', async () => {
    await podman(store, ['pull', '-q', '--tls-verify=false', `${h()}/podman/seed:image`]);
    const byTag = await inspect(store, `${h()}/podman/seed:image`);
    expect(byTag.Digest).toBe(layout.image.digest);
    expect(byTag.RepoDigests).toContain(`${h()}/podman/seed@${layout.image.digest}`);
    // The image ID is the config digest: the config came through unchanged.
    expect(`sha256:${byTag.Id}`).toBe(layout.image.configDigest);

    await podman(store, ['pull', '-q', '--tls-verify=false', `${h()}/podman/seed@${layout.image.digest}`]);
    expect((await inspect(store, `${h()}/podman/seed@${layout.image.digest}`)).Id).toBe(byTag.Id);
  });

  it('pushes the image as OCI and as Docker v2s2, and pulls both back', async () => {
    const src = `${h()}/podman/seed:image`;
    const ociDigest = await pushed(store, ['push', '--tls-verify=false', '--format', 'oci', src, `docker://${h()}/podman/oci:v1`]);
    const v2Digest = await pushed(store, ['push', '--tls-verify=false', '--format', 'v2s2', src, `docker://${h()}/podman/v2s2:v1`]);

    const oci = await fetchManifest(berth.url, 'podman/oci', 'v1');
    expect(oci.digest).toBe(ociDigest);
    expect(oci.mediaType).toBe(OCI_MANIFEST);
    const v2 = await fetchManifest(berth.url, 'podman/v2s2', 'v1');
    expect(v2.digest).toBe(v2Digest);
    expect(v2.mediaType).toBe(DOCKER_V2);
    // Converting the manifest keeps the config, and so the image ID.
    expect(oci.json.config?.digest).toBe(layout.image.configDigest);
    expect(v2.json.config?.digest).toBe(layout.image.configDigest);
    expect(v2.json.layers).toHaveLength(layout.image.layers.length);

    for (const [repo, digest] of [['podman/oci', ociDigest], ['podman/v2s2', v2Digest]] as const) {
      await podman(fresh, ['pull', '-q', '--tls-verify=false', `${h()}/${repo}:v1`]);
      const back = await inspect(fresh, `${h()}/${repo}:v1`);
      // Both pulls land on one image (same config); its RepoDigests keep each manifest's digest.
      expect(back.RepoDigests).toContain(`${h()}/${repo}@${digest}`);
      expect(`sha256:${back.Id}`).toBe(layout.image.configDigest);
    }
  });

  it('pulls one platform of a two-platform index', async () => {
    await podman(store, ['pull', '-q', '--tls-verify=false', '--platform', 'linux/arm64', `${h()}/podman/seed:multi`]);
    const arm = await inspect(store, `${h()}/podman/seed:multi`);
    expect(arm.Architecture).toBe('arm64');
    expect(`sha256:${arm.Id}`).toBe(layout.index.platforms.arm64!.configDigest);
    // podman records both the index digest and the platform's manifest digest.
    expect(arm.RepoDigests).toEqual(
      expect.arrayContaining([`${h()}/podman/seed@${layout.index.digest}`, `${h()}/podman/seed@${layout.index.platforms.arm64!.digest}`]),
    );
  });

  it('pushes the index with `manifest push --all` as OCI and as v2s2, and pulls each platform back', async () => {
    await podman(store, ['manifest', 'create', 'pm-list']);
    await podman(store, ['manifest', 'add', '--all', '--tls-verify=false', 'pm-list', `docker://${h()}/podman/seed:multi`]);
    const ociDigest = await pushed(store, ['manifest', 'push', '--all', '--tls-verify=false', '--format', 'oci', 'pm-list', `docker://${h()}/podman/multi:oci`]);
    const v2Digest = await pushed(store, ['manifest', 'push', '--all', '--tls-verify=false', '--format', 'v2s2', 'pm-list', `docker://${h()}/podman/multi:v2s2`]);

    const oci = await fetchManifest(berth.url, 'podman/multi', 'oci');
    expect(oci.digest).toBe(ociDigest);
    expect(oci.mediaType).toBe(OCI_INDEX);
    const v2 = await fetchManifest(berth.url, 'podman/multi', 'v2s2');
    expect(v2.digest).toBe(v2Digest);
    expect(v2.mediaType).toBe(DOCKER_LIST);

    for (const arch of ['amd64', 'arm64']) {
      const want = layout.index.platforms[arch]!;
      // OCI children are copied as they are; v2s2 children are converted but keep their config.
      expect(childDigest(oci, arch)).toBe(want.digest);
      const v2Child = await fetchManifest(berth.url, 'podman/multi', childDigest(v2, arch));
      expect(v2Child.mediaType).toBe(DOCKER_V2);
      expect(v2Child.json.config?.digest).toBe(want.configDigest);

      for (const [tag, list] of [['oci', oci], ['v2s2', v2]] as const) {
        const ref = `${h()}/podman/multi:${tag}`;
        await podman(fresh, ['pull', '-q', '--tls-verify=false', '--platform', `linux/${arch}`, ref]);
        const back = await inspect(fresh, ref);
        expect(back.Architecture).toBe(arch);
        expect(`sha256:${back.Id}`).toBe(want.configDigest);
        expect(back.RepoDigests).toEqual(
          expect.arrayContaining([`${h()}/podman/multi@${list.digest}`, `${h()}/podman/multi@${childDigest(list, arch)}`]),
        );
      }
    }
  });
});
