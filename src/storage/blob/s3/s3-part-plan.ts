import { MAX_COPY_BYTES, MAX_PARTS, MIN_PART_BYTES } from './s3-options.js';

/** A staged chunk object: bytes [offset, offset + size) of the upload. */
export interface StagedChunk {
  key: string;
  offset: number;
  size: number;
}

/** `length` bytes of object `key` from byte `start`. */
export interface SourceRange {
  key: string;
  start: number;
  length: number;
}

/**
 * One part of the multipart upload that assembles a blob: copied server-side
 * (UploadPartCopy) or read through this node into a buffer of `size` bytes and uploaded.
 */
export type PartPlan = { kind: 'copy'; source: SourceRange } | { kind: 'upload'; sources: SourceRange[]; size: number };

export interface PlanOptions {
  partSize: number;
  /** Whether UploadPartCopy may be used. */
  copy: boolean;
  /** Every part but the last the same size (Cloudflare R2). */
  equalParts: boolean;
}

/**
 * Plans the parts that concatenate `chunks` (in order) into one object. Pure, so the
 * S3 part rules are tested without a server: every part but the last is at least
 * 5 MiB, none exceeds 5 GiB, at most 10,000 parts, and an uploaded part holds at most
 * `partSize` bytes (the memory one part costs), except when the blob is so large
 * that 10,000 parts of that size cannot hold it.
 */
export function planParts(staged: StagedChunk[], options: PlanOptions): PartPlan[] {
  const chunks = staged.filter((c) => c.size > 0);
  const plan = options.equalParts ? planEqual(chunks, options) : planVariable(chunks, options);
  if (plan.length <= MAX_PARTS) return plan;
  // Too many parts (many small copies, or a huge blob): fewer, bigger uploaded parts.
  const total = chunks.reduce((sum, c) => sum + c.size, 0);
  const partSize = Math.max(options.partSize, Math.ceil(total / MAX_PARTS));
  const fallback = { ...options, partSize, copy: false };
  return options.equalParts ? planEqual(chunks, fallback) : planVariable(chunks, fallback);
}

/**
 * Parts of any size: a chunk of at least 5 MiB is copied server-side, runs of
 * smaller chunks are gathered into uploaded parts of `partSize`. When a run is
 * still under 5 MiB as a big chunk arrives, it borrows the few bytes it lacks
 * from that chunk's head, so at most 5 MiB per big chunk pass through this node.
 */
function planVariable(chunks: StagedChunk[], { partSize, copy }: PlanOptions): PartPlan[] {
  const parts: PartPlan[] = [];
  let pending: SourceRange[] = [];
  let pendingBytes = 0;
  const flush = () => {
    if (pendingBytes > 0) parts.push({ kind: 'upload', sources: pending, size: pendingBytes });
    pending = [];
    pendingBytes = 0;
  };
  const gather = (key: string, start: number, length: number) => {
    while (length > 0) {
      const n = Math.min(length, partSize - pendingBytes);
      pending.push({ key, start, length: n });
      pendingBytes += n;
      start += n;
      length -= n;
      if (pendingBytes === partSize) flush();
    }
  };

  chunks.forEach((chunk, i) => {
    // The last part may be small, so the last chunk's tail is copied whatever its size:
    // a push in equal chunks plus a short remainder commits entirely server-side.
    const last = i === chunks.length - 1;
    let start = 0;
    if (copy && chunk.size >= MIN_PART_BYTES) {
      if (pendingBytes >= MIN_PART_BYTES) flush();
      else if (pendingBytes > 0) {
        start = MIN_PART_BYTES - pendingBytes;
        gather(chunk.key, 0, start);
        flush();
      }
    } else if (copy && last && pendingBytes >= MIN_PART_BYTES) flush();
    const rest = chunk.size - start;
    if (copy && pendingBytes === 0 && (rest >= MIN_PART_BYTES || last)) parts.push(...copyParts(chunk.key, start, rest));
    else gather(chunk.key, start, rest);
  });
  flush();
  return parts;
}

/** Copies of at most 5 GiB each, split evenly so that none is small. */
function copyParts(key: string, start: number, length: number): PartPlan[] {
  const count = Math.ceil(length / MAX_COPY_BYTES);
  const parts: PartPlan[] = [];
  for (let i = 0; i < count; i++) {
    const from = start + Math.floor((length * i) / count);
    const to = start + Math.floor((length * (i + 1)) / count);
    parts.push({ kind: 'copy', source: { key, start: from, length: to - from } });
  }
  return parts;
}

/**
 * Parts of one size. When the client sent equal chunks (all but the last), that size
 * is the chunk size and every part is a server-side copy; otherwise parts of
 * `partSize` are copied when they fall inside one chunk and uploaded when they straddle two.
 */
function planEqual(chunks: StagedChunk[], { partSize, copy }: PlanOptions): PartPlan[] {
  const size = (copy && equalChunkSize(chunks)) || partSize;
  const total = chunks.reduce((sum, c) => sum + c.size, 0);
  const parts: PartPlan[] = [];
  let index = 0;
  let within = 0; // position inside chunks[index]
  for (let offset = 0; offset < total; offset += size) {
    const length = Math.min(size, total - offset);
    const sources: SourceRange[] = [];
    for (let need = length; need > 0; ) {
      const chunk = chunks[index]!;
      const n = Math.min(need, chunk.size - within);
      if (n > 0) sources.push({ key: chunk.key, start: within, length: n });
      need -= n;
      within += n;
      if (within === chunk.size) {
        index++;
        within = 0;
      }
    }
    parts.push(copy && sources.length === 1 ? { kind: 'copy', source: sources[0]! } : { kind: 'upload', sources, size: length });
  }
  return parts;
}

/** The common size of every chunk but the last (the last no bigger), when it is a valid part size. */
function equalChunkSize(chunks: StagedChunk[]): number | undefined {
  const size = chunks[0]?.size;
  if (size === undefined || size < MIN_PART_BYTES || size > MAX_COPY_BYTES) return undefined;
  const uniform = chunks.every((c, i) => (i < chunks.length - 1 ? c.size === size : c.size <= size));
  return uniform ? size : undefined;
}
