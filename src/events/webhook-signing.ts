import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

/**
 * Webhook signatures: `Berth-Signature: t=<unix seconds>,v1=<hex>`, where the
 * hex is HMAC-SHA256, keyed with the endpoint's secret (its UTF-8 bytes), of
 * `<t>.<raw body>`. Signing the time binds it to the body, so a captured request
 * cannot be replayed once it is older than the receiver's tolerance.
 */

export const SIGNATURE_HEADER = 'berth-signature';
/** How old (or how far ahead) a signature's time may be: 5 minutes. */
export const DEFAULT_TOLERANCE_SECONDS = 300;

/** A new signing secret: `whsec_` and 256 random bits. */
export function newWebhookSecret(): string {
  return `whsec_${randomBytes(32).toString('base64url')}`;
}

export function computeSignature(secret: string, timestampSeconds: number, body: string | Buffer): string {
  return createHmac('sha256', secret).update(`${timestampSeconds}.`).update(body).digest('hex');
}

export function signatureHeader(secret: string, timestampSeconds: number, body: string | Buffer): string {
  return `t=${timestampSeconds},v1=${computeSignature(secret, timestampSeconds, body)}`;
}

export type Verification = { ok: true; timestamp: number } | { ok: false; reason: string };

/**
 * Checks a `Berth-Signature` header against the raw body, as a receiver should:
 * any `v1` entry may match (there may be several), compared in constant time,
 * and the time must be within `toleranceSeconds` of now.
 */
export function verifySignature(
  secret: string,
  header: string | undefined,
  body: string | Buffer,
  options: { nowSeconds?: number; toleranceSeconds?: number } = {},
): Verification {
  if (!header) return { ok: false, reason: 'no signature header' };
  let timestamp: number | undefined;
  const candidates: string[] = [];
  for (const part of header.split(',')) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    const key = part.slice(0, eq).trim();
    const value = part.slice(eq + 1).trim();
    if (key === 't' && /^\d{1,12}$/.test(value)) timestamp = Number(value);
    else if (key === 'v1' && /^[0-9a-f]{64}$/.test(value)) candidates.push(value);
  }
  if (timestamp === undefined) return { ok: false, reason: 'no timestamp in the signature header' };
  if (candidates.length === 0) return { ok: false, reason: 'no v1 signature in the signature header' };
  const now = options.nowSeconds ?? Math.floor(Date.now() / 1000);
  if (Math.abs(now - timestamp) > (options.toleranceSeconds ?? DEFAULT_TOLERANCE_SECONDS)) return { ok: false, reason: 'the signature is too old (or from the future): a replay?' };
  const expected = Buffer.from(computeSignature(secret, timestamp, body), 'hex');
  const matches = candidates.some((c) => timingSafeEqual(Buffer.from(c, 'hex'), expected));
  return matches ? { ok: true, timestamp } : { ok: false, reason: 'the signature does not match the body' };
}
