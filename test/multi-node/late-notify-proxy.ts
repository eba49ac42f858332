/**
 * A TCP proxy in front of PostgreSQL that passes everything through unchanged,
 * except that it holds each NotificationResponse (LISTEN/NOTIFY delivery) for a
 * while before handing it on, with everything behind it on that connection, so
 * the order of messages is kept. A node connected through it hears of other
 * nodes' changes late, as a busy node or a slow network makes it happen by
 * chance: a read-after-write guarantee that holds only when notifications are
 * prompt then fails every time instead of now and then.
 */
import { createServer, connect, type Socket } from 'node:net';

export interface LateNotifyProxy {
  /** `url` with its host and port replaced by the proxy's. */
  url: string;
  close(): Promise<void>;
}

/** Protocol v3 message type of NotificationResponse. */
const NOTIFICATION = 'A'.charCodeAt(0);
/** SSLRequest and GSSENCRequest codes: the server answers each with one unframed byte. */
const NEGOTIATION_CODES = new Set([80877103, 80877104]);

export async function startLateNotifyProxy(url: string, delayMs: number): Promise<LateNotifyProxy> {
  const target = new URL(url);
  const sockets = new Set<Socket>();
  const server = createServer((client) => {
    const upstream = connect(Number(target.port || 5432), target.hostname);
    sockets.add(client).add(upstream);
    const end = () => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    client.on('error', end).on('close', end);
    upstream.on('error', end).on('close', end);

    // Client → server: as is. A connection that opens with an SSL/GSS request gets a
    // one-byte answer first; if that starts encryption, the proxy only relays bytes.
    let negotiating = false;
    let raw = false;
    let firstChunk = true;
    client.on('data', (chunk: Buffer) => {
      if (firstChunk && chunk.length >= 8 && NEGOTIATION_CODES.has(chunk.readInt32BE(4))) negotiating = true;
      firstChunk = false;
      upstream.write(chunk);
    });

    // Server → client: split into messages; a notification and what follows it wait.
    let pending = Buffer.alloc(0);
    let queue: Promise<void> = Promise.resolve();
    let delayed = 0;
    const send = (message: Buffer, hold: boolean) => {
      if (!hold && delayed === 0) {
        client.write(message);
        return;
      }
      delayed++;
      queue = queue
        .then(() => (hold ? new Promise((r) => setTimeout(r, delayMs)) : undefined))
        .then(() => {
          delayed--;
          if (!client.destroyed) client.write(message);
        });
    };
    upstream.on('data', (chunk: Buffer) => {
      if (raw) return void send(chunk, false);
      pending = Buffer.concat([pending, chunk]);
      if (negotiating && pending.length > 0) {
        negotiating = false;
        const answer = pending.subarray(0, 1);
        pending = pending.subarray(1);
        send(answer, false);
        if (answer[0] !== 'N'.charCodeAt(0)) {
          raw = true; // encrypted from here on: nothing to recognise
          if (pending.length > 0) send(pending, false);
          return;
        }
      }
      while (pending.length >= 5) {
        const length = 1 + pending.readInt32BE(1);
        if (pending.length < length) break;
        const message = pending.subarray(0, length);
        pending = pending.subarray(length);
        send(message, message[0] === NOTIFICATION);
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  const proxied = new URL(url);
  proxied.hostname = '127.0.0.1';
  proxied.port = String(port);
  return {
    url: proxied.toString(),
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
