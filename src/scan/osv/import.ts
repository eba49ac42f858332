import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readdir, readFile, stat } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';
import yauzl from 'yauzl';
import { ecosystemBase, ecosystemKey, normalizePackageName } from './ecosystem.js';
import { isWithdrawn, parseOsvRecord, type OsvRecord } from './record.js';
import type { IndexedPackage, PreparedRecord, VulnDbStore } from './vulndb-store.js';

/**
 * Imports OSV records into the vulnerability database: from a zip as osv.dev
 * publishes them (one record per .json file: `<ecosystem>/all.zip`), a
 * directory of .json files (a database's git repository), or JSON lines.
 *
 * Records are read one at a time (a zip is read from its file lazily, never
 * whole) and written in batches, one transaction each. An import that fails
 * midway (an unreadable zip, a broken stream) leaves the batches written
 * before it, every record in them whole; running it again finishes the work.
 */

export interface ImportOptions {
  /** The source's name in `berth vulndb status`; default the file or directory name. */
  source?: string;
  /** Records per transaction (default 500). */
  batchSize?: number;
  /** How many problems the report lists (default 20); all are counted. */
  maxProblems?: number;
  /** Larger records are skipped (default 16 MiB; the largest osv.dev records are a few MiB). */
  maxRecordBytes?: number;
  now?: () => number;
}

export interface ImportProblem {
  /** The file in the zip or directory, or `line <n>`. */
  entry: string;
  reason: string;
}

export interface ImportReport {
  source: string;
  /** Valid records read. */
  records: number;
  /** New to the database. */
  imported: number;
  /** Stored already, replaced by a different version. */
  updated: number;
  /** Stored already, identical. */
  unchanged: number;
  /** Older than the stored copy (its `modified` earlier), so left out. */
  stale: number;
  /** Of the valid records, those withdrawn by their database (stored, never matched). */
  withdrawn: number;
  /** Entries that are not valid records: not JSON, not OSV, too large. */
  skipped: number;
  /** The first `maxProblems` skipped or stale entries, with why. */
  problems: ImportProblem[];
  /** The database generation after the import. */
  generation: number;
  durationMs: number;
}

/** One record's text as a source yields it, or why it could not be read. */
export type OsvEntry = { name: string; text: string } | { name: string; problem: string };

const DEFAULTS = { batchSize: 500, maxProblems: 20, maxRecordBytes: 16 * 1024 * 1024 };

/** Imports every `.json` file of a zip (osv.dev's `<ecosystem>/all.zip`). A zip that arrives over HTTP is spooled to a file first. */
export function importOsvZip(store: VulnDbStore, path: string, options: ImportOptions = {}): Promise<ImportReport> {
  const max = options.maxRecordBytes ?? DEFAULTS.maxRecordBytes;
  return importOsvEntries(store, zipEntries(path, max), { ...options, source: options.source ?? basename(path) });
}

/** Imports every `.json` file under a directory, recursively (hidden directories such as `.git` left out). */
export function importOsvDirectory(store: VulnDbStore, dir: string, options: ImportOptions = {}): Promise<ImportReport> {
  const max = options.maxRecordBytes ?? DEFAULTS.maxRecordBytes;
  return importOsvEntries(store, directoryEntries(dir, max), { ...options, source: options.source ?? basename(dir) });
}

/** Imports one record per line (blank lines ignored). */
export function importOsvJsonLines(store: VulnDbStore, input: Readable, options: ImportOptions & { source: string }): Promise<ImportReport> {
  return importOsvEntries(store, lineEntries(input, options.maxRecordBytes ?? DEFAULTS.maxRecordBytes), options);
}

/** A directory, a `.zip`, or else a file of JSON lines. */
export async function importOsvPath(store: VulnDbStore, path: string, options: ImportOptions = {}): Promise<ImportReport> {
  if ((await stat(path)).isDirectory()) return importOsvDirectory(store, path, options);
  if (path.toLowerCase().endsWith('.zip')) return importOsvZip(store, path, options);
  return importOsvJsonLines(store, createReadStream(path), { ...options, source: options.source ?? basename(path) });
}

