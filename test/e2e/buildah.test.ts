/**
 * buildah against Berth: `bud` FROM an image held by Berth (with a RUN step
 * under chroot isolation when a static busybox is at hand), push the result,
 * pull it back into a fresh storage; build both platforms FROM an index and
 * push them as a manifest list with `manifest push --all`.
 */
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startBerth, tempDir, type BerthProcess } from '../support/berth-process.js';
import { buildah, childDigest, fetchManifest, newStorage, removeStorage, requireTool, seedWithSkopeo, staticBusybox, type Storage } from '../support/clients.js';
import { buildTestLayout, type TestLayout } from '../support/oci-layout.js';

let berth: BerthProcess;
let layout: TestLayout;
let work: string;
let busybox: string | undefined;
let store: Storage;
let fresh: Storage;

beforeAll(async () => {
  await requireTool('buildah');
  busybox = await staticBusybox();
  // In CI a missing client is a failure, never a quieter test: RUN is what proves the pulled layers form a working root.
  if (!busybox && process.env.CI === 'true') throw new Error('busybox-static is required for the buildah e2e test in CI (scripts/install-test-deps.sh installs it)');
  if (!busybox) console.warn('buildah e2e: no static busybox, so the image has no shell: building with COPY/ENV/LABEL only (no RUN)');
  work = tempDir('berth-e2e-buildah-');
  // With busybox, host-architecture images get /bin/sh so that RUN works in them.
  layout = await buildTestLayout({ dir: join(work, 'layout'), seed: 'buildah', busybox });
  berth = await startBerth({ dataDir: join(work, 'berth') });
  await seedWithSkopeo(layout, berth.host, 'buildah/base');
  store = newStorage('berth-e2e-buildah-a-');
  fresh = newStorage('berth-e2e-buildah-b-');
  mkdirSync(join(work, 'ctx'));
  writeFileSync(join(work, 'ctx', 'hello.txt'), 'hello from the build context\n');
});

afterAll(async () => {
  await berth?.stop();
  for (const s of [store, fresh]) if (s) removeStorage(s);
  if (work) rmSync(work, { recursive: true, force: true });
});

/** `buildah push`/`manifest push` with --digestfile: the digest buildah says it pushed. */
let pushes = 0;
async function pushed(args: string[]): Promise<string> {
  const file = join(work, `digest-${++pushes}`);
  await buildah(store, [...args.slice(0, -2), '--digestfile', file, ...args.slice(-2)]);
  return readFileSync(file, 'utf8').trim();
}

async function bud(containerfile: string, tag: string, extra: string[] = []): Promise<void> {
  const file = join(work, 'ctx', `Containerfile.${tag}`);
  writeFileSync(file, containerfile);
  await buildah(store, ['bud', '--isolation', 'chroot', '--tls-verify=false', ...extra, '-f', file, '-t', `${berth.host}/buildah/built:${tag}`, join(work, 'ctx')]);
}

/** Reads files out of an image in `s` through a working container's mount (no process is run). */
async function filesOf(s: Storage, image: string, paths: string[]): Promise<(string | undefined)[]> {
  const ctr = (await buildah(s, ['from', '--pull-never', image])).stdout.trim();
  try {
    const root = (await buildah(s, ['mount', ctr])).stdout.trim();
    return paths.map((p) => (existsSync(join(root, p)) ? readFileSync(join(root, p), 'utf8') : undefined));
  } finally {
    await buildah(s, ['rm', ctr]);
  }
}

interface ImageInspect {
  FromImageDigest: string;
  OCIv1: { architecture: string; config: { Env?: string[]; Labels?: Record<string, string> } };
}

