import type { LookupAddress } from 'node:dns';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkTarget, guardedLookup, nonPublicReason, parseWebhookUrl, refusalOf, TargetRefused, type Resolver } from './ssrf-guard.js';
import { postOnce } from './webhook-delivery.js';

const closed = { allowPrivateTargets: false };
const open = { allowPrivateTargets: true };

/** A resolver that answers from a table, as a DNS server under someone else's control would. */
const table = (entries: Record<string, string[]>): Resolver => async (hostname) => {
  const addresses = entries[hostname];
  if (!addresses) throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: 'ENOTFOUND' });
  return addresses.map((address): LookupAddress => ({ address, family: address.includes(':') ? 6 : 4 }));
};

describe('nonPublicReason', () => {
  it.each([
    ['127.0.0.1', 'loopback'],
    ['127.255.0.9', 'loopback'],
    ['10.1.2.3', 'private'],
    ['172.16.0.1', 'private'],
    ['172.31.255.255', 'private'],
    ['192.168.1.1', 'private'],
    ['169.254.169.254', 'link-local'],
    ['169.254.0.1', 'link-local'],
    ['0.0.0.0', 'this network'],
    ['0.1.2.3', 'this network'],
    ['100.64.0.1', 'carrier-grade NAT'],
    ['224.0.0.251', 'multicast'],
    ['239.255.255.250', 'multicast'],
    ['255.255.255.255', 'reserved'],
    ['::1', 'loopback'],
    ['::', 'unspecified'],
    ['fc00::1', 'unique local'],
    ['fd12:3456::1', 'unique local'],
    ['fe80::1', 'link-local'],
    ['ff02::1', 'multicast'],
    // IPv4 inside IPv6 is judged by the IPv4 address.
    ['::ffff:127.0.0.1', 'loopback'],
    ['::ffff:169.254.169.254', 'link-local'],
    ['64:ff9b::a9fe:a9fe', 'link-local'],
    ['2002:0a00:0001::1', 'private'],
  ])('%s is %s', (address, reason) => {
    expect(nonPublicReason(address)).toMatch(reason);
  });

  it.each(['8.8.8.8', '1.1.1.1', '172.32.0.1', '192.169.0.1', '2606:4700:4700::1111', '::ffff:8.8.8.8', '64:ff9b::808:808'])('%s is public', (address) => {
    expect(nonPublicReason(address)).toBeUndefined();
  });
});

describe('refusalOf', () => {
  it('refuses non-public addresses unless private targets are allowed', () => {
    expect(refusalOf('10.0.0.5', 80, closed)).toMatch(/allowPrivateTargets/);
    expect(refusalOf('10.0.0.5', 80, open)).toBeUndefined();
    expect(refusalOf('93.184.216.34', 443, closed)).toBeUndefined();
  });

  it("never allows the registry's own port on its own addresses", () => {
    expect(refusalOf('127.0.0.1', 5000, { allowPrivateTargets: true, ownPort: 5000 })).toMatch(/this registry itself/);
    expect(refusalOf('::1', 5000, { allowPrivateTargets: true, ownPort: 5000 })).toMatch(/this registry itself/);
    expect(refusalOf('127.0.0.1', 5001, { allowPrivateTargets: true, ownPort: 5000 })).toBeUndefined();
  });
});

describe('parseWebhookUrl', () => {
  it('takes http and https URLs with a host and no credentials', () => {
    expect(parseWebhookUrl('https://hooks.example.com/berth?x=1').hostname).toBe('hooks.example.com');
    expect(() => parseWebhookUrl('ftp://hooks.example.com/')).toThrow(/http or https/);
    expect(() => parseWebhookUrl('file:///etc/passwd')).toThrow(TargetRefused);
    expect(() => parseWebhookUrl('https://user:pw@hooks.example.com/')).toThrow(/credentials/);
    expect(() => parseWebhookUrl('not a url')).toThrow(/not a URL/);
  });
});

describe('checkTarget (when a webhook is saved)', () => {
  it('checks every address the host resolves to', async () => {
    const resolve = table({ 'public.example': ['93.184.216.34'], 'mixed.example': ['93.184.216.34', '10.0.0.7'], 'metadata.example': ['169.254.169.254'] });
    await expect(checkTarget(new URL('https://public.example/'), closed, resolve)).resolves.toBeUndefined();
    await expect(checkTarget(new URL('https://mixed.example/'), closed, resolve)).rejects.toThrow(/mixed.example resolves to 10.0.0.7: private/);
    await expect(checkTarget(new URL('http://metadata.example/latest/meta-data/'), closed, resolve)).rejects.toThrow(/link-local/);
    await expect(checkTarget(new URL('http://169.254.169.254/'), closed, resolve)).rejects.toThrow(TargetRefused);
    await expect(checkTarget(new URL('http://[::1]:8080/'), closed, resolve)).rejects.toThrow(/loopback/);
    await expect(checkTarget(new URL('http://[::1]:8080/'), open, resolve)).resolves.toBeUndefined();
    await expect(checkTarget(new URL('https://nowhere.example/'), closed, resolve)).rejects.toThrow(/cannot resolve nowhere.example: ENOTFOUND/);
  });
});

describe('at delivery time', () => {
  let server: Server;
  let port: number;
  let hits = 0;

  beforeAll(async () => {
    server = createServer((_req, res) => {
      hits++;
      res.end('ok');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as AddressInfo).port;
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  it('the lookup refuses a host once any of its addresses is not public', async () => {
    const lookup = guardedLookup(80, closed, table({ rebind: ['93.184.216.34', '127.0.0.1'] }));
    const err = await new Promise<Error | null>((resolve) => (lookup as unknown as (h: string, o: object, cb: (e: Error | null) => void) => void)('rebind', { all: true }, resolve));
    expect(err).toBeInstanceOf(TargetRefused);
  });

  it('a name that now resolves to loopback (DNS rebinding) is refused, and nothing is sent', async () => {
    // Saved while it resolved to a public address; by the time of the attempt it points at the registry's network.
    const resolve = table({ 'hooks.rebinding.example': ['127.0.0.1'] });
    const before = hits;
    const attempt = await postOnce(`http://hooks.rebinding.example:${port}/`, Buffer.from('{}'), {}, { timeoutMs: 2000, policy: closed, resolve });
    expect(attempt).toMatchObject({ status: null, refused: true, error: expect.stringMatching(/resolves to 127.0.0.1: loopback/) });
    expect(hits).toBe(before);
  });

  it('an IP literal is checked too (no lookup happens for it)', async () => {
    const before = hits;
    const attempt = await postOnce(`http://127.0.0.1:${port}/`, Buffer.from('{}'), {}, { timeoutMs: 2000, policy: closed });
    expect(attempt).toMatchObject({ status: null, refused: true });
    expect(hits).toBe(before);
  });

  it('the same name is delivered to when private targets are allowed, over the checked address', async () => {
    const resolve = table({ 'hooks.rebinding.example': ['127.0.0.1'] });
    const attempt = await postOnce(`http://hooks.rebinding.example:${port}/`, Buffer.from('{}'), {}, { timeoutMs: 2000, policy: open, resolve });
    expect(attempt).toMatchObject({ status: 200, excerpt: 'ok' });
  });
});
