/**
 * Pull workflow (OCI Distribution Spec v1.1, "Pull"): manifests and blobs by
 * GET/HEAD, Accept negotiation, Range requests, headers and 404 error codes.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startBerth, type BerthProcess } from '../support/berth-process.js';
import {
  MT, bytes, descriptorOf, expectOciError, pushBlob, pushImage, pushManifest, randomBlob, randomDigest, sha256, stopAndClean,
  uniqueName, type Bytes,
} from './helpers.js';

let berth: BerthProcess;
let base: string;
const name = uniqueName('pull');
let image: Awaited<ReturnType<typeof pushImage>>;
let docker: { body: Bytes; digest: string };
let big: Bytes; // a 100 KiB layer for range requests

beforeAll(async () => {
  berth = await startBerth();
  base = berth.url;
  image = await pushImage(base, name, 'v1', [1024, 100 * 1024]);
  big = image.layers[1]!;
  // A Docker schema 2 manifest over the same blobs, for negotiation.
  docker = await pushManifest(base, name, 'docker', {
    schemaVersion: 2,
    mediaType: MT.dockerManifest,
    config: descriptorOf(image.config, MT.dockerConfig),
    layers: image.layers.map((l) => descriptorOf(l, MT.dockerLayer)),
  });
});
afterAll(() => stopAndClean(berth));

describe('API version check', () => {
  it('GET /v2/ answers 200 with Docker-Distribution-API-Version: registry/2.0', async () => {
    const res = await fetch(`${base}/v2/`);
    expect(res.status).toBe(200);
    expect(res.headers.get('docker-distribution-api-version')).toBe('registry/2.0');
  });
});

describe('manifests', () => {
  const manifestUrl = (ref: string) => `${base}/v2/${name}/manifests/${ref}`;

  it.each(['tag', 'digest'])('GET by %s returns the exact bytes with Content-Type, Docker-Content-Digest, Content-Length', async (by) => {
    const res = await fetch(manifestUrl(by === 'tag' ? 'v1' : image.digest), { headers: { accept: MT.ociManifest } });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe(MT.ociManifest);
    expect(res.headers.get('docker-content-digest')).toBe(image.digest);
    expect(res.headers.get('content-length')).toBe(String(image.body.length));
    // "The registry MUST store the manifest in the exact byte representation provided by the client."
    expect((await bytes(res)).equals(image.body)).toBe(true);
  });

  it.each(['tag', 'digest'])('HEAD by %s answers 200 with the same headers and no body', async (by) => {
    const res = await fetch(manifestUrl(by === 'tag' ? 'v1' : image.digest), { method: 'HEAD', headers: { accept: MT.ociManifest } });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe(MT.ociManifest);
    expect(res.headers.get('docker-content-digest')).toBe(image.digest);
    expect(res.headers.get('content-length')).toBe(String(image.body.length));
    expect((await bytes(res)).length).toBe(0);
  });

  it('negotiates with Accept lists, parameters and wildcards (RFC 7231)', async () => {
    const accepts = [
      `${MT.dockerManifest}, ${MT.ociIndex}, ${MT.ociManifest}`,
      `${MT.ociManifest};q=0.9, ${MT.dockerManifest};q=0.5`,
      '*/*',
    ];
    for (const accept of accepts) {
      const res = await fetch(manifestUrl('v1'), { headers: { accept } });
      expect(res.status, accept).toBe(200);
      expect(res.headers.get('content-type')).toBe(MT.ociManifest);
    }
  });

  it('serves a Docker schema 2 manifest with its own Content-Type', async () => {
    const res = await fetch(manifestUrl('docker'), { headers: { accept: `${MT.dockerManifest}, ${MT.ociManifest}` } });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe(MT.dockerManifest);
    expect(res.headers.get('docker-content-digest')).toBe(docker.digest);
    expect((await bytes(res)).equals(docker.body)).toBe(true);
  });

  it('a manifest whose type the client did not Accept is refused or served with its true Content-Type', async () => {
    // content-negotiation.md is still a TODO. RFC 9110 §12.5.1 lets a server answer 406 or
    // disregard Accept; CNCF Distribution answers 404 MANIFEST_UNKNOWN. Any of those is fine,
    // but a served manifest must never be labelled with a type it is not.
    const res = await fetch(manifestUrl('v1'), { headers: { accept: MT.dockerManifest } });
    if (res.status === 200) {
      expect(res.headers.get('content-type')).toBe(MT.ociManifest);
      expect((await bytes(res)).equals(image.body)).toBe(true);
    } else if (res.status === 406) {
      expect(res.headers.get('content-type')).toMatch(/^application\/json/);
    } else {
      await expectOciError(res, 404, 'MANIFEST_UNKNOWN');
    }
  });

  it('unknown tag or digest in a known repository → 404 MANIFEST_UNKNOWN', async () => {
    await expectOciError(await fetch(manifestUrl('nope'), { headers: { accept: MT.ociManifest } }), 404, 'MANIFEST_UNKNOWN');
    await expectOciError(await fetch(manifestUrl(randomDigest()), { headers: { accept: MT.ociManifest } }), 404, 'MANIFEST_UNKNOWN');
    const head = await fetch(manifestUrl('nope'), { method: 'HEAD' });
    expect(head.status).toBe(404);
    expect((await bytes(head)).length).toBe(0);
  });
});