/** The import itself, over entries from any source. */
export async function importOsvEntries(store: VulnDbStore, entries: AsyncIterable<OsvEntry>, options: ImportOptions & { source: string }): Promise<ImportReport> {
  const started = performance.now();
  const now = options.now ?? Date.now;
  const batchSize = Math.max(1, options.batchSize ?? DEFAULTS.batchSize);
  const maxProblems = options.maxProblems ?? DEFAULTS.maxProblems;
  const report: ImportReport = {
    source: options.source,
    records: 0,
    imported: 0,
    updated: 0,
    unchanged: 0,
    stale: 0,
    withdrawn: 0,
    skipped: 0,
    problems: [],
    generation: 0,
    durationMs: 0,
  };
  const problem = (entry: string, reason: string) => {
    if (report.problems.length < maxProblems) report.problems.push({ entry, reason });
  };
  const skip = (entry: string, reason: string) => {
    report.skipped++;
    problem(entry, reason);
  };
  let latestModified: string | null = null;
  let generation: number | undefined;
  // By id: a record seen twice is written in two batches, so that the later copy decides, as it would across imports.
  let batch = new Map<string, { entry: string; record: PreparedRecord }>();
  const flush = async () => {
    if (batch.size === 0) return;
    const pending = [...batch.values()];
    batch = new Map();
    const result = await store.putRecords(pending.map((p) => p.record), options.source);
    report.imported += result.imported;
    report.updated += result.updated;
    report.unchanged += result.unchanged;
    report.stale += result.stale.length;
    generation = result.generation;
    const stale = new Set(result.stale);
    for (const p of pending) if (stale.has(p.record.id)) problem(p.entry, `${p.record.id}: the stored copy is newer than this one (modified ${p.record.modified})`);
  };

  for await (const entry of entries) {
    if ('problem' in entry) {
      skip(entry.name, entry.problem);
      continue;
    }
    const parsed = parseEntry(entry.text);
    if (!parsed.ok) {
      skip(entry.name, parsed.reason);
      continue;
    }
    const { record, value } = parsed;
    report.records++;
    if (isWithdrawn(record)) report.withdrawn++;
    if (latestModified === null || Date.parse(record.modified) > Date.parse(latestModified)) latestModified = record.modified;
    if (batch.has(record.id)) await flush();
    batch.set(record.id, { entry: entry.name, record: prepareRecord(record, value) });
    if (batch.size >= batchSize) await flush();
  }
  await flush();

  await store.recordSource({ name: options.source, importedAt: now(), records: report.records, latestModified });
  report.generation = generation ?? (await store.generation());
  report.durationMs = Math.round(performance.now() - started);
  return report;
}

/**
 * A valid record as the store keeps it. `value` is the decoded JSON the record
 * was validated from: it is stored, so fields this code does not know survive.
 */
export function prepareRecord(record: OsvRecord, value: unknown = record): PreparedRecord {
  const body = JSON.stringify(value);
  const packages = new Map<string, IndexedPackage>();
  for (const affected of record.affected ?? []) {
    const pkg = affected.package;
    if (!pkg) continue;
    const indexed = { ecosystemBase: ecosystemBase(pkg.ecosystem), ecosystem: ecosystemKey(pkg.ecosystem), name: normalizePackageName(pkg.ecosystem, pkg.name) };
    packages.set(`${indexed.ecosystem}\u0000${indexed.name}`, indexed);
  }
  return {
    id: record.id,
    modified: record.modified,
    withdrawn: isWithdrawn(record) ? record.withdrawn! : null,
    body,
    hash: createHash('sha256').update(body).digest('hex'),
    packages: [...packages.values()],
  };
}

type ParsedEntry = { ok: true; record: OsvRecord; value: unknown } | { ok: false; reason: string };

function parseEntry(text: string): ParsedEntry {
  let value: unknown;
  try {
    value = JSON.parse(text.charCodeAt(0) === 0xfeff ? text.slice(1) : text);
  } catch (err) {
    return { ok: false, reason: `not JSON: ${(err as Error).message}` };
  }
  const parsed = parseOsvRecord(value);
  return parsed.ok ? { ok: true, record: parsed.record, value } : parsed;
}

/** The `.json` entries of a zip, read one at a time from the file. */
export async function* zipEntries(path: string, maxBytes: number): AsyncGenerator<OsvEntry> {
  const zip = await yauzl.openPromise(path, { lazyEntries: true, autoClose: false });
  try {
    for await (const entry of zip.eachEntry()) {
      const name = entry.fileName;
      if (name.endsWith('/') || !name.toLowerCase().endsWith('.json')) continue;
      if (entry.uncompressedSize > maxBytes) {
        yield { name, problem: `${entry.uncompressedSize} bytes: larger than the ${maxBytes} a record may be` };
        continue;
      }
      if (entry.isEncrypted()) {
        yield { name, problem: 'encrypted' };
        continue;
      }
      // The sizes in the zip are checked as the entry is inflated (yauzl's validateEntrySizes): no zip bomb gets past maxBytes.
      const stream = await zip.openReadStreamPromise(entry);
      yield { name, text: await readAll(stream) };
    }
  } finally {
    zip.close();
  }
}

/** Symbolic links are not followed (a link loop would never end). */
async function* directoryEntries(dir: string, maxBytes: number): AsyncGenerator<OsvEntry> {
  const dirents = (await readdir(dir, { withFileTypes: true })).filter((d) => !d.name.startsWith('.'));
  dirents.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  for (const dirent of dirents) {
    const { name } = dirent;
    const path = join(dir, name);
    if (dirent.isDirectory()) {
      for await (const entry of directoryEntries(path, maxBytes)) yield { ...entry, name: join(name, entry.name) };
    } else if (dirent.isFile() && name.toLowerCase().endsWith('.json')) {
      const { size } = await stat(path);
      yield size > maxBytes ? { name, problem: `${size} bytes: larger than the ${maxBytes} a record may be` } : { name, text: await readFile(path, 'utf8') };
    }
  }
}

async function* lineEntries(input: Readable, maxBytes: number): AsyncGenerator<OsvEntry> {
  const lines = createInterface({ input, crlfDelay: Infinity });
  let n = 0;
  for await (const line of lines) {
    n++;
    if (line.trim() === '') continue;
    yield line.length > maxBytes ? { name: `line ${n}`, problem: `larger than the ${maxBytes} bytes a record may be` } : { name: `line ${n}`, text: line };
  }
}

async function readAll(stream: Readable): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}
