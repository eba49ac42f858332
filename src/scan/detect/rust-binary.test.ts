/**
 * A real executable given a `.dep-v0` section by objcopy (placed as the
 * linker places cargo-auditable's: unloaded, after the program), and
 * synthetic ELF files for the classes, byte orders and layouts objcopy
 * cannot produce here.
 */
import { execFileSync } from 'node:child_process';
import { copyFileSync, createReadStream, existsSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { deflateSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DetectorResult, LayerFile } from './detector.js';
import { MAX_DEPENDENCY_JSON_BYTES, MAX_KEPT_TAIL_BYTES, MAX_RUST_BINARY_BYTES, rustBinaryDetector } from './rust-binary.js';

const executable = (path: string, size: number): LayerFile => ({ path, size, mode: 0o755 });
const crate = (name: string, version: string, location: string) => ({ ecosystem: 'crates.io', versionScheme: 'semver', name, version, location });

/** What cargo-auditable records for a small CLI: the root crate, its runtime deps, a build-time dep, and crates from elsewhere. */
const AUDIT_DATA = {
  format: 1,
  packages: [
    { name: 'mytool', version: '0.3.0', source: 'local', root: true, dependencies: [1, 2, 4, 5, 6, 7] },
    { name: 'clap', version: '4.4.11', source: 'crates.io', dependencies: [3] },
    { name: 'serde', version: '1.0.193', source: 'crates.io', kind: 'runtime' },
    { name: 'clap_derive', version: '4.4.7', source: 'crates.io', kind: 'build' },
    { name: 'cc', version: '1.0.83', source: 'crates.io', kind: 'build' },
    { name: 'patched', version: '0.1.0', source: 'git' },
    { name: 'internal-lib', version: '2.0.0', source: 'registry' },
    { name: 'regex', version: '1.10.2', source: 'crates.io' },
  ],
};
const expectedCrates = (location: string) => [crate('clap', '4.4.11', location), crate('serde', '1.0.193', location), crate('regex', '1.10.2', location)];

async function detectFile(path: string): Promise<DetectorResult> {
  return rustBinaryDetector.detect(executable(path.slice(1), statSync(path).size), createReadStream(path));
}

function detectParts(parts: Buffer[], path = 'usr/bin/tool'): Promise<DetectorResult> {
  return rustBinaryDetector.detect(executable(path, parts.reduce((n, p) => n + p.length, 0)), Readable.from(parts));
}

// --- synthetic ELF ---------------------------------------------------------------

interface SyntheticSection {
  name: string;
  data?: Buffer;
  /** Zero bytes instead of `data`, streamed without allocating them. */
  zeros?: number;
}

interface SyntheticElf {
  is64: boolean;
  littleEndian: boolean;
  sections: SyntheticSection[];
  /** One PT_LOAD segment from the start of the file to the end of this section. */
  loadThrough?: string;
  /** Section count and name table index in section 0, as for files with 0xff00 sections or more. */
  extendedNumbering?: boolean;
  /** The section header table right after the headers, where Go's linker puts it, instead of at the end. */
  tableFirst?: boolean;
}

const ZEROS = Buffer.alloc(1024 * 1024);

/** The file as chunks: ELF header, program header, section contents, name table, section header table. */
function buildElf(spec: SyntheticElf): Buffer[] {
  const { is64, littleEndian: le } = spec;
  const ehsize = is64 ? 64 : 52;
  const phentsize = is64 ? 56 : 32;
  const shentsize = is64 ? 64 : 40;
  const phnum = spec.loadThrough ? 1 : 0;
  const names = ['', ...spec.sections.map((s) => s.name), '.shstrtab'];
  const nameTable = Buffer.from(names.map((n) => `${n}\0`).join(''), 'latin1');
  const nameOffsets = names.map((_, i) => names.slice(0, i).reduce((n, s) => n + s.length + 1, 0));

  const parts: Buffer[] = [];
  const placed: Array<{ offset: number; size: number }> = [{ offset: 0, size: 0 }];
  const shnum = names.length;
  let offset = ehsize + phnum * phentsize + (spec.tableFirst ? shnum * shentsize : 0);
  let loadedEnd = 0;
  for (const section of spec.sections) {
    const size = section.data?.length ?? section.zeros ?? 0;
    placed.push({ offset, size });
    if (section.data) parts.push(section.data);
    for (let left = section.zeros ?? 0; left > 0; left -= ZEROS.length) parts.push(ZEROS.subarray(0, Math.min(left, ZEROS.length)));
    offset += size;
    if (section.name === spec.loadThrough) loadedEnd = offset;
  }
  placed.push({ offset, size: nameTable.length });
  parts.push(nameTable);
  offset += nameTable.length;
  const shoff = spec.tableFirst ? ehsize + phnum * phentsize : offset;

  const write = (buf: Buffer, at: number, value: number, bytes: 2 | 4 | 8) => {
    if (bytes === 2) le ? buf.writeUInt16LE(value, at) : buf.writeUInt16BE(value, at);
    else if (bytes === 4) le ? buf.writeUInt32LE(value, at) : buf.writeUInt32BE(value, at);
    else le ? buf.writeBigUInt64LE(BigInt(value), at) : buf.writeBigUInt64BE(BigInt(value), at);
  };
  const word = is64 ? 8 : 4;

  const header = Buffer.alloc(ehsize);
  header.write('\x7fELF', 'latin1');
  header[4] = is64 ? 2 : 1;
  header[5] = le ? 1 : 2;
  header[6] = 1;
  write(header, 16, 2, 2); // ET_EXEC
  write(header, is64 ? 0x20 : 0x1c, phnum ? ehsize : 0, word);
  write(header, is64 ? 0x28 : 0x20, shoff, word);
  const sizes = is64 ? 0x34 : 0x28;
  write(header, sizes, ehsize, 2);
  write(header, sizes + 2, phentsize, 2);
  write(header, sizes + 4, phnum, 2);
  write(header, sizes + 6, shentsize, 2);
  write(header, sizes + 8, spec.extendedNumbering ? 0 : shnum, 2);
  write(header, sizes + 10, spec.extendedNumbering ? 0xffff : shnum - 1, 2);

  const programHeaders = Buffer.alloc(phnum * phentsize);
  if (phnum) {
    write(programHeaders, 0, 1, 4); // PT_LOAD
    write(programHeaders, is64 ? 8 : 4, 0, word);
    write(programHeaders, is64 ? 32 : 16, loadedEnd, word);
  }

  const table = Buffer.alloc(shnum * shentsize);
  placed.forEach(({ offset: at, size }, i) => {
    const base = i * shentsize;
    write(table, base, nameOffsets[i]!, 4);
    write(table, base + 4, i === 0 ? 0 : i === shnum - 1 ? 3 : 1, 4); // SHT_NULL, SHT_STRTAB, SHT_PROGBITS
    write(table, base + (is64 ? 24 : 16), at, word);
    write(table, base + (is64 ? 32 : 20), i === 0 && spec.extendedNumbering ? shnum : size, word);
    write(table, base + (is64 ? 40 : 24), i === 0 && spec.extendedNumbering ? shnum - 1 : 0, 4);
  });
  return spec.tableFirst ? [header, programHeaders, table, ...parts] : [header, programHeaders, ...parts, table];
}

const depV0 = (data: unknown) => deflateSync(Buffer.from(JSON.stringify(data)));

describe('rust-binary detector: synthetic ELF', () => {
  it('wants executables within the size cap only', () => {
    expect(rustBinaryDetector.wants(executable('usr/bin/rg', 5_000_000))).toBe(true);
    expect(rustBinaryDetector.wants({ path: 'usr/lib/libx.so', size: 5_000_000, mode: 0o644 })).toBe(false);
    expect(rustBinaryDetector.wants(executable('usr/bin/huge', MAX_RUST_BINARY_BYTES + 1))).toBe(false);
  });

  it.each([
    { is64: true, littleEndian: true },
    { is64: true, littleEndian: false },
    { is64: false, littleEndian: true },
    { is64: false, littleEndian: false },
  ])('reads .dep-v0 from ELF%# (64-bit: $is64, little endian: $littleEndian), in any chunking', async (layout) => {
    const file = Buffer.concat(
      buildElf({ ...layout, sections: [{ name: '.text', zeros: 4096 }, { name: '.comment', data: Buffer.from('GCC\0') }, { name: '.dep-v0', data: depV0(AUDIT_DATA) }] }),
    );
    for (const chunkSize of [1, 13, 65536]) {
      const parts: Buffer[] = [];
      for (let i = 0; i < file.length; i += chunkSize) parts.push(file.subarray(i, i + chunkSize));
      expect(await detectParts(parts)).toEqual({ packages: expectedCrates('usr/bin/tool') });
    }
  });

  it('finds sections through extended numbering (count and name table index in section 0)', async () => {
    const parts = buildElf({ is64: true, littleEndian: true, extendedNumbering: true, sections: [{ name: '.dep-v0', data: depV0(AUDIT_DATA) }] });
    expect(await detectParts(parts)).toEqual({ packages: expectedCrates('usr/bin/tool') });
  });

  it('reads a section header table placed before the sections', async () => {
    // Loaded content ends before .dep-v0, so only the table copy can have kept the table.
    const parts = buildElf({ is64: true, littleEndian: true, tableFirst: true, loadThrough: '.text', sections: [{ name: '.text', zeros: 5000 }, { name: '.dep-v0', data: depV0(AUDIT_DATA) }] });
    expect(await detectParts(parts)).toEqual({ packages: expectedCrates('usr/bin/tool') });
  });

  it('reports nothing for an ELF file without .dep-v0, or without section headers', async () => {
    expect(await detectParts(buildElf({ is64: true, littleEndian: true, sections: [{ name: '.text', zeros: 100 }] }))).toEqual({});
    const [header, ...rest] = buildElf({ is64: true, littleEndian: true, sections: [{ name: '.dep-v0', data: depV0(AUDIT_DATA) }] });
    header!.writeBigUInt64LE(0n, 0x28); // e_shoff: none (sstrip'd)
    expect(await detectParts([header!, ...rest])).toEqual({});
  });

  it('drops a non-ELF executable after its first bytes', async () => {
    let pulled = 0;
    async function* script() {
      for (let i = 0; i < 100; i++) {
        pulled++;
        yield Buffer.from('#!/bin/sh\necho hello\n');
      }
    }
    const stream = Readable.from(script());
    expect(await rustBinaryDetector.detect(executable('usr/bin/run.sh', 2100), stream)).toEqual({});
    expect(pulled).toBeLessThan(3);
    expect(stream.destroyed).toBe(true);
  });

  it('notes a .dep-v0 inside the loaded program (not kept while streaming)', async () => {
    const parts = buildElf({ is64: true, littleEndian: true, loadThrough: '.dep-v0', sections: [{ name: '.dep-v0', data: depV0(AUDIT_DATA) }] });
    expect(await detectParts(parts)).toEqual({
      notes: ['usr/bin/tool: cargo-auditable data (.dep-v0) is inside the loaded program, where this scanner does not read it'],
    });
  });

  it(`keeps only the last ${MAX_KEPT_TAIL_BYTES} bytes: a .dep-v0 before that gets a note, one after is read`, async () => {
    const early = buildElf({ is64: true, littleEndian: true, sections: [{ name: '.dep-v0', data: depV0(AUDIT_DATA) }, { name: '.debug_info', zeros: MAX_KEPT_TAIL_BYTES }] });
    expect(await detectParts(early)).toEqual({
      notes: [`usr/bin/tool: cargo-auditable data (.dep-v0) is more than ${MAX_KEPT_TAIL_BYTES} bytes before the end of the file, where this scanner does not read it`],
    });
    const late = buildElf({ is64: true, littleEndian: true, sections: [{ name: '.debug_info', zeros: MAX_KEPT_TAIL_BYTES }, { name: '.dep-v0', data: depV0(AUDIT_DATA) }] });
    expect(await detectParts(late)).toEqual({ packages: expectedCrates('usr/bin/tool') });
  });

  it('throws (a note for this file) on data that is not zlib, not the format, or too large', async () => {
    const withSection = (data: Buffer) => buildElf({ is64: true, littleEndian: true, sections: [{ name: '.dep-v0', data }] });
    await expect(detectParts(withSection(Buffer.from('not zlib at all')))).rejects.toThrow();
    await expect(detectParts(withSection(depV0({ crates: [] })))).rejects.toThrow(/no packages list/);
    await expect(detectParts(withSection(depV0({ packages: [{ name: 'x', source: 'crates.io' }] })))).rejects.toThrow(/without a name or version/);
    const bomb = deflateSync(Buffer.alloc(MAX_DEPENDENCY_JSON_BYTES + 1, 0x20));
    await expect(detectParts(withSection(bomb))).rejects.toThrow();
  });

  it('throws when the section headers lie outside the file', async () => {
    const [header, ...rest] = buildElf({ is64: true, littleEndian: true, sections: [{ name: '.dep-v0', data: depV0(AUDIT_DATA) }] });
    header!.writeBigUInt64LE(1n << 40n, 0x28);
    await expect(detectParts([header!, ...rest])).rejects.toThrow(/section header/);
  });
});

// --- a real executable -----------------------------------------------------------

const OBJCOPY = ['/usr/bin/objcopy'].find((p) => existsSync(p));
const REQUIRE_OBJCOPY = process.env.CI === 'true';
if (!OBJCOPY && !REQUIRE_OBJCOPY) console.warn('rust-binary tests: no objcopy (Debian package binutils), so no real executable is given a .dep-v0 section');

describe.skipIf(!OBJCOPY && !REQUIRE_OBJCOPY)('rust-binary detector: a real executable with .dep-v0 (objcopy)', () => {
  let work: string;
  let withSection: string;
  let without: string;

  beforeAll(() => {
    if (!OBJCOPY) throw new Error('objcopy is required in CI: install the Debian package binutils');
    work = mkdtempSync(join(tmpdir(), 'berth-rust-binary-'));
    without = join(work, 'plain');
    withSection = join(work, 'audited');
    copyFileSync('/usr/bin/true', without);
    writeFileSync(join(work, 'dep-v0.zlib'), depV0(AUDIT_DATA));
    execFileSync(OBJCOPY, ['--add-section', `.dep-v0=${join(work, 'dep-v0.zlib')}`, '--set-section-flags', '.dep-v0=noload,readonly', without, withSection], { stdio: 'pipe' });
  });

  afterAll(() => {
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it('reports the runtime crates.io packages', async () => {
    expect(await detectFile(withSection)).toEqual({ packages: expectedCrates(withSection.slice(1)) });
  });

  it('reports nothing for the same executable without the section', async () => {
    expect(await detectFile(without)).toEqual({});
  });
});

describe('rust-binary detector: programs that are not Rust', () => {
  it.each(['/usr/bin/ls', '/usr/bin/skopeo'].filter((p) => existsSync(p)))('finds nothing in %s', async (path) => {
    expect(await detectFile(path)).toEqual({});
  });
});
