/**
 * The one way the panel talks to Berth: JSON over /api/v2 with the session cookie,
 * the CSRF token on every state-changing call, and errors turned into plain words.
 */

let csrfToken: string | undefined;
const signedOutListeners = new Set<() => void>();

export function setCsrfToken(token: string | undefined): void {
  csrfToken = token;
}

/** Called when the session ended under us (expired, revoked elsewhere): the app goes back to the sign-in page. */
export function onSignedOut(listener: () => void): () => void {
  signedOutListeners.add(listener);
  return () => signedOutListeners.delete(listener);
}

export class ApiError extends Error {
  constructor(
    message: string,
    /** HTTP status; 0 when Berth could not be reached. */
    readonly status: number,
    /** The API's error id (`not_found`, `unprocessable_entity` …). */
    readonly id: string,
    readonly requestId?: string,
  ) {
    super(message);
  }
}

export interface RequestOptions {
  method?: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  body?: unknown;
  signal?: AbortSignal;
}

const SAFE = new Set(['GET', 'HEAD']);

/** `path` is below /api/v2 (e.g. `/registries`). Resolves to the parsed body, or undefined for 204. */
export async function api<T = unknown>(path: string, options: RequestOptions = {}): Promise<T> {
  const method = options.method ?? 'GET';
  const headers: Record<string, string> = { accept: 'application/json' };
  if (options.body !== undefined) headers['content-type'] = 'application/json';
  if (!SAFE.has(method) && csrfToken) headers['x-csrf-token'] = csrfToken;
  let response: Response;
  try {
    response = await fetch(`/api/v2${path}`, {
      method,
      headers,
      body: options.body === undefined ? undefined : JSON.stringify(options.body),
      credentials: 'same-origin',
      signal: options.signal,
    });
  } catch (err) {
    if ((err as Error).name === 'AbortError') throw err;
    throw new ApiError('Berth could not be reached. Check your network connection and try again.', 0, 'network');
  }
  if (response.status === 204) return undefined as T;
  const text = await response.text();
  let body: unknown;
  try {
    body = text ? JSON.parse(text) : undefined;
  } catch {
    body = undefined;
  }
  if (response.ok) return body as T;
  const { id, message, request_id: requestId } = (body ?? {}) as { id?: string; message?: string; request_id?: string };
  if (response.status === 401 && path !== '/session') for (const listener of signedOutListeners) listener();
  throw new ApiError(plainMessage(response.status, message), response.status, id ?? 'error', requestId);
}

function plainMessage(status: number, message: string | undefined): string {
  if (status === 401) return 'Your session has ended. Sign in again.';
  if (status >= 500) return `Berth could not complete this (${status}${message ? `: ${message}` : ''}). Try again; if it keeps happening, an administrator can look up the request in the server log.`;
  if (!message) return `The request failed with status ${status}.`;
  // The API's messages are written for people already; make sure they read as a sentence.
  const sentence = message.charAt(0).toUpperCase() + message.slice(1);
  return /[.!?]$/.test(sentence) ? sentence : `${sentence}.`;
}

/** `encodeURIComponent` for a path segment: repository paths keep their `/` as `%2F`. */
export const seg = (value: string) => encodeURIComponent(value);

/** A query string from defined values only. */
export function query(params: Record<string, string | number | boolean | undefined | null>): string {
  const entries = Object.entries(params).filter(([, v]) => v !== undefined && v !== null && v !== '');
  return entries.length ? `?${new URLSearchParams(entries.map(([k, v]) => [k, String(v)])).toString()}` : '';
}