describe('blobs', () => {
  const blobUrl = (digest: string, repo = name) => `${base}/v2/${repo}/blobs/${digest}`;

  it('GET returns the bytes with Docker-Content-Digest, Content-Type and Content-Length', async () => {
    const res = await fetch(blobUrl(sha256(big)));
    expect(res.status).toBe(200);
    expect(res.headers.get('docker-content-digest')).toBe(sha256(big));
    expect(res.headers.get('content-type')).toBeTruthy();
    expect(res.headers.get('content-length')).toBe(String(big.length));
    const body = await bytes(res);
    expect(sha256(body)).toBe(sha256(big)); // "MUST be a digest matching that of the response body"
  });

  it('HEAD answers 200 with Content-Length and Docker-Content-Digest, no body', async () => {
    const res = await fetch(blobUrl(sha256(image.config)), { method: 'HEAD' });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-length')).toBe(String(image.config.length));
    expect(res.headers.get('docker-content-digest')).toBe(sha256(image.config));
    expect((await bytes(res)).length).toBe(0);
  });

  it('serves an empty blob', async () => {
    const empty = Buffer.alloc(0);
    await pushBlob(base, name, empty);
    const res = await fetch(blobUrl(sha256(empty)));
    expect(res.status).toBe(200);
    expect(res.headers.get('content-length')).toBe('0');
    expect((await bytes(res)).length).toBe(0);
  });

  it('unknown blob → 404 BLOB_UNKNOWN (GET) and 404 without body (HEAD)', async () => {
    await expectOciError(await fetch(blobUrl(randomDigest())), 404, 'BLOB_UNKNOWN');
    const head = await fetch(blobUrl(randomDigest()), { method: 'HEAD' });
    expect(head.status).toBe(404);
    expect((await bytes(head)).length).toBe(0);
  });

  it('a blob is served only from repositories that hold it', async () => {
    const other = uniqueName('pull');
    await pushBlob(base, other, randomBlob(10)); // makes the repository exist
    await expectOciError(await fetch(blobUrl(sha256(big), other)), 404, 'BLOB_UNKNOWN');
  });
});

describe('range requests (RFC 9110)', () => {
  const get = (range: string) => fetch(`${base}/v2/${name}/blobs/${sha256(big)}`, { headers: { range } });
  const size = () => big.length;

  it.each([
    ['bytes=10-19', 10, 19],
    ['bytes=0-0', 0, 0],
    ['bytes=100-', 100, 100 * 1024 - 1],
    ['bytes=-50', 100 * 1024 - 50, 100 * 1024 - 1], // suffix: the last 50 bytes
    ['bytes=1000-999999999', 1000, 100 * 1024 - 1], // last-pos past the end is clamped
    ['bytes=-999999999', 0, 100 * 1024 - 1], // a suffix longer than the blob is the whole blob
  ])('%s → 206 with Content-Range and exactly those bytes', async (range, start, end) => {
    const res = await get(range);
    expect(res.status).toBe(206);
    expect(res.headers.get('content-range')).toBe(`bytes ${start}-${end}/${size()}`);
    expect(res.headers.get('content-length')).toBe(String(end - start + 1));
    expect(res.headers.get('content-type')).toBeTruthy();
    // Distribution keeps Docker-Content-Digest (the whole blob's) on partial responses.
    const dcd = res.headers.get('docker-content-digest');
    if (dcd !== null) expect(dcd).toBe(sha256(big));
    expect((await bytes(res)).equals(big.subarray(start, end + 1))).toBe(true);
  });

  it.each(['bytes=102400-', 'bytes=999999-1000000', 'bytes=-0'])('%s is unsatisfiable → 416 with Content-Range: bytes */size', async (range) => {
    const res = await get(range);
    expect(res.status).toBe(416);
    expect(res.headers.get('content-range')).toBe(`bytes */${size()}`);
  });

  it('a range request on an unknown blob is still 404 BLOB_UNKNOWN', async () => {
    await expectOciError(await fetch(`${base}/v2/${name}/blobs/${randomDigest()}`, { headers: { range: 'bytes=0-9' } }), 404, 'BLOB_UNKNOWN');
  });

  it('a Range the server ignores (multiple ranges) yields the whole blob, never a wrong slice', async () => {
    const res = await get('bytes=0-1,5-6');
    if (res.status === 200) expect((await bytes(res)).equals(big)).toBe(true);
    else expect(res.status).toBe(206);
  });
});

describe('unknown repository', () => {
  const ghost = uniqueName('ghost');

  it('manifests → 404 NAME_UNKNOWN', async () => {
    await expectOciError(await fetch(`${base}/v2/${ghost}/manifests/latest`, { headers: { accept: MT.ociManifest } }), 404, 'NAME_UNKNOWN');
  });
  it('blobs → 404 NAME_UNKNOWN', async () => {
    await expectOciError(await fetch(`${base}/v2/${ghost}/blobs/${randomDigest()}`), 404, 'NAME_UNKNOWN');
  });
  it('tags/list → 404 NAME_UNKNOWN', async () => {
    await expectOciError(await fetch(`${base}/v2/${ghost}/tags/list`), 404, 'NAME_UNKNOWN');
  });
});

describe('headers on every response', () => {
  it('errors and successes carry Docker-Distribution-API-Version and a Content-Type when they have a body', async () => {
    for (const url of [`${base}/v2/${name}/manifests/v1`, `${base}/v2/${name}/manifests/missing`, `${base}/v2/${name}/blobs/${randomDigest()}`]) {
      const res = await fetch(url, { headers: { accept: MT.ociManifest } });
      expect(res.headers.get('docker-distribution-api-version'), url).toBe('registry/2.0');
      expect(res.headers.get('content-type'), url).toBeTruthy();
      const body = await bytes(res);
      expect(res.headers.get('content-length'), url).toBe(String(body.length));
    }
  });
});
