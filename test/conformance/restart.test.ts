/**
 * Durability across restarts and crashes. The spec's "Resumable Push" use case
 * needs upload sessions to outlive the process; a registry that acknowledged a
 * push (201) must serve those exact bytes after a SIGKILL, and must never serve
 * corrupt content for pushes it did not acknowledge.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startBerth, type BerthProcess } from '../support/berth-process.js';
import {
  MT, bytes, descriptorOf, imageManifest, patchChunk, randomBlob, resolveLocation, sha256, startUpload, stopAndClean,
  uploadRange, type Bytes,
} from './helpers.js';

let berth: BerthProcess;
beforeAll(async () => {
  berth = await startBerth();
});
afterAll(() => stopAndClean(berth));

/** Stops (SIGTERM) or crashes (SIGKILL) the server, then starts it again on the same data directory and port. */
async function restart(how: 'stop' | 'kill'): Promise<void> {
  if (how === 'stop') expect(await berth.stop()).toBe(0);
  else await berth.kill();
  berth = await startBerth({ dataDir: berth.dataDir, port: berth.port });
}

/** Bytes stored in a session according to its Range (only valid for sessions holding 0 or ≥ 2 bytes). */
const storedBytes = (range: string | null): number => (range === null || range === '0-0' ? 0 : Number(range.split('-')[1]) + 1);

describe('a chunked upload survives a restart', () => {
  it.each(['stop', 'kill'] as const)('after %s: same Range, then PATCH the rest and PUT; the blob hashes to its digest', async (how) => {
    const name = `restart/${how}`;
    const data = randomBlob(3 * 1024 * 1024 + 77);
    const half = Math.floor(data.length / 2);
    const location = await startUpload(berth.url, name);
    expect((await patchChunk(location, data.subarray(0, half), 0)).status).toBe(202);

    await restart(how);

    expect(await uploadRange(location)).toBe(`0-${half - 1}`); // same port, so the same Location still works
    const res = await patchChunk(location, data.subarray(half), half);
    expect(res.status).toBe(202);
    expect(res.headers.get('range')).toBe(`0-${data.length - 1}`);
    const put = await fetch(resolveLocation(berth.url, res.headers.get('location'), { digest: sha256(data) }), { method: 'PUT' });
    expect(put.status).toBe(201);
    const pulled = await bytes(await fetch(`${berth.url}/v2/${name}/blobs/${sha256(data)}`));
    expect(sha256(pulled)).toBe(sha256(data));
  });
});

interface Pushed {
  name: string;
  digest: string;
  body: Bytes;
  tag?: string;
}
interface Session {
  location: string;
  data: Bytes;
  /** Bytes acknowledged by a 202 PATCH. */
  acked: number;
}

