/**
 * Rust crates compiled into executables built with cargo-auditable, which
 * embeds the dependency list as zlib-compressed JSON in an ELF section named
 * `.dep-v0`.
 *
 * Sections are found through the section header table, and the walker
 * streams each file once, so whatever may hold the section must be kept until
 * the table has been read — usually at the end of the file (GNU ld, lld; Go's
 * own linker puts it first). cargo-auditable writes `.dep-v0` without
 * SHF_ALLOC, so the linker places it with the other unloaded sections
 * (.comment, .symtab, debug info) after everything the program loads. The ELF
 * and program headers at the start say where loaded content ends and where
 * the table is: the table is copied as it passes, and of the bytes after the
 * loaded content, the last MAX_KEPT_TAIL_BYTES are kept (a few kilobytes for
 * a stripped binary; symbols and debug info for others). A `.dep-v0` outside
 * what was kept gets a note.
 */
import type { Readable } from 'node:stream';
import { inflateSync } from 'node:zlib';
import type { DetectedPackage, Detector, DetectorResult, LayerFile } from './detector.js';

export const MAX_RUST_BINARY_BYTES = 512 * 1024 * 1024;
export const MAX_KEPT_TAIL_BYTES = 64 * 1024 * 1024;
/** cargo-auditable's own parsing guide: 8 MiB holds any legitimate dependency list. */
export const MAX_DEPENDENCY_JSON_BYTES = 8 * 1024 * 1024;
/** Room for the ELF header and program headers, which start right after it in practice. */
const MAX_HEAD_BYTES = 64 * 1024;
const SECTION_NAME = '.dep-v0';
const PT_LOAD = 1;
const SHT_NOBITS = 8;
const SHN_XINDEX = 0xffff;

export const rustBinaryDetector: Detector = {
  name: 'rust-binary',

  wants(file: LayerFile): boolean {
    return (file.mode & 0o111) !== 0 && file.size >= ELF32_HEADER_BYTES && file.size <= MAX_RUST_BINARY_BYTES;
  },

  async detect(file: LayerFile, content: Readable): Promise<DetectorResult> {
    const elf = await readElf(content);
    if (!elf) return {};
    const section = findSection(elf, SECTION_NAME);
    if (!section) return {};
    const compressed = keptBytes(elf, section.offset, section.size);
    if (!compressed) {
      const where = section.offset < elf.loadedEnd ? 'inside the loaded program' : `more than ${MAX_KEPT_TAIL_BYTES} bytes before the end of the file`;
      return { notes: [`${file.path}: cargo-auditable data (${SECTION_NAME}) is ${where}, where this scanner does not read it`] };
    }
    const json = inflateSync(compressed, { maxOutputLength: MAX_DEPENDENCY_JSON_BYTES });
    return { packages: cratesFromAuditData(JSON.parse(json.toString('utf8')), file.path) };
  },
};

/**
 * crates.io packages the binary was built from. Other sources (`local`
 * workspace crates, `git`, alternative `registry`) are not crates.io
 * releases, so no crates.io advisory applies by version: left out. So are
 * `kind: "build"` packages (build scripts, proc-macros and what only they
 * use), which run at compile time and are not in the binary; cargo-audit and
 * Trivy skip them alike.
 */
export function cratesFromAuditData(data: unknown, location: string): DetectedPackage[] {
  const packages = (data as { packages?: unknown } | null)?.packages;
  if (!Array.isArray(packages)) throw new Error(`${SECTION_NAME} data has no packages list`);
  const found = new Map<string, DetectedPackage>();
  for (const entry of packages as Array<Record<string, unknown>>) {
    const { name, version, source, kind } = entry ?? {};
    if (typeof name !== 'string' || typeof version !== 'string') throw new Error(`${SECTION_NAME} data has a package without a name or version`);
    if (source !== 'crates.io' || (kind ?? 'runtime') !== 'runtime') continue;
    const key = `${name}@${version}`;
    if (!found.has(key)) found.set(key, { ecosystem: 'crates.io', versionScheme: 'semver', name, version, location });
  }
  return [...found.values()];
}

// --- ELF -------------------------------------------------------------------

const ELF32_HEADER_BYTES = 52;
const ELF64_HEADER_BYTES = 64;

interface ElfHeader {
  is64: boolean;
  littleEndian: boolean;
  phoff: number;
  phentsize: number;
  phnum: number;
  shoff: number;
  shentsize: number;
  shnum: number;
  shstrndx: number;
}

/** An ELF file reduced to its header, its section header table and the bytes kept from its end. */
interface KeptElf {
  header: ElfHeader;
  /** File offset where loaded content (PT_LOAD segments) ends. */
  loadedEnd: number;
  /** The section header table, when its size is in the ELF header (not extended numbering) and the file holds it. */
  sectionTable?: Buffer;
  tail: Buffer;
  tailStart: number;
}

