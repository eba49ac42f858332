/**
 * Helpers for the registries API and quota tests: DigitalOcean-shaped error
 * checks, test tiers small enough to fill, and pushes that report the answer
 * instead of asserting success.
 */
import { expect } from 'vitest';
import { sha256, type Bytes } from '../conformance/helpers.js';
import type { ApiAnswer } from '../auth/helpers.js';
import { send } from '../auth/helpers.js';

export const KIB = 1024;

/** DigitalOcean's tier slugs with limits a test can reach in kilobytes. */
export const SMALL_TIERS = [
  { slug: 'starter', name: 'Starter', includedRepositories: 1, includedStorageBytes: 64 * KIB, includedBandwidthBytes: 64 * KIB, monthlyPriceInCents: 0, allowStorageOverage: false },
  { slug: 'basic', name: 'Basic', includedRepositories: 5, includedStorageBytes: 128 * KIB, includedBandwidthBytes: 32 * KIB, monthlyPriceInCents: 500, allowStorageOverage: true, storageOveragePricePerGbInCents: 2 * 1024 * 1024 },
  { slug: 'professional', name: 'Professional', includedRepositories: null, includedStorageBytes: 1024 * KIB, includedBandwidthBytes: 1024 * KIB, monthlyPriceInCents: 2000, allowStorageOverage: true, storageOveragePricePerGbInCents: 2 },
  { slug: 'unlimited', name: 'Unlimited', includedRepositories: null, includedStorageBytes: null, includedBandwidthBytes: null, monthlyPriceInCents: 0, allowStorageOverage: true },
];

/** Prices that make kilobytes cost whole cents: 1 cent per KiB-month of storage, 3 cents per KiB sent. */
export const TEST_PRICING = { storagePerGbMonthInCents: 1024 * 1024, transferPerGbInCents: 3 * 1024 * 1024 };

export const tierEnv = (extra: Record<string, string> = {}): Record<string, string> => ({
  BERTH_TIERS: JSON.stringify(SMALL_TIERS),
  BERTH_PRICING_STORAGE_PER_GB_MONTH_IN_CENTS: String(TEST_PRICING.storagePerGbMonthInCents),
  BERTH_PRICING_TRANSFER_PER_GB_IN_CENTS: String(TEST_PRICING.transferPerGbInCents),
  ...extra,
});

/** DigitalOcean's error shape, with the request id that is also in the x-request-id header. */
export function expectDoError(r: ApiAnswer, status: number, id: string, message?: RegExp): void {
  expect(r.status, JSON.stringify(r.body)).toBe(status);
  expect(r.body).toEqual({ id, message: expect.any(String), request_id: expect.any(String) });
  expect(r.body.request_id).toBe(r.headers.get('x-request-id'));
  if (message) expect(r.body.message).toMatch(message);
}

/** Monolithic push (POST ?digest=, with Content-Length); returns the response, whatever it is. */
export function tryPushBlob(base: string, auth: string, repo: string, data: Bytes, digest = sha256(data)): Promise<Response> {
  return send(base, { method: 'POST', path: `/v2/${repo}/blobs/uploads/?digest=${digest}`, auth, body: data, headers: { 'content-type': 'application/octet-stream' } });
}

/** A body sent with chunked transfer encoding: its size is unknown until it ends. */
export function chunkedBody(data: Bytes): { body: ReadableStream<Uint8Array>; duplex: 'half' } {
  return {
    body: new ReadableStream({
      start(controller) {
        controller.enqueue(new Uint8Array(data));
        controller.close();
      },
    }),
    duplex: 'half',
  };
}

/** The OCI error of a /v2/ response: status, code and message. */
export async function ociError(res: Response): Promise<{ status: number; code?: string; message?: string }> {
  const text = await res.text();
  try {
    const e = (JSON.parse(text) as { errors?: { code: string; message: string }[] }).errors?.[0];
    return { status: res.status, code: e?.code, message: e?.message };
  } catch {
    return { status: res.status };
  }
}
