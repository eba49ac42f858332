/**
 * The OCI Distribution error codes and the one error type that core throws.
 * HTTP status mapping lives in http/errors.ts, never here.
 */
export const OCI_CODES = [
  'BLOB_UNKNOWN',
  'BLOB_UPLOAD_INVALID',
  'BLOB_UPLOAD_UNKNOWN',
  'DIGEST_INVALID',
  'MANIFEST_BLOB_UNKNOWN',
  'MANIFEST_INVALID',
  'MANIFEST_UNKNOWN',
  'NAME_INVALID',
  'NAME_UNKNOWN',
  'SIZE_INVALID',
  'UNAUTHORIZED',
  'DENIED',
  'UNSUPPORTED',
  'TOOMANYREQUESTS',
  // Not in the spec's table, but needed for answers the table has no code for;
  // both are documented in docs/errors.md.
  'RANGE_INVALID',
  'NOT_FOUND',
  'PAGINATION_NUMBER_INVALID',
] as const;

export type OciCode = (typeof OCI_CODES)[number];

/** Why a status differs from the code's usual one (e.g. 413 for an oversized manifest). */
export interface RegistryErrorOptions {
  status?: number;
  headers?: Record<string, string>;
}

export class RegistryError extends Error {
  constructor(
    readonly code: OciCode,
    message: string,
    readonly detail?: unknown,
    readonly options: RegistryErrorOptions = {},
  ) {
    super(message);
    this.name = 'RegistryError';
  }
}
