import type { FastifyReply, FastifyRequest } from 'fastify';
import type { ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { ZeroCopySender } from '../../native/zero-copy-sender.js';
import type { BlobReader, ByteRange } from '../../storage/blob/blob-store.js';
import { plainSocketFd, whileMovedNatively } from '../plain-socket.js';

const BUFFER_BYTES = 1024 * 1024;
/** Sent through the response before a zero-copy send: the headers go out with them, and their write callback says the socket's queue is empty. */
const LEAD_BYTES = 64 * 1024;

/**
 * Requests whose log line the pump writes: it alone knows the bytes sent (the socket's
 * counters miss what the kernel sends) and it logs even when the send fails midway,
 * where the app's response hook does not run. The hook skips these.
 */
export const requestsLoggedByPump = new WeakSet<FastifyRequest>();

/** How blob bodies leave: with sendfile(2) where the store has a local file and the socket is plain TCP. */
export interface BlobSending {
  zeroCopy?: ZeroCopySender;
  /** A client that takes no byte for this long is cut off (the connection's idle timeout). */
  stallMs: number;
}

/**
 * Sends [start, end] of a blob. From a local file to a plain TCP socket the kernel moves
 * the bytes (sendfile(2), see ZeroCopySender); otherwise they go through two reused
 * buffers: one is on the wire while the next is read into the other, and a buffer is
 * refilled only after its write has completed. A stream allocates a new buffer per chunk;
 * that churn (GC) halved pull throughput (≈0.9 → ≈2–3 GB/s for one client here).
 * The reply is hijacked, so this writes the request's log line itself.
 */
export async function pumpBlob(
  req: FastifyRequest,
  reply: FastifyReply,
  reader: BlobReader,
  range: ByteRange,
  onSent: (bytes: number) => void,
  sending?: BlobSending,
): Promise<void> {
  reply.hijack();
  requestsLoggedByPump.add(req);
  const res = reply.raw;
  const started = process.hrtime.bigint();
  let sent = 0;
  let via: 'sendfile' | 'buffers' = 'buffers';
  const count = (bytes: number) => {
    sent += bytes;
    onSent(bytes);
  };
  try {
    res.writeHead(reply.statusCode, reply.getHeaders() as Record<string, string>);
    const socketFd = sending?.zeroCopy && reader.fd !== undefined ? plainSocketFd(res.socket) : undefined;
    if (socketFd !== undefined) {
      via = 'sendfile';
      await sendZeroCopy(res, socketFd, reader, range, sending!, count);
    } else {
      await sendBuffered(res, reader, range, count);
    }
    res.end();
  } catch (err) {
    // Headers are out: the only honest signal left is to cut the connection.
    if (!res.destroyed) res.destroy(err as Error);
    if (!res.destroyed || (err as NodeJS.ErrnoException).code !== 'ERR_STREAM_DESTROYED') req.log.warn({ err }, 'blob send failed');
  } finally {
    await reader.close();
    req.log.info(
      { method: req.method, path: req.url.split('?', 1)[0], status: res.statusCode, bytesOut: sent, via, durationMs: Number(process.hrtime.bigint() - started) / 1e6 },
      'request',
    );
  }
}

async function sendBuffered(res: ServerResponse, reader: BlobReader, range: ByteRange, count: (bytes: number) => void): Promise<void> {
  const buffers = [Buffer.allocUnsafeSlow(BUFFER_BYTES), Buffer.allocUnsafeSlow(BUFFER_BYTES)];
  let onWire: Promise<void> = Promise.resolve();
  for (let position = range.start, turn = 0; position <= range.end && !res.destroyed; turn++) {
    const buffer = buffers[turn % 2]!;
    const bytes = await reader.read(buffer, position, Math.min(BUFFER_BYTES, range.end - position + 1));
    if (bytes === 0) throw new Error(`blob ended early at byte ${position}`);
    position += bytes;
    await onWire; // the other buffer's write must complete before that buffer is refilled next turn
    onWire = write(res, bytes === buffer.length ? buffer : buffer.subarray(0, bytes));
    // A client that hangs up fails this write while the next read is running: without a
    // handler attached now, that rejection would be "unhandled" and end the process.
    onWire.catch(() => undefined);
    count(bytes);
  }
  await onWire;
}

async function sendZeroCopy(res: ServerResponse, socketFd: number, reader: BlobReader, range: ByteRange, sending: BlobSending, count: (bytes: number) => void): Promise<void> {
  const length = range.end - range.start + 1;
  const lead = Buffer.allocUnsafe(Math.min(LEAD_BYTES, length));
  const read = await reader.read(lead, range.start, lead.length);
  if (read !== lead.length) throw new Error(`blob ended early at byte ${range.start + read}`);
  await write(res, lead);
  count(lead.length);
  if (lead.length === length || res.destroyed) return;

  try {
    await whileMovedNatively(res.socket as Socket, res, (signal) =>
      sending.zeroCopy!.send(socketFd, reader.fd!, range.start + lead.length, length - lead.length, sending.stallMs, signal),
    );
    count(length - lead.length);
  } catch (err) {
    const partial = (err as { bytesSent?: number }).bytesSent;
    if (partial) count(partial);
    throw err;
  }
}

function write(res: ServerResponse, chunk: Buffer): Promise<void> {
  return new Promise((resolve, reject) => res.write(chunk, (err) => (err ? reject(err) : resolve())));
}
