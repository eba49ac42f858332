/**
 * Debian's docker CLI + engine (20.10) against Berth, through a private
 * dockerd: pull by tag and by digest, tag and push to another repository,
 * build and push new layers, pull one platform of an index, and push a
 * two-platform manifest list with `docker manifest`.
 */
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startBerth, tempDir, type BerthProcess } from '../support/berth-process.js';
import { childDigest, CommandError, fetchManifest, seedWithSkopeo, startDockerd, type Dockerd } from '../support/clients.js';
import { buildTestLayout, type TestLayout } from '../support/oci-layout.js';

const DOCKER_V2 = 'application/vnd.docker.distribution.manifest.v2+json';
const DOCKER_LIST = 'application/vnd.docker.distribution.manifest.list.v2+json';

let berth: BerthProcess;
let dockerd: Dockerd;
let layout: TestLayout;
let work: string;

interface ImageInfo {
  Id: string;
  RepoDigests: string[];
  Architecture: string;
}

const docker = (...args: string[]) => dockerd.docker(args);

async function inspect(ref: string): Promise<ImageInfo> {
  return (JSON.parse((await docker('image', 'inspect', ref)).stdout) as ImageInfo[])[0]!;
}

/** `docker push` prints "TAG: digest: sha256:… size: N" when the registry accepted the manifest. */
async function push(ref: string): Promise<string> {
  const out = (await docker('push', ref)).stdout;
  const m = out.match(/digest: (sha256:[0-9a-f]{64}) size: \d+/);
  if (!m) throw new Error(`no digest in docker push output:\n${out}`);
  return m[1]!;
}

/** Removes every local image, so the next pull has to fetch from Berth. */
async function removeAllImages(): Promise<void> {
  const ids = (await docker('image', 'ls', '-q', '--no-trunc')).stdout.split('\n').filter(Boolean);
  if (ids.length > 0) await docker('image', 'rm', '-f', ...new Set(ids));
}

beforeAll(async () => {
  work = tempDir('berth-e2e-docker-');
  layout = await buildTestLayout({ dir: join(work, 'layout'), seed: 'docker' });
  berth = await startBerth({ dataDir: join(work, 'berth') });
  dockerd = await startDockerd();
  await seedWithSkopeo(layout, berth.host, 'docker/seed');
});

afterAll(async () => {
  await dockerd?.stop();
  await berth?.stop();
  if (work) rmSync(work, { recursive: true, force: true });
});

