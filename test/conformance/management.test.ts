/**
 * Content management (OCI Distribution Spec v1.1): deleting manifests (by
 * digest: the manifest and its tags; by tag: the tag only) and blobs.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startBerth, type BerthProcess } from '../support/berth-process.js';
import {
  MT, bytes, descriptorOf, expectOciError, imageManifest, pushBlob, pushImage, pushManifest, putManifest, randomBlob,
  randomDigest, resolveLocation, sha256, stopAndClean, uniqueName,
} from './helpers.js';

let berth: BerthProcess;
let base: string;
beforeAll(async () => {
  berth = await startBerth();
  base = berth.url;
});
afterAll(() => stopAndClean(berth));

const manifest = (name: string, ref: string, method = 'GET') => fetch(`${base}/v2/${name}/manifests/${ref}`, { method, headers: { accept: `${MT.ociManifest}, ${MT.ociIndex}` } });
const blob = (name: string, digest: string, method = 'GET') => fetch(`${base}/v2/${name}/blobs/${digest}`, { method });
const tagsOf = async (name: string) => ((await (await fetch(`${base}/v2/${name}/tags/list`)).json()) as { tags: string[] }).tags;

describe('DELETE manifest', () => {
  it('by digest → 202; the manifest and every tag pointing at it are gone (404 MANIFEST_UNKNOWN)', async () => {
    const name = uniqueName('mgmt');
    const img = await pushImage(base, name, 'one');
    await putManifest(base, name, 'two', img.body, MT.ociManifest);
    const keep = await pushImage(base, name, 'keep');

    const res = await manifest(name, img.digest, 'DELETE');
    expect(res.status).toBe(202);
    await expectOciError(await manifest(name, img.digest), 404, 'MANIFEST_UNKNOWN');
    await expectOciError(await manifest(name, 'one'), 404, 'MANIFEST_UNKNOWN');
    await expectOciError(await manifest(name, 'two'), 404, 'MANIFEST_UNKNOWN');
    expect((await manifest(name, img.digest, 'HEAD')).status).toBe(404);
    expect(await tagsOf(name)).toEqual(['keep']);
    expect((await manifest(name, keep.digest)).status).toBe(200); // neighbours untouched
  });

  it('by tag → 202; only the tag goes, the digest stays pullable and other tags keep working', async () => {
    const name = uniqueName('mgmt');
    const img = await pushImage(base, name, 'a');
    await putManifest(base, name, 'b', img.body, MT.ociManifest);

    expect((await manifest(name, 'a', 'DELETE')).status).toBe(202);
    await expectOciError(await manifest(name, 'a'), 404, 'MANIFEST_UNKNOWN');
    const byDigest = await manifest(name, img.digest);
    expect(byDigest.status).toBe(200);
    expect((await bytes(byDigest)).equals(img.body)).toBe(true);
    expect((await manifest(name, 'b')).status).toBe(200);
    expect(await tagsOf(name)).toEqual(['b']);
  });

  it('a deleted manifest can be pushed again', async () => {
    const name = uniqueName('mgmt');
    const img = await pushImage(base, name, 'v1');
    expect((await manifest(name, img.digest, 'DELETE')).status).toBe(202);
    expect((await putManifest(base, name, 'v1', img.body, MT.ociManifest)).status).toBe(201);
    expect((await bytes(await manifest(name, 'v1'))).equals(img.body)).toBe(true);
  });

  it('deleting a referrer removes it from the referrers list', async () => {
    const name = uniqueName('mgmt');
    const img = await pushImage(base, name, 'app');
    const empty = Buffer.from('{}');
    await pushBlob(base, name, empty);
    const ref = await pushManifest(base, name, undefined, imageManifest(descriptorOf(empty, MT.ociEmpty), [descriptorOf(empty, MT.ociEmpty)], {
      artifactType: 'application/vnd.example.sig',
      subject: descriptorOf(img.body, MT.ociManifest),
    }));
    const list = async () => ((await (await fetch(`${base}/v2/${name}/referrers/${img.digest}`)).json()) as { manifests: { digest: string }[] }).manifests;
    expect((await list()).map((d) => d.digest)).toEqual([ref.digest]);
    expect((await manifest(name, ref.digest, 'DELETE')).status).toBe(202);
    expect(await list()).toEqual([]);
  });

  it('unknown digest or tag → 404 MANIFEST_UNKNOWN; unknown repository → 404 NAME_UNKNOWN', async () => {
    const name = uniqueName('mgmt');
    await pushImage(base, name, 'x');
    await expectOciError(await manifest(name, randomDigest(), 'DELETE'), 404, 'MANIFEST_UNKNOWN');
    await expectOciError(await manifest(name, 'nope', 'DELETE'), 404, 'MANIFEST_UNKNOWN');
    await expectOciError(await manifest(uniqueName('ghost'), randomDigest(), 'DELETE'), 404, 'NAME_UNKNOWN');
  });

  it('deleting twice: the second DELETE is 404', async () => {
    const name = uniqueName('mgmt');
    const img = await pushImage(base, name, 'x');
    expect((await manifest(name, img.digest, 'DELETE')).status).toBe(202);
    await expectOciError(await manifest(name, img.digest, 'DELETE'), 404, 'MANIFEST_UNKNOWN');
  });
});

describe('DELETE blob', () => {
  it('→ 202, then GET and HEAD → 404 BLOB_UNKNOWN', async () => {
    const name = uniqueName('mgmt');
    const data = randomBlob(400);
    await pushBlob(base, name, data);
    const res = await blob(name, sha256(data), 'DELETE');
    expect(res.status).toBe(202);
    await expectOciError(await blob(name, sha256(data)), 404, 'BLOB_UNKNOWN');
    expect((await blob(name, sha256(data), 'HEAD')).status).toBe(404);
    await expectOciError(await blob(name, sha256(data), 'DELETE'), 404, 'BLOB_UNKNOWN');
  });

  it('only affects the repository it was deleted from', async () => {
    const [a, b] = [uniqueName('mgmt'), uniqueName('mgmt')];
    const data = randomBlob(300);
    await pushBlob(base, a, data);
    expect((await fetch(`${base}/v2/${b}/blobs/uploads/?mount=${sha256(data)}&from=${a}`, { method: 'POST' })).status).toBe(201);
    expect((await blob(a, sha256(data), 'DELETE')).status).toBe(202);
    expect((await blob(a, sha256(data))).status).toBe(404);
    const other = await blob(b, sha256(data));
    expect(other.status).toBe(200);
    expect((await bytes(other)).equals(data)).toBe(true);
  });

  it('a deleted blob can no longer be mounted from that repository (202 session instead), but can be pushed again', async () => {
    const [a, b] = [uniqueName('mgmt'), uniqueName('mgmt')];
    const data = randomBlob(256);
    await pushBlob(base, a, data);
    expect((await blob(a, sha256(data), 'DELETE')).status).toBe(202);
    await pushBlob(base, b, randomBlob(3)); // make b exist
    const res = await fetch(`${base}/v2/${b}/blobs/uploads/?mount=${sha256(data)}&from=${a}`, { method: 'POST' });
    expect(res.status).toBe(202);
    const put = await fetch(resolveLocation(base, res.headers.get('location'), { digest: sha256(data) }), { method: 'PUT', body: data });
    expect(put.status).toBe(201);
    await pushBlob(base, a, data);
    expect((await bytes(await blob(a, sha256(data)))).equals(data)).toBe(true);
  });

  it('unknown blob → 404 BLOB_UNKNOWN; unknown repository → 404 NAME_UNKNOWN', async () => {
    const name = uniqueName('mgmt');
    await pushBlob(base, name, randomBlob(5));
    await expectOciError(await blob(name, randomDigest(), 'DELETE'), 404, 'BLOB_UNKNOWN');
    await expectOciError(await blob(uniqueName('ghost'), randomDigest(), 'DELETE'), 404, 'NAME_UNKNOWN');
  });
});