interface Section {
  name: number;
  type: number;
  offset: number;
  size: number;
  link: number;
}

/** Field reader for one ELF class and byte order; 64-bit fields as numbers (files are far below 2^53). */
function fields(buffer: Buffer, header: Pick<ElfHeader, 'is64' | 'littleEndian'>) {
  const le = header.littleEndian;
  return {
    u16: (at: number) => (le ? buffer.readUInt16LE(at) : buffer.readUInt16BE(at)),
    u32: (at: number) => (le ? buffer.readUInt32LE(at) : buffer.readUInt32BE(at)),
    word: (at: number) => (header.is64 ? Number(le ? buffer.readBigUInt64LE(at) : buffer.readBigUInt64BE(at)) : le ? buffer.readUInt32LE(at) : buffer.readUInt32BE(at)),
  };
}

function parseElfHeader(head: Buffer): ElfHeader | undefined {
  if (head.length < ELF32_HEADER_BYTES || head.readUInt32BE(0) !== 0x7f454c46) return undefined;
  const elfClass = head[4];
  const byteOrder = head[5];
  if ((elfClass !== 1 && elfClass !== 2) || (byteOrder !== 1 && byteOrder !== 2)) return undefined;
  const is64 = elfClass === 2;
  if (is64 && head.length < ELF64_HEADER_BYTES) return undefined;
  const r = fields(head, { is64, littleEndian: byteOrder === 1 });
  const at = is64 ? { phoff: 0x20, shoff: 0x28, sizes: 0x36 } : { phoff: 0x1c, shoff: 0x20, sizes: 0x2a };
  return {
    is64,
    littleEndian: byteOrder === 1,
    phoff: r.word(at.phoff),
    shoff: r.word(at.shoff),
    phentsize: r.u16(at.sizes),
    phnum: r.u16(at.sizes + 2),
    shentsize: r.u16(at.sizes + 4),
    shnum: r.u16(at.sizes + 6),
    shstrndx: r.u16(at.sizes + 8),
  };
}

/** End of the last PT_LOAD segment's file content, or 0 when the program headers are not in `head`. */
function loadedContentEnd(head: Buffer, header: ElfHeader): number {
  const end = header.phoff + header.phnum * header.phentsize;
  if (header.phnum === 0 || header.phentsize < (header.is64 ? 56 : 32) || end > head.length) return 0;
  const r = fields(head, header);
  let loadedEnd = 0;
  for (let i = 0; i < header.phnum; i++) {
    const ph = header.phoff + i * header.phentsize;
    if (r.u32(ph) !== PT_LOAD) continue;
    const [offset, filesz] = header.is64 ? [r.word(ph + 8), r.word(ph + 32)] : [r.u32(ph + 4), r.u32(ph + 16)];
    loadedEnd = Math.max(loadedEnd, offset + filesz);
  }
  return loadedEnd;
}

/** Copies one range of the file as the stream passes it. */
class RangeCopy {
  readonly bytes: Buffer;
  private copied = 0;

  constructor(
    readonly start: number,
    length: number,
  ) {
    this.bytes = Buffer.alloc(length);
  }

  offer(chunk: Buffer, at: number): void {
    const from = Math.max(this.start, at);
    const to = Math.min(this.start + this.bytes.length, at + chunk.length);
    if (to <= from) return;
    chunk.copy(this.bytes, from - this.start, from - at, to - at);
    this.copied += to - from;
  }

  get complete(): boolean {
    return this.copied === this.bytes.length;
  }
}

/** Keeps the last `max` bytes of the stream at or after file offset `from`. */
class TailKeeper {
  private readonly chunks: Buffer[] = [];
  private kept = 0;
  private end = 0;

  constructor(
    private readonly from: number,
    private readonly max: number,
  ) {}

  offer(chunk: Buffer, at: number): void {
    this.end = at + chunk.length;
    const skip = Math.max(0, this.from - at);
    if (skip >= chunk.length) return;
    this.chunks.push(chunk.subarray(skip));
    this.kept += chunk.length - skip;
    while (this.kept > this.max) {
      const excess = this.kept - this.max;
      const first = this.chunks[0]!;
      if (first.length <= excess) this.chunks.shift();
      else this.chunks[0] = first.subarray(excess);
      this.kept -= Math.min(first.length, excess);
    }
  }

  result(): { tail: Buffer; tailStart: number } {
    return { tail: Buffer.concat(this.chunks, this.kept), tailStart: this.end - this.kept };
  }
}

