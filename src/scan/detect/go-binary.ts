/**
 * Go modules compiled into executables, from the build info the Go linker
 * embeds (what `go version -m` prints). Read in one pass without buffering
 * the binary: the stream is searched for the build info header, then only the
 * few kilobytes after it are kept.
 *
 * Go 1.18 and later store the Go version and module list inline after the
 * header. Older binaries store pointers to them, and what they point at lies
 * earlier in the file than the header, already streamed past: those get a
 * note instead of packages.
 */
import type { Readable } from 'node:stream';
import type { DetectedPackage, Detector, DetectorResult, LayerFile } from './detector.js';

export const MAX_GO_BINARY_BYTES = 512 * 1024 * 1024;
/** The module list of a large program (hundreds of deps) is tens of kilobytes. */
export const MAX_GO_MODINFO_BYTES = 1024 * 1024;
/**
 * The version of a module built from a source tree rather than a module
 * download: the main module of most builds, and deps replaced by a local
 * directory. Reported so the SBOM lists them, but it is no version: the
 * matcher must not match it against any range.
 */
export const GO_DEVEL_VERSION = '(devel)';

const ELF_MAGIC = Buffer.from([0x7f, 0x45, 0x4c, 0x46]);
const BUILD_INFO_MAGIC = Buffer.from('\xff Go buildinf:', 'latin1');
const BUILD_INFO_ALIGN = 16;
const BUILD_INFO_HEADER_BYTES = 32;
const FLAG_INLINE_STRINGS = 0x2;
/** modinfo is wrapped in 16 fixed bytes at each end (cmd/go/internal/modload). */
const MODINFO_SENTINEL_BYTES = 16;

interface RawBuildInfo {
  goVersion: string;
  modinfo: string;
}

type HeaderParse = RawBuildInfo | 'pointer-format' | 'invalid' | 'need-more';

export const goBinaryDetector: Detector = {
  name: 'go-binary',

  wants(file: LayerFile): boolean {
    return (file.mode & 0o111) !== 0 && file.size > BUILD_INFO_HEADER_BYTES && file.size <= MAX_GO_BINARY_BYTES;
  },

  async detect(file: LayerFile, content: Readable): Promise<DetectorResult> {
    const found = await findBuildInfo(content);
    if (found === undefined) return {};
    if (found === 'pointer-format') {
      return { notes: [`${file.path}: Go binary built before Go 1.18 (build info by pointer); its modules are not inventoried`] };
    }
    return { packages: goPackages(found, file.path) };
  },
};

/**
 * Streams the file looking for the 16-byte-aligned build info header (the
 * same string can also sit unaligned, or in the data of a program that reads
 * build info, so each hit is checked, and a pointer-format one only counts
 * when no inline one follows). Only ELF files are searched: scripts and other
 * executables are dropped after their first bytes.
 */
async function findBuildInfo(content: Readable): Promise<RawBuildInfo | 'pointer-format' | undefined> {
  let window: Buffer = Buffer.alloc(0); // unsearched bytes, starting at file offset `windowStart`
  let windowStart = 0;
  let searchFrom = 0;
  let checkedElf = false;
  let pointerFormatSeen = false;
  try {
    for await (const chunk of content) {
      window = window.length === 0 ? (chunk as Buffer) : Buffer.concat([window, chunk as Buffer]);
      if (!checkedElf) {
        if (window.length < ELF_MAGIC.length) continue;
        if (!window.subarray(0, ELF_MAGIC.length).equals(ELF_MAGIC)) return undefined;
        checkedElf = true;
      }
      for (;;) {
        const at = window.indexOf(BUILD_INFO_MAGIC, searchFrom);
        if (at < 0) {
          // Keep what could be the start of a magic split across chunks.
          const keep = Math.min(window.length, BUILD_INFO_MAGIC.length - 1);
          windowStart += window.length - keep;
          window = window.subarray(window.length - keep);
          searchFrom = 0;
          break;
        }
        const parsed = (windowStart + at) % BUILD_INFO_ALIGN === 0 ? parseBuildInfoHeader(window.subarray(at)) : 'invalid';
        if (parsed === 'need-more') {
          windowStart += at;
          window = window.subarray(at);
          searchFrom = 0;
          break;
        }
        if (parsed === 'pointer-format') pointerFormatSeen = true;
        else if (parsed !== 'invalid') return parsed;
        searchFrom = at + 1;
      }
    }
    return pointerFormatSeen ? 'pointer-format' : undefined;
  } finally {
    content.destroy();
  }
}

