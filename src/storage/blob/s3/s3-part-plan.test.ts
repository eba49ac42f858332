import { describe, expect, it } from 'vitest';
import { MAX_COPY_BYTES, MAX_PARTS, MIB, MIN_PART_BYTES } from './s3-options.js';
import { planParts, type PartPlan, type PlanOptions, type SourceRange, type StagedChunk } from './s3-part-plan.js';

function chunksOf(sizes: number[]): StagedChunk[] {
  let offset = 0;
  return sizes.map((size, i) => {
    const chunk = { key: `c${i}`, offset, size };
    offset += size;
    return chunk;
  });
}

const sizeOf = (p: PartPlan) => (p.kind === 'copy' ? p.source.length : p.size);
const sourcesOf = (p: PartPlan): SourceRange[] => (p.kind === 'copy' ? [p.source] : p.sources);

/** The rules S3 (and R2) enforce, and that the plan reproduces the staged bytes in order. */
function checkPlan(chunks: StagedChunk[], plan: PartPlan[], options: PlanOptions): void {
  expect(plan.length).toBeLessThanOrEqual(MAX_PARTS);
  plan.forEach((part, i) => {
    const last = i === plan.length - 1;
    if (!last) expect(sizeOf(part)).toBeGreaterThanOrEqual(MIN_PART_BYTES);
    expect(sizeOf(part)).toBeLessThanOrEqual(MAX_COPY_BYTES);
    if (part.kind === 'upload') expect(part.sources.reduce((n, s) => n + s.length, 0)).toBe(part.size);
    if (!options.copy) expect(part.kind).toBe('upload');
  });
  if (options.equalParts && plan.length > 1) {
    const size = sizeOf(plan[0]!);
    plan.slice(0, -1).forEach((p) => expect(sizeOf(p)).toBe(size));
    expect(sizeOf(plan.at(-1)!)).toBeLessThanOrEqual(size);
  }
  // Walking the sources in order reads every chunk, start to end, exactly once.
  const expected = chunks.filter((c) => c.size > 0);
  let index = 0;
  let within = 0;
  for (const source of plan.flatMap(sourcesOf)) {
    const chunk = expected[index]!;
    expect(source.key).toBe(chunk.key);
    expect(source.start).toBe(within);
    expect(source.length).toBeGreaterThan(0);
    within += source.length;
    expect(within).toBeLessThanOrEqual(chunk.size);
    if (within === chunk.size) {
      index++;
      within = 0;
    }
  }
  expect(index).toBe(expected.length);
}

/** A deterministic generator, so a failure reproduces. */
function random(seed: number): () => number {
  return () => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    return seed / 2 ** 31;
  };
}

