import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { ZodError } from 'zod';
import { RegistryError, type OciCode } from '../../oci/errors.js';
import { STATUS_BY_CODE } from '../errors.js';

/** A management API error: DigitalOcean's `{id, message, request_id}` body with an HTTP status. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly id: string,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}

export const notFound = (what: string) => new ApiError(404, 'not_found', `${what} not found`);
export const forbidden = (message = 'you are not allowed to do this') => new ApiError(403, 'forbidden', message);
export const conflict = (message: string) => new ApiError(409, 'conflict', message);
export const badRequest = (message: string) => new ApiError(400, 'bad_request', message);
export const unprocessable = (message: string) => new ApiError(422, 'unprocessable_entity', message);
export const preconditionFailed = (message: string) => new ApiError(412, 'precondition_failed', message);

/** OCI codes that can surface through the API, as DigitalOcean-style ids. */
const ID_BY_CODE: Partial<Record<OciCode, string>> = {
  UNAUTHORIZED: 'unauthorized',
  DENIED: 'forbidden',
  TOOMANYREQUESTS: 'too_many_requests',
  NAME_INVALID: 'bad_request',
  NAME_UNKNOWN: 'not_found',
  MANIFEST_UNKNOWN: 'not_found',
  BLOB_UNKNOWN: 'not_found',
};

/** DigitalOcean's error body; `request_id` is the request's id (also in the x-request-id header and the log). */
export function apiErrorBody(req: FastifyRequest, id: string, message: string): { id: string; message: string; request_id: string } {
  return { id, message, request_id: String(req.id) };
}

/** The one mapping of errors to API responses. */
export function handleApiError(err: FastifyError | Error, req: FastifyRequest, reply: FastifyReply): void {
  if (err instanceof ApiError) {
    reply.code(err.status).headers(err.headers).send(apiErrorBody(req, err.id, err.message));
    return;
  }
  if (err instanceof ZodError) {
    const first = err.issues[0];
    const where = first && first.path.length > 0 ? `${first.path.join('.')}: ` : '';
    reply.code(422).send(apiErrorBody(req, 'unprocessable_entity', `${where}${first?.message ?? 'invalid request body'}`));
    return;
  }
  if (err instanceof RegistryError) {
    const status = err.options.status ?? STATUS_BY_CODE[err.code];
    reply.code(status).headers(err.options.headers ?? {}).send(apiErrorBody(req, ID_BY_CODE[err.code] ?? 'bad_request', err.message));
    return;
  }
  const status = (err as FastifyError).statusCode;
  if (status !== undefined && status >= 400 && status < 500) {
    reply.code(status).send(apiErrorBody(req, 'bad_request', err.message));
    return;
  }
  req.log.error({ err }, 'unhandled management API error');
  reply.code(500).send(apiErrorBody(req, 'server_error', `internal server error; see the server log for request ${req.id}`));
}
