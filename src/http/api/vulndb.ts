import { createWriteStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { importOsvJsonLines, importOsvZip, type ImportReport } from '../../scan/osv/import.js';
import type { VulnDbStore } from '../../scan/osv/vulndb-store.js';
import { ApiError, badRequest } from './api-error.js';
import { audit, caller, requireServerAdmin, type ApiContext } from './context.js';
import { doc } from './openapi.js';

/** An import body larger than this is refused (osv.dev's largest ecosystem zip is a few hundred MiB). */
const MAX_IMPORT_BYTES = 1024 ** 3;
const ZIP = 'application/zip';
const JSON_LINES = 'application/x-ndjson';

const importQuery = z.object({ source: z.string().min(1).max(200).regex(/^[\w.:/@+-]+$/, 'letters, digits and . _ : / @ + -').optional() }).strict();

const importView = (r: ImportReport) => ({
  import: {
    source: r.source,
    records: r.records,
    imported: r.imported,
    updated: r.updated,
    unchanged: r.unchanged,
    withdrawn: r.withdrawn,
    skipped: r.skipped,
    stale: r.stale,
    problems: r.problems,
    generation: r.generation,
    duration_ms: r.durationMs,
  },
});

/** Counts bytes through, and fails the stream past `max`: request bodies are never trusted to be small. */
function capped(max: number): Transform {
  let seen = 0;
  return new Transform({
    transform(chunk: Buffer, _enc, done) {
      seen += chunk.length;
      if (seen > max) return done(new ApiError(413, 'payload_too_large', `an import body may hold at most ${max} bytes`));
      done(null, chunk);
    },
  });
}

/** A zip is read by its central directory (at its end), so it is spooled to a temporary file first, streamed. */
async function importZipBody(store: VulnDbStore, body: Readable, source: string): Promise<ImportReport> {
  const dir = await mkdtemp(join(tmpdir(), 'berth-import-'));
  try {
    const path = join(dir, 'import.zip');
    await pipeline(body, capped(MAX_IMPORT_BYTES), createWriteStream(path));
    try {
      return await importOsvZip(store, path, { source });
    } catch (err) {
      if (err instanceof ApiError) throw err;
      throw badRequest(`the body is not a readable OSV zip: ${(err as Error).message}`);
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/**
 * /api/v2/vulndb: importing OSV records (server admins) and the database's
 * status. After an import that changed anything, every stored inventory is
 * matched again in the background.
 */
export function registerVulnDbRoutes(api: FastifyInstance, ctx: ApiContext): void {
  const store = () => {
    if (!ctx.registry.scanning) throw new ApiError(501, 'not_implemented', 'vulnerability scanning is not available on this server');
    return ctx.registry.scanning.vulndb;
  };
  // The body reaches the handler as the request stream: zips are spooled, JSON lines parsed as they arrive.
  api.addContentTypeParser([ZIP, JSON_LINES], (_req, payload, done) => done(null, payload));

  api.post('/vulndb/imports', doc({ summary: 'Import OSV vulnerability records (server admins)', tags: ['Vulnerability database'], description: 'The body is an OSV zip (`application/zip`, one record per file, as osv.dev publishes them per ecosystem) or OSV records as JSON lines (`application/x-ndjson`). Records are stored whole or not at all; a record already stored is replaced only by a newer one.', query: importQuery, responses: { '200': '`{import}`: counts of records imported, updated, unchanged, withdrawn and skipped.', '400': 'Not a readable zip.', '403': 'Not a server administrator.', '413': 'Body over 1 GiB.', '415': 'Another content type.' } }), async (req) => {
    const principal = await requireServerAdmin(ctx, req);
    const q = importQuery.parse(req.query);
    const type = (req.headers['content-type'] ?? '').split(';', 1)[0]!.trim().toLowerCase();
    const body = req.body as Readable | undefined;
    if ((type !== ZIP && type !== JSON_LINES) || !body) {
      req.raw.resume();
      throw new ApiError(415, 'unsupported_media_type', `send an OSV zip as ${ZIP} or OSV records as ${JSON_LINES}`);
    }
    const source = q.source ?? (type === ZIP ? 'upload.zip' : 'upload.jsonl');
    const db = store();
    const before = await db.generation();
    const report = type === ZIP ? await importZipBody(db, body, source) : await importOsvJsonLines(db, body.pipe(capped(MAX_IMPORT_BYTES)), { source });
    if (report.generation !== before) await ctx.registry.scanning!.scanner.queueRematch();
    await audit(ctx, req, principal, { action: 'vulndb.import', outcome: 'success', resource: source, detail: { records: report.records, imported: report.imported, updated: report.updated, withdrawn: report.withdrawn, skipped: report.skipped } });
    return importView(report);
  });

  api.get('/vulndb', doc({ summary: 'The vulnerability database: sources, counts and age', tags: ['Vulnerability database'], responses: { '200': '`{vulndb}`.' } }), async (req) => {
    await caller(ctx, req);
    const s = await store().status();
    return {
      vulndb: {
        generation: s.generation,
        changed_at: s.changedAt === null ? null : new Date(s.changedAt).toISOString(),
        records: s.records,
        withdrawn: s.withdrawn,
        ecosystems: s.ecosystems,
        sources: s.sources.map((src) => ({ name: src.name, imported_at: new Date(src.importedAt).toISOString(), records: src.records, latest_modified: src.latestModified })),
      },
    };
  });
}
