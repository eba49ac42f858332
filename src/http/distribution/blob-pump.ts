import type { FastifyReply, FastifyRequest } from 'fastify';
import type { ServerResponse } from 'node:http';
import type { BlobReader, ByteRange } from '../../storage/blob/blob-store.js';

const BUFFER_BYTES = 1024 * 1024;

/**
 * Sends [start, end] of a blob through two reused buffers: one is on the wire
 * while the next is read into the other, and a buffer is refilled only after
 * its write has completed. A stream allocates a new buffer per chunk; that
 * churn (GC) halved pull throughput (≈0.9 → ≈2–3 GB/s for one client here).
 * The reply is hijacked, so this writes the request's log line itself.
 */
export async function pumpBlob(req: FastifyRequest, reply: FastifyReply, reader: BlobReader, range: ByteRange, onSent: (bytes: number) => void): Promise<void> {
  reply.hijack();
  const res = reply.raw;
  const started = process.hrtime.bigint();
  let sent = 0;
  try {
    res.writeHead(reply.statusCode, reply.getHeaders() as Record<string, string>);
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
      sent += bytes;
      onSent(bytes);
    }
    await onWire;
    res.end();
  } catch (err) {
    // Headers are out: the only honest signal left is to cut the connection.
    if (!res.destroyed) res.destroy(err as Error);
    if (!res.destroyed || (err as NodeJS.ErrnoException).code !== 'ERR_STREAM_DESTROYED') req.log.warn({ err }, 'blob send failed');
  } finally {
    await reader.close();
    req.log.info(
      { method: req.method, path: req.url.split('?', 1)[0], status: res.statusCode, bytesOut: sent, durationMs: Number(process.hrtime.bigint() - started) / 1e6 },
      'request',
    );
  }
}

function write(res: ServerResponse, chunk: Buffer): Promise<void> {
  return new Promise((resolve, reject) => res.write(chunk, (err) => (err ? reject(err) : resolve())));
}
