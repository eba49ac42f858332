import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { zeroCopySender, type ZeroCopySender } from './zero-copy-sender.js';

// npm run build builds the module; with CI=true a failed build already failed the run.
const sender = zeroCopySender();

describe('the sendfile module', () => {
  it('is built on Linux (npm run build)', () => {
    if (process.platform === 'linux') expect(sender, 'native/build/Release/sendfile.node: run npm run build').toBeDefined();
  });
});

describe.runIf(sender)('ZeroCopySender', () => {
  const send = sender as ZeroCopySender;
  const dir = mkdtempSync(join(tmpdir(), 'berth-sendfile-'));
  const path = join(dir, 'blob');
  const content = randomBytes(24 * 1024 * 1024);
  let file: FileHandle;
  let server: Server;
  const waiting: ((socket: Socket) => void)[] = [];

  beforeAll(async () => {
    writeFileSync(path, content);
    file = await open(path, 'r');
    server = createServer((socket) => {
      waiting.shift()?.(socket);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  });
  afterAll(async () => {
    await file.close();
    await new Promise((resolve) => server.close(resolve));
    rmSync(dir, { recursive: true, force: true });
  });

  /** A connected pair: the client end, and the server end's descriptor to send to. */
  async function connection(): Promise<{ client: Socket; server: Socket; fd: number }> {
    const serverSide = new Promise<Socket>((resolve) => waiting.push(resolve));
    const address = server.address() as { port: number };
    const client = connect(address.port, '127.0.0.1');
    const serverSocket = await serverSide;
    // The sender writes on this socket's descriptor behind Node's back; a client that hangs up
    // (some tests do it on purpose) may still surface on Node's side as ECONNRESET: expected, not a failure.
    serverSocket.on('error', () => undefined);
    const fd = (serverSocket as unknown as { _handle: { fd: number } })._handle.fd;
    return { client, server: serverSocket, fd };
  }

  function received(client: Socket, bytes: number): Promise<Buffer> {
    const chunks: Buffer[] = [];
    let total = 0;
    return new Promise((resolve, reject) => {
      client.on('data', (chunk: Buffer) => {
        chunks.push(chunk);
        total += chunk.length;
        if (total >= bytes) resolve(Buffer.concat(chunks));
      });
      client.on('error', reject);
    });
  }

  const digest = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');

  it('sends a range of a file to a socket, byte for byte', async () => {
    const { client, server, fd } = await connection();
    const start = 12_345;
    const length = 20 * 1024 * 1024 + 7;
    const got = received(client, length);
    await expect(send.send(fd, file.fd, start, length, 5_000)).resolves.toBe(length);
    expect(digest(await got)).toBe(digest(content.subarray(start, start + length)));
    client.destroy();
    server.destroy();
  });

  it('keeps sending after the caller closed its own descriptors (they are duplicated)', async () => {
    const { client, server, fd } = await connection();
    const own = await open(path, 'r');
    client.pause(); // the send cannot finish before the descriptors are closed
    const sending = send.send(fd, own.fd, 0, content.length, 5_000);
    await own.close();
    const got = received(client, content.length);
    client.resume();
    await expect(sending).resolves.toBe(content.length);
    expect(digest(await got)).toBe(digest(content));
    client.destroy();
    server.destroy();
  });

  it('fails with the bytes sent so far when the client hangs up', async () => {
    const { client, server, fd } = await connection();
    client.once('data', () => client.destroy());
    const err = await send.send(fd, file.fd, 0, content.length, 5_000).catch((e: unknown) => e);
    expect((err as { code: string }).code).toMatch(/^(EPIPE|ECONNRESET)$/);
    expect((err as { bytesSent: number }).bytesSent).toBeLessThan(content.length);
    server.destroy();
  });

  it('gives up on a client that stops reading, after the stall time', async () => {
    const { client, server, fd } = await connection();
    client.pause();
    const started = Date.now();
    const err = await send.send(fd, file.fd, 0, content.length, 300).catch((e: unknown) => e);
    expect((err as { code: string }).code).toBe('ETIMEDOUT');
    expect(Date.now() - started).toBeGreaterThanOrEqual(300);
    expect((err as { bytesSent: number }).bytesSent).toBeGreaterThan(0);
    client.destroy();
    server.destroy();
  });

  it('stops when its signal aborts', async () => {
    const { client, server, fd } = await connection();
    client.pause();
    const stop = new AbortController();
    const sending = send.send(fd, file.fd, 0, content.length, 0, stop.signal).catch((e: unknown) => e);
    setTimeout(() => stop.abort(), 50);
    expect(((await sending) as { code: string }).code).toBe('ECANCELED');
    client.destroy();
    server.destroy();
  });

  it('fails with ENODATA when the file ends before the range does', async () => {
    const { client, server, fd } = await connection();
    const got = received(client, 1000);
    const err = await send.send(fd, file.fd, content.length - 1000, 5000, 5_000).catch((e: unknown) => e);
    expect((err as { code: string }).code).toBe('ENODATA');
    expect((err as { bytesSent: number }).bytesSent).toBe(1000);
    expect(digest(await got)).toBe(digest(content.subarray(content.length - 1000)));
    client.destroy();
    server.destroy();
  });

  it('serves many sends at once, each whole', async () => {
    const pairs = await Promise.all(Array.from({ length: 6 }, () => connection()));
    const length = 8 * 1024 * 1024;
    const results = await Promise.all(
      pairs.map(async ({ client, fd }, i) => {
        const got = received(client, length);
        await send.send(fd, file.fd, i * 1024, length, 5_000);
        return digest(await got) === digest(content.subarray(i * 1024, i * 1024 + length));
      }),
    );
    expect(results).toEqual([true, true, true, true, true, true]);
    for (const { client, server } of pairs) {
      client.destroy();
      server.destroy();
    }
  });

  it('refuses invalid arguments with an error, not a crash', async () => {
    await expect(send.send(-1, file.fd, 0, 10, 0)).rejects.toThrow(/invalid arguments/);
    await expect(send.send(0, file.fd, -5, 10, 0)).rejects.toThrow(/invalid arguments/);
  });
});
