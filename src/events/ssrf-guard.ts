import { promises as dns, type LookupAddress } from 'node:dns';
import { BlockList, isIP, type LookupFunction } from 'node:net';
import { networkInterfaces } from 'node:os';

/**
 * Where webhooks may be sent. A webhook URL is chosen by a registry admin, but
 * the request leaves from the server, inside its network: without a guard it
 * could reach the metadata database, a cloud metadata service
 * (169.254.169.254) or Berth itself. So every address the host resolves to is
 * checked, when the webhook is saved and again on every attempt, and the
 * connection goes to an address that was checked (a name that resolves to a
 * public address when saved and to a private one later — DNS rebinding — is
 * refused then). Private targets are allowed only when the operator says so
 * (`webhooks.allowPrivateTargets`); the registry's own port is never a target.
 */

export interface TargetPolicy {
  allowPrivateTargets: boolean;
  /** The port Berth listens on: its own addresses on that port are never a target. */
  ownPort?: number;
}

export class TargetRefused extends Error {
  override name = 'TargetRefused';
}

/** Resolves a host name to every address it has. */
export type Resolver = (hostname: string, family: 0 | 4 | 6) => Promise<LookupAddress[]>;

const systemResolver: Resolver = (hostname, family) => dns.lookup(hostname, { all: true, family, verbatim: true });

const FORBIDDEN: [string, number, 'ipv4' | 'ipv6', string][] = [
  ['0.0.0.0', 8, 'ipv4', 'this network (0.0.0.0/8)'],
  ['10.0.0.0', 8, 'ipv4', 'private (RFC 1918)'],
  ['100.64.0.0', 10, 'ipv4', 'shared address space (carrier-grade NAT)'],
  ['127.0.0.0', 8, 'ipv4', 'loopback'],
  ['169.254.0.0', 16, 'ipv4', 'link-local (cloud metadata services live here)'],
  ['172.16.0.0', 12, 'ipv4', 'private (RFC 1918)'],
  ['192.0.0.0', 24, 'ipv4', 'IETF protocol assignments'],
  ['192.0.2.0', 24, 'ipv4', 'documentation'],
  ['192.168.0.0', 16, 'ipv4', 'private (RFC 1918)'],
  ['198.18.0.0', 15, 'ipv4', 'benchmarking'],
  ['198.51.100.0', 24, 'ipv4', 'documentation'],
  ['203.0.113.0', 24, 'ipv4', 'documentation'],
  ['224.0.0.0', 4, 'ipv4', 'multicast'],
  ['240.0.0.0', 4, 'ipv4', 'reserved (and broadcast)'],
  ['::', 128, 'ipv6', 'unspecified'],
  ['::1', 128, 'ipv6', 'loopback'],
  ['100::', 64, 'ipv6', 'discard'],
  ['2001:db8::', 32, 'ipv6', 'documentation'],
  ['fc00::', 7, 'ipv6', 'unique local (fc00::/7)'],
  ['fe80::', 10, 'ipv6', 'link-local (fe80::/10)'],
  ['fec0::', 10, 'ipv6', 'site-local'],
  ['ff00::', 8, 'ipv6', 'multicast'],
];

const lists = FORBIDDEN.map(([network, prefix, type, label]) => {
  const list = new BlockList();
  list.addSubnet(network, prefix, type);
  return { list, label };
});

/** Why an address is not public (IPv4-mapped, NAT64 and 6to4 IPv6 addresses are judged by the IPv4 address inside), or undefined. */
export function nonPublicReason(address: string): string | undefined {
  const family = isIP(address);
  if (family === 0) return 'not an IP address';
  const type = family === 4 ? 'ipv4' : 'ipv6';
  for (const { list, label } of lists) if (list.check(address, type)) return label;
  if (family === 6) {
    const embedded = embeddedIpv4(address);
    if (embedded) return nonPublicReason(embedded);
  }
  return undefined;
}

/** The IPv4 address inside a NAT64 (64:ff9b::/96) or 6to4 (2002::/16) address. */
function embeddedIpv4(address: string): string | undefined {
  const groups = expandIpv6(address);
  if (!groups) return undefined;
  const v4 = (hi: number, lo: number) => `${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}`;
  if (groups[0] === 0x64 && groups[1] === 0xff9b && groups.slice(2, 6).every((g) => g === 0)) return v4(groups[6]!, groups[7]!);
  if (groups[0] === 0x2002) return v4(groups[1]!, groups[2]!);
  return undefined;
}