describe('kill -9 during many concurrent pushes', () => {
  const ackedBlobs: Pushed[] = [];
  const ackedManifests: Pushed[] = [];
  const attempted: Pushed[] = []; // everything sent, acknowledged or not
  const sessions: Session[] = []; // chunked uploads whose POST was acknowledged
  const WORKERS = 10;
  const ITERATIONS = 20;

  /** One client: blob (monolithic or chunked), then a manifest over it, in a bounded loop; stops at the first network error. */
  async function worker(id: number, url: string): Promise<void> {
    const name = `crash/w${id}`;
    const signal = () => AbortSignal.timeout(30_000);
    for (let i = 0; i < ITERATIONS; i++) {
      const data = randomBlob(16 * 1024 + Math.floor(Math.random() * 512 * 1024));
      const digest = sha256(data);
      attempted.push({ name, digest, body: data });
      if (id % 2 === 0) {
        const res = await fetch(`${url}/v2/${name}/blobs/uploads/?digest=${digest}`, { method: 'POST', body: data, signal: signal() });
        if (res.status !== 201) throw new Error(`monolithic push answered ${res.status}`);
      } else {
        const session: Session = { location: await startUpload(url, name), data, acked: 0 };
        sessions.push(session);
        const step = Math.ceil(data.length / 4);
        for (let start = 0; start < data.length; start += step) {
          const res = await patchChunk(session.location, data.subarray(start, start + step), start);
          if (res.status !== 202) throw new Error(`PATCH answered ${res.status}`);
          session.acked = Math.min(start + step, data.length);
        }
        const put = await fetch(resolveLocation(url, session.location, { digest }), { method: 'PUT', signal: signal() });
        if (put.status !== 201) throw new Error(`PUT answered ${put.status}`);
        sessions.splice(sessions.indexOf(session), 1);
      }
      ackedBlobs.push({ name, digest, body: data });

      const body = Buffer.from(JSON.stringify(imageManifest(descriptorOf(data, MT.ociConfig), [descriptorOf(data, MT.ociLayer)])));
      const tag = `t${i}`;
      attempted.push({ name, digest: sha256(body), body, tag });
      const res = await fetch(`${url}/v2/${name}/manifests/${tag}`, { method: 'PUT', headers: { 'content-type': MT.ociManifest }, body, signal: signal() });
      if (res.status !== 201) throw new Error(`manifest PUT answered ${res.status}`);
      ackedManifests.push({ name, digest: sha256(body), body, tag });
    }
  }

  beforeAll(async () => {
    const url = berth.url;
    const results = Array.from({ length: WORKERS }, (_, id) => worker(id, url).then(() => 'done', (err: Error) => err.message));
    // Crash once a good number of pushes were acknowledged, while the rest are mid-flight.
    const deadline = Date.now() + 30_000;
    while (ackedBlobs.length + ackedManifests.length < 40 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    await berth.kill();
    const outcomes = await Promise.all(results);
    expect(outcomes.filter((o) => o !== 'done').length, 'workers interrupted by the crash').toBeGreaterThan(0);
    berth = await startBerth({ dataDir: berth.dataDir, port: berth.port });
  });

  it('every acknowledged blob is pullable and hashes to its digest', async () => {
    expect(ackedBlobs.length).toBeGreaterThan(10);
    for (const b of ackedBlobs) {
      const res = await fetch(`${berth.url}/v2/${b.name}/blobs/${b.digest}`);
      expect(res.status, b.digest).toBe(200);
      expect(sha256(await bytes(res))).toBe(b.digest);
    }
  });

  it('every acknowledged manifest is pullable by digest and by tag, byte for byte', async () => {
    expect(ackedManifests.length).toBeGreaterThan(10);
    for (const m of ackedManifests) {
      for (const ref of [m.digest, m.tag!]) {
        const res = await fetch(`${berth.url}/v2/${m.name}/manifests/${ref}`, { headers: { accept: MT.ociManifest } });
        expect(res.status, `${m.name}:${ref}`).toBe(200);
        expect((await bytes(res)).equals(m.body)).toBe(true);
      }
    }
  });

  it('nothing un-acknowledged is served corrupt: each is absent or exact', async () => {
    for (const p of attempted) {
      const kind = p.tag ? 'manifests' : 'blobs';
      for (const ref of p.tag ? [p.digest, p.tag] : [p.digest]) {
        const res = await fetch(`${berth.url}/v2/${p.name}/${kind}/${ref}`, { headers: { accept: MT.ociManifest } });
        expect([200, 404], `${p.name} ${ref}`).toContain(res.status);
        if (res.status === 200) expect(sha256(await bytes(res)), `${p.name} ${ref}`).toBe(p.digest);
      }
    }
  });

  it('sessions open at the crash report a truthful Range and can be completed', async () => {
    for (const s of sessions) {
      const status = await fetch(s.location);
      if (status.status === 404) {
        // Only acceptable if the closing PUT was in flight and completed: then the blob is there, exact.
        const blob = await fetch(`${berth.url}${new URL(s.location).pathname.replace(/uploads\/.*$/, sha256(s.data))}`);
        expect(blob.status, `session ${s.location} vanished`).toBe(200);
        expect(sha256(await bytes(blob))).toBe(sha256(s.data));
        continue;
      }
      expect(status.status).toBe(204);
      const stored = storedBytes(status.headers.get('range'));
      expect(stored).toBeGreaterThanOrEqual(s.acked); // an acknowledged chunk is never lost
      if (stored < s.data.length) expect((await patchChunk(s.location, s.data.subarray(stored), stored)).status).toBe(202);
      const put = await fetch(resolveLocation(berth.url, s.location, { digest: sha256(s.data) }), { method: 'PUT' });
      expect(put.status).toBe(201); // 201 proves the stored prefix was exactly the bytes sent
    }
  });

  it('the restarted registry accepts new pushes', async () => {
    const data = randomBlob(1000);
    const res = await fetch(`${berth.url}/v2/crash/after/blobs/uploads/?digest=${sha256(data)}`, { method: 'POST', body: data });
    expect(res.status).toBe(201);
  });
});
