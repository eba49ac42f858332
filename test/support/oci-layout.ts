/**
 * Builds real OCI image layouts on disk, in code, for the end-to-end tests:
 * gzip-compressed tar layers (tar-stream + zlib), a config listing their
 * diff_ids, image manifests, a two-platform index, and `index.json` naming
 * each by `org.opencontainers.image.ref.name`. Returns the digests every client
 * must give back unchanged.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import tarStream from 'tar-stream';
import { tempDir } from './berth-process.js';

export const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
export const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
export const OCI_CONFIG = 'application/vnd.oci.image.config.v1+json';
export const OCI_LAYER_GZIP = 'application/vnd.oci.image.layer.v1.tar+gzip';
export const REF_NAME = 'org.opencontainers.image.ref.name';

/** Architecture of this machine in OCI terms: clients prefer it when they pick an image. */
export const HOST_ARCH = process.arch === 'x64' ? 'amd64' : process.arch;

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  platform?: { os: string; architecture: string };
  annotations?: Record<string, string>;
}

export interface BuiltImage {
  /** Digest of the image manifest. */
  digest: string;
  size: number;
  configDigest: string;
  /** Compressed layer digests, bottom first. */
  layers: string[];
  /** Uncompressed layer digests (config rootfs.diff_ids). */
  diffIds: string[];
  os: string;
  architecture: string;
}

export interface BuiltIndex {
  digest: string;
  size: number;
  /** Children by architecture: amd64 and arm64. */
  platforms: Record<string, BuiltImage>;
}

export interface TestLayout {
  dir: string;
  /** A multi-layer image for the host architecture, tagged `imageTag`. */
  image: BuiltImage & { tag: string };
  /** A linux/amd64 + linux/arm64 index, tagged `indexTag`. */
  index: BuiltIndex & { tag: string };
}

export interface LayoutOptions {
  dir?: string;
  /** Varies all content, so different tests can use layouts whose digests differ. */
  seed?: string;
  imageTag?: string;
  indexTag?: string;
  /**
   * Path of a statically linked busybox: adds a bottom layer with /bin/busybox
   * and /bin/sh to images of the host architecture (so `RUN` works in them).
   */
  busybox?: string;
}

interface FileEntry {
  name: string;
  type?: 'file' | 'directory' | 'symlink';
  content?: Buffer;
  linkname?: string;
  mode?: number;
}

const EPOCH = new Date('2024-01-01T00:00:00Z');

