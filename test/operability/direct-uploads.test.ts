/**
 * Upload bodies of MIN_DIRECT_BYTES (256 KiB) and more, with a Content-Length, on plain TCP,
 * are received by a native thread straight from the socket into the staging file
 * (src/http/distribution/direct-body.ts, native/receive.c); smaller ones, and every body
 * with http.directUploads=false, stream through Node. Both ways must store the same bytes
 * and leave a session in the same state when a client fails mid-body. What differs on the
 * wire: a directly received body costs its connection the keep-alive (Connection: close).
 */
import { statSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startBerth, type BerthProcess } from '../support/berth-process.js';
import {
  bytes,
  expectOciError,
  expectRawOciError,
  patchChunk,
  randomBlob,
  randomDigest,
  rawRequest,
  resolveLocation,
  sha256,
  sha512,
  startUpload,
  stopAndClean,
  uniqueName,
  uploadRange,
  type Bytes,
} from '../conformance/helpers.js';

const KiB = 1024;
const MiB = 1024 * KiB;
/** MIN_DIRECT_BYTES in src/http/distribution/direct-body.ts. */
const MIN_DIRECT = 256 * KiB;

/** `0-<last byte>`: the Range an upload session reports after `size` bytes. */
const rangeAfter = (size: number) => `0-${Math.max(size - 1, 0)}`;

interface RawReply {
  status: number;
  headers: Record<string, string>;
  body: Buffer;
}

/**
 * One client connection, spoken to byte by byte: requests are written as given and
 * responses read one at a time, so a test sees whether the connection outlives them.
 */
class Connection {
  private received = Buffer.alloc(0);
  private wake: (() => void) | undefined;
  /** Resolves when the connection is closed (by either side). */
  readonly closed: Promise<void>;
  isClosed = false;

  private constructor(readonly socket: Socket) {
    socket.on('data', (chunk: Buffer) => {
      this.received = Buffer.concat([this.received, chunk]);
      this.wake?.();
    });
    // A reset after the server answered and closed must not fail the test by itself: the assertions decide.
    socket.on('error', () => undefined);
    this.closed = new Promise((resolve) =>
      socket.once('close', () => {
        this.isClosed = true;
        this.wake?.();
        resolve();
      }),
    );
  }

  static async open(port: number): Promise<Connection> {
    const socket = connect(port, '127.0.0.1');
    await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
    return new Connection(socket);
  }

  /** Resolves once the bytes are handed to the kernel. */
  write(data: string | Buffer): Promise<void> {
    return new Promise((resolve, reject) => this.socket.write(data, (err) => (err ? reject(err) : resolve())));
  }

  /** The next response (an interim 1xx included); fails when the connection closes before a whole one came. */
  async response(timeoutMs = 15_000): Promise<RawReply> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const reply = this.take();
      if (reply) return reply;
      if (this.isClosed) throw new Error(`connection closed before a whole response (${this.received.length} bytes: ${this.received.toString('latin1').slice(0, 200)})`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error('no response in time');
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.wake = undefined;
    }
  }

  /** Whether the server closes the connection within `ms`. */
  async closesWithin(ms: number): Promise<boolean> {
    return Promise.race([this.closed.then(() => true), sleep(ms).then(() => false)]);
  }

  destroy(): void {
    this.socket.destroy();
  }

  private take(): RawReply | undefined {
    const end = this.received.indexOf('\r\n\r\n');
    if (end < 0) return undefined;
    const [statusLine, ...lines] = this.received.subarray(0, end).toString('latin1').split('\r\n');
    const headers: Record<string, string> = {};
    for (const line of lines) {
      const colon = line.indexOf(':');
      headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
    }
    const status = Number(statusLine!.split(' ')[1]);
    const length = status < 200 || status === 204 ? 0 : Number(headers['content-length'] ?? 0);
    if (this.received.length < end + 4 + length) return undefined;
    const body = this.received.subarray(end + 4, end + 4 + length);
    this.received = this.received.subarray(end + 4 + length);
    return { status, headers, body };
  }
}

