import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { RegistryError, type OciCode } from '../oci/errors.js';

/** The one map from error code to HTTP status. The compiler insists every code has one. */
export const STATUS_BY_CODE: Record<OciCode, number> = {
  BLOB_UNKNOWN: 404,
  BLOB_UPLOAD_INVALID: 400,
  BLOB_UPLOAD_UNKNOWN: 404,
  DIGEST_INVALID: 400,
  MANIFEST_BLOB_UNKNOWN: 400,
  MANIFEST_INVALID: 400,
  MANIFEST_UNKNOWN: 404,
  NAME_INVALID: 400,
  NAME_UNKNOWN: 404,
  SIZE_INVALID: 400,
  UNAUTHORIZED: 401,
  DENIED: 403,
  UNSUPPORTED: 400,
  TOOMANYREQUESTS: 429,
  RANGE_INVALID: 416,
  NOT_FOUND: 404,
  PAGINATION_NUMBER_INVALID: 400,
};

export interface ErrorBody {
  errors: { code: string; message: string; detail?: unknown }[];
}

export function errorBody(code: OciCode | string, message: string, detail?: unknown): ErrorBody {
  return { errors: [{ code, message, ...(detail === undefined ? {} : { detail }) }] };
}

/**
 * Fastify's error handler: RegistryErrors become the spec's JSON; framework
 * errors keep their 4xx status; anything else is logged and becomes a 500
 * that reveals nothing internal.
 */
export function handleError(err: FastifyError | RegistryError | Error, req: FastifyRequest, reply: FastifyReply): void {
  if (err instanceof RegistryError) {
    const status = err.options.status ?? STATUS_BY_CODE[err.code];
    if (err.options.headers) reply.headers(err.options.headers);
    reply.code(status).type('application/json').send(errorBody(err.code, err.message, err.detail));
    return;
  }
  const status = (err as FastifyError).statusCode;
  if (status !== undefined && status >= 400 && status < 500) {
    reply.code(status).type('application/json').send(errorBody(codeForStatus(status), err.message));
    return;
  }
  req.log.error({ err }, 'unhandled error');
  reply.code(500).type('application/json').send(errorBody('UNKNOWN', 'internal server error; see the server log for request ' + req.id));
}

function codeForStatus(status: number): OciCode {
  if (status === 404) return 'NOT_FOUND';
  if (status === 413) return 'SIZE_INVALID';
  if (status === 429) return 'TOOMANYREQUESTS';
  return 'UNSUPPORTED';
}