export function sha256(data: Buffer | string): string {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`;
}

/** Deterministic, incompressible bytes: SHA-256 in counter mode. */
export function pseudoRandom(seed: string, size: number): Buffer {
  const out = Buffer.alloc(size);
  for (let off = 0, i = 0; off < size; off += 32, i++) {
    createHash('sha256').update(`${seed}/${i}`).digest().copy(out, off);
  }
  return out;
}

export async function tarOf(entries: FileEntry[]): Promise<Buffer> {
  const pack = tarStream.pack();
  const chunks: Buffer[] = [];
  const done = (async () => {
    for await (const chunk of pack) chunks.push(chunk as Buffer);
  })();
  for (const e of entries) {
    const type = e.type ?? 'file';
    const header = { name: e.name, type, mtime: EPOCH, uid: 0, gid: 0, mode: e.mode ?? (type === 'directory' ? 0o755 : 0o644) };
    if (type === 'symlink') pack.entry({ ...header, linkname: e.linkname });
    else if (type === 'directory') pack.entry(header);
    else pack.entry(header, e.content ?? Buffer.alloc(0));
  }
  pack.finalize();
  await done;
  return Buffer.concat(chunks);
}

class BlobWriter {
  constructor(readonly dir: string) {
    mkdirSync(join(dir, 'blobs', 'sha256'), { recursive: true });
  }

  write(data: Buffer, mediaType: string): Descriptor {
    const digest = sha256(data);
    writeFileSync(join(this.dir, 'blobs', 'sha256', digest.slice('sha256:'.length)), data);
    return { mediaType, digest, size: data.length };
  }
}

/** The test image's layers: small files, a few hundred KiB of data, an overwrite and a whiteout. */
function layerEntries(seed: string, arch: string): FileEntry[][] {
  return [
    [
      { name: 'etc/', type: 'directory' },
      { name: 'etc/berth-release', content: Buffer.from(`berth e2e ${seed} ${arch} v1\n`) },
      { name: 'tmp/', type: 'directory', mode: 0o1777 },
      { name: 'tmp/delete-me', content: pseudoRandom(`${seed}/${arch}/tmp`, 4096) },
    ],
    [
      { name: 'usr/', type: 'directory' },
      { name: 'usr/share/', type: 'directory' },
      { name: 'usr/share/berth/', type: 'directory' },
      { name: `usr/share/berth/data-${arch}.bin`, content: pseudoRandom(`${seed}/${arch}/data`, 64 * 1024) },
    ],
    [
      // Overwrites a lower file and deletes another (an OCI whiteout).
      { name: 'etc/', type: 'directory' },
      { name: 'etc/berth-release', content: Buffer.from(`berth e2e ${seed} ${arch} v2\n`) },
      { name: 'tmp/', type: 'directory', mode: 0o1777 },
      { name: 'tmp/.wh.delete-me' },
      { name: 'opt/', type: 'directory' },
      { name: 'opt/blob.bin', content: pseudoRandom(`${seed}/${arch}/opt`, 256 * 1024) },
    ],
  ];
}

async function busyboxLayer(busybox: string): Promise<FileEntry[]> {
  const entries: FileEntry[] = [
    { name: 'bin/', type: 'directory' },
    { name: 'bin/busybox', content: readFileSync(busybox), mode: 0o755 },
  ];
  for (const applet of ['sh', 'cat', 'echo', 'ls', 'mkdir', 'rm', 'test', 'true', 'uname', 'sha256sum']) {
    entries.push({ name: `bin/${applet}`, type: 'symlink', linkname: 'busybox' });
  }
  return entries;
}

async function writeImage(blobs: BlobWriter, seed: string, arch: string, busybox: string | undefined): Promise<BuiltImage> {
  const layerSets = layerEntries(seed, arch);
  if (busybox && arch === HOST_ARCH) layerSets.unshift(await busyboxLayer(busybox));
  const layers: Descriptor[] = [];
  const diffIds: string[] = [];
  for (const entries of layerSets) {
    const tar = await tarOf(entries);
    diffIds.push(sha256(tar));
    layers.push(blobs.write(gzipSync(tar, { level: 6 }), OCI_LAYER_GZIP));
  }
  const config = {
    created: EPOCH.toISOString(),
    architecture: arch,
    os: 'linux',
    config: {
      Env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'],
      Cmd: ['/bin/sh', '-c', 'cat /etc/berth-release'],
      WorkingDir: '/',
      Labels: { 'org.example.berth.seed': seed },
    },
    rootfs: { type: 'layers', diff_ids: diffIds },
    history: layerSets.map((_, i) => ({ created: EPOCH.toISOString(), created_by: `berth e2e layer ${i}` })),
  };
  const configDesc = blobs.write(Buffer.from(JSON.stringify(config)), OCI_CONFIG);
  const manifest = { schemaVersion: 2, mediaType: OCI_MANIFEST, config: configDesc, layers };
  const desc = blobs.write(Buffer.from(JSON.stringify(manifest)), OCI_MANIFEST);
  return {
    digest: desc.digest,
    size: desc.size,
    configDigest: configDesc.digest,
    layers: layers.map((l) => l.digest),
    diffIds,
    os: 'linux',
    architecture: arch,
  };
}

/**
 * Writes an OCI image layout holding a multi-layer image (tag `imageTag`,
 * default "image") and a linux/amd64 + linux/arm64 index (tag `indexTag`,
 * default "multi"), and returns its directory and every digest in it.
 */
export async function buildTestLayout(options: LayoutOptions = {}): Promise<TestLayout> {
  const dir = options.dir ?? join(tempDir('berth-layout-'), 'layout');
  const seed = options.seed ?? 'default';
  const imageTag = options.imageTag ?? 'image';
  const indexTag = options.indexTag ?? 'multi';
  const blobs = new BlobWriter(dir);

  const image = await writeImage(blobs, `${seed}/single`, HOST_ARCH, options.busybox);
  const platforms: Record<string, BuiltImage> = {};
  for (const arch of ['amd64', 'arm64']) platforms[arch] = await writeImage(blobs, `${seed}/multi`, arch, options.busybox);
  const indexBody = {
    schemaVersion: 2,
    mediaType: OCI_INDEX,
    manifests: Object.values(platforms).map((p) => ({
      mediaType: OCI_MANIFEST,
      digest: p.digest,
      size: p.size,
      platform: { architecture: p.architecture, os: p.os },
    })),
  };
  const indexDesc = blobs.write(Buffer.from(JSON.stringify(indexBody)), OCI_INDEX);

  writeFileSync(join(dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  const top = {
    schemaVersion: 2,
    mediaType: OCI_INDEX,
    manifests: [
      { mediaType: OCI_MANIFEST, digest: image.digest, size: image.size, annotations: { [REF_NAME]: imageTag } },
      { mediaType: OCI_INDEX, digest: indexDesc.digest, size: indexDesc.size, annotations: { [REF_NAME]: indexTag } },
    ],
  };
  writeFileSync(join(dir, 'index.json'), JSON.stringify(top));
  return {
    dir,
    image: { ...image, tag: imageTag },
    index: { digest: indexDesc.digest, size: indexDesc.size, platforms, tag: indexTag },
  };
}

/** Reads a blob from a layout (e.g. one a client pulled into `oci:DIR`). */
export function readLayoutBlob(dir: string, digest: string): Buffer {
  return readFileSync(join(dir, 'blobs', digest.replace(':', '/')));
}

/** The descriptor that a layout's index.json tags with `tag`. */
export function layoutRef(dir: string, tag: string): Descriptor {
  const index = JSON.parse(readFileSync(join(dir, 'index.json'), 'utf8')) as { manifests: Descriptor[] };
  const found = index.manifests.find((m) => m.annotations?.[REF_NAME] === tag);
  if (!found) throw new Error(`no ${tag} in ${dir}/index.json`);
  return found;
}

/** The layout as a tar archive, as `ctr images import` reads it. */
export async function layoutTar(dir: string): Promise<Buffer> {
  const entries: FileEntry[] = [
    { name: 'oci-layout', content: readFileSync(join(dir, 'oci-layout')) },
    { name: 'index.json', content: readFileSync(join(dir, 'index.json')) },
    { name: 'blobs/', type: 'directory' },
    { name: 'blobs/sha256/', type: 'directory' },
  ];
  for (const f of readdirSync(join(dir, 'blobs', 'sha256')).sort()) {
    entries.push({ name: `blobs/sha256/${f}`, content: readFileSync(join(dir, 'blobs', 'sha256', f)) });
  }
  return tarOf(entries);
}