function expandIpv6(address: string): number[] | undefined {
  let text = address.split('%')[0]!.toLowerCase();
  const dotted = text.match(/(\d+\.\d+\.\d+\.\d+)$/);
  if (dotted) {
    const [a, b, c, d] = dotted[1]!.split('.').map(Number) as [number, number, number, number];
    text = `${text.slice(0, -dotted[1]!.length)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head, tail] = text.split('::') as [string, string | undefined];
  const left = head ? head.split(':') : [];
  const right = tail === undefined ? [] : tail ? tail.split(':') : [];
  const fill = tail === undefined ? 0 : 8 - left.length - right.length;
  const groups = [...left, ...Array<string>(Math.max(0, fill)).fill('0'), ...right].map((g) => parseInt(g, 16));
  return groups.length === 8 && groups.every((g) => g >= 0 && g <= 0xffff) ? groups : undefined;
}

/** Whether the address is this machine's (loopback, unspecified, or one of its interfaces). */
function isOwnAddress(address: string): boolean {
  const reason = nonPublicReason(address);
  if (reason === 'loopback' || reason === 'unspecified' || reason === 'this network (0.0.0.0/8)') return true;
  const bare = address.replace(/^::ffff:/i, '').toLowerCase();
  return Object.values(networkInterfaces()).some((list) => list?.some((i) => i.address.toLowerCase() === bare));
}

/** Why the policy refuses connecting to `address`:`port`, or undefined. */
export function refusalOf(address: string, port: number, policy: TargetPolicy): string | undefined {
  if (policy.ownPort !== undefined && port === policy.ownPort && isOwnAddress(address)) return 'that is this registry itself';
  if (policy.allowPrivateTargets) return undefined;
  const reason = nonPublicReason(address);
  return reason ? `${reason} addresses are not allowed (webhooks.allowPrivateTargets is false)` : undefined;
}

/** The URL, if a webhook may have it: http or https, a host, no credentials in it. */
export function parseWebhookUrl(raw: string): URL {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new TargetRefused(`${raw.slice(0, 100)} is not a URL`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new TargetRefused(`webhook URLs are http or https, not ${url.protocol.replace(/:$/, '')}`);
  if (url.username || url.password) throw new TargetRefused('webhook URLs may not carry credentials: receivers authenticate Berth by its signature');
  if (!url.hostname) throw new TargetRefused('the webhook URL names no host');
  return url;
}

export function portOf(url: URL): number {
  return url.port ? Number(url.port) : url.protocol === 'https:' ? 443 : 80;
}

function bareHost(url: URL): string {
  return url.hostname.replace(/^\[(.*)\]$/, '$1');
}

/** Checks every address the URL's host has now; throws TargetRefused. */
export async function checkTarget(url: URL, policy: TargetPolicy, resolve: Resolver = systemResolver): Promise<void> {
  const host = bareHost(url);
  const addresses = isIP(host) ? [{ address: host, family: isIP(host) }] : await resolveAll(host, 0, resolve);
  refuseAny(host, addresses, portOf(url), policy);
}

async function resolveAll(host: string, family: 0 | 4 | 6, resolve: Resolver): Promise<LookupAddress[]> {
  let addresses: LookupAddress[];
  try {
    addresses = await resolve(host, family);
  } catch (err) {
    throw Object.assign(new Error(`cannot resolve ${host}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`), { code: (err as NodeJS.ErrnoException).code });
  }
  if (addresses.length === 0) throw new Error(`${host} has no address`);
  return addresses;
}

function refuseAny(host: string, addresses: LookupAddress[], port: number, policy: TargetPolicy): void {
  for (const a of addresses) {
    const refusal = refusalOf(a.address, port, policy);
    if (refusal) throw new TargetRefused(`${host}${host === a.address ? '' : ` resolves to ${a.address}`}: ${refusal}`);
  }
}

/**
 * A `lookup` for http.request: resolves the host, refuses it unless EVERY
 * address passes, and hands the checked addresses to the connection, so the
 * socket connects to exactly what was checked. (IP-literal hosts skip lookup:
 * check them with `checkTarget` before the request.)
 */
export function guardedLookup(port: number, policy: TargetPolicy, resolve: Resolver = systemResolver): LookupFunction {
  return ((hostname: string, options: { family?: number | string; all?: boolean }, callback: (err: Error | null, address: string | LookupAddress[], family?: number) => void) => {
    const family = options.family === 4 || options.family === 'IPv4' ? 4 : options.family === 6 || options.family === 'IPv6' ? 6 : 0;
    resolveAll(hostname, family, resolve)
      .then((addresses) => {
        refuseAny(hostname, addresses, port, policy);
        if (options.all) callback(null, addresses);
        else callback(null, addresses[0]!.address, addresses[0]!.family);
      })
      .catch((err: Error) => callback(err, '', 0));
  }) as unknown as LookupFunction;
}
