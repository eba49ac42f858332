import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { bodyReceiver, type BodyReceiver, type NativeSha256 } from './body-receiver.js';
import { loadNative } from './load-native.js';

// npm run build builds the module; with CI=true a failed build already failed the run.
const receiver = bodyReceiver();

describe('the receive module', () => {
  it('is built on Linux (npm run build)', () => {
    if (process.platform === 'linux') expect(receiver, 'native/build/Release/receive.node: run npm run build').toBeDefined();
  });
});

const sha256 = (...parts: Uint8Array[]) => {
  const hash = createHash('sha256');
  for (const part of parts) hash.update(part);
  return hash.digest('hex');
};

/** The thrown or rejected error's code and bytesReceived, for a one-line assertion. */
function failure(err: unknown): { code: string; bytesReceived: number } {
  const { code, bytesReceived } = err as { code: string; bytesReceived: number };
  return { code, bytesReceived };
}

/** The promise, marked handled: a test that awaits it later still sees its outcome, but an early rejection is not reported as unhandled. */
function later<T>(promise: Promise<T>): Promise<T> {
  promise.catch(() => undefined);
  return promise;
}

describe.runIf(receiver)('NativeSha256', () => {
  const receive = receiver as BodyReceiver;

  it('matches node:crypto for data fed in uneven pieces', () => {
    const data = randomBytes(1 + 7 + (64 * 1024 + 3) + 1024 * 1024 + 13);
    const digest = receive.sha256();
    expect(digest.digest('hex')).toBe(sha256(new Uint8Array(0)));
    let at = 0;
    for (const size of [0, 1, 7, 64 * 1024 + 3, 1024 * 1024, 13]) {
      expect(digest.update(data.subarray(at, at + size))).toBe(digest);
      at += size;
      expect(digest.digest('hex')).toBe(sha256(data.subarray(0, at)));
    }
    expect(at).toBe(data.length);
  });

  it('leaves its state usable after digest, unlike node:crypto', () => {
    const [a, b] = [randomBytes(1000), randomBytes(70_000)];
    const digest = receive.sha256().update(a);
    const first = digest.digest('hex');
    expect(digest.digest('hex')).toBe(first);
    expect(first).toBe(sha256(a));
    digest.update(b);
    expect(digest.digest('hex')).toBe(sha256(a, b));
  });

  it('copies are independent of their original, both ways', () => {
    const [x, y, z] = [randomBytes(300), randomBytes(5000), randomBytes(77)];
    const original = receive.sha256().update(x);
    const copy = original.copy();
    copy.update(y);
    expect(original.digest('hex')).toBe(sha256(x));
    expect(copy.digest('hex')).toBe(sha256(x, y));
    original.update(z);
    expect(original.digest('hex')).toBe(sha256(x, z));
    expect(copy.digest('hex')).toBe(sha256(x, y));
  });

  it('hashes only the view of a typed array, not its whole buffer', () => {
    // A view into the middle of a larger buffer: the module must honour byteOffset.
    const whole = randomBytes(4096);
    const view = new Uint8Array(whole.buffer, whole.byteOffset + 100, 1000);
    expect(receive.sha256().update(view).digest('hex')).toBe(sha256(whole.subarray(100, 1100)));
  });

  it('refuses bytes that are not a Uint8Array', () => {
    const digest = receive.sha256();
    expect(() => digest.update(new Uint16Array(8) as unknown as Uint8Array)).toThrow(/needs a Uint8Array/);
    expect(() => digest.update('abc' as unknown as Uint8Array)).toThrow(/needs a Uint8Array/);
    expect(digest.digest('hex')).toBe(sha256(new Uint8Array(0)));
  });
});

