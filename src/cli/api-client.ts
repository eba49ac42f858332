/**
 * A small client for Berth's management API (/api/v2). The CLI talks to a
 * server only through this, like any other client would.
 */

/** An error the CLI reports as `berth: <message>` and exit code 1 (or `exitCode`). */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode = 1,
  ) {
    super(message);
  }
}

/** Bad usage the parser could not catch (exit code 2, like commander's own usage errors). */
export class UsageError extends CliError {
  constructor(message: string) {
    super(message, 2);
  }
}

/** An `{id, message}` error answer from the server. */
export class ApiError extends CliError {
  constructor(
    readonly status: number,
    readonly id: string,
    readonly detail: string,
  ) {
    super(`${id}: ${detail} (HTTP ${status})`);
  }
}

/** A request body sent as it is read (an OSV zip, JSON lines), never held in memory whole. */
export interface StreamedBody {
  contentType: string;
  data: AsyncIterable<Uint8Array>;
}

export type Credentials = { kind: 'bearer'; token: string } | { kind: 'basic'; username: string; password: string };

export class ApiClient {
  /** @param baseUrl the server's URL, e.g. http://127.0.0.1:5000 (no trailing slash) */
  constructor(
    readonly baseUrl: string,
    private readonly credentials: Credentials,
    /** Added to 401 messages, e.g. how to log in again. */
    private readonly unauthorizedHint?: string,
  ) {}

  get<T>(path: string, query?: Record<string, string | undefined>): Promise<T> {
    return this.request<T>('GET', withQuery(path, query));
  }

  post<T>(path: string, body?: unknown): Promise<T> {
    return this.request<T>('POST', path, body ?? {});
  }

  patch<T>(path: string, body: unknown): Promise<T> {
    return this.request<T>('PATCH', path, body);
  }

  put<T = void>(path: string, body?: unknown): Promise<T> {
    return this.request<T>('PUT', path, body);
  }

  delete(path: string): Promise<void> {
    return this.request<void>('DELETE', path);
  }

  /** JSON in, JSON out; an empty answer (204) comes back as undefined. */
  async request<T>(method: string, path: string, body?: unknown): Promise<T> {
    const res = await this.send(method, path, body);
    return parseJson<T>(await res.text(), () => `${this.baseUrl} answered ${method} ${path} with something that is not JSON; is it a Berth server?`);
  }

  /** The raw successful response, for streamed bodies (audit export). */
  async stream(path: string, query?: Record<string, string | undefined>): Promise<Response> {
    return this.send('GET', withQuery(path, query));
  }

  /** POSTs a streamed body (chunked: its length need not be known); JSON out. */
  async upload<T>(path: string, body: StreamedBody, query?: Record<string, string | undefined>): Promise<T> {
    const target = withQuery(path, query);
    const res = await this.send('POST', target, undefined, body);
    return parseJson<T>(await res.text(), () => `${this.baseUrl} answered POST ${target} with something that is not JSON; is it a Berth server?`);
  }

  private async send(method: string, path: string, body?: unknown, streamed?: StreamedBody): Promise<Response> {
    const headers: Record<string, string> = { accept: 'application/json', authorization: authorization(this.credentials) };
    if (streamed) headers['content-type'] = streamed.contentType;
    else if (body !== undefined) headers['content-type'] = 'application/json';
    let res: Response;
    try {
      res = await fetch(`${this.baseUrl}${path}`, {
        method,
        headers,
        // Node's fetch takes an async iterable as a body (with duplex 'half'); the DOM typings do not know it.
        body: streamed ? (streamed.data as unknown as BodyInit) : body === undefined ? undefined : JSON.stringify(body),
        // Unless redirects are errors and there is no window, Node's fetch tees the body to replay it on a
        // redirect, keeping every byte sent in memory: a 1 GiB import would take 1 GiB.
        ...(streamed ? { duplex: 'half' as const, redirect: 'error' as const, window: null } : {}),
      });
    } catch (err) {
      throw new CliError(`cannot reach ${this.baseUrl}: ${networkReason(err)}`);
    }
    if (res.ok) return res;
    const error = await errorOf(res);
    if (res.status === 401 && this.unauthorizedHint) throw new ApiError(error.status, error.id, `${error.detail}; ${this.unauthorizedHint}`);
    throw error;
  }
}

function parseJson<T>(text: string, notJson: () => string): T {
  if (text === '') return undefined as T;
  try {
    return JSON.parse(text) as T;
  } catch {
    throw new CliError(notJson());
  }
}

function authorization(c: Credentials): string {
  if (c.kind === 'bearer') return `Bearer ${c.token}`;
  return `Basic ${Buffer.from(`${c.username}:${c.password}`).toString('base64')}`;
}

function withQuery(path: string, query?: Record<string, string | undefined>): string {
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries(query ?? {})) if (v !== undefined) params.set(k, v);
  const qs = params.toString();
  return qs === '' ? path : `${path}${path.includes('?') ? '&' : '?'}${qs}`;
}

async function errorOf(res: Response): Promise<ApiError> {
  const text = await res.text().catch(() => '');
  try {
    const body = JSON.parse(text) as { id?: unknown; message?: unknown };
    if (typeof body.id === 'string' && typeof body.message === 'string') return new ApiError(res.status, body.id, body.message);
  } catch {
    // Not ours (a proxy's HTML page, say): fall through to the status line.
  }
  return new ApiError(res.status, 'http_error', res.statusText || 'unexpected answer');
}

/** fetch hides the useful part (ECONNREFUSED, ENOTFOUND, certificate problems) in `cause`. */
function networkReason(err: unknown): string {
  const cause = (err as { cause?: { code?: string; message?: string } }).cause;
  if (cause?.message) return cause.message;
  if (cause?.code) return cause.code;
  return err instanceof Error ? err.message : String(err);
}
