// The registry operations the workloads are made of, as a plain client does them
// over the OCI Distribution API. Docker schema2 manifests are used throughout since
// Distribution 2.8 rewrites them to schema1 for clients that don't list them in Accept.
import type { BlobSource } from './blobdata.js';
import { expect, location, request, withQuery } from './http.js';

export const MediaTypes = {
  schema2: 'application/vnd.docker.distribution.manifest.v2+json',
  config: 'application/vnd.docker.container.image.v1+json',
  layer: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
};

/** What a pulling client sends: both manifest formats, so neither server converts. */
export const ACCEPT_MANIFESTS = [
  MediaTypes.schema2,
  'application/vnd.docker.distribution.manifest.list.v2+json',
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.oci.image.index.v1+json',
].join(', ');

const OCTET = 'application/octet-stream';

async function startUpload(port: number, repo: string): Promise<string> {
  return location(await expect(202, port, 'POST', `/v2/${repo}/blobs/uploads/`, { headers: { 'content-length': 0 } }));
}

/** POST then PUT ?digest= with the whole body. */
export async function pushMonolithic(port: number, repo: string, blob: BlobSource): Promise<void> {
  const loc = await startUpload(port, repo);
  await expect(201, port, 'PUT', withQuery(loc, 'digest', blob.digest), {
    headers: { 'content-type': OCTET, 'content-length': blob.size },
    body: () => blob.chunks(),
  });
}

/** POST, one PATCH per chunk (Content-Range + Content-Length), then PUT ?digest= with no body. */
export async function pushChunked(port: number, repo: string, blob: BlobSource, chunkSize: number): Promise<void> {
  let loc = await startUpload(port, repo);
  // Bounded: exactly ceil(size / chunkSize) PATCHes.
  for (let start = 0; start < blob.size; start += chunkSize) {
    const end = Math.min(start + chunkSize, blob.size);
    const res = await expect(202, port, 'PATCH', loc, {
      headers: { 'content-type': OCTET, 'content-length': end - start, 'content-range': `${start}-${end - 1}` },
      body: () => blob.chunks(start, end),
    });
    loc = location(res); // Distribution moves its upload state into the Location each time
  }
  await expect(201, port, 'PUT', withQuery(loc, 'digest', blob.digest), { headers: { 'content-length': 0 } });
}

/** HEAD first and push only when missing, as docker and skopeo do for each layer. */
export async function pushBlobIfMissing(port: number, repo: string, blob: BlobSource): Promise<void> {
  const head = await request(port, 'HEAD', `/v2/${repo}/blobs/${blob.digest}`);
  if (head.status === 200) return;
  if (head.status !== 404) throw new Error(`HEAD blob: unexpected ${head.status}`);
  await pushMonolithic(port, repo, blob);
}

/** Cross-repository mount; both servers answer 201 when the blob is known. */
export async function mountBlob(port: number, repo: string, from: string, digest: string): Promise<void> {
  const path = `/v2/${repo}/blobs/uploads/?mount=${encodeURIComponent(digest)}&from=${encodeURIComponent(from)}`;
  await expect(201, port, 'POST', path, { headers: { 'content-length': 0 } });
}

export function schema2Manifest(config: BlobSource, layers: BlobSource[]): string {
  return JSON.stringify({
    schemaVersion: 2,
    mediaType: MediaTypes.schema2,
    config: { mediaType: MediaTypes.config, size: config.size, digest: config.digest },
    layers: layers.map((l) => ({ mediaType: MediaTypes.layer, size: l.size, digest: l.digest })),
  });
}

export async function putManifest(port: number, repo: string, ref: string, manifest: string): Promise<void> {
  await expect(201, port, 'PUT', `/v2/${repo}/manifests/${ref}`, {
    headers: { 'content-type': MediaTypes.schema2, 'content-length': Buffer.byteLength(manifest) },
    body: manifest,
  });
}

/** A small but valid image config, unique per `seed` so every image is distinct. */
export function imageConfig(seed: string, layerDigests: string[]): Buffer {
  return Buffer.from(
    JSON.stringify({
      architecture: 'amd64',
      os: 'linux',
      config: { Labels: { 'bench.seed': seed } },
      rootfs: { type: 'layers', diff_ids: layerDigests },
    }),
  );
}

/** Runs `count` tasks with at most `limit` in flight; stops early on the first error. */
export async function boundedAll(count: number, limit: number, task: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  let failed: unknown;
  const lane = async () => {
    while (next < count && failed === undefined) {
      const i = next++;
      await task(i).catch((err: unknown) => {
        failed ??= err;
      });
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, count) }, lane));
  if (failed !== undefined) throw failed;
}