describe.runIf(receiver)('BodyReceiver', () => {
  const receive = receiver as BodyReceiver;
  const dir = mkdtempSync(join(tmpdir(), 'berth-receive-'));
  let server: Server;
  const waiting: ((socket: Socket) => void)[] = [];
  // Destroyed after every test, so a failing one cannot leave server.close() waiting on its connections.
  const sockets: Socket[] = [];
  const files: FileHandle[] = [];
  let fileCount = 0;

  beforeAll(async () => {
    // pauseOnConnect: Node never starts reading the server end, so every byte is the native receiver's.
    server = createServer({ pauseOnConnect: true }, (socket) => {
      waiting.shift()?.(socket);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  });
  afterEach(async () => {
    for (const socket of sockets.splice(0)) socket.destroy();
    for (const file of files.splice(0)) await file.close();
  });
  afterAll(async () => {
    await new Promise((resolve) => server.close(resolve));
    rmSync(dir, { recursive: true, force: true });
  });

  /** A connected pair: the client end, and the server end's descriptor to receive from. */
  async function connection(): Promise<{ client: Socket; server: Socket; fd: number }> {
    const serverSide = new Promise<Socket>((resolve) => waiting.push(resolve));
    const address = server.address() as { port: number };
    const client = connect(address.port, '127.0.0.1');
    const serverSocket = await serverSide;
    sockets.push(client, serverSocket);
    const handle = (serverSocket as unknown as { _handle: { fd: number; reading: boolean } })._handle;
    expect(handle.reading).toBe(false);
    return { client, server: serverSocket, fd: handle.fd };
  }

  /** A new file holding `prefill`, open for writing, and its path. */
  async function file(prefill: Uint8Array = new Uint8Array(0)): Promise<{ path: string; handle: FileHandle }> {
    const path = join(dir, `file-${++fileCount}`);
    writeFileSync(path, prefill);
    const handle = await open(path, 'r+');
    files.push(handle);
    return { path, handle };
  }

  /** Writes bytes from the client; resolves once they are the kernel's. */
  function send(client: Socket, bytes: Uint8Array): Promise<void> {
    return new Promise((resolve, reject) => client.write(bytes, (err) => (err ? reject(err) : resolve())));
  }

  it('receives a body into a file at an offset, byte for byte, and advances the digest', async () => {
    const { client, fd } = await connection();
    const before = randomBytes(4096);
    const { path, handle } = await file(before);
    const body = randomBytes(5 * 1024 * 1024 + 123);
    const prefix = randomBytes(777);
    const digest = receive.sha256().update(prefix);
    // Sent before the receive starts: the first bytes are already waiting in the socket.
    const sending = later(send(client, body));
    await expect(receive.receive(fd, handle.fd, 4096, body.length, digest, 5_000)).resolves.toBe(body.length);
    await sending;
    const written = readFileSync(path);
    expect(written.length).toBe(4096 + body.length);
    expect(written.subarray(0, 4096).equals(before)).toBe(true);
    expect(written.subarray(4096).equals(body)).toBe(true);
    expect(digest.digest('hex')).toBe(sha256(prefix, body));
  });

  it('takes exactly its length from the socket and leaves what follows', async () => {
    const { client, fd } = await connection();
    const { path, handle } = await file();
    const body = randomBytes(2 * 1024 * 1024 + 5);
    const digest = receive.sha256();
    await send(client, body);
    // The two receives split one stream: the first must not read past its length.
    await expect(receive.receive(fd, handle.fd, 0, body.length - 100, digest, 5_000)).resolves.toBe(body.length - 100);
    await expect(receive.receive(fd, handle.fd, body.length - 100, 100, digest, 5_000)).resolves.toBe(100);
    expect(readFileSync(path).equals(body)).toBe(true);
    expect(digest.digest('hex')).toBe(sha256(body));
  });

  it('takes a prefix (bytes already read) first, then the rest from the socket', async () => {
    const { client, fd } = await connection();
    const { path, handle } = await file();
    const prefix = randomBytes(65_000);
    const rest = randomBytes(3 * 1024 * 1024 + 9);
    const digest = receive.sha256();
    const sending = later(send(client, rest));
    const copy = Buffer.from(prefix);
    const receiving = receive.receive(fd, handle.fd, 0, prefix.length + rest.length, digest, 5_000, undefined, copy);
    copy.fill(0); // the module copied it: the caller may reuse its buffer at once
    await expect(receiving).resolves.toBe(prefix.length + rest.length);
    await sending;
    expect(readFileSync(path).equals(Buffer.concat([prefix, rest]))).toBe(true);
    expect(digest.digest('hex')).toBe(sha256(prefix, rest));
  });

  it('reads nothing from the socket when the prefix is the whole body', async () => {
    const { client, fd } = await connection();
    const { path, handle } = await file();
    const body = randomBytes(300_000);
    const next = randomBytes(1000);
    await send(client, next); // the next request's bytes: not the body's
    const digest = receive.sha256();
    await expect(receive.receive(fd, handle.fd, 10, body.length, digest, 5_000, undefined, body)).resolves.toBe(body.length);
    expect(readFileSync(path).subarray(10).equals(body)).toBe(true);
    expect(digest.digest('hex')).toBe(sha256(body));
    // Still in the socket for whoever reads it next.
    const tail = await (async () => {
      const { handle: other, path: otherPath } = await file();
      await receive.receive(fd, other.fd, 0, next.length, receive.sha256(), 5_000);
      return readFileSync(otherPath);
    })();
    expect(tail.equals(next)).toBe(true);
  });

  it('refuses a prefix longer than the body, or one that is not bytes', async () => {
    const { fd } = await connection();
    const { handle } = await file();
    const digest = receive.sha256();
    await expect(receive.receive(fd, handle.fd, 0, 10, digest, 0, undefined, new Uint8Array(11))).rejects.toThrow(/longer than the body/);
    await expect(receive.receive(fd, handle.fd, 0, 10, digest, 0, undefined, 'abc' as unknown as Uint8Array)).rejects.toThrow(/prefix must be a Uint8Array/);
    expect(() => digest.digest('hex')).not.toThrow();
  });

  it('marks the digest busy while a receive uses it, and frees it after', async () => {
    const { client, fd } = await connection();
    const other = await connection();
    const { path, handle } = await file();
    const body = randomBytes(100_000);
    const digest = receive.sha256().update(Buffer.from('prefix'));
    // Nothing sent yet: the receive cannot finish while the digest is poked.
    const receiving = later(receive.receive(fd, handle.fd, 0, body.length, digest, 5_000));
    expect(() => digest.update(Buffer.from('x'))).toThrow(/in use by a receive/);
    expect(() => digest.copy()).toThrow(/in use by a receive/);
    expect(() => digest.digest('hex')).toThrow(/in use by a receive/);
    await expect(receive.receive(other.fd, handle.fd, 0, 10, digest, 5_000)).rejects.toThrow(/in use by a receive/);
    await send(client, body);
    await expect(receiving).resolves.toBe(body.length);
    // The refused calls changed nothing: the digest holds the prefix and the body only.
    expect(digest.digest('hex')).toBe(sha256(Buffer.from('prefix'), body));
    expect(digest.copy().update(Buffer.from('x')).digest('hex')).toBe(sha256(Buffer.from('prefix'), body, Buffer.from('x')));
    expect(readFileSync(path).equals(body)).toBe(true);
  });

  it('fails with ENODATA and the bytes received when the client ends early', async () => {
    const { client, fd } = await connection();
    const { path, handle } = await file();
    const body = randomBytes(3 * 1024 * 1024 + 17);
    const digest = receive.sha256();
    const receiving = receive.receive(fd, handle.fd, 0, body.length + 1000, digest, 5_000).catch((e: unknown) => e);
    client.end(body);
    const err = await receiving;
    expect(err).toBeInstanceOf(Error);
    expect(failure(err)).toEqual({ code: 'ENODATA', bytesReceived: body.length });
    expect(readFileSync(path).equals(body)).toBe(true);
    // The digest holds every byte received and is free again.
    expect(digest.digest('hex')).toBe(sha256(body));
  });

  it('gives up on a client that stops sending, after the stall time', async () => {
    const { client, fd } = await connection();
    const { path, handle } = await file();
    const some = randomBytes(1000);
    await send(client, some);
    const started = Date.now();
    const err = await receive.receive(fd, handle.fd, 0, 10_000, receive.sha256(), 300).catch((e: unknown) => e);
    const elapsed = Date.now() - started;
    expect(failure(err)).toEqual({ code: 'ETIMEDOUT', bytesReceived: some.length });
    expect(elapsed).toBeGreaterThanOrEqual(250);
    expect(elapsed).toBeLessThan(5_000);
    expect(readFileSync(path).equals(some)).toBe(true);
  });

  it('does not cut off a slow client that keeps sending', async () => {
    const { client, fd } = await connection();
    const { path, handle } = await file();
    const body = randomBytes(6 * 1000);
    // 1.8 s in all, well past stallMs, but never more than a third of it between pieces; the
    // pauses outlast the receiver's 250 ms tick, so it does look for stalls in between.
    const receiving = later(receive.receive(fd, handle.fd, 0, body.length, receive.sha256(), 1_000));
    for (let at = 0; at < body.length; at += 1000) {
      await new Promise((resolve) => setTimeout(resolve, 300));
      await send(client, body.subarray(at, at + 1000));
    }
    await expect(receiving).resolves.toBe(body.length);
    expect(readFileSync(path).equals(body)).toBe(true);
  });

  it('stops when its signal aborts', async () => {
    const { client, fd } = await connection();
    const { path, handle } = await file();
    const some = randomBytes(50_000);
    const digest = receive.sha256();
    const stop = new AbortController();
    // stallMs 0: only the signal can end this receive.
    const receiving = receive.receive(fd, handle.fd, 0, 1024 * 1024, digest, 0, stop.signal).catch((e: unknown) => e);
    await send(client, some);
    setTimeout(() => stop.abort(), 100);
    const err = await receiving;
    const { code, bytesReceived } = failure(err);
    expect(code).toBe('ECANCELED');
    // Whatever it took before the abort is in the file and the digest, and nothing else.
    expect(bytesReceived).toBeLessThanOrEqual(some.length);
    expect(readFileSync(path).equals(some.subarray(0, bytesReceived))).toBe(true);
    expect(digest.digest('hex')).toBe(sha256(some.subarray(0, bytesReceived)));
  });

  it('does not start when its signal has aborted already', async () => {
    const { fd } = await connection();
    const { handle } = await file();
    const err = await receive.receive(fd, handle.fd, 0, 1000, receive.sha256(), 0, AbortSignal.abort()).catch((e: unknown) => e);
    expect(failure(err)).toEqual({ code: 'ECANCELED', bytesReceived: 0 });
  });

  it('fails with ECONNRESET when the client resets the connection', async () => {
    const { client, fd } = await connection();
    const { handle } = await file();
    const digest = receive.sha256();
    const receiving = receive.receive(fd, handle.fd, 0, 1000, digest, 5_000).catch((e: unknown) => e);
    client.resetAndDestroy();
    expect(failure(await receiving)).toEqual({ code: 'ECONNRESET', bytesReceived: 0 });
    expect(digest.digest('hex')).toBe(sha256(new Uint8Array(0)));
  });

  it('fails with the write error when the file cannot be written; the digest holds exactly the bytes reported received', async () => {
    const { client, fd } = await connection();
    const { path } = await file();
    const readOnly = await open(path, 'r');
    files.push(readOnly);
    const digest = receive.sha256();
    const receiving = receive.receive(fd, readOnly.fd, 0, 1000, digest, 5_000).catch((e: unknown) => e);
    const body = randomBytes(1000);
    await send(client, body);
    const { code, bytesReceived } = failure(await receiving);
    expect(code).toBe('EBADF');
    // The first read is hashed and counted, then its write fails: nothing reaches the file.
    expect(bytesReceived).toBeGreaterThan(0);
    expect(readFileSync(path).length).toBe(0);
    expect(digest.digest('hex')).toBe(sha256(body.subarray(0, bytesReceived)));
  });

  it('serves many receives at once, each whole', async () => {
    const pairs = await Promise.all(Array.from({ length: 6 }, () => connection()));
    // Over TURN_BYTES (4 MiB) each, so the receiver has to take turns between them.
    const bodies = pairs.map((_, i) => randomBytes(6 * 1024 * 1024 + i * 1001));
    const targets = await Promise.all(pairs.map(() => file()));
    const digests = pairs.map(() => receive.sha256());
    const receiving = pairs.map(({ fd }, i) => later(receive.receive(fd, targets[i]!.handle.fd, 0, bodies[i]!.length, digests[i]!, 5_000)));
    await Promise.all(pairs.map(({ client }, i) => send(client, bodies[i]!)));
    expect(await Promise.all(receiving)).toEqual(bodies.map((body) => body.length));
    const results = bodies.map((body, i) => readFileSync(targets[i]!.path).equals(body) && digests[i]!.digest('hex') === sha256(body));
    expect(results).toEqual([true, true, true, true, true, true]);
  });

  it('refuses invalid arguments with an error, and leaves the digest free', async () => {
    const { fd } = await connection();
    const { handle } = await file();
    const digest = receive.sha256();
    const notADigest = { state: {} } as unknown as NativeSha256;
    // Thrown inside the promise's executor, so they come back as rejections.
    await expect(receive.receive(-1, handle.fd, 0, 10, digest, 0)).rejects.toThrow(/invalid arguments/);
    await expect(receive.receive(fd, -1, 0, 10, digest, 0)).rejects.toThrow(/invalid arguments/);
    await expect(receive.receive(fd, handle.fd, -5, 10, digest, 0)).rejects.toThrow(/invalid arguments/);
    await expect(receive.receive(fd, handle.fd, 0, -10, digest, 0)).rejects.toThrow(/invalid arguments/);
    await expect(receive.receive(fd, handle.fd, 0, 10, digest, -1)).rejects.toThrow(/invalid arguments/);
    await expect(receive.receive(fd, handle.fd, 0, 10, notADigest, 0)).rejects.toThrow(/expected a digest/);
    await expect(receive.receive(fd, 1_000_000, 0, 10, digest, 0)).rejects.toThrow(/cannot duplicate/);
    expect(digest.update(Buffer.from('ok')).digest('hex')).toBe(sha256(Buffer.from('ok')));
  });

  it('throws synchronously on invalid arguments in the module itself', async () => {
    const { fd } = await connection();
    const { handle } = await file();
    const native = loadNative<{ receive(...args: unknown[]): number }>('receive');
    const state = receive.sha256().state;
    expect(() => native!.receive(-1, handle.fd, 0, 10, state, 0)).toThrow(/invalid arguments/);
    expect(() => native!.receive(fd, handle.fd, 0, 0, state, 0)).toThrow(/invalid arguments/);
    expect(() => native!.receive(fd, handle.fd, 0, -1, state, 0)).toThrow(/invalid arguments/);
    expect(() => native!.receive(fd, handle.fd, 0, 10, createHash('sha256'), 0)).toThrow(/expected a digest/);
    expect(() => native!.receive(fd, handle.fd, 0, 10, state)).toThrow(/invalid arguments/);
  });

  it('resolves a zero-length receive at once, touching nothing', async () => {
    const { client, fd } = await connection();
    const before = randomBytes(100);
    const { path, handle } = await file(before);
    const digest = receive.sha256().update(before);
    const body = randomBytes(500);
    await send(client, body);
    await expect(receive.receive(fd, handle.fd, 100, 0, digest, 5_000)).resolves.toBe(0);
    expect(readFileSync(path).equals(before)).toBe(true);
    expect(digest.digest('hex')).toBe(sha256(before));
    // The socket's bytes are all still there for the next receive.
    await expect(receive.receive(fd, handle.fd, 100, body.length, digest, 5_000)).resolves.toBe(body.length);
    expect(readFileSync(path).equals(Buffer.concat([before, body]))).toBe(true);
    expect(digest.digest('hex')).toBe(sha256(before, body));
  });

  it('keeps receiving after the caller closed its own descriptors (they are duplicated)', async () => {
    const { client, server, fd } = await connection();
    const { path, handle } = await file();
    const body = randomBytes(4 * 1024 * 1024 + 9);
    const digest = receive.sha256();
    // Nothing sent yet: the receive cannot finish before the descriptors are closed.
    const receiving = later(receive.receive(fd, handle.fd, 0, body.length, digest, 5_000));
    server.destroy();
    await once(server, 'close');
    await handle.close();
    await send(client, body);
    await expect(receiving).resolves.toBe(body.length);
    expect(readFileSync(path).equals(body)).toBe(true);
    expect(digest.digest('hex')).toBe(sha256(body));
  });
});
