import { z } from 'zod';

/**
 * The part of the OSV schema (1.x, https://ossf.github.io/osv-schema/) the
 * scanner reads. Validation only: records are stored as they came, so every
 * field the schema adds later (and every database's own fields) survives; the
 * schema checks the types of the fields we read and lets anything else through.
 * Optional fields may be absent or null (some exporters write null).
 */

/** No NUL characters: PostgreSQL text cannot hold them, and no real id or name has one. */
const nonEmptyText = z.string().min(1).refine((s) => !s.includes('\u0000'), 'must not contain NUL characters');
const timestamp = z.string().refine((s) => !Number.isNaN(Date.parse(s)), 'must be an RFC 3339 time stamp');
const stringList = z.array(z.string()).nullish();
/** `ecosystem_specific` / `database_specific`: anything; read with the helpers in severity.ts. */
const opaque = z.unknown();

export const osvSeveritySchema = z.object({ type: z.string(), score: z.string() }).passthrough();

/** One event of a range; the schema allows exactly one key per event, we only read them. */
export const osvEventSchema = z
  .object({
    introduced: z.string().nullish(),
    fixed: z.string().nullish(),
    last_affected: z.string().nullish(),
    limit: z.string().nullish(),
  })
  .passthrough();

export const osvRangeSchema = z
  .object({
    /** `SEMVER`, `ECOSYSTEM` or `GIT` (GIT ranges never match installed versions). */
    type: z.string(),
    repo: z.string().nullish(),
    events: z.array(osvEventSchema),
  })
  .passthrough();

export const osvPackageSchema = z
  .object({
    /** With its release suffix, if any (`Debian:12`, `Alpine:v3.19`). */
    ecosystem: nonEmptyText,
    name: nonEmptyText,
    purl: z.string().nullish(),
  })
  .passthrough();

export const osvAffectedSchema = z
  .object({
    /** Absent on entries that only describe GIT commit ranges of a repository: those match no package. */
    package: osvPackageSchema.nullish(),
    severity: z.array(osvSeveritySchema).nullish(),
    ranges: z.array(osvRangeSchema).nullish(),
    versions: stringList,
    ecosystem_specific: opaque,
    database_specific: opaque,
  })
  .passthrough();

export const osvRecordSchema = z
  .object({
    schema_version: z.string().nullish(),
    id: nonEmptyText,
    modified: timestamp,
    published: z.string().nullish(),
    withdrawn: z.string().nullish(),
    aliases: stringList,
    upstream: stringList,
    related: stringList,
    summary: z.string().nullish(),
    details: z.string().nullish(),
    severity: z.array(osvSeveritySchema).nullish(),
    affected: z.array(osvAffectedSchema).nullish(),
    database_specific: opaque,
    ecosystem_specific: opaque,
  })
  .passthrough();

export type OsvSeverity = z.infer<typeof osvSeveritySchema>;
export type OsvEvent = z.infer<typeof osvEventSchema>;
export type OsvRange = z.infer<typeof osvRangeSchema>;
export type OsvPackage = z.infer<typeof osvPackageSchema>;
export type OsvAffected = z.infer<typeof osvAffectedSchema>;
export type OsvRecord = z.infer<typeof osvRecordSchema>;

export type ParsedRecord = { ok: true; record: OsvRecord } | { ok: false; reason: string };

/** Validates a decoded JSON value as an OSV record; the reason names the first problem found. */
export function parseOsvRecord(value: unknown): ParsedRecord {
  const result = osvRecordSchema.safeParse(value);
  if (result.success) return { ok: true, record: result.data };
  const issue = result.error.issues[0];
  const where = issue && issue.path.length > 0 ? `${issue.path.join('.')}: ` : '';
  return { ok: false, reason: `not an OSV record: ${where}${issue?.message ?? 'invalid'}` };
}

/** Whether the record has been withdrawn by its database (kept, counted, never matched). */
export function isWithdrawn(record: OsvRecord): boolean {
  return typeof record.withdrawn === 'string' && record.withdrawn !== '';
}