/**
 * Waits (up to 5 s) until the size of the session's staging file (`<data>/uploads/<id>`, the
 * filesystem store's) satisfies `until`, and returns that size: a body being received grows the
 * file, and a failed one is cut back off it before its request is over.
 */
async function stagedSize(berth: BerthProcess, uploadPath: string, until: (size: number | undefined) => boolean): Promise<number | undefined> {
  const file = join(berth.dataDir, 'uploads', uploadPath.split('/').at(-1)!);
  const staged = () => {
    try {
      return statSync(file).size;
    } catch {
      return undefined;
    }
  };
  for (let waited = 0; !until(staged()) && waited < 5_000; waited += 20) await sleep(20);
  return staged();
}

/** A request head as a client writes it. */
function head(method: string, path: string, headers: Record<string, string | number>): string {
  return `${method} ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\n${Object.entries(headers)
    .map(([k, v]) => `${k}: ${v}\r\n`)
    .join('')}\r\n`;
}

describe.each([
  ['directly', {}],
  ['streamed through Node', { BERTH_HTTP_DIRECT_UPLOADS: 'false' }],
] as const)('upload bodies received %s', (how, env) => {
  const direct = how === 'directly';
  let berth: BerthProcess;

  beforeAll(async () => {
    berth = await startBerth({ env });
  });
  afterAll(async () => {
    await stopAndClean(berth);
  });

  /** The blob as the registry serves it. */
  async function pull(name: string, digest: string): Promise<Bytes> {
    const res = await fetch(`${berth.url}/v2/${name}/blobs/${digest}`);
    expect(res.status).toBe(200);
    return bytes(res);
  }

  /** Asserts the blob is stored as exactly `data`. */
  async function expectStored(name: string, data: Bytes): Promise<void> {
    const served = await pull(name, sha256(data));
    expect(served.length).toBe(data.length);
    expect(sha256(served)).toBe(sha256(data));
  }

  /**
   * The answer to a body of `size` bytes shows which way it came: a direct receive closes
   * the connection; a streamed one keeps it (fetch asks for keep-alive).
   */
  function expectConnectionFor(res: Response, size: number): void {
    expect(res.headers.get('connection'), `Connection after a ${size}-byte body`).toBe(direct && size >= MIN_DIRECT ? 'close' : 'keep-alive');
  }

  /** The request log line for `path` with `status` (waits for it: the line is written once the response is). */
  async function logLine(path: string, status: number): Promise<{ status: number; bytesIn: number } | undefined> {
    const find = () =>
      berth
        .logs()
        .split('\n')
        .filter((l) => l.includes(`"path":"${path}"`) && l.includes('"bytesIn"'))
        .map((l) => JSON.parse(l) as { status: number; bytesIn: number })
        .find((l) => l.status === status);
    for (let waited = 0; !find() && waited < 5_000; waited += 50) await sleep(50);
    return find();
  }

  it('stores a monolithic push (POST ?digest=) and a POST + PUT with the whole body', async () => {
    const name = uniqueName('direct/mono');
    const blob = randomBlob(3 * MiB + 17);
    const digest = sha256(blob);

    const created = await fetch(`${berth.url}/v2/${name}/blobs/uploads/?digest=${digest}`, { method: 'POST', body: blob });
    expect(created.status, await created.clone().text()).toBe(201);
    expect(created.headers.get('docker-content-digest')).toBe(digest);
    expectConnectionFor(created, blob.length);
    await expectStored(name, blob);

    const other = uniqueName('direct/mono');
    const location = await startUpload(berth.url, other);
    const put = await fetch(resolveLocation(berth.url, location, { digest }), { method: 'PUT', headers: { 'content-type': 'application/octet-stream' }, body: blob });
    expect(put.status, await put.clone().text()).toBe(201);
    expect(put.headers.get('docker-content-digest')).toBe(digest);
    expectConnectionFor(put, blob.length);
    await expectStored(other, blob);
  });

  it('completes a sha512 digest from the staged bytes of a large body', async () => {
    const name = uniqueName('direct/sha512');
    const blob = randomBlob(MiB + 3);
    const created = await fetch(`${berth.url}/v2/${name}/blobs/uploads/?digest=${sha512(blob)}`, { method: 'POST', body: blob });
    expect(created.status, await created.clone().text()).toBe(201);
    expectConnectionFor(created, blob.length);
    const res = await fetch(`${berth.url}/v2/${name}/blobs/${sha512(blob)}`);
    expect(res.status).toBe(200);
    expect(sha256(await bytes(res))).toBe(sha256(blob));
  });

  it('stores a chunked push whose chunks are below and above the direct threshold', async () => {
    const name = uniqueName('direct/chunked');
    const sizes = [100 * KiB, MiB + 5, 10 * KiB, 2 * MiB];
    const last = randomBlob(300 * KiB);
    const chunks = sizes.map((n) => randomBlob(n));
    const blob = Buffer.concat([...chunks, last]);

    let location = await startUpload(berth.url, name);
    let offset = 0;
    for (const chunk of chunks) {
      const res = await patchChunk(location, chunk, offset);
      expect(res.status, await res.clone().text()).toBe(202);
      offset += chunk.length;
      expect(res.headers.get('range'), `Range after ${offset} bytes`).toBe(rangeAfter(offset));
      expectConnectionFor(res, chunk.length);
      location = resolveLocation(berth.url, res.headers.get('location'));
      expect(await uploadRange(location)).toBe(rangeAfter(offset));
    }

    const put = await fetch(resolveLocation(berth.url, location, { digest: sha256(blob) }), {
      method: 'PUT',
      headers: { 'content-type': 'application/octet-stream', 'content-range': `${offset}-${offset + last.length - 1}` },
      body: last,
    });
    expect(put.status, await put.clone().text()).toBe(201);
    expect(put.headers.get('docker-content-digest')).toBe(sha256(blob));
    expectConnectionFor(put, last.length);
    await expectStored(name, blob);
  });

  it('streams a large body without a Content-Length (chunked transfer encoding), keeping the connection', async () => {
    const name = uniqueName('direct/te');
    const blob = randomBlob(MiB + 11);
    const conn = await Connection.open(berth.port);
    try {
      await conn.write(head('POST', `/v2/${name}/blobs/uploads/?digest=${sha256(blob)}`, { 'transfer-encoding': 'chunked', 'content-type': 'application/octet-stream' }));
      for (let i = 0; i < blob.length; i += 300 * KiB) {
        const piece = blob.subarray(i, i + 300 * KiB);
        await conn.write(Buffer.concat([Buffer.from(`${piece.length.toString(16)}\r\n`), piece, Buffer.from('\r\n')]));
      }
      await conn.write('0\r\n\r\n');
      const res = await conn.response();
      expect(res.status, res.body.toString()).toBe(201);
      expect(res.headers.connection).toBe('keep-alive');
    } finally {
      conn.destroy();
    }
    await expectStored(name, blob);
  });

  it('refuses a large body that does not hash to its digest, and stores nothing', async () => {
    const name = uniqueName('direct/bad-digest');
    const blob = randomBlob(MiB + 1);
    const claimed = randomDigest();

    const mono = await fetch(`${berth.url}/v2/${name}/blobs/uploads/?digest=${claimed}`, { method: 'POST', body: blob });
    expectConnectionFor(mono, blob.length);
    await expectOciError(mono, 400, 'DIGEST_INVALID');
    for (const digest of [sha256(blob), claimed]) {
      expect((await fetch(`${berth.url}/v2/${name}/blobs/${digest}`, { method: 'HEAD' })).status, `HEAD ${digest}`).toBe(404);
    }

    // The same as the last chunk of a session: the session is discarded with it.
    const location = await startUpload(berth.url, name);
    const put = await fetch(resolveLocation(berth.url, location, { digest: claimed }), { method: 'PUT', body: blob });
    expectConnectionFor(put, blob.length);
    await expectOciError(put, 400, 'DIGEST_INVALID');
    await expectOciError(await fetch(location), 404, 'BLOB_UPLOAD_UNKNOWN');
    for (const digest of [sha256(blob), claimed]) {
      expect((await fetch(`${berth.url}/v2/${name}/blobs/${digest}`, { method: 'HEAD' })).status, `HEAD ${digest}`).toBe(404);
    }
  });

  it(`${direct ? 'closes' : 'keeps'} the connection after a large body, and keeps it after a small one`, async () => {
    const name = uniqueName('direct/keepalive');
    const location = await startUpload(berth.url, name);
    const path = new URL(location).pathname;
    const small = randomBlob(100 * KiB);
    const large = randomBlob(MiB + 7);

    const conn = await Connection.open(berth.port);
    try {
      // A small chunk streams: the same connection then serves another request.
      await conn.write(head('PATCH', path, { 'content-length': small.length, 'content-range': `0-${small.length - 1}` }));
      await conn.write(small);
      const patched = await conn.response();
      expect(patched.status, patched.body.toString()).toBe(202);
      expect(patched.headers.range).toBe(rangeAfter(small.length));
      expect(patched.headers.connection).toBe('keep-alive');
      await conn.write(head('GET', path, {}));
      const status = await conn.response();
      expect(status.status).toBe(204);
      expect(status.headers.range).toBe(rangeAfter(small.length));
      expect(conn.isClosed).toBe(false);

      // A large chunk on the same, reused connection.
      await conn.write(head('PATCH', path, { 'content-length': large.length, 'content-range': `${small.length}-${small.length + large.length - 1}` }));
      await conn.write(large);
      const patchedLarge = await conn.response();
      expect(patchedLarge.status, patchedLarge.body.toString()).toBe(202);
      expect(patchedLarge.headers.range).toBe(rangeAfter(small.length + large.length));
      if (direct) {
        expect(patchedLarge.headers.connection).toBe('close');
        // The server really closes it, without the client doing anything.
        expect(await conn.closesWithin(5_000), 'the server closed the connection').toBe(true);
      } else {
        expect(patchedLarge.headers.connection).toBe('keep-alive');
        await conn.write(head('GET', path, {}));
        const after = await conn.response();
        expect(after.status).toBe(204);
        expect(after.headers.range).toBe(rangeAfter(small.length + large.length));
        expect(conn.isClosed).toBe(false);
      }
    } finally {
      conn.destroy();
    }

    const blob = Buffer.concat([small, large]);
    const put = await fetch(resolveLocation(berth.url, location, { digest: sha256(blob) }), { method: 'PUT' });
    expect(put.status, await put.clone().text()).toBe(201);
    await expectStored(name, blob);
  });

  it.each([
    ['closes its socket', (c: Connection) => c.socket.destroy()],
    ['resets its socket', (c: Connection) => c.socket.resetAndDestroy()],
  ])('leaves the session as it was when a client %s mid-body, and takes the retried chunk', async (_what, hangUp) => {
    const name = uniqueName('direct/abort');
    const before = randomBlob(300 * KiB);
    const chunk = randomBlob(2 * MiB);
    const blob = Buffer.concat([before, chunk]);
    let location = await startUpload(berth.url, name);
    const first = await patchChunk(location, before, 0);
    expect(first.status).toBe(202);
    location = resolveLocation(berth.url, first.headers.get('location'));
    const path = new URL(location).pathname;

    const conn = await Connection.open(berth.port);
    await conn.write(head('PATCH', path, { 'content-length': chunk.length, 'content-range': `${before.length}-${blob.length - 1}` }));
    await conn.write(chunk.subarray(0, MiB));
    // Hang up once the server is writing the chunk into the session's staging file.
    expect(await stagedSize(berth, path, (n) => n !== undefined && n > before.length), 'staged bytes while the PATCH is received').toBeGreaterThan(before.length);
    hangUp(conn);
    await conn.closed;

    // What the failed PATCH wrote is cut off the staging file again; the session reports what it had.
    expect(await stagedSize(berth, path, (n) => n === before.length), 'staged bytes after the failed PATCH').toBe(before.length);
    expect(await uploadRange(location)).toBe(rangeAfter(before.length));

    // A retry on a new connection takes the same chunk from the same offset.
    const retried = await patchChunk(location, chunk, before.length);
    expect(retried.status, await retried.clone().text()).toBe(202);
    expect(retried.headers.get('range')).toBe(rangeAfter(blob.length));
    location = resolveLocation(berth.url, retried.headers.get('location'));
    const put = await fetch(resolveLocation(berth.url, location, { digest: sha256(blob) }), { method: 'PUT' });
    expect(put.status, await put.clone().text()).toBe(201);
    await expectStored(name, blob);
  });

  it('refuses a large chunk at the wrong offset with 416 and the Range, and takes it at the right one', async () => {
    const name = uniqueName('direct/order');
    const first = randomBlob(300 * KiB);
    const second = randomBlob(MiB + 1);
    let location = await startUpload(berth.url, name);
    const patched = await patchChunk(location, first, 0);
    expect(patched.status).toBe(202);
    location = resolveLocation(berth.url, patched.headers.get('location'));

    const wrong = await patchChunk(location, second, first.length + 10);
    expect(wrong.status).toBe(416);
    expect(wrong.headers.get('range')).toBe(rangeAfter(first.length));
    await wrong.arrayBuffer();
    expect(await uploadRange(location)).toBe(rangeAfter(first.length));

    const right = await patchChunk(location, second, first.length);
    expect(right.status, await right.clone().text()).toBe(202);
    expect(right.headers.get('range')).toBe(rangeAfter(first.length + second.length));
    const blob = Buffer.concat([first, second]);
    const put = await fetch(resolveLocation(berth.url, right.headers.get('location'), { digest: sha256(blob) }), { method: 'PUT' });
    expect(put.status, await put.clone().text()).toBe(201);
    await expectStored(name, blob);
  });

  it('keeps concurrent large pushes apart', async () => {
    const name = uniqueName('direct/concurrent');
    const blobs = Array.from({ length: 8 }, (_, i) => randomBlob(2 * MiB + 1000 * i));
    const answers = await Promise.all(blobs.map((blob) => fetch(`${berth.url}/v2/${name}/blobs/uploads/?digest=${sha256(blob)}`, { method: 'POST', body: blob })));
    for (const res of answers) expect(res.status, await res.clone().text()).toBe(201);
    for (const blob of blobs) await expectStored(name, blob);
  });

  it('answers a client that waits for 100 Continue before sending a large body', async () => {
    const name = uniqueName('direct/continue');
    const blob = randomBlob(2 * MiB + 9);
    const conn = await Connection.open(berth.port);
    try {
      await conn.write(head('POST', `/v2/${name}/blobs/uploads/?digest=${sha256(blob)}`, { 'content-length': blob.length, expect: '100-continue' }));
      const interim = await conn.response();
      expect(interim.status).toBe(100);
      await conn.write(blob);
      const res = await conn.response();
      expect(res.status, res.body.toString()).toBe(201);
      expect(res.headers['docker-content-digest']).toBe(sha256(blob));
      expect(res.headers.connection).toBe(direct ? 'close' : 'keep-alive');
    } finally {
      conn.destroy();
    }
    await expectStored(name, blob);
  });

  it('logs the bytes of a large body as bytesIn', async () => {
    const name = uniqueName('direct/log');
    const blob = randomBlob(3 * MiB + 17);
    const res = await fetch(`${berth.url}/v2/${name}/blobs/uploads/?digest=${sha256(blob)}`, { method: 'POST', body: blob });
    expect(res.status).toBe(201);
    expectConnectionFor(res, blob.length);

    let location = await startUpload(berth.url, name);
    const chunk = randomBlob(MiB + 5);
    const patched = await patchChunk(location, chunk, 0);
    expect(patched.status).toBe(202);
    expectConnectionFor(patched, chunk.length);
    location = resolveLocation(berth.url, patched.headers.get('location'));

    for (const [path, size, status] of [
      [`/v2/${name}/blobs/uploads/`, blob.length, 201],
      [new URL(location).pathname, chunk.length, 202],
    ] as const) {
      const line = await logLine(path, status);
      expect(line, `the log line for ${path}`).toBeDefined();
      const { bytesIn } = line!;
      // The socket's reads since the connection's previous request ended (the read that carried the
      // head and the body's first bytes included), plus what the native receiver took (directBytesIn).
      expect(bytesIn, `bytesIn of a ${size}-byte body`).toBeGreaterThan(size);
      // Not counted twice: the body and a head of well under 4 KiB.
      expect(bytesIn).toBeLessThanOrEqual(size + 4 * KiB);
    }
  });
});

