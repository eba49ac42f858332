/**
 * Push workflow (OCI Distribution Spec v1.1, "Push"): upload sessions,
 * monolithic / chunked / streamed blob pushes, digests, cross-repository
 * mounts, and manifest pushes with their validation errors.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startBerth, storedBlobs, type BerthProcess } from '../support/berth-process.js';
import {
  MT, bytes, descriptorOf, expectOciError, imageManifest, indexManifest, patchChunk, pushBlob, pushBlobChunked,
  pushImage, pushManifest, putManifest, randomBlob, randomDigest, resolveLocation, sha256, sha512, startUpload, stopAndClean,
  uniqueName, uploadRange, type Bytes,
} from './helpers.js';

let berth: BerthProcess;
let base: string;
beforeAll(async () => {
  berth = await startBerth();
  base = berth.url;
});
afterAll(() => stopAndClean(berth));

const blobUrl = (name: string, digest: string) => `${base}/v2/${name}/blobs/${digest}`;
async function expectBlob(name: string, data: Bytes, digest = sha256(data)): Promise<void> {
  const res = await fetch(blobUrl(name, digest));
  expect(res.status).toBe(200);
  expect((await bytes(res)).equals(data)).toBe(true);
}
const put = (location: string, query: Record<string, string>, body?: Bytes, headers: Record<string, string> = {}) =>
  fetch(resolveLocation(base, location, query), { method: 'PUT', headers: { 'content-type': 'application/octet-stream', ...headers }, body });

describe('upload sessions', () => {
  it('POST opens a session: 202 with Location and Docker-Upload-UUID', async () => {
    const name = uniqueName('push');
    const res = await fetch(`${base}/v2/${name}/blobs/uploads/`, { method: 'POST', headers: { 'content-length': '0' } });
    expect(res.status).toBe(202);
    const uuid = res.headers.get('docker-upload-uuid');
    expect(uuid).toMatch(/^[0-9a-f-]{32,36}$/i);
    expect(res.headers.get('location')).toContain(uuid!); // "<location> MUST contain a UUID"
  });

  it('GET on a session answers 204 with Location and Range', async () => {
    const name = uniqueName('push');
    const location = await startUpload(base, name);
    expect((await patchChunk(location, randomBlob(100), 0)).status).toBe(202);
    const res = await fetch(location);
    expect(res.status).toBe(204);
    expect(res.headers.get('range')).toBe('0-99');
    expect(res.headers.get('location')).toBeTruthy();
  });

  it('DELETE cancels a session: 204, then every use → 404 BLOB_UPLOAD_UNKNOWN', async () => {
    const name = uniqueName('push');
    const location = await startUpload(base, name);
    expect((await fetch(location, { method: 'DELETE' })).status).toBe(204);
    await expectOciError(await fetch(location), 404, 'BLOB_UPLOAD_UNKNOWN');
    await expectOciError(await patchChunk(location, randomBlob(10), 0), 404, 'BLOB_UPLOAD_UNKNOWN');
    await expectOciError(await put(location, { digest: randomDigest() }), 404, 'BLOB_UPLOAD_UNKNOWN');
    await expectOciError(await fetch(location, { method: 'DELETE' }), 404, 'BLOB_UPLOAD_UNKNOWN');
  });

  it('an unknown session id, or a session used under another repository, is BLOB_UPLOAD_UNKNOWN', async () => {
    const name = uniqueName('push');
    const location = await startUpload(base, name);
    await expectOciError(await fetch(`${base}/v2/${name}/blobs/uploads/${crypto.randomUUID()}`), 404, 'BLOB_UPLOAD_UNKNOWN');
    const other = uniqueName('push');
    await startUpload(base, other);
    await expectOciError(await fetch(location.replace(name, other)), 404, 'BLOB_UPLOAD_UNKNOWN');
  });
});

describe('blob pushes', () => {
  it('monolithic POST ?digest= → 201 with Location (pullable) and Docker-Content-Digest', async () => {
    const name = uniqueName('push');
    const data = randomBlob(5000);
    const res = await fetch(`${base}/v2/${name}/blobs/uploads/?digest=${sha256(data)}`, { method: 'POST', body: data, headers: { 'content-type': 'application/octet-stream' } });
    expect(res.status).toBe(201);
    expect(res.headers.get('docker-content-digest')).toBe(sha256(data));
    const pulled = await fetch(resolveLocation(base, res.headers.get('location')));
    expect((await bytes(pulled)).equals(data)).toBe(true);
  });

  it('POST then PUT with the whole blob → 201 with a pullable Location', async () => {
    const name = uniqueName('push');
    const data = randomBlob(3000);
    const res = await put(await startUpload(base, name), { digest: sha256(data) }, data);
    expect(res.status).toBe(201);
    expect(res.headers.get('docker-content-digest')).toBe(sha256(data));
    expect((await bytes(await fetch(resolveLocation(base, res.headers.get('location'))))).equals(data)).toBe(true);
  });

  it('chunked PATCHes in order: each 202 with Location and Range 0-<end>; PUT without body closes', async () => {
    const name = uniqueName('push');
    const data = randomBlob(2500);
    let location = await startUpload(base, name);
    for (const [start, end] of [[0, 999], [1000, 1999], [2000, 2499]] as const) {
      const res = await patchChunk(location, data.subarray(start, end + 1), start);
      expect(res.status).toBe(202);
      expect(res.headers.get('range')).toBe(`0-${end}`);
      location = resolveLocation(base, res.headers.get('location'));
    }
    expect((await put(location, { digest: sha256(data) })).status).toBe(201);
    await expectBlob(name, data);
  });

  it('the final chunk may come with the closing PUT (Content-Range)', async () => {
    const name = uniqueName('push');
    const data = randomBlob(2000);
    const location = await startUpload(base, name);
    expect((await patchChunk(location, data.subarray(0, 1200), 0)).status).toBe(202);
    const res = await put(location, { digest: sha256(data) }, data.subarray(1200), { 'content-range': '1200-1999' });
    expect(res.status).toBe(201);
    await expectBlob(name, data);
  });

  it('out-of-order or overlapping chunks → 416 with the current Range, and nothing is appended', async () => {
    const name = uniqueName('push');
    const data = randomBlob(300);
    const location = await startUpload(base, name);
    const first = await patchChunk(location, data.subarray(50, 100), 50); // the first chunk MUST begin at 0
    expect(first.status).toBe(416);
    expect((await patchChunk(location, data.subarray(0, 100), 0)).status).toBe(202);
    for (const start of [150, 50, 0]) {
      const res = await patchChunk(location, data.subarray(start, start + 100), start);
      expect(res.headers.get('range'), `chunk at ${start}`).toBe('0-99');
      await expectOciError(res, 416, ['BLOB_UPLOAD_INVALID', 'RANGE_INVALID']); // the codes Distribution uses here
    }
    expect(await uploadRange(location)).toBe('0-99');
    expect((await patchChunk(location, data.subarray(100), 100)).status).toBe(202);
    expect((await put(location, { digest: sha256(data) })).status).toBe(201);
    await expectBlob(name, data);
  });

  it('streamed PATCHes without Content-Range (chunked transfer encoding) append', async () => {
    const name = uniqueName('push');
    const data = randomBlob(70_000);
    const location = await startUpload(base, name);
    for (const part of [data.subarray(0, 30_000), data.subarray(30_000)]) {
      const body = new ReadableStream({ start(c) { c.enqueue(part.subarray(0, 10_000)); c.enqueue(part.subarray(10_000)); c.close(); } });
      const res = await fetch(location, { method: 'PATCH', body, duplex: 'half', headers: { 'content-type': 'application/octet-stream' } } as RequestInit);
      expect(res.status).toBe(202);
    }
    expect(await uploadRange(location)).toBe(`0-${data.length - 1}`);
    expect((await put(location, { digest: sha256(data) })).status).toBe(201);
    await expectBlob(name, data);
  });

  it('a wrong digest → 400 DIGEST_INVALID and nothing is stored under it', async () => {
    const name = uniqueName('push');
    const data = randomBlob(100);
    const claimed = randomDigest();
    await expectOciError(await put(await startUpload(base, name), { digest: claimed }, data), 400, 'DIGEST_INVALID');
    const mono = await fetch(`${base}/v2/${name}/blobs/uploads/?digest=${claimed}`, { method: 'POST', body: data });
    await expectOciError(mono, 400, 'DIGEST_INVALID');
    expect((await fetch(blobUrl(name, claimed), { method: 'HEAD' })).status).toBe(404);
  });

  it('a closing PUT without ?digest= is refused: the digest is REQUIRED', async () => {
    const name = uniqueName('push');
    const location = await startUpload(base, name);
    await expectOciError(await put(location, {}, randomBlob(10)), 400, 'DIGEST_INVALID');
  });

  it('sha512 digests work for monolithic and chunked pushes', async () => {
    const name = uniqueName('push');
    const a = randomBlob(1000);
    const b = randomBlob(3000);
    await pushBlob(base, name, a, sha512(a));
    await pushBlobChunked(base, name, b, 1024, sha512(b));
    for (const data of [a, b]) {
      const res = await fetch(blobUrl(name, sha512(data)));
      expect(res.headers.get('docker-content-digest')).toBe(sha512(data));
      expect((await bytes(res)).equals(data)).toBe(true);
    }
  });

  it('an unsupported algorithm → 400 UNSUPPORTED; a malformed digest → 400 DIGEST_INVALID', async () => {
    const name = uniqueName('push');
    const data = randomBlob(10);
    const post = (digest: string) => fetch(`${base}/v2/${name}/blobs/uploads/?digest=${digest}`, { method: 'POST', body: data });
    await expectOciError(await post(`sha384:${'a'.repeat(96)}`), 400, 'UNSUPPORTED');
    for (const bad of ['sha256:xyz', `sha256:${'a'.repeat(63)}`, `sha256:${'A'.repeat(64)}`, 'sha256', ':abc', `sha512:${'a'.repeat(64)}`]) {
      await expectOciError(await post(encodeURIComponent(bad)), 400, 'DIGEST_INVALID');
    }
  });

  it('concurrent pushes of one blob by several clients all succeed and store it once', async () => {
    const data = randomBlob(512 * 1024);
    const before = (await storedBlobs(berth.dataDir)).length;
    const names = Array.from({ length: 6 }, () => uniqueName('push'));
    await Promise.all(names.map((n, i) => (i % 2 ? pushBlob(base, n, data) : pushBlobChunked(base, n, data, 100_000))));
    for (const n of names) await expectBlob(n, data);
    const files = await storedBlobs(berth.dataDir);
    expect(files.length - before).toBe(1);
    expect(files.filter((f) => f.endsWith(sha256(data).slice(7)))).toHaveLength(1);
  });
});

describe('cross-repository mount', () => {
  it('?mount=&from= → 201 when the source holds the blob', async () => {
    const [src, dst] = [uniqueName('push'), uniqueName('push')];
    const data = randomBlob(700);
    await pushBlob(base, src, data);
    const res = await fetch(`${base}/v2/${dst}/blobs/uploads/?mount=${sha256(data)}&from=${src}`, { method: 'POST' });
    expect(res.status).toBe(201);
    expect(res.headers.get('docker-content-digest')).toBe(sha256(data));
    expect((await bytes(await fetch(resolveLocation(base, res.headers.get('location'))))).equals(data)).toBe(true);
  });

  it('→ 202 with a usable session when the source does not hold the blob', async () => {
    const [src, dst] = [uniqueName('push'), uniqueName('push')];
    const data = randomBlob(700);
    await pushBlob(base, src, randomBlob(5));
    for (const from of [src, uniqueName('nowhere')]) {
      const res = await fetch(`${base}/v2/${dst}/blobs/uploads/?mount=${sha256(data)}&from=${from}`, { method: 'POST' });
      expect(res.status).toBe(202);
      expect((await put(resolveLocation(base, res.headers.get('location')), { digest: sha256(data) }, data)).status).toBe(201);
    }
    await expectBlob(dst, data);
  });

  it('without from, a blob the registry knows is mounted (the registry MAY treat from as optional)', async () => {
    const [src, dst] = [uniqueName('push'), uniqueName('push')];
    const data = randomBlob(900);
    await pushBlob(base, src, data);
    const res = await fetch(`${base}/v2/${dst}/blobs/uploads/?mount=${sha256(data)}`, { method: 'POST' });
    expect(res.status).toBe(201);
    await expectBlob(dst, data);
  });
});

describe('manifest pushes', () => {
  it('OCI manifest by tag and by digest → 201, Location, Docker-Content-Digest; stored byte for byte', async () => {
    const name = uniqueName('push');
    const img = await pushImage(base, name, 'v1');
    expect(img.res.headers.get('docker-content-digest')).toBe(img.digest);
    const byDigest = await pushManifest(base, name, undefined, { ...img.manifest, annotations: { a: 'b' } });
    expect(byDigest.res.headers.get('docker-content-digest')).toBe(byDigest.digest);
    for (const { res, body } of [img, byDigest]) {
      const pulled = await fetch(resolveLocation(base, res.headers.get('location')), { headers: { accept: MT.ociManifest } });
      expect((await bytes(pulled)).equals(body)).toBe(true);
    }
  });

  it('OCI index, Docker schema 2 manifest and Docker manifest list', async () => {
    const name = uniqueName('push');
    const img = await pushImage(base, name);
    const docker = await pushManifest(base, name, 'docker', {
      schemaVersion: 2, mediaType: MT.dockerManifest,
      config: descriptorOf(img.config, MT.dockerConfig), layers: img.layers.map((l) => descriptorOf(l, MT.dockerLayer)),
    });
    const platform = { architecture: 'amd64', os: 'linux' };
    const index = await pushManifest(base, name, 'index', indexManifest([descriptorOf(img.body, MT.ociManifest, { platform })]));
    const list = await pushManifest(base, name, 'list', { schemaVersion: 2, mediaType: MT.dockerList, manifests: [descriptorOf(docker.body, MT.dockerManifest, { platform })] });
    for (const [tag, type, pushed] of [['docker', MT.dockerManifest, docker], ['index', MT.ociIndex, index], ['list', MT.dockerList, list]] as const) {
      const res = await fetch(`${base}/v2/${name}/manifests/${tag}`, { headers: { accept: type } });
      expect(res.headers.get('content-type')).toBe(type);
      expect((await bytes(res)).equals(pushed.body)).toBe(true);
    }
  });

  it('invalid manifests → 400 MANIFEST_INVALID (schema 1, bad JSON, unknown type, Content-Type ≠ mediaType)', async () => {
    const name = uniqueName('push');
    const img = await pushImage(base, name);
    const schema1 = JSON.stringify({ schemaVersion: 1, name, tag: 'old', architecture: 'amd64', fsLayers: [], history: [], signatures: [] });
    await expectOciError(await putManifest(base, name, 'old', schema1, MT.dockerSchema1Signed), 400, 'MANIFEST_INVALID');
    await expectOciError(await putManifest(base, name, 'bad', '{"schemaVersion": 2,', MT.ociManifest), 400, 'MANIFEST_INVALID');
    const unknownType = JSON.stringify({ ...img.manifest, mediaType: undefined });
    await expectOciError(await putManifest(base, name, 'odd', unknownType, 'application/vnd.example.unknown+json'), 400, 'MANIFEST_INVALID');
    await expectOciError(await putManifest(base, name, 'mix', img.body, MT.ociIndex), 400, 'MANIFEST_INVALID');
  });

  it('a missing layer, config or child manifest → 400 MANIFEST_BLOB_UNKNOWN', async () => {
    const name = uniqueName('push');
    const img = await pushImage(base, name);
    const ghost = { mediaType: MT.ociLayer, digest: randomDigest(), size: 10 };
    await expectOciError(await putManifest(base, name, 'l', JSON.stringify({ ...img.manifest, layers: [ghost] }), MT.ociManifest), 400, 'MANIFEST_BLOB_UNKNOWN');
    await expectOciError(await putManifest(base, name, 'c', JSON.stringify({ ...img.manifest, config: { ...ghost, mediaType: MT.ociConfig } }), MT.ociManifest), 400, 'MANIFEST_BLOB_UNKNOWN');
    const idx = JSON.stringify(indexManifest([{ ...ghost, mediaType: MT.ociManifest }]));
    await expectOciError(await putManifest(base, name, 'i', idx, MT.ociIndex), 400, 'MANIFEST_BLOB_UNKNOWN');
  });

  it('PUT by a sha512 digest; Content-Type parameters are ignored and not echoed back', async () => {
    const name = uniqueName('push');
    const img = await pushImage(base, name);
    const res = await putManifest(base, name, sha512(img.body), img.body, `${MT.ociManifest}; charset=utf-8`);
    expect(res.status).toBe(201);
    expect(res.headers.get('docker-content-digest')).toBe(sha512(img.body)); // "MUST be equal to the client provided digest"
    const pulled = await fetch(`${base}/v2/${name}/manifests/${sha512(img.body)}`, { headers: { accept: MT.ociManifest } });
    expect(pulled.headers.get('content-type')).toBe(MT.ociManifest); // "SHOULD NOT include parameters"
    expect((await bytes(pulled)).equals(img.body)).toBe(true);
  });

  it('PUT by a digest the body does not hash to → 400 DIGEST_INVALID', async () => {
    const name = uniqueName('push');
    const img = await pushImage(base, name);
    await expectOciError(await putManifest(base, name, randomDigest(), img.body, MT.ociManifest), 400, 'DIGEST_INVALID');
  });

  it('a 4 MiB manifest is accepted; one byte more → 413', async () => {
    const name = uniqueName('push');
    const img = await pushImage(base, name);
    const padded = (size: number) => {
      const bare = JSON.stringify({ ...img.manifest, annotations: { pad: '' } });
      return JSON.stringify({ ...img.manifest, annotations: { pad: 'x'.repeat(size - bare.length) } });
    };
    expect((await putManifest(base, name, 'max', padded(4 * 1024 * 1024), MT.ociManifest)).status).toBe(201);
    const res = await putManifest(base, name, 'over', padded(4 * 1024 * 1024 + 1), MT.ociManifest);
    expect(res.status).toBe(413);
    expect((await fetch(`${base}/v2/${name}/manifests/over`, { method: 'HEAD' })).status).toBe(404);
  });

  it('a manifest with subject → OCI-Subject, even when the subject does not exist yet', async () => {
    const name = uniqueName('push');
    const img = await pushImage(base, name);
    const empty = Buffer.from('{}');
    await pushBlob(base, name, empty);
    for (const subject of [descriptorOf(img.body, MT.ociManifest), { mediaType: MT.ociManifest, digest: randomDigest(), size: 123 }]) {
      const artifact = imageManifest(descriptorOf(empty, MT.ociEmpty), [descriptorOf(empty, MT.ociEmpty)], { artifactType: 'application/vnd.example.sig', subject });
      const { res } = await pushManifest(base, name, undefined, artifact);
      expect(res.headers.get('oci-subject')).toBe(subject.digest);
    }
  });
});
