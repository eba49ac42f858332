/**
 * Hostile and malformed input: invalid names (incl. traversal attempts),
 * unsupported methods, lying lengths, aborted bodies, oversized headers,
 * invalid tags. The registry must answer 4xx in the spec's JSON shape, never
 * 5xx, never write outside its data directory, and keep sessions consistent.
 */
import { readdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startBerth, type BerthProcess } from '../support/berth-process.js';
import {
  MT, bytes, expectHealthy, expectOciError, expectRawOciError, listFiles, patchChunk, pushImage, putManifest, randomBlob,
  randomDigest, rawRequest, rawSocket, resolveLocation, sha256, startUpload, stopAndClean, uniqueName, uploadRange, type Bytes,
} from './helpers.js';

let berth: BerthProcess;
let base: string;
beforeAll(async () => {
  berth = await startBerth();
  base = berth.url;
});
afterAll(() => stopAndClean(berth));
// A test that crashes the server fails on its own; restart on the same port and data so the next test still runs.
beforeEach(async () => {
  if (berth.child.exitCode !== null || berth.child.signalCode !== null) berth = await startBerth({ dataDir: berth.dataDir, port: berth.port });
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** After abuse: the process must still run (its log tail explains a crash) and answer. */
async function expectServerAlive(): Promise<void> {
  await sleep(300);
  expect(berth.child.exitCode, `berth exited; log tail:\n${berth.logs().slice(-1200)}`).toBeNull();
  await expectHealthy(base);
}

/** A session that already holds 100 bytes, so "unchanged" is distinguishable from "reset". */
async function sessionWith100(name: string) {
  const data = randomBlob(200);
  const location = await startUpload(base, name);
  expect((await patchChunk(location, data.subarray(0, 100), 0)).status).toBe(202);
  return { data, location, path: new URL(location).pathname + new URL(location).search };
}

/** Completes a session from byte 100 and checks the blob: proves the session survived intact. */
async function finish(name: string, location: string, data: Bytes) {
  expect((await patchChunk(location, data.subarray(100), 100)).status).toBe(202);
  const res = await fetch(resolveLocation(base, location, { digest: sha256(data) }), { method: 'PUT' });
  expect(res.status).toBe(201);
  expect((await bytes(await fetch(`${base}/v2/${name}/blobs/${sha256(data)}`))).equals(data)).toBe(true);
}

describe('repository names', () => {
  const bad = [
    'UPPER/case', 'a//b', '-lead', 'trail-', 'a..b', '.hidden', 'a/./b', 'a/../b', '..', '../../../../tmp/evil',
    '%2e%2e', '%2e%2e/%2e%2e/tmp/evil', 'a%2Fb', '%2Ftmp%2Fevil', '/tmp/evil', 'a%00b', 'a%20b', 'caf%C3%A9',
    'a'.repeat(256), `${'ab/'.repeat(90)}c`, 'x'.repeat(8000),
  ];
  const endpoints = [
    ['GET', 'manifests/latest'], ['PUT', 'manifests/latest'], ['DELETE', 'manifests/latest'], ['POST', 'blobs/uploads/'],
    ['GET', `blobs/${randomDigest()}`], ['GET', 'tags/list'], ['GET', `referrers/${randomDigest()}`],
  ] as const;

  it.each(bad.map((n) => [n.length > 40 ? `${n.slice(0, 20)}…(${n.length})` : n, n]))('%s → 400 NAME_INVALID on every endpoint', async (_label, name) => {
    for (const [method, suffix] of endpoints) {
      const body = method === 'PUT' ? Buffer.from('{}') : undefined;
      const headers: Record<string, string | number> = body ? { 'content-type': MT.ociManifest, 'content-length': body.length } : {};
      const res = await rawRequest(base, method, `/v2/${name}/${suffix}`, { headers, body });
      expect(res.status, `${method} /v2/${name.slice(0, 40)}/${suffix}`).toBeLessThan(500);
      expectRawOciError(res, 400, 'NAME_INVALID');
    }
  });

  it('a 255-character name is valid', async () => {
    const name = `${'a'.repeat(100)}/${'b'.repeat(154)}`;
    expect(name).toHaveLength(255);
    expect((await fetch(`${base}/v2/${name}/blobs/uploads/`, { method: 'POST' })).status).toBe(202);
  });

  it('nothing was written outside the data directory, and no bad name became a repository', async () => {
    const root = dirname(berth.dataDir);
    expect(readdirSync(root).filter((entry) => entry !== 'data')).toEqual([]); // on PostgreSQL + S3 there may be no data dir at all
    for (const f of listFiles(root)) expect(f.startsWith(berth.dataDir)).toBe(true);
    const { repositories } = (await (await fetch(`${base}/v2/_catalog`)).json()) as { repositories: string[] };
    for (const r of repositories) expect(r).toMatch(/^[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(\/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)*$/);
  });

  it('traversal through upload ids and digests is refused without 5xx', async () => {
    const name = uniqueName('bad');
    await startUpload(base, name);
    for (const path of [
      `/v2/${name}/blobs/uploads/..%2F..%2Fmetadata.db`, `/v2/${name}/blobs/uploads/../../metadata.db`,
      `/v2/${name}/blobs/sha256:..%2F..%2Fmetadata.db`, `/v2/${name}/manifests/sha256:..%2F..%2Fx`,
    ]) {
      const res = await rawRequest(base, 'GET', path);
      expect(res.status, path).toBeGreaterThanOrEqual(400);
      expect(res.status, path).toBeLessThan(500);
    }
    await expectOciError(await fetch(`${base}/v2/${name}/blobs/uploads/not-a-uuid`), 404, 'BLOB_UPLOAD_UNKNOWN');
    await expectOciError(await fetch(`${base}/v2/${name}/blobs/sha256:zz`), 400, 'DIGEST_INVALID');
  });
});

describe('methods', () => {
  const digest = `sha256:${'a'.repeat(64)}`;
  it.each([
    ['POST', 'manifests/latest'], ['PATCH', 'manifests/latest'], ['PUT', `blobs/${digest}`], ['PATCH', `blobs/${digest}`],
    ['POST', 'tags/list'], ['DELETE', 'tags/list'], ['PUT', `referrers/${digest}`], ['POST', 'blobs/uploads/00000000-0000-4000-8000-000000000000'],
  ])('%s on …/%s → 405 with Allow', async (method, suffix) => {
    const res = await fetch(`${base}/v2/bad/methods/${suffix}`, { method });
    expect(res.headers.get('allow')).toBeTruthy(); // RFC 9110 §15.5.6: a 405 MUST carry Allow
    await expectOciError(res, 405, 'UNSUPPORTED');
  });

  it('a method the registry implements nowhere (PROPFIND) → 405 or 501, not 404 (RFC 9110 §15.5.6, §15.6.2)', async () => {
    const res = await fetch(`${base}/v2/bad/methods/manifests/latest`, { method: 'PROPFIND' });
    expect([405, 501]).toContain(res.status);
    expect(res.headers.get('content-type')).toMatch(/^application\/json/);
  });

  it('DELETE /v2/ and PUT /v2/_catalog → 405', async () => {
    expect((await fetch(`${base}/v2/`, { method: 'DELETE' })).status).toBe(405);
    expect((await fetch(`${base}/v2/_catalog`, { method: 'PUT' })).status).toBe(405);
  });
});

describe('lengths and ranges on upload chunks', () => {
  const send = (path: string, headers: Record<string, string | number>, body: Bytes) =>
    rawRequest(base, 'PATCH', path, { headers: { 'content-type': 'application/octet-stream', ...headers }, body });

  it('Content-Length disagreeing with Content-Range → 400 SIZE_INVALID, nothing appended', async () => {
    const name = uniqueName('bad');
    const { data, location, path } = await sessionWith100(name);
    for (const n of [50, 150]) {
      const res = await send(path, { 'content-range': '100-199', 'content-length': n }, data.subarray(100, 100 + n));
      expectRawOciError(res, 400, 'SIZE_INVALID');
      expect(await uploadRange(location)).toBe('0-99');
    }
    await finish(name, location, data);
  });

  it('a chunked body longer or shorter than its Content-Range → 400 SIZE_INVALID, nothing appended', async () => {
    const name = uniqueName('bad');
    const { data, location, path } = await sessionWith100(name);
    for (const body of [randomBlob(150), randomBlob(60)]) {
      const res = await send(path, { 'content-range': '100-199', 'transfer-encoding': 'chunked' }, body).catch((err: Error) => err);
      await expectServerAlive();
      expect(res).not.toBeInstanceOf(Error);
      expectRawOciError(res as Awaited<ReturnType<typeof send>>, 400, 'SIZE_INVALID');
      expect(await uploadRange(location)).toBe('0-99');
    }
    await finish(name, location, data);
  });

  it.each(['bytes=abc', '150-100', '-1-5', '100-99999999999999999999', '100'])('malformed Content-Range %s → 4xx, nothing appended', async (range) => {
    const name = uniqueName('bad');
    const { data, location, path } = await sessionWith100(name);
    const res = await send(path, { 'content-range': range, 'content-length': 100 }, data.subarray(100));
    expect([400, 416]).toContain(res.status);
    expect(await uploadRange(location)).toBe('0-99');
  });

  it('a client that aborts mid-chunk leaves the session unchanged and the server healthy', async () => {
    const name = uniqueName('bad');
    const { data, location, path } = await sessionWith100(name);
    const big = randomBlob(1024 * 1024);
    const headers = { 'content-type': 'application/octet-stream', 'content-range': `100-${100 + big.length - 1}`, 'content-length': big.length };
    await expect(rawRequest(base, 'PATCH', path, { headers, body: big, abortAfter: 300 * 1024 })).rejects.toThrow();
    await expectServerAlive();
    expect(await uploadRange(location)).toBe('0-99');
    await finish(name, location, data);
  });

  it('a body shorter than its Content-Length (client half-closes) appends nothing', async () => {
    const name = uniqueName('bad');
    const { data, location, path } = await sessionWith100(name);
    const head = `PATCH ${path} HTTP/1.1\r\nHost: ${berth.host}\r\nContent-Type: application/octet-stream\r\nContent-Range: 100-199\r\nContent-Length: 100\r\n\r\n`;
    const answer = await rawSocket(base, Buffer.concat([Buffer.from(head), data.subarray(100, 160)]), 3000, 'end');
    expect(answer).not.toMatch(/^HTTP\/1\.1 (2|5)\d\d/);
    await expectServerAlive();
    expect(await uploadRange(location)).toBe('0-99');
    await finish(name, location, data);
  });

  it('a client whose connection resets right after the headers leaves the session unchanged', async () => {
    const name = uniqueName('bad');
    const { data, location, path } = await sessionWith100(name);
    for (const sent of [0, 10]) {
      const head = `PATCH ${path} HTTP/1.1\r\nHost: ${berth.host}\r\nContent-Range: 100-199\r\nContent-Length: 100\r\n\r\n`;
      await rawSocket(base, Buffer.concat([Buffer.from(head), data.subarray(100, 100 + sent)]), 3000, 'reset');
      await expectServerAlive();
      expect(await uploadRange(location)).toBe('0-99');
    }
    await finish(name, location, data);
  });

  it('an aborted streamed PATCH leaves a Range that matches what is stored', async () => {
    const name = uniqueName('bad');
    const data = randomBlob(600 * 1024);
    const location = await startUpload(base, name);
    const path = new URL(location).pathname;
    await expect(rawRequest(base, 'PATCH', path, { headers: { 'transfer-encoding': 'chunked' }, body: data, abortAfter: 200 * 1024 })).rejects.toThrow();
    await expectServerAlive();
    const range = await uploadRange(location);
    const stored = range === '0-0' ? 0 : Number(range!.split('-')[1]) + 1; // Distribution reports 0-0 for an empty session
    expect((await patchChunk(location, data.subarray(stored), stored)).status).toBe(202);
    expect((await fetch(resolveLocation(base, location, { digest: sha256(data) }), { method: 'PUT' })).status).toBe(201);
  });

  it('an aborted monolithic POST stores nothing', async () => {
    const name = uniqueName('bad');
    const data = randomBlob(512 * 1024);
    const headers = { 'content-type': 'application/octet-stream', 'content-length': data.length };
    await expect(rawRequest(base, 'POST', `/v2/${name}/blobs/uploads/?digest=${sha256(data)}`, { headers, body: data, abortAfter: 100_000 })).rejects.toThrow();
    await expectServerAlive();
    expect((await fetch(`${base}/v2/${name}/blobs/${sha256(data)}`, { method: 'HEAD' })).status).toBe(404);
  });
});

describe('malformed HTTP', () => {
  it('64 KiB of headers → 431 with a JSON error body, never 5xx', async () => {
    const request = `GET /v2/ HTTP/1.1\r\nHost: ${berth.host}\r\nX-Big: ${'a'.repeat(64 * 1024)}\r\n\r\n`;
    const answer = await rawSocket(base, request);
    expect(answer).toMatch(/^HTTP\/1\.1 431 /);
    expect(answer).toMatch(/\r\ncontent-type: application\/json/i);
    const body = JSON.parse(answer.slice(answer.indexOf('\r\n\r\n') + 4)) as { errors: { code: string }[] };
    expect(body.errors[0]!.code).toMatch(/^[A-Z_]+$/);
    await expectHealthy(base);
  });

  it.each([
    ['garbage', 'NOT HTTP AT ALL\r\n\r\n'],
    ['invalid Content-Length', `PATCH /v2/x/blobs/uploads/${crypto.randomUUID()} HTTP/1.1\r\nHost: h\r\nContent-Length: abc\r\n\r\n`],
    ['two Content-Lengths', `POST /v2/x/blobs/uploads/ HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab`],
  ])('%s → 400, server stays healthy', async (_label, request) => {
    expect(await rawSocket(base, request)).toMatch(/^HTTP\/1\.1 400 /);
    await expectHealthy(base);
  });
});

describe('tags', () => {
  const tags = ['-bad', '.bad', 'a'.repeat(129), 'bad+tag', 'bad%2Ftag', 'bad%20tag', 'caf%C3%A9'];
  it.each(tags.map((tag) => ({ tag, label: tag.length > 20 ? `${tag.length} characters` : tag })))('PUT with invalid tag $label → 400, nothing stored', async ({ tag }) => {
    const name = uniqueName('bad');
    const img = await pushImage(base, name, 'ok');
    const res = await putManifest(base, name, tag, img.body, MT.ociManifest);
    // The spec's code table has no tag code; Distribution's legacy TAG_INVALID is also accepted.
    await expectOciError(res, 400, ['MANIFEST_INVALID', 'TAG_INVALID']);
    expect(((await (await fetch(`${base}/v2/${name}/tags/list`)).json()) as { tags: string[] }).tags).toEqual(['ok']);
  });
});
