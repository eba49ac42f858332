import type { FastifyRequest } from 'fastify';
import { RegistryError } from '../../oci/errors.js';
import type { ByteRange } from '../../storage/blob/blob-store.js';

export function header(req: FastifyRequest, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

export function query(req: FastifyRequest, name: string): string | undefined {
  const v = (req.query as Record<string, string | string[] | undefined>)[name];
  return Array.isArray(v) ? v[0] : v;
}

/** Content-Length as a number; undefined when absent (chunked transfer). */
export function contentLength(req: FastifyRequest): number | undefined {
  const raw = header(req, 'content-length');
  if (raw === undefined) return undefined;
  if (!/^\d{1,15}$/.test(raw)) throw new RegistryError('SIZE_INVALID', `invalid Content-Length: ${raw.slice(0, 40)}`);
  return Number(raw);
}

/** Whether the request carries a body at all. */
export function hasBody(req: FastifyRequest): boolean {
  const length = contentLength(req);
  return (length !== undefined && length > 0) || header(req, 'transfer-encoding') !== undefined;
}

/** Parses an upload chunk's `Content-Range: start-end` (also accepts `bytes start-end/total`). */
export function uploadContentRange(req: FastifyRequest): { start: number; end: number } | undefined {
  const raw = header(req, 'content-range');
  if (raw === undefined) return undefined;
  const m = raw.trim().match(/^(?:bytes[ =])?(\d{1,15})-(\d{1,15})(?:\/(?:\d{1,15}|\*))?$/);
  if (!m || Number(m[2]) < Number(m[1])) {
    throw new RegistryError('BLOB_UPLOAD_INVALID', `invalid Content-Range: ${raw.slice(0, 60)} (expected start-end)`, undefined, { status: 416 });
  }
  return { start: Number(m[1]), end: Number(m[2]) };
}

/**
 * Parses a single `Range: bytes=…` request header against a blob's size.
 * Returns undefined to serve the whole blob (no header, or a form we ignore
 * as RFC 9110 allows, such as multiple ranges); throws 416 when unsatisfiable.
 */
export function byteRange(req: FastifyRequest, size: number): ByteRange | undefined {
  const raw = header(req, 'range');
  if (raw === undefined) return undefined;
  const m = raw.trim().match(/^bytes=(\d{0,15})-(\d{0,15})$/);
  if (!m || (m[1] === '' && m[2] === '')) return undefined;
  let start: number;
  let end: number;
  if (m[1] === '') {
    const suffix = Number(m[2]);
    if (suffix === 0) throw unsatisfiable(size);
    start = Math.max(size - suffix, 0);
    end = size - 1;
  } else {
    start = Number(m[1]);
    end = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1);
    if (m[2] !== '' && Number(m[2]) < start) return undefined; // syntactically invalid: ignore
  }
  if (start >= size) throw unsatisfiable(size);
  return { start, end };
}

function unsatisfiable(size: number): RegistryError {
  return new RegistryError('RANGE_INVALID', `range not satisfiable for a blob of ${size} bytes`, { size }, {
    status: 416,
    headers: { 'Content-Range': `bytes */${size}` },
  });
}

/** Reads a small body (a manifest) with a hard limit, never past it. */
export async function readSmallBody(req: FastifyRequest, limit: number, tooLarge: (size: number) => Error): Promise<Buffer> {
  const declared = contentLength(req);
  if (declared !== undefined && declared > limit) throw tooLarge(declared);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req.raw) {
    size += (chunk as Buffer).length;
    if (size > limit) {
      req.raw.resume();
      throw tooLarge(size);
    }
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}