describe('planParts', () => {
  const modes: PlanOptions[] = [
    { partSize: 8 * MIB, copy: true, equalParts: false },
    { partSize: 8 * MIB, copy: false, equalParts: false },
    { partSize: 5 * MIB, copy: true, equalParts: false },
    { partSize: 8 * MIB, copy: true, equalParts: true },
    { partSize: 6 * MIB, copy: false, equalParts: true },
  ];

  it.each(modes)('keeps the part rules for random chunk sizes (%o)', (options) => {
    const next = random(42);
    for (let round = 0; round < 300; round++) {
      const count = 1 + Math.floor(next() * 12);
      // Mostly small chunks, some around the 5 MiB line, some big.
      const sizes = Array.from({ length: count }, () => {
        const r = next();
        if (r < 0.4) return Math.floor(next() * 600 * 1024);
        if (r < 0.7) return MIN_PART_BYTES - 2 + Math.floor(next() * 4);
        return Math.floor(next() * 40 * MIB);
      });
      const chunks = chunksOf(sizes);
      checkPlan(chunks, planParts(chunks, options), options);
    }
  });

  it('copies big chunks server-side and gathers small runs into parts of at least 5 MiB', () => {
    const chunks = chunksOf([300 * 1024, 7 * MIB, 1, 6 * MIB]);
    const plan = planParts(chunks, { partSize: 8 * MIB, copy: true, equalParts: false });
    // 300 KiB is too small alone: it borrows the head of the 7 MiB chunk to reach 5 MiB;
    // that chunk's 2.3 MiB tail is then too small to copy, and borrows from the last chunk,
    // whose tail is copied (the last part may be small).
    const borrowed = 5 * MIB - (7 * MIB - (5 * MIB - 300 * 1024) + 1);
    expect(plan.map((p) => [p.kind, sizeOf(p)])).toEqual([
      ['upload', 5 * MIB],
      ['upload', 5 * MIB],
      ['copy', 6 * MIB - borrowed],
    ]);
    const big = planParts(chunksOf([6 * MIB, 300 * 1024, 7 * MIB]), { partSize: 8 * MIB, copy: true, equalParts: false });
    expect(big.map((p) => [p.kind, sizeOf(p)])).toEqual([
      ['copy', 6 * MIB],
      ['upload', 5 * MIB],
      ['copy', 7 * MIB - (5 * MIB - 300 * 1024)],
    ]);
  });

  it('commits equal chunks and a short remainder by copies alone', () => {
    const plan = planParts(chunksOf([10 * MIB, 10 * MIB, 3 * MIB]), { partSize: 8 * MIB, copy: true, equalParts: false });
    expect(plan.map((p) => [p.kind, sizeOf(p)])).toEqual([
      ['copy', 10 * MIB],
      ['copy', 10 * MIB],
      ['copy', 3 * MIB],
    ]);
  });

  it('flushes a run that already reaches 5 MiB before copying the next big chunk', () => {
    const chunks = chunksOf([3 * MIB, 3 * MIB, 10 * MIB]);
    const plan = planParts(chunks, { partSize: 8 * MIB, copy: true, equalParts: false });
    expect(plan.map((p) => [p.kind, sizeOf(p)])).toEqual([
      ['upload', 6 * MIB],
      ['copy', 10 * MIB],
    ]);
  });

  it('splits a chunk over 5 GiB into even copies', () => {
    const chunks = chunksOf([MAX_COPY_BYTES * 2 + 7, MIB]);
    const plan = planParts(chunks, { partSize: 8 * MIB, copy: true, equalParts: false });
    expect(plan.map((p) => p.kind)).toEqual(['copy', 'copy', 'copy', 'copy']); // the small last chunk too
    checkPlan(chunks, plan, { partSize: 8 * MIB, copy: true, equalParts: false });
  });

  it('with equal parts, copies every chunk when the client sent equal chunks', () => {
    const chunks = chunksOf([6 * MIB, 6 * MIB, 6 * MIB, 2 * MIB]);
    const plan = planParts(chunks, { partSize: 8 * MIB, copy: true, equalParts: true });
    expect(plan.map((p) => [p.kind, sizeOf(p)])).toEqual([
      ['copy', 6 * MIB],
      ['copy', 6 * MIB],
      ['copy', 6 * MIB],
      ['copy', 2 * MIB],
    ]);
  });

  it('falls back to fewer, bigger uploaded parts past 10,000 parts', () => {
    const chunks = chunksOf(Array.from({ length: 12_000 }, () => MIN_PART_BYTES));
    const options = { partSize: 5 * MIB, copy: true, equalParts: false };
    const plan = planParts(chunks, options);
    expect(plan.length).toBeLessThanOrEqual(MAX_PARTS);
    expect(plan.every((p) => p.kind === 'upload')).toBe(true);
    checkPlan(chunks, plan, { ...options, copy: false });
  });

  it('skips empty chunks', () => {
    const chunks = chunksOf([0, MIB, 0, 2 * MIB]);
    const plan = planParts(chunks, { partSize: 8 * MIB, copy: true, equalParts: false });
    expect(plan).toEqual([{ kind: 'upload', size: 3 * MIB, sources: [{ key: 'c1', start: 0, length: MIB }, { key: 'c3', start: 0, length: 2 * MIB }] }]);
  });
});