describe('buildah', () => {
  const h = () => berth.host;

  it('builds FROM an image in Berth, pushes it, and pulls it back unchanged', async () => {
    const steps = [`FROM ${h()}/buildah/base:image`, 'COPY hello.txt /hello.txt'];
    // RUN executes the image's own busybox under chroot: proves the pulled layers are a working root filesystem.
    if (busybox) steps.push('RUN echo built-by-buildah > /built && cat /etc/berth-release >> /built && test ! -e /tmp/delete-me');
    steps.push('ENV BERTH_E2E=1', 'LABEL org.example.berth.built=buildah');
    await bud(`${steps.join('\n')}\n`, 'v1');

    const digest = await pushed(['push', '--tls-verify=false', `${h()}/buildah/built:v1`, `docker://${h()}/buildah/built:v1`]);
    const held = await fetchManifest(berth.url, 'buildah/built', 'v1');
    expect(held.digest).toBe(digest);
    // The base image's layers are reused as they are; the build adds its own on top.
    const layers = held.json.layers!.map((l) => l.digest);
    expect(layers.slice(0, layout.image.layers.length)).toEqual(layout.image.layers);
    expect(layers.length).toBeGreaterThan(layout.image.layers.length);

    await buildah(fresh, ['pull', '-q', '--tls-verify=false', `${h()}/buildah/built:v1`]);
    const info = JSON.parse((await buildah(fresh, ['inspect', '--type', 'image', `${h()}/buildah/built:v1`])).stdout) as ImageInspect;
    expect(info.FromImageDigest).toBe(digest);
    expect(info.OCIv1.config.Env).toContain('BERTH_E2E=1');
    expect(info.OCIv1.config.Labels?.['org.example.berth.built']).toBe('buildah');

    const [hello, release, built, deleted] = await filesOf(fresh, `${h()}/buildah/built:v1`, ['hello.txt', 'etc/berth-release', 'built', 'tmp/delete-me']);
    expect(hello).toBe('hello from the build context\n');
    expect(release).toMatch(/ v2\n$/); // the top layer's version of the file
    expect(deleted).toBeUndefined(); // the whiteout applied
    if (busybox) expect(built).toBe(`built-by-buildah\n${release}`);
  });

  it('builds both platforms FROM an index and pushes a manifest list with --all', async () => {
    // No RUN: the arm64 image cannot execute on this machine.
    const containerfile = `FROM ${h()}/buildah/base:multi\nCOPY hello.txt /hello.txt\nENV BERTH_E2E=multi\n`;
    for (const arch of ['amd64', 'arm64']) await bud(containerfile, arch, ['--platform', `linux/${arch}`]);
    await buildah(store, ['manifest', 'create', 'bh-list']);
    for (const arch of ['amd64', 'arm64']) await buildah(store, ['manifest', 'add', 'bh-list', `${h()}/buildah/built:${arch}`]);

    const digest = await pushed(['manifest', 'push', '--all', '--tls-verify=false', 'bh-list', `docker://${h()}/buildah/multi:v1`]);
    const list = await fetchManifest(berth.url, 'buildah/multi', 'v1');
    expect(list.digest).toBe(digest);
    expect(list.json.manifests!.map((m) => m.platform?.architecture).sort()).toEqual(['amd64', 'arm64']);

    for (const arch of ['amd64', 'arm64']) {
      const base = layout.index.platforms[arch]!;
      const child = await fetchManifest(berth.url, 'buildah/multi', childDigest(list, arch));
      expect(child.digest).toBe(childDigest(list, arch));
      // Each platform was built on its own base: the base's layers come first.
      const layers = child.json.layers!.map((l) => l.digest);
      expect(layers.slice(0, base.layers.length)).toEqual(base.layers);

      const ref = `${h()}/buildah/multi:v1`;
      await buildah(fresh, ['pull', '-q', '--tls-verify=false', '--platform', `linux/${arch}`, ref]);
      const info = JSON.parse((await buildah(fresh, ['inspect', '--type', 'image', ref])).stdout) as ImageInspect;
      expect(info.FromImageDigest).toBe(childDigest(list, arch));
      expect(info.OCIv1.architecture).toBe(arch);
      expect(info.OCIv1.config.Env).toContain('BERTH_E2E=multi');
    }
  });
});
