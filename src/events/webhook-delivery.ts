import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { isIP } from 'node:net';
import type { AttemptOutcome } from './webhook-store.js';
import { guardedLookup, parseWebhookUrl, portOf, refusalOf, TargetRefused, type Resolver, type TargetPolicy } from './ssrf-guard.js';

/**
 * One delivery attempt over HTTP, and what follows from its result: delivered,
 * failed for good, or retried later with exponential backoff and jitter.
 */

/** The response body kept in the delivery log. */
export const EXCERPT_BYTES = 1024;

export interface HttpAttempt {
  /** The response status; null when there was no response. */
  status: number | null;
  /** Until the response's headers arrived (or the attempt ended without one). */
  latencyMs: number;
  /** The first KiB of the response body. */
  excerpt: string | null;
  retryAfter?: string;
  error?: string;
  /** The SSRF guard refused the target: trying again will not help. */
  refused?: boolean;
}

export interface PostOptions {
  timeoutMs: number;
  policy: TargetPolicy;
  signal?: AbortSignal;
  /** Host name resolution (tests stand in for DNS). */
  resolve?: Resolver;
}

/**
 * POSTs `body` once: redirects are not followed, the connection goes only to
 * addresses the guard checked (resolved now, on this attempt), and the whole
 * exchange is cut off after `timeoutMs`. Never throws.
 */
export async function postOnce(url: string, body: Buffer, headers: Record<string, string>, options: PostOptions): Promise<HttpAttempt> {
  const started = performance.now();
  const elapsed = () => performance.now() - started;
  let target: URL;
  try {
    target = parseWebhookUrl(url);
  } catch (err) {
    return { status: null, latencyMs: 0, excerpt: null, error: (err as Error).message, refused: true };
  }
  const port = portOf(target);
  const host = target.hostname.replace(/^\[(.*)\]$/, '$1');
  if (isIP(host)) {
    const refusal = refusalOf(host, port, options.policy);
    if (refusal) return { status: null, latencyMs: 0, excerpt: null, error: `${host}: ${refusal}`, refused: true };
  }
  const send = target.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise<HttpAttempt>((resolve) => {
    let settled = false;
    let response: IncomingMessage | undefined;
    let latencyMs = 0;
    const chunks: Buffer[] = [];
    let kept = 0;
    const finish = (result: HttpAttempt) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      options.signal?.removeEventListener('abort', onAbort);
      resolve(result);
    };
    const answered = () => {
      const excerpt = Buffer.concat(chunks).subarray(0, EXCERPT_BYTES).toString('utf8');
      const retryAfter = response!.headers['retry-after'];
      finish({ status: response!.statusCode ?? null, latencyMs, excerpt, ...(retryAfter ? { retryAfter } : {}) });
    };
    const req = send(
      target,
      {
        method: 'POST',
        headers: { ...headers, 'content-length': String(body.length) },
        // A connection of its own each time: the name is resolved, and checked, on every attempt.
        agent: false,
        lookup: guardedLookup(port, options.policy, options.resolve),
      },
      (res) => {
        response = res;
        latencyMs = elapsed();
        res.on('data', (chunk: Buffer) => {
          if (kept < EXCERPT_BYTES) {
            chunks.push(chunk);
            kept += chunk.length;
          }
          if (kept >= EXCERPT_BYTES) res.destroy(); // the rest is not needed
        });
        res.on('error', () => undefined); // cut short: what arrived is kept
        res.on('close', answered);
      },
    );
    req.on('error', (err: NodeJS.ErrnoException) => {
      if (response) return; // the response's own close ends the attempt
      finish({ status: null, latencyMs: elapsed(), excerpt: null, error: describe(err), refused: err instanceof TargetRefused });
    });
    const timer = setTimeout(() => req.destroy(Object.assign(new Error(`no answer within ${options.timeoutMs} ms`), { code: 'ETIMEDOUT' })), options.timeoutMs);
    const onAbort = () => req.destroy(new Error('the attempt was interrupted'));
    options.signal?.addEventListener('abort', onAbort, { once: true });
    req.end(body);
  });
}

function describe(err: NodeJS.ErrnoException): string {
  if (err instanceof TargetRefused) return err.message;
  const code = err.code && !err.message.includes(err.code) ? ` (${err.code})` : '';
  return `${err.message || err.name}${code}`;
}

export type Verdict = { kind: 'delivered' } | { kind: 'failed'; why: string } | { kind: 'retry'; why: string; retryAfterMs?: number };

/**
 * 2xx is delivered. 5xx, 408, 429, timeouts and connection errors are retried
 * (honouring Retry-After); other 4xx, redirects and refused targets are not.
 */
export function classify(attempt: HttpAttempt, now: number): Verdict {
  const { status } = attempt;
  if (status === null) return attempt.refused ? { kind: 'failed', why: attempt.error ?? 'refused' } : { kind: 'retry', why: attempt.error ?? 'no response' };
  if (status >= 200 && status < 300) return { kind: 'delivered' };
  const retryAfterMs = parseRetryAfter(attempt.retryAfter, now);
  const withRetryAfter = retryAfterMs === undefined ? {} : { retryAfterMs };
  if (status === 408 || status === 429 || status >= 500) return { kind: 'retry', why: `answered ${status}`, ...withRetryAfter };
  if (status >= 300 && status < 400) return { kind: 'failed', why: `answered ${status}: redirects are not followed` };
  return { kind: 'failed', why: `answered ${status}` };
}

/** Retry-After in seconds or as an HTTP date, in milliseconds from now. */
export function parseRetryAfter(value: string | undefined, now: number): number | undefined {
  if (!value) return undefined;
  const trimmed = value.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed) * 1000;
  const at = Date.parse(trimmed);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

export interface RetryPolicy {
  /** The first retry comes after about this long; each one after twice as long as the one before… */
  baseMs: number;
  /** …up to this. */
  maxMs: number;
  /** No attempt is made later than this after the first. */
  forMs: number;
}

/** Exponential backoff with jitter: the delay before the retry that follows attempt `attempt` lies between half and all of min(max, base · 2^(attempt-1)). */
export function backoffMs(attempt: number, policy: RetryPolicy, random: () => number = Math.random): number {
  const ceiling = Math.min(policy.maxMs, policy.baseMs * 2 ** Math.max(0, attempt - 1));
  return Math.round(ceiling / 2 + random() * (ceiling / 2));
}

/** What the delivery does after attempt `attempt`: done, given up, or tried again at a time. */
export function nextStep(verdict: Verdict, attempt: number, firstAttemptAt: number, now: number, policy: RetryPolicy, random?: () => number): { outcome: AttemptOutcome; error: string | null } {
  if (verdict.kind === 'delivered') return { outcome: { kind: 'delivered' }, error: null };
  if (verdict.kind === 'failed') return { outcome: { kind: 'failed' }, error: `${verdict.why}; not retried` };
  const at = now + (verdict.retryAfterMs ?? backoffMs(attempt, policy, random));
  if (at > firstAttemptAt + policy.forMs) return { outcome: { kind: 'failed' }, error: `${verdict.why}; gave up after ${attempt} attempt(s) (retries stop ${Math.round(policy.forMs / 60_000)} min after the first)` };
  return { outcome: { kind: 'retry', at }, error: verdict.why };
}