/** Decodes the header and, for the inline format, the two strings after it (cmd/link's buildinfo layout). */
function parseBuildInfoHeader(data: Buffer): HeaderParse {
  if (data.length < BUILD_INFO_HEADER_BYTES) return 'need-more';
  const pointerSize = data[14];
  const flags = data[15]!;
  if (pointerSize !== 4 && pointerSize !== 8) return 'invalid';
  if ((flags & FLAG_INLINE_STRINGS) === 0) return flags <= 1 ? 'pointer-format' : 'invalid';
  const version = readVarintString(data, BUILD_INFO_HEADER_BYTES, 1024);
  if (typeof version === 'string') return version;
  const modinfo = readVarintString(data, version.next, MAX_GO_MODINFO_BYTES);
  if (typeof modinfo === 'string') return modinfo;
  const goVersion = version.value.toString('utf8');
  if (goVersion === '') return 'invalid';
  return { goVersion, modinfo: stripSentinels(modinfo.value) };
}

/** A uvarint length then that many bytes (Go's `binary.Uvarint`). */
function readVarintString(data: Buffer, offset: number, maxLength: number): { value: Buffer; next: number } | 'need-more' | 'invalid' {
  let length = 0;
  let at = offset;
  for (let shift = 0; ; shift += 7) {
    if (at >= data.length) return 'need-more';
    if (shift > 28) return 'invalid'; // longer than any string we accept
    const byte = data[at++]!;
    length += (byte & 0x7f) * 2 ** shift;
    if (byte < 0x80) break;
  }
  if (length > maxLength) return 'invalid';
  if (at + length > data.length) return 'need-more';
  return { value: data.subarray(at, at + length), next: at + length };
}

function stripSentinels(bytes: Buffer): string {
  const min = 2 * MODINFO_SENTINEL_BYTES + 1;
  // Same test as debug/buildinfo: the text between the sentinels ends with a newline.
  if (bytes.length < min || bytes[bytes.length - MODINFO_SENTINEL_BYTES - 1] !== 0x0a) return '';
  return bytes.subarray(MODINFO_SENTINEL_BYTES, bytes.length - MODINFO_SENTINEL_BYTES).toString('utf8');
}

interface Module {
  path: string;
  version: string;
  replace?: { path: string; version: string };
}

/** The `mod` (main module) and `dep` lines of modinfo, each with the `=>` line that may follow it. */
export function parseModinfo(modinfo: string): { main?: Module; deps: Module[] } {
  let main: Module | undefined;
  const deps: Module[] = [];
  let last: Module | undefined;
  for (const line of modinfo.split('\n')) {
    const [word, path = '', version = ''] = line.split('\t');
    if (word === 'mod' || word === 'dep') {
      last = { path, version };
      if (word === 'mod') main = last;
      else deps.push(last);
    } else if (word === '=>' && last) {
      last.replace = { path, version };
    }
  }
  return { main, deps };
}

/**
 * The standard library as `stdlib` at the Go version (`go1.21.5`; a
 * GOEXPERIMENT suffix after a space is dropped), the main module, and every
 * dep. A dep replaced by another module is that module (its code is what was
 * compiled); one replaced by a local directory keeps its own path with the
 * replacement's version, `(devel)`, since a directory is no module name.
 */
function goPackages(info: RawBuildInfo, location: string): DetectedPackage[] {
  const packages: DetectedPackage[] = [goPackage('stdlib', stdlibVersion(info.goVersion), location)];
  const { main, deps } = parseModinfo(info.modinfo);
  for (const module of main ? [main, ...deps] : deps) {
    if (module.path === '') continue;
    const { path, version } = effectiveModule(module);
    packages.push(goPackage(path, version || GO_DEVEL_VERSION, location));
  }
  return packages;
}

function effectiveModule(module: Module): { path: string; version: string } {
  const replace = module.replace;
  if (!replace || replace.path === '') return module;
  const localDirectory = /^(?:\.{1,2}(?:\/|\\|$)|\/|[A-Za-z]:[\\/])/.test(replace.path);
  return localDirectory ? { path: module.path, version: replace.version || GO_DEVEL_VERSION } : replace;
}

function stdlibVersion(goVersion: string): string {
  const trimmed = goVersion.trim();
  // "devel go1.23-abc123 Tue…" (a toolchain built from source) is kept whole: it names no release.
  return trimmed.startsWith('devel') ? trimmed : trimmed.split(/\s+/)[0]!;
}

function goPackage(name: string, version: string, location: string): DetectedPackage {
  return { ecosystem: 'Go', versionScheme: 'semver', name, version, location };
}
