import type { EventEmitter } from 'node:events';
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

/**
 * Runs `move` while a native thread moves bytes through `socket` behind Node's back. Node's
 * idle timer sees none of them and would fire midway, so it is off meanwhile (the native side
 * watches for stalls itself) and restored after; the signal aborts when `closer` closes.
 */
export async function whileMovedNatively<T>(socket: Socket, closer: EventEmitter, move: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const idleTimeout = socket.timeout ?? 0;
  socket.setTimeout(0);
  const stop = new AbortController();
  const abort = () => stop.abort();
  closer.once('close', abort);
  try {
    return await move(stop.signal);
  } finally {
    closer.off('close', abort);
    if (!socket.destroyed) socket.setTimeout(idleTimeout);
  }
}
