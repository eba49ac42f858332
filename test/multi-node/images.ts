/**
 * Test images for the multi-node test, and how it checks them after a pull:
 * OCI layouts with layers of chosen sizes (incompressible bytes, so a size in
 * MiB means that many MiB on the wire), rootfs tarballs for `docker import`,
 * and a verifier that every byte a client pulled back hashes to its digest.
 */
import { createCipheriv, createHash } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { OCI_CONFIG, OCI_INDEX, OCI_LAYER_GZIP, OCI_MANIFEST, REF_NAME, layoutRef, tarOf, type Descriptor } from '../support/oci-layout.js';

export const MIB = 1024 * 1024;

export const sha256 = (data: Buffer | string): string => `sha256:${createHash('sha256').update(data).digest('hex')}`;

/** Deterministic, incompressible bytes (AES-CTR keystream): fast enough for 100 MiB. */
export function noise(seed: string, size: number): Buffer {
  const key = createHash('sha256').update(seed).digest().subarray(0, 16);
  const cipher = createCipheriv('aes-128-ctr', key, Buffer.alloc(16));
  return Buffer.concat([cipher.update(Buffer.alloc(size)), cipher.final()]);
}

/** An image as it was pushed: where to, its manifest digest, and every blob it names (when known up front). */
export interface PushedImage {
  /** `repo:tag` without the host. */
  ref: string;
  repo: string;
  tag: string;
  digest: string;
  /** `image`: a single image manifest; `index`: an index whose children are checked too. */
  kind: 'image' | 'index';
  /** The config and layers, when the test built them (docker computes its own). */
  blobs?: Descriptor[];
  /** Which client pushed it. */
  by: 'skopeo' | 'docker' | 'http';
}

export interface LayoutImage {
  dir: string;
  tag: string;
  digest: string;
  blobs: Descriptor[];
  totalBytes: number;
}

function writeBlob(dir: string, data: Buffer, mediaType: string): Descriptor {
  const digest = sha256(data);
  writeFileSync(join(dir, 'blobs', 'sha256', digest.slice('sha256:'.length)), data);
  return { mediaType, digest, size: data.length };
}

/**
 * Writes an OCI layout holding one linux image whose layers each carry one file
 * of the given size (gzip level 0: valid layers, no time spent compressing noise).
 */
export async function writeImageLayout(dir: string, seed: string, layerSizes: number[], tag = 'latest'): Promise<LayoutImage> {
  mkdirSync(join(dir, 'blobs', 'sha256'), { recursive: true });
  const layers: Descriptor[] = [];
  const diffIds: string[] = [];
  for (const [i, size] of layerSizes.entries()) {
    const tar = await tarOf([
      { name: 'data/', type: 'directory' },
      { name: `data/${seed}-${i}.bin`, content: noise(`${seed}/${i}`, size) },
    ]);
    diffIds.push(sha256(tar));
    layers.push(writeBlob(dir, gzipSync(tar, { level: size > 8 * MIB ? 0 : 1 }), OCI_LAYER_GZIP));
  }
  const config = {
    created: '2024-01-01T00:00:00Z',
    architecture: 'amd64',
    os: 'linux',
    config: { Labels: { 'org.example.berth.seed': seed } },
    rootfs: { type: 'layers', diff_ids: diffIds },
  };
  const configDesc = writeBlob(dir, Buffer.from(JSON.stringify(config)), OCI_CONFIG);
  const manifest = writeBlob(dir, Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: OCI_MANIFEST, config: configDesc, layers })), OCI_MANIFEST);
  writeFileSync(join(dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  writeFileSync(join(dir, 'index.json'), JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: [{ ...manifest, annotations: { [REF_NAME]: tag } }] }));
  const blobs = [configDesc, ...layers];
  return { dir, tag, digest: manifest.digest, blobs, totalBytes: blobs.reduce((n, b) => n + b.size, 0) };
}

/** A rootfs tarball for `docker import`: one file of `size` incompressible bytes. */
export async function writeRootfsTar(path: string, seed: string, size: number): Promise<void> {
  writeFileSync(
    path,
    await tarOf([
      { name: 'etc/', type: 'directory' },
      { name: 'etc/berth-seed', content: Buffer.from(`${seed}\n`) },
      { name: 'data/', type: 'directory' },
      { name: `data/${seed}.bin`, content: noise(seed, size) },
    ]),
  );
}

// --- after a pull -------------------------------------------------------------------

interface ManifestJson {
  mediaType?: string;
  config?: Descriptor;
  layers?: Descriptor[];
  manifests?: Descriptor[];
}

/** Checks one blob file against its descriptor: size and sha256 of the very bytes. */
function checkBlob(path: string, want: Descriptor, problems: string[]): void {
  let data: Buffer;
  try {
    data = readFileSync(path);
  } catch {
    problems.push(`${want.digest}: missing after the pull`);
    return;
  }
  if (data.length !== want.size) problems.push(`${want.digest}: ${data.length} bytes, descriptor says ${want.size}`);
  const got = sha256(data);
  if (got !== want.digest) problems.push(`${want.digest}: content hashes to ${got}`);
}

/**
 * Verifies what `skopeo copy … dir:OUT` wrote for `image`: the manifest's bytes
 * hash to the pushed digest, it names the expected blobs (when known), and every
 * blob it names is there and hashes to its digest. Returns the problems found.
 */
export function verifyDirPull(out: string, image: PushedImage): string[] {
  const problems: string[] = [];
  const raw = readFileSync(join(out, 'manifest.json'));
  if (sha256(raw) !== image.digest) problems.push(`manifest hashes to ${sha256(raw)}, pushed ${image.digest}`);
  const manifest = JSON.parse(raw.toString('utf8')) as ManifestJson;
  const named = [manifest.config!, ...(manifest.layers ?? [])];
  if (image.blobs) {
    const want = image.blobs.map((b) => `${b.digest}/${b.size}`);
    const got = named.map((b) => `${b.digest}/${b.size}`);
    if (JSON.stringify(got) !== JSON.stringify(want)) problems.push(`manifest names ${got.join(', ')}; pushed ${want.join(', ')}`);
  }
  for (const blob of named) checkBlob(join(out, blob.digest.slice('sha256:'.length)), blob, problems);
  return problems.map((p) => `${image.ref}: ${p}`);
}

/** Verifies what `skopeo copy --all … oci:OUT:TAG` wrote for an index and all its children. */
export function verifyOciPull(out: string, image: PushedImage): string[] {
  const problems: string[] = [];
  const top = layoutRef(out, image.tag);
  if (top.digest !== image.digest) problems.push(`layout holds ${top.digest}, pushed ${image.digest}`);
  const blobPath = (digest: string) => join(out, 'blobs', 'sha256', digest.slice('sha256:'.length));
  const walk = (desc: Descriptor) => {
    checkBlob(blobPath(desc.digest), desc, problems);
    let json: ManifestJson;
    try {
      json = JSON.parse(readFileSync(blobPath(desc.digest), 'utf8')) as ManifestJson;
    } catch {
      return;
    }
    for (const child of json.manifests ?? []) walk(child);
    for (const blob of [...(json.config ? [json.config] : []), ...(json.layers ?? [])]) checkBlob(blobPath(blob.digest), blob, problems);
  };
  walk(top);
  return problems.map((p) => `${image.ref}: ${p}`);
}