describe.each([
  ['directly', {}],
  ['streamed through Node', { BERTH_HTTP_DIRECT_UPLOADS: 'false' }],
] as const)('a client that goes silent mid-body, received %s', (how, env) => {
  const direct = how === 'directly';
  const IDLE_SECONDS = 2;
  let berth: BerthProcess;

  beforeAll(async () => {
    berth = await startBerth({ env: { BERTH_HTTP_IDLE_TIMEOUT_SECONDS: String(IDLE_SECONDS), ...env } });
  });
  afterAll(async () => {
    await stopAndClean(berth);
  });

  // Every request here has a connection of its own (node:http without an agent): with a 2 s
  // idle timeout, a kept-alive connection from fetch's pool could be closed just as it is reused.
  it('is cut off after the idle timeout; the session is unchanged and others are served meanwhile', async () => {
    const name = uniqueName('direct/silent');
    const before = randomBlob(300 * KiB);
    const chunk = randomBlob(2 * MiB);
    const blob = Buffer.concat([before, chunk]);

    const started = await rawRequest(berth.url, 'POST', `/v2/${name}/blobs/uploads/`, { headers: { 'content-length': 0 } });
    expect(started.status).toBe(202);
    const path = new URL(resolveLocation(berth.url, String(started.headers.location))).pathname;
    const first = await rawRequest(berth.url, 'PATCH', path, { headers: { 'content-length': before.length, 'content-range': `0-${before.length - 1}` }, body: before });
    expect(first.status).toBe(202);
    expect(first.headers.range).toBe(rangeAfter(before.length));

    const conn = await Connection.open(berth.port);
    try {
      await conn.write(head('PATCH', path, { 'content-length': chunk.length, 'content-range': `${before.length}-${blob.length - 1}` }));
      await conn.write(chunk.subarray(0, 512 * KiB));
      const silentSince = Date.now();

      // Another client pushes a large blob meanwhile, on its own connection.
      const other = randomBlob(3 * MiB + 1);
      const pushed = await rawRequest(berth.url, 'POST', `/v2/${uniqueName('direct/other')}/blobs/uploads/?digest=${sha256(other)}`, {
        headers: { 'content-length': other.length },
        body: other,
      });
      expect(pushed.status, pushed.body.toString()).toBe(201);
      expect(conn.isClosed, 'the silent client was still connected while the other push ran').toBe(false);

      expect(await conn.closesWithin(15_000), 'the server cut the silent client off').toBe(true);
      const silentFor = Date.now() - silentSince;
      expect(silentFor, 'cut off after the idle timeout, not before').toBeGreaterThanOrEqual(IDLE_SECONDS * 1000 - 500);
      expect(silentFor).toBeLessThan(15_000);
      // Told nothing (streamed: the socket is simply closed), or told it as the client's fault, never that its chunk was taken.
      const answer = await conn.response(0).catch(() => undefined);
      if (answer) {
        expect(answer.status).toBe(400);
        expect(answer.body.toString()).toContain('BLOB_UPLOAD_INVALID');
      }
    } finally {
      conn.destroy();
    }

    expect(await stagedSize(berth, path, (n) => n === before.length), 'staged bytes after the failed PATCH').toBe(before.length);
    const status = await rawRequest(berth.url, 'GET', path);
    expect(status.status).toBe(204);
    expect(status.headers.range).toBe(rangeAfter(before.length));

    const retried = await rawRequest(berth.url, 'PATCH', path, { headers: { 'content-length': chunk.length, 'content-range': `${before.length}-${blob.length - 1}` }, body: chunk });
    expect(retried.status, retried.body.toString()).toBe(202);
    expect(retried.headers.range).toBe(rangeAfter(blob.length));
    const put = await rawRequest(berth.url, 'PUT', `${path}?digest=${sha256(blob)}`, { headers: { 'content-length': 0 } });
    expect(put.status, put.body.toString()).toBe(201);
    expect(put.headers['docker-content-digest']).toBe(sha256(blob));

    const pulled = await rawRequest(berth.url, 'GET', `/v2/${name}/blobs/${sha256(blob)}`);
    expect(pulled.status).toBe(200);
    expect(sha256(pulled.body)).toBe(sha256(blob));
  });

  it('lets a large body that keeps moving run past the idle timeout', async () => {
    const name = uniqueName('direct/slow');
    const blob = randomBlob(640 * KiB + 3);
    const conn = await Connection.open(berth.port);
    const startedAt = Date.now();
    try {
      await conn.write(head('POST', `/v2/${name}/blobs/uploads/?digest=${sha256(blob)}`, { 'content-length': blob.length }));
      // 10 pieces 450 ms apart: over 4 s in all against a 2 s idle timeout.
      for (let i = 0; i < blob.length; i += 64 * KiB) {
        await sleep(450);
        await conn.write(blob.subarray(i, i + 64 * KiB));
      }
      const res = await conn.response();
      expect(res.status, res.body.toString()).toBe(201);
      expect(res.headers.connection).toBe(direct ? 'close' : 'keep-alive');
    } finally {
      conn.destroy();
    }
    expect(Date.now() - startedAt).toBeGreaterThan(IDLE_SECONDS * 1000 * 2);
    const pulled = await rawRequest(berth.url, 'GET', `/v2/${name}/blobs/${sha256(blob)}`);
    expect(pulled.status).toBe(200);
    expect(sha256(pulled.body)).toBe(sha256(blob));
  });

  it('cuts off a monolithic push that goes silent, and stores nothing', async () => {
    const name = uniqueName('direct/silent-mono');
    const blob = randomBlob(MiB);
    const conn = await Connection.open(berth.port);
    try {
      await conn.write(head('POST', `/v2/${name}/blobs/uploads/?digest=${sha256(blob)}`, { 'content-length': blob.length }));
      await conn.write(blob.subarray(0, 400 * KiB));
      expect(await conn.closesWithin(15_000), 'the server cut the silent client off').toBe(true);
    } finally {
      conn.destroy();
    }
    const head404 = await rawRequest(berth.url, 'HEAD', `/v2/${name}/blobs/${sha256(blob)}`);
    expect(head404.status).toBe(404);
    expectRawOciError(await rawRequest(berth.url, 'GET', `/v2/${name}/blobs/${sha256(blob)}`), 404, 'BLOB_UNKNOWN');
  });
});
