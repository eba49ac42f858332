import { createReadStream } from 'node:fs';
import { access, constants, readdir, stat } from 'node:fs/promises';
import { basename, extname, join, relative } from 'node:path';
import type { Command } from 'commander';
import { CliError, UsageError, type StreamedBody } from '../api-client.js';
import { connect, type ConnectOptions } from '../cli-config.js';
import { act, examples, group, printJson, printTable, say, serverCommand, when } from '../output.js';

export interface ImportView {
  source: string;
  records: number;
  imported: number;
  updated: number;
  unchanged: number;
  withdrawn: number;
  skipped: number;
  stale: number;
  problems: { entry: string; reason: string }[];
  generation: number;
  duration_ms: number;
}

export interface VulnDbView {
  generation: number;
  changed_at: string | null;
  records: number;
  withdrawn: number;
  ecosystems: { ecosystem: string; records: number }[];
  sources: { name: string; imported_at: string; records: number; latest_modified: string | null }[];
}

// ---- what an argument is sent as ----

/** One `vulndb import` argument, ready to stream. */
interface ImportInput {
  path: string;
  /** The source name the server files the records under: the file or directory name. */
  source: string;
  contentType: 'application/zip' | 'application/x-ndjson';
  /** For a directory: the file behind each line, so that `line N` problems name it. */
  lineFiles?: string[];
  data: () => AsyncIterable<Uint8Array>;
}

const JSON_LINES = new Set(['.jsonl', '.ndjson']);

async function importInput(path: string): Promise<ImportInput> {
  let info;
  try {
    info = await stat(path);
    await access(path, constants.R_OK);
  } catch (err) {
    throw new UsageError(`${path}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file or directory' : (err as Error).message}`);
  }
  const source = basename(path.replace(/[\\/]+$/, '')) || path;
  if (info.isDirectory()) {
    const files = await jsonFiles(path);
    if (files.length === 0) throw new UsageError(`${path}: no .json files in it`);
    return { path, source, contentType: 'application/x-ndjson', lineFiles: files.map((f) => relative(path, f)), data: () => jsonFilesAsLines(files) };
  }
  const ext = extname(path).toLowerCase();
  if (ext === '.zip') return { path, source, contentType: 'application/zip', data: () => createReadStream(path) };
  if (JSON_LINES.has(ext)) return { path, source, contentType: 'application/x-ndjson', data: () => createReadStream(path) };
  if (ext === '.json') return { path, source, contentType: 'application/x-ndjson', data: () => jsonFilesAsLines([path]) };
  throw new UsageError(`${path}: expected an OSV .zip, a .json record, a .jsonl/.ndjson file of records, or a directory of .json files`);
}

/** Every .json file under `dir`, recursively and sorted; hidden directories (.git) left out, as the server does with directories. */
async function jsonFiles(dir: string): Promise<string[]> {
  const found: string[] = [];
  const entries = (await readdir(dir, { withFileTypes: true })).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  for (const e of entries) {
    const p = join(dir, e.name);
    if (e.isDirectory() && !e.name.startsWith('.')) found.push(...(await jsonFiles(p)));
    else if (e.isFile() && e.name.toLowerCase().endsWith('.json')) found.push(p);
  }
  return found;
}

/**
 * Each file as one JSON line, streamed. A line break can only be whitespace
 * between a JSON document's tokens (inside strings it must be escaped), and no
 * byte of a multi-byte UTF-8 character is CR or LF, so replacing those bytes
 * with spaces makes a pretty-printed record one line without parsing it.
 */
async function* jsonFilesAsLines(files: string[]): AsyncGenerator<Uint8Array> {
  for (const file of files) {
    for await (const chunk of createReadStream(file)) {
      const bytes = Buffer.from(chunk as Buffer);
      for (let i = 0; i < bytes.length; i++) if (bytes[i] === 0x0a || bytes[i] === 0x0d) bytes[i] = 0x20;
      yield bytes;
    }
    yield Buffer.from('\n');
  }
}

// ---- printing ----

/** `line 3` from the server, for a directory sent as lines: `line 3 (GHSA-….json)`. */
function entryName(entry: string, input: ImportInput): string {
  const m = /^line (\d+)$/.exec(entry);
  const file = m && input.lineFiles?.[Number(m[1]) - 1];
  return file ? `${entry} (${file})` : entry;
}

