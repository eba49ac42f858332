import { randomUUID } from 'node:crypto';
import type { ChangeRecorder } from '../core/registry-events.js';
import { eventOfChange, outboxEvent, type TypedEvent } from './event-types.js';
import type { WebhookStore } from './webhook-store.js';

/**
 * How events reach the outbox. Changes to content (push, tag and manifest
 * deletion, repository deletion) are recorded by core inside the transaction
 * that makes them: committed together, or not at all, so a crash can lose
 * neither. Events that are not changes to content (a scan finished, a GC run
 * finished, a storage threshold reached, a pull) are recorded when they happen,
 * in a transaction of their own: from then on they are as durable, but a crash
 * between the happening and the recording loses them (at-least-once from the
 * moment they are recorded).
 */

/** Core's hook: records a change in its own transaction; `recorded` follows a kept event (wake the worker). */
export function changeRecorder(recorded: () => void): ChangeRecorder {
  return async (tx, change) => {
    if (await tx.recordEvent(outboxEvent(eventOfChange(change), randomUUID(), Date.now()))) recorded();
  };
}

/** Records an event that is not part of a change to content; true when kept (something subscribes to it). */
export function recordEvent(store: WebhookStore, event: TypedEvent, now: number = Date.now()): Promise<boolean> {
  return store.recordEvent(outboxEvent(event, randomUUID(), now));
}
