import { createHash } from 'node:crypto';
import { request } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startBerth, type BerthProcess } from '../support/berth-process.js';

/** Sends `body` in small pieces with pauses, as a slow client on a bad link would. */
function slowUpload(berth: BerthProcess, path: string, body: Buffer, pieceBytes: number, pauseMs: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(`${berth.url}${path}`, { method: 'POST', headers: { 'content-length': body.length, 'content-type': 'application/octet-stream' } }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', reject);
    void (async () => {
      for (let i = 0; i < body.length; i += pieceBytes) {
        req.write(body.subarray(i, i + pieceBytes));
        await sleep(pauseMs);
      }
      req.end();
    })();
  });
}

describe('operability', () => {
  let berth: BerthProcess;
  beforeAll(async () => {
    berth = await startBerth({ env: { BERTH_HTTP_IDLE_TIMEOUT_SECONDS: '1' } });
  });
  afterAll(async () => {
    await berth.stop();
  });

  it('answers /healthz and /readyz', async () => {
    expect((await fetch(`${berth.url}/healthz`)).status).toBe(200);
    const ready = await fetch(`${berth.url}/readyz`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toEqual({ status: 'ready' });
  });

  it('lets a slow upload that keeps moving run past the idle timeout', async () => {
    const body = Buffer.alloc(24, 7);
    const digest = `sha256:${createHash('sha256').update(body).digest('hex')}`;
    // 12 pieces, 400 ms apart: ~5 s in total against a 1 s idle timeout.
    const status = await slowUpload(berth, `/v2/slow/blobs/uploads/?digest=${digest}`, body, 2, 400);
    expect(status).toBe(201);
    expect((await fetch(`${berth.url}/v2/slow/blobs/${digest}`, { method: 'HEAD' })).status).toBe(200);
  });

  it('closes a connection that goes silent', async () => {
    const closed = await new Promise<boolean>((resolve) => {
      const req = request(`${berth.url}/v2/silent/blobs/uploads/?digest=sha256:${'a'.repeat(64)}`, { method: 'POST', headers: { 'content-length': 100 } });
      req.on('error', () => resolve(true));
      req.on('response', () => resolve(true));
      req.write('x');
      setTimeout(() => resolve(false), 5000).unref();
    });
    expect(closed).toBe(true);
  });

  it('logs one JSON line per request with its id, and never the Authorization header', async () => {
    const res = await fetch(`${berth.url}/v2/_catalog`, { headers: { authorization: 'Basic c2VjcmV0OnBhc3N3b3Jk', 'x-request-id': 'trace-me-123' } });
    expect(res.headers.get('x-request-id')).toBe('trace-me-123');
    await sleep(200);
    const lines = berth.logs().split('\n').filter((l) => l.includes('trace-me-123'));
    expect(lines).toHaveLength(1);
    const entry = JSON.parse(lines[0]!);
    expect(entry).toMatchObject({ method: 'GET', path: '/v2/_catalog', status: 200, msg: 'request' });
    expect(entry.durationMs).toBeTypeOf('number');
    expect(entry.bytesOut).toBeGreaterThan(0);
    expect(berth.logs()).not.toContain('c2VjcmV0OnBhc3N3b3Jk');
  });

  it('survives a client that hangs up in the middle of a blob download, and serves the next one whole', async () => {
    const body = Buffer.alloc(8 * 1024 * 1024, 3);
    body.write('not all the same bytes');
    const digest = `sha256:${createHash('sha256').update(body).digest('hex')}`;
    const put = await fetch(`${berth.url}/v2/pump/blobs/uploads/?digest=${digest}`, { method: 'POST', body, headers: { 'content-type': 'application/octet-stream' } });
    expect(put.status).toBe(201);
    // Hang up at different points, many times: a failure must never outlive its request.
    for (let i = 0; i < 20; i++) {
      await new Promise<void>((resolve) => {
        let seen = 0;
        const req = request(`${berth.url}/v2/pump/blobs/${digest}`, { agent: false }, (res) => {
          res.on('data', (chunk: Buffer) => {
            seen += chunk.length;
            if (seen > i * 256 * 1024) req.destroy();
          });
        });
        req.on('error', () => undefined);
        req.on('close', () => resolve());
        req.end();
      });
    }
    expect((await fetch(`${berth.url}/readyz`)).status).toBe(200);
    const again = Buffer.from(await (await fetch(`${berth.url}/v2/pump/blobs/${digest}`)).arrayBuffer());
    expect(`sha256:${createHash('sha256').update(again).digest('hex')}`).toBe(digest);
  });

  it('finishes in-flight requests on SIGTERM, then exits cleanly', async () => {
    const own = await startBerth();
    const body = Buffer.alloc(8, 1);
    const digest = `sha256:${createHash('sha256').update(body).digest('hex')}`;
    const upload = slowUpload(own, `/v2/drain/blobs/uploads/?digest=${digest}`, body, 1, 150);
    await sleep(300);
    const exit = own.stop();
    expect(await upload).toBe(201);
    expect(await exit).toBe(0);
    expect(own.logs()).toContain('shut down cleanly');
  });
});

describe('data directory lock', () => {
  it('refuses a second server on the same data directory, and takes over after a crash', async () => {
    const first = await startBerth();
    await expect(startBerth({ dataDir: first.dataDir })).rejects.toThrow(/in use by another Berth process/);
    await first.kill();
    const second = await startBerth({ dataDir: first.dataDir });
    expect((await fetch(`${second.url}/readyz`)).status).toBe(200);
    expect(await second.stop()).toBe(0);
  });
});

describe('startup validation', () => {
  it('refuses a bad setting with a message naming it, and exit code 2', async () => {
    await expect(startBerth({ env: { BERTH_LOG_LEVEL: 'loud' } })).rejects.toThrow(/exited with 2[\s\S]*log\.level \(from environment\)/);
  });
});