function printImport(input: ImportInput, r: ImportView): void {
  const counts = `${r.records} record(s): ${r.imported} new, ${r.updated} updated, ${r.unchanged} unchanged, ${r.withdrawn} withdrawn`;
  const left = [r.stale > 0 ? `${r.stale} stale` : '', r.skipped > 0 ? `${r.skipped} skipped` : ''].filter(Boolean).join(', ');
  say(`${input.path} → source ${r.source}: ${counts}${left ? `; ${left}` : ''} (generation ${r.generation}, ${(r.duration_ms / 1000).toFixed(1)} s)`);
  for (const p of r.problems) say(`  ${entryName(p.entry, input)}: ${p.reason}`);
  const unlisted = r.skipped + r.stale - r.problems.length;
  if (unlisted > 0) say(`  … and ${unlisted} more`);
}

/** `3d 4h`, `2h 5m`, `12s`: how long ago, roughly. */
export function age(iso: string | null | undefined, now = Date.now()): string | undefined {
  if (!iso) return undefined;
  const s = Math.max(0, Math.round((now - Date.parse(iso)) / 1000));
  if (Number.isNaN(s)) return undefined;
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m`;
  if (s < 86_400) return `${Math.floor(s / 3600)}h ${Math.floor((s % 3600) / 60)}m`;
  return `${Math.floor(s / 86_400)}d ${Math.floor((s % 86_400) / 3600)}h`;
}

function printStatus(db: VulnDbView): void {
  const withdrawn = db.withdrawn > 0 ? ` (${db.withdrawn} withdrawn)` : '';
  say(`Generation ${db.generation} · ${db.records} record(s)${withdrawn} · ${db.changed_at ? `last changed ${when(db.changed_at)} (${age(db.changed_at)} ago)` : 'never changed'}`);
  if (db.sources.length === 0) {
    say('No source imported yet: `berth vulndb import FILE` imports one (or set vulndb.sources on the server).');
    return;
  }
  say('');
  printTable(
    ['SOURCE', 'RECORDS', 'IMPORTED', 'AGE', 'LATEST MODIFIED'],
    db.sources.map((s) => [s.name, s.records, when(s.imported_at), age(s.imported_at), when(s.latest_modified)]),
  );
  if (db.ecosystems.length > 0) {
    say('');
    printTable(['ECOSYSTEM', 'RECORDS'], db.ecosystems.map((e) => [e.ecosystem, e.records]));
  }
}

/** `berth vulndb ...`: the server's vulnerability database (OSV records) the scanner matches against. */
export function registerVulnDbCommands(program: Command): void {
  const vulndb = examples(group(program, 'vulndb', 'import OSV vulnerability data and show what the scanner knows'), [
    'berth vulndb import Alpine.zip Debian.zip',
    'berth vulndb status',
  ]);

  examples(
    serverCommand(vulndb, 'import <paths...>', 'import OSV records (server administrators): .zip files as osv.dev publishes them, .json records, .jsonl/.ndjson files of records, or directories of .json files')
      .option('--json', 'print the API objects as they are (a list, one per path)')
      .action(
        act(async (paths: string[], flags: ConnectOptions & { json?: boolean }) => {
          // Check every path before sending any, so a typo does not leave half the imports done.
          const inputs: ImportInput[] = [];
          for (const p of paths) inputs.push(await importInput(p));
          const client = connect(flags);
          const reports: ImportView[] = [];
          for (const input of inputs) {
            const body: StreamedBody = { contentType: input.contentType, data: input.data() };
            let report: ImportView;
            try {
              ({ import: report } = await client.upload<{ import: ImportView }>('/api/v2/vulndb/imports', body, { source: input.source }));
            } catch (err) {
              if (err instanceof CliError) throw new CliError(`${input.path}: ${err.message}`, err.exitCode);
              throw err;
            }
            reports.push(report);
            if (!flags.json) printImport(input, report);
          }
          if (flags.json) printJson(reports);
        }),
      ),
    ['berth vulndb import ~/osv/Alpine.zip', 'berth vulndb import ./advisories/ extra.jsonl   # sources "advisories" and "extra.jsonl"'],
  );

  examples(
    serverCommand(vulndb, 'status', 'show the vulnerability database: its sources, record counts and ecosystems')
      .option('--json', 'print the API object as it is')
      .action(
        act(async (flags: ConnectOptions & { json?: boolean }) => {
          const { vulndb: db } = await connect(flags).get<{ vulndb: VulnDbView }>('/api/v2/vulndb');
          if (flags.json) return printJson(db);
          printStatus(db);
        }),
      ),
    ['berth vulndb status', 'berth vulndb status --json'],
  );
}