describe('docker', () => {
  const h = () => berth.host;

  it('pulls a multi-layer image by tag and by digest', async () => {
    const out = (await docker('pull', `${h()}/docker/seed:image`)).stdout;
    expect(out).toContain(`Digest: ${layout.image.digest}`);
    const byTag = await inspect(`${h()}/docker/seed:image`);
    // The image ID is the config digest: the config came through unchanged.
    expect(byTag.Id).toBe(layout.image.configDigest);
    expect(byTag.RepoDigests).toContain(`${h()}/docker/seed@${layout.image.digest}`);

    await docker('pull', `${h()}/docker/seed@${layout.image.digest}`);
    expect((await inspect(`${h()}/docker/seed@${layout.image.digest}`)).Id).toBe(byTag.Id);
  });

  it('reports a missing tag as not found (docker reads the registry error body)', async () => {
    const err = await docker('pull', `${h()}/docker/seed:no-such-tag`).catch((e: CommandError) => e);
    expect(err).toBeInstanceOf(CommandError);
    expect((err as CommandError).stderr).toMatch(/manifest unknown/i);
  });

  it('tags and pushes to another repository, then pulls it back', async () => {
    await docker('tag', `${h()}/docker/seed:image`, `${h()}/docker/copy:v1`);
    const digest = await push(`${h()}/docker/copy:v1`);

    const held = await fetchManifest(berth.url, 'docker/copy', 'v1');
    expect(held.digest).toBe(digest);
    expect(held.mediaType).toBe(DOCKER_V2);
    expect(held.json.config?.digest).toBe(layout.image.configDigest);
    expect(held.json.layers).toHaveLength(layout.image.layers.length);

    await removeAllImages();
    await docker('pull', `${h()}/docker/copy:v1`);
    const back = await inspect(`${h()}/docker/copy:v1`);
    expect(back.Id).toBe(layout.image.configDigest);
    expect(back.RepoDigests).toContain(`${h()}/docker/copy@${digest}`);
  });

  it('builds a layer on top of an image in Berth, pushes it, and pulls it back', async () => {
    const ctx = join(work, 'ctx');
    mkdirSync(ctx, { recursive: true });
    writeFileSync(join(ctx, 'hello.txt'), 'hello from docker build\n');
    // COPY only: the base image has no shell, and the classic builder runs nothing for COPY.
    writeFileSync(join(ctx, 'Dockerfile'), `FROM ${h()}/docker/seed:image\nCOPY hello.txt /hello.txt\nLABEL org.example.berth.built=docker\n`);
    await dockerd.docker(['build', '-q', '-t', `${h()}/docker/built:v1`, ctx], { env: { DOCKER_BUILDKIT: '0' } });
    const built = await inspect(`${h()}/docker/built:v1`);
    const digest = await push(`${h()}/docker/built:v1`);

    const held = await fetchManifest(berth.url, 'docker/built', 'v1');
    expect(held.digest).toBe(digest);
    expect(held.json.config?.digest).toBe(built.Id);
    expect(held.json.layers).toHaveLength(layout.image.layers.length + 1);

    await removeAllImages();
    await docker('pull', `${h()}/docker/built@${digest}`);
    const back = await inspect(`${h()}/docker/built@${digest}`);
    expect(back.Id).toBe(built.Id);
    expect(back.RepoDigests).toContain(`${h()}/docker/built@${digest}`);
    // The new layer's file survived the round trip (read with `docker cp`, nothing is run).
    const container = (await docker('create', `${h()}/docker/built@${digest}`)).stdout.trim();
    try {
      const tar = (await docker('cp', `${container}:/hello.txt`, '-')).stdout;
      expect(tar).toContain('hello from docker build\n');
    } finally {
      await docker('rm', container);
    }
  });

  it('pulls one platform of a two-platform index with --platform', async () => {
    await removeAllImages();
    for (const arch of ['arm64', 'amd64']) {
      const want = layout.index.platforms[arch]!;
      const out = (await docker('pull', '--platform', `linux/${arch}`, `${h()}/docker/seed:multi`)).stdout;
      expect(out).toContain(`Digest: ${layout.index.digest}`);
      const image = await inspect(`${h()}/docker/seed:multi`);
      expect(image.Architecture).toBe(arch);
      expect(image.Id).toBe(want.configDigest);
      expect(image.RepoDigests).toContain(`${h()}/docker/seed@${layout.index.digest}`);
      // Keep this platform under its own tag for the next test, and drop the index's
      // references: docker would not move an existing digest reference to the next platform.
      await docker('tag', `${h()}/docker/seed:multi`, `${h()}/docker/multi:${arch}`);
      await docker('image', 'rm', `${h()}/docker/seed@${layout.index.digest}`);
      await docker('image', 'rm', `${h()}/docker/seed:multi`);
    }
  });

  it('pushes a two-platform manifest list with `docker manifest` and pulls each platform back', async () => {
    // `docker manifest` (20.10) does not ask for OCI manifests, so it is given the Docker v2s2 images docker itself pushes.
    const pushedDigests: Record<string, string> = {};
    for (const arch of ['amd64', 'arm64']) pushedDigests[arch] = await push(`${h()}/docker/multi:${arch}`);
    const list = `${h()}/docker/multi:list`;
    await docker('manifest', 'create', '--insecure', list, `${h()}/docker/multi:amd64`, `${h()}/docker/multi:arm64`);
    const out = (await docker('manifest', 'push', '--insecure', '--purge', list)).stdout;
    const digest = out.match(/sha256:[0-9a-f]{64}/)?.[0];

    const held = await fetchManifest(berth.url, 'docker/multi', 'list');
    expect(held.digest).toBe(digest);
    expect(held.mediaType).toBe(DOCKER_LIST);
    for (const arch of ['amd64', 'arm64']) expect(childDigest(held, arch)).toBe(pushedDigests[arch]);

    for (const arch of ['arm64', 'amd64']) {
      await removeAllImages(); // a real download each time, and a digest reference docker will set
      await docker('pull', '--platform', `linux/${arch}`, list);
      const image = await inspect(list);
      expect(image.Architecture).toBe(arch);
      expect(image.Id).toBe(layout.index.platforms[arch]!.configDigest);
      expect(image.RepoDigests).toContain(`${h()}/docker/multi@${held.digest}`);
    }
  });
});
