// A minimal HTTP/1.1 client on node:http for the registry workloads. Every request
// goes to 127.0.0.1 and has a timeout, so nothing can hang or leave the machine.
import http from 'node:http';
import { pipeline } from 'node:stream/promises';

/** Keep-alive, like real registry clients; enough sockets for 50 concurrent pushes. */
export const agent = new http.Agent({ keepAlive: true, maxSockets: 256 });

export interface Response {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

export type Body = Buffer | string | (() => AsyncIterable<Buffer>);

export interface RequestOptions {
  headers?: Record<string, string | number>;
  body?: Body;
  timeoutMs?: number;
}

/** Resolves a path or a Location header (absolute or relative) on 127.0.0.1:port only. */
export function loopbackPath(port: number, location: string): string {
  const url = new URL(location, `http://127.0.0.1:${port}`);
  if (url.hostname !== '127.0.0.1' || Number(url.port) !== port) {
    throw new Error(`refusing to follow ${location}: not 127.0.0.1:${port}`);
  }
  return url.pathname + url.search;
}

/**
 * Authorization sent to a port when a request doesn't carry its own. The auth-on Berth
 * gets its admin's Basic credentials here, so the setup and readiness code (written for
 * servers without auth) works on it unchanged; the measured load sets its own headers.
 */
const defaultAuthorization = new Map<number, string>();

export function setDefaultAuthorization(port: number, authorization: string): void {
  defaultAuthorization.set(port, authorization);
}

function withDefaultAuth(port: number, headers: RequestOptions['headers']): RequestOptions['headers'] {
  const auth = defaultAuthorization.get(port);
  if (auth === undefined || Object.keys(headers ?? {}).some((k) => k.toLowerCase() === 'authorization')) return headers;
  return { ...headers, authorization: auth };
}

export function request(port: number, method: string, path: string, opts: RequestOptions = {}): Promise<Response> {
  const timeoutMs = opts.timeoutMs ?? 120_000;
  return new Promise<Response>((resolve, reject) => {
    const req = http.request(
      { host: '127.0.0.1', port, method, path: loopbackPath(port, path), headers: withDefaultAuth(port, opts.headers), agent },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
        res.on('error', reject);
      },
    );
    req.setTimeout(timeoutMs, () => req.destroy(new Error(`${method} ${path}: timed out after ${timeoutMs} ms`)));
    req.on('error', reject);
    const body = opts.body;
    if (body === undefined) req.end();
    else if (typeof body === 'string' || Buffer.isBuffer(body)) req.end(body);
    else pipeline(body(), req).catch((err: Error) => req.destroy(err));
  });
}

/** Like request(), but throws unless the status is the expected one. */
export async function expect(status: number, port: number, method: string, path: string, opts: RequestOptions = {}): Promise<Response> {
  const res = await request(port, method, path, opts);
  if (res.status !== status) {
    throw new Error(`${method} ${path}: expected ${status}, got ${res.status}: ${res.body.toString().slice(0, 300)}`);
  }
  return res;
}

export function location(res: Response): string {
  const loc = res.headers.location;
  if (!loc) throw new Error(`no Location header (status ${res.status})`);
  return loc;
}

/** Adds a query parameter to a path that may already have a query (Distribution's _state). */
export function withQuery(path: string, key: string, value: string): string {
  const url = new URL(path, 'http://127.0.0.1');
  url.searchParams.set(key, value);
  return url.pathname + url.search;
}

/** The target of a `Link: <...>; rel="next"` header, if any. */
export function nextLink(res: Response): string | undefined {
  const link = res.headers.link;
  const m = typeof link === 'string' ? link.match(/<([^>]+)>\s*;\s*rel="?next"?/) : null;
  return m?.[1];
}
