import type { Socket } from 'node:net';

/**
 * The descriptor of a plain TCP socket (not TLS, not an in-process test double), or
 * undefined: the native sender and receiver move bytes through it behind Node's back.
 */
export function plainSocketFd(socket: Socket | null | undefined): number | undefined {
  const s = socket as (Socket & { encrypted?: boolean; _handle?: { fd?: unknown } }) | null | undefined;
  if (!s || s.encrypted || s.destroyed) return undefined;
  const fd = s._handle?.fd;
  return typeof fd === 'number' && fd >= 0 ? fd : undefined;
}