/** A section header table larger than this (0xff00 sections of 64 bytes is 4 MiB) is not an ELF file we read. */
const MAX_SECTION_TABLE_BYTES = 16 * 1024 * 1024;

/**
 * Streams the file once. Non-ELF files and ELF files without section headers
 * are dropped after their first bytes; the head is gathered until it holds
 * the program headers (or MAX_HEAD_BYTES), then every chunk is offered to the
 * section table copy and the tail keeper.
 */
async function readElf(content: Readable): Promise<KeptElf | undefined> {
  const headChunks: Buffer[] = [];
  let headBytes = 0;
  let elf: { header: ElfHeader; loadedEnd: number; table?: RangeCopy; tail: TailKeeper } | undefined;
  let position = 0;
  try {
    for await (const data of content) {
      const chunk = data as Buffer;
      if (!elf) {
        headChunks.push(chunk);
        headBytes += chunk.length;
        const head = Buffer.concat(headChunks, headBytes);
        if (head.length >= 4 && head.readUInt32BE(0) !== 0x7f454c46) return undefined;
        const header = parseElfHeader(head);
        if (!header) {
          if (head.length >= ELF64_HEADER_BYTES) return undefined;
          continue;
        }
        const phEnd = header.phoff + header.phnum * header.phentsize;
        if (phEnd > head.length && head.length < MAX_HEAD_BYTES) continue;
        if (header.shoff === 0) return undefined;
        const loadedEnd = loadedContentEnd(head, header);
        const tableBytes = header.shnum * header.shentsize;
        const table = tableBytes > 0 && tableBytes <= MAX_SECTION_TABLE_BYTES ? new RangeCopy(header.shoff, tableBytes) : undefined;
        elf = { header, loadedEnd, table, tail: new TailKeeper(loadedEnd, MAX_KEPT_TAIL_BYTES) };
        elf.table?.offer(head, 0);
        elf.tail.offer(head, 0);
        position = head.length;
        continue;
      }
      elf.table?.offer(chunk, position);
      elf.tail.offer(chunk, position);
      position += chunk.length;
    }
  } finally {
    content.destroy();
  }
  if (!elf) return undefined;
  const sectionTable = elf.table?.complete ? elf.table.bytes : undefined;
  return { header: elf.header, loadedEnd: elf.loadedEnd, sectionTable, ...elf.tail.result() };
}

/** `size` bytes at file offset `offset`, if they were kept. */
function keptBytes(elf: KeptElf, offset: number, size: number): Buffer | undefined {
  const from = offset - elf.tailStart;
  if (from < 0 || from + size > elf.tail.length) return undefined;
  return elf.tail.subarray(from, from + size);
}

function readSection(elf: KeptElf, index: number): Section {
  const { header } = elf;
  const at = index * header.shentsize;
  const entry = elf.sectionTable && at + header.shentsize <= elf.sectionTable.length ? elf.sectionTable.subarray(at, at + header.shentsize) : keptBytes(elf, header.shoff + at, header.shentsize);
  if (!entry) throw new Error(`ELF section header ${index} lies outside the file or the ${MAX_KEPT_TAIL_BYTES} bytes kept from its end`);
  const r = fields(entry, header);
  return header.is64
    ? { name: r.u32(0), type: r.u32(4), offset: r.word(24), size: r.word(32), link: r.u32(40) }
    : { name: r.u32(0), type: r.u32(4), offset: r.u32(16), size: r.u32(20), link: r.u32(24) };
}

/** The section called `name`, by way of the section name string table. */
function findSection(elf: KeptElf, name: string): Section | undefined {
  const { header } = elf;
  if (header.shentsize < (header.is64 ? 64 : 40)) throw new Error('ELF section headers are too small');
  // Past 0xff00 sections, the count and the name table's index move into section 0.
  const first = readSection(elf, 0);
  const count = header.shnum === 0 ? first.size : header.shnum;
  const namesIndex = header.shstrndx === SHN_XINDEX ? first.link : header.shstrndx;
  if (namesIndex >= count) throw new Error('ELF section name table index is out of range');
  const namesSection = readSection(elf, namesIndex);
  const names = keptBytes(elf, namesSection.offset, namesSection.size);
  if (!names) throw new Error(`ELF section name table lies outside the ${MAX_KEPT_TAIL_BYTES} bytes kept from the end of the file`);
  const wanted = Buffer.from(`${name}\0`, 'latin1');
  for (let i = 1; i < count; i++) {
    const section = readSection(elf, i);
    if (section.type === SHT_NOBITS) continue;
    if (names.subarray(section.name, section.name + wanted.length).equals(wanted)) return section;
  }
  return undefined;
}
