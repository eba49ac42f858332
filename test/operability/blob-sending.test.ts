/**
 * Blob bodies sent by the kernel (sendfile(2)) and through userland buffers must be
 * the same bytes on the wire: whole, ranged, on reused connections; and a client that
 * stops reading is cut off after the idle timeout either way.
 */
import { createHash, randomBytes } from 'node:crypto';
import { Agent, get } from 'node:http';
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startBerth, type BerthProcess } from '../support/berth-process.js';
import { sha256 } from '../conformance/helpers.js';

const blob = randomBytes(24 * 1024 * 1024 + 333);
const digest = sha256(blob);
const hex = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');

function fetchBytes(url: string, agent: Agent, headers: Record<string, string> = {}): Promise<{ status: number; headers: Record<string, unknown>; body: Buffer }> {
  return new Promise((resolve, reject) => {
    get(url, { agent, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    }).on('error', reject);
  });
}

describe.each([
  ['sendfile', {}],
  ['buffers', { BERTH_HTTP_ZERO_COPY_SENDS: 'false' }],
] as const)('blob bodies sent via %s', (via, env) => {
  let berth: BerthProcess;
  let url: string;
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });

  beforeAll(async () => {
    berth = await startBerth({ env: { BERTH_HTTP_IDLE_TIMEOUT_SECONDS: '1', ...env } });
    const pushed = await fetch(`${berth.url}/v2/sending/blob/blobs/uploads/?digest=${digest}`, { method: 'POST', body: blob });
    expect(pushed.status).toBe(201);
    url = `${berth.url}/v2/sending/blob/blobs/${digest}`;
  });
  afterAll(async () => {
    agent.destroy();
    await berth.stop();
  });

  it('sends the whole blob, twice over one kept-alive connection', async () => {
    const first = await fetchBytes(url, agent);
    const second = await fetchBytes(url, agent);
    for (const res of [first, second]) {
      expect(res.status).toBe(200);
      expect(res.headers['content-length']).toBe(String(blob.length));
      expect(hex(res.body)).toBe(hex(blob));
    }
    // The server logged how: the test would otherwise pass on the fallback alone.
    // The line is written once the server has closed the file, which can be just after the client has every byte.
    const logged = () => berth.logs().split('\n').filter((l) => l.includes(`"path":"/v2/sending/blob/blobs/${digest}"`) && l.includes('"bytesOut"'));
    for (let waited = 0; logged().length < 2 && waited < 5_000; waited += 50) await new Promise((resolve) => setTimeout(resolve, 50));
    const lines = logged();
    expect(lines.length).toBe(2);
    for (const line of lines) expect(JSON.parse(line)).toMatchObject({ status: 200, bytesOut: blob.length, via });
  });

  it.each([
    ['inside the first bytes', 10, 20],
    ['across where the kernel takes over', 60_000, 2_000_000],
    ['to the last byte', 5_000_000, blob.length - 1],
  ])('sends a range %s', async (_what, start, end) => {
    const res = await fetchBytes(url, agent, { range: `bytes=${start}-${end}` });
    expect(res.status).toBe(206);
    expect(res.headers['content-range']).toBe(`bytes ${start}-${end}/${blob.length}`);
    expect(hex(res.body)).toBe(hex(blob.subarray(start, end + 1)));
  });

  it('cuts off a client that stops reading, after the idle timeout, and keeps serving others', async () => {
    const socket = connect(berth.port, '127.0.0.1');
    await new Promise((resolve) => socket.once('connect', resolve));
    socket.write(`GET /v2/sending/blob/blobs/${digest} HTTP/1.1\r\nHost: x\r\n\r\n`);
    let received = 0;
    socket.on('data', (chunk: Buffer) => (received += chunk.length));
    await new Promise((resolve) => socket.once('data', resolve));
    socket.pause(); // takes nothing more: the socket buffers fill and the send stalls
    const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
    // Another client meanwhile is served in full.
    expect(hex((await fetchBytes(url, agent)).body)).toBe(hex(blob));
    // A paused socket cannot see the server close it: wait out the timeout, then read what was sent.
    await new Promise((resolve) => setTimeout(resolve, 2_500));
    socket.resume();
    const ended = await Promise.race([closed.then(() => true), new Promise<boolean>((resolve) => setTimeout(() => resolve(false), 10_000))]);
    expect(ended, 'the stalled connection was closed').toBe(true);
    expect(received).toBeLessThan(blob.length);
    expect(berth.logs()).toMatch(via === 'sendfile' ? /"code":"ETIMEDOUT"/ : /"bytesOut":\d+,"via":"buffers"/);
  });
});
