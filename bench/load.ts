// Fixed-concurrency request load with autocannon (programmatic API). It runs in the
// bench process; the servers are separate processes, but all share the machine's cores.
import autocannon from 'autocannon';

export interface LoadResult {
  rps: number;
  p50ms: number;
  p99ms: number;
  /** Connection errors, timeouts and answers other than 200: any of them voids the run. */
  errors: number;
}

/** http-parser-js's key for the headers-complete callback (HTTPParser.kOnHeadersComplete). */
const K_ON_HEADERS_COMPLETE = 2;

/**
 * autocannon's parser waits for a body after any response with Content-Length, so a
 * HEAD answer (which has Content-Length and no body) stalls the connection. Returning
 * "skip body" from the headers callback, as node's own client does for HEAD, fixes it.
 */
function skipBodiesForHead(client: autocannon.Client): void {
  const parser = (client as unknown as { parser: Record<number, unknown> }).parser;
  let handler: ((...args: unknown[]) => unknown) | undefined;
  Object.defineProperty(parser, K_ON_HEADERS_COMPLETE, {
    configurable: true,
    get: () => handler,
    set: (fn: (...args: unknown[]) => unknown) => {
      handler = (...args) => {
        fn(...args);
        return 1; // skipBody
      };
    },
  });
}

export async function load(opts: {
  port: number;
  path: string;
  method: 'GET' | 'HEAD';
  headers?: Record<string, string>;
  connections: number;
  seconds: number;
}): Promise<LoadResult> {
  const result = await autocannon({
    url: `http://127.0.0.1:${opts.port}${opts.path}`,
    method: opts.method,
    headers: opts.headers,
    connections: opts.connections,
    duration: opts.seconds, // bounded in time
    timeout: 10,
    ...(opts.method === 'HEAD' ? { setupClient: skipBodiesForHead } : {}),
  });
  // Every measured request must be a 200 (a 401 from an expired token is fast and would
  // inflate the rate): count any other status, not just non-2xx.
  const statuses = Object.entries(result.statusCodeStats ?? {});
  const not200 = statuses.length > 0 ? statuses.reduce((n, [code, s]) => n + (code === '200' ? 0 : (s.count ?? 0)), 0) : result.non2xx;
  return {
    rps: result.requests.total / (result.duration || opts.seconds),
    p50ms: result.latency.p50,
    p99ms: result.latency.p99,
    errors: result.errors + result.timeouts + Math.max(not200, result.non2xx),
  };
}
