import type { FastifyReply, FastifyRequest } from 'fastify';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { DirectBody } from '../../core/uploads.js';
import { RegistryError } from '../../oci/errors.js';
import { NativeSha256, type BodyReceiver } from '../../native/body-receiver.js';
import { plainSocketFd, whileMovedNatively } from '../plain-socket.js';

/** How upload bodies may arrive: read, hashed and written by the native receiver where the socket is plain TCP. */
export interface BodyReceiving {
  receiver: BodyReceiver;
  /** A client that sends no byte for this long is cut off (the connection's idle timeout). */
  stallMs: number;
}

/**
 * Smaller bodies stream through Node as before: a direct receive costs the connection its
 * keep-alive (see receiveDirect), which a small chunk would feel and a layer does not.
 */
export const MIN_DIRECT_BYTES = 256 * 1024;

/** Body bytes the native receiver took for a request: the socket's counter, which the request log reads, misses them. */
export const directBytesIn = new WeakMap<IncomingMessage, number>();

/** The request's body as a DirectBody, when it can be received directly: plain TCP, a declared length, no chunked framing. */
export function directBodyOf(req: FastifyRequest, reply: FastifyReply, receiving: BodyReceiving | undefined, length: number | undefined): DirectBody | undefined {
  if (!receiving || length === undefined || length < MIN_DIRECT_BYTES) return undefined;
  if (req.headers['transfer-encoding'] !== undefined) return undefined; // Node's parser must undo the framing
  if (plainSocketFd(req.raw.socket) === undefined) return undefined;
  return {
    canFeed: (digest) => digest instanceof NativeSha256,
    receiveInto: (fd, offset, digest) => receiveDirect(req.raw, reply.raw, receiving, fd, offset, length, digest as NativeSha256),
  };
}

/**
 * Takes the body away from Node's HTTP parser: the parser stops reading the socket, what it
 * had already read is written first, then the native receiver reads the rest straight from
 * the socket into the file. The parser never sees the body end, so it would take whatever
 * came next on the connection for more body: the response closes the connection.
 */
async function receiveDirect(
  req: IncomingMessage,
  res: ServerResponse,
  receiving: BodyReceiving,
  fd: number,
  offset: number,
  length: number,
  digest: NativeSha256,
): Promise<number> {
  res.setHeader('connection', 'close');
  const socket = req.socket as Socket & { _paused?: boolean };
  // The HTTP server's own flag: IncomingMessage does not restart reading while it is set. Then
  // the server's 'pause' listener stops reading the handle.
  socket._paused = true;
  socket.pause();
  // What the parser has read is already in the request's buffer: the receiver takes it first.
  const early: Buffer[] = [];
  for (let chunk: Buffer | null; (chunk = req.read() as Buffer | null) !== null; ) early.push(chunk);
  const prefix = early.length === 1 ? early[0]! : Buffer.concat(early);
  if (prefix.length > length) throw new Error('the request body is longer than its Content-Length');
  const socketFd = plainSocketFd(socket);
  if (socketFd === undefined) throw new RegistryError('BLOB_UPLOAD_INVALID', 'the client closed the connection before the whole body was received');

  try {
    await whileMovedNatively(socket, socket, (signal) => receiving.receiver.receive(socketFd, fd, offset, length, digest, receiving.stallMs, signal, prefix));
    directBytesIn.set(req, length - prefix.length);
  } catch (err) {
    directBytesIn.set(req, Math.max(0, ((err as { bytesReceived?: number }).bytesReceived ?? 0) - prefix.length));
    throw clientFault(err as NodeJS.ErrnoException, length, receiving.stallMs) ?? err;
  }
  return length;
}

/** A receive the client made fail, as the registry error it is (4xx, not a server fault); undefined for the server's own (a full disk). */
function clientFault(err: NodeJS.ErrnoException, length: number, stallMs: number): RegistryError | undefined {
  switch (err.code) {
    case 'ENODATA':
      return new RegistryError('SIZE_INVALID', `the request body ended before its Content-Length of ${length} bytes`, { expected: length });
    case 'ETIMEDOUT':
      return new RegistryError('BLOB_UPLOAD_INVALID', `the client sent no byte of the body for ${Math.round(stallMs / 1000)} s; the chunk was discarded`);
    case 'ECONNRESET':
    case 'EPIPE':
    case 'ECANCELED':
      return new RegistryError('BLOB_UPLOAD_INVALID', 'the client closed the connection before the whole body was received; the chunk was discarded');
    default:
      return undefined;
  }
}
