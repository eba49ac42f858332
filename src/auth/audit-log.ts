import type { Logger } from 'pino';
import type { AccessStore, AuditEvent } from './access-store.js';
import { actorKind, principalName, type Principal } from './principal.js';

export interface AuditEntry {
  action: string;
  outcome: AuditEvent['outcome'];
  registry?: string;
  resource?: string;
  reason?: string;
  detail?: Record<string, unknown>;
}

/** Events written in one statement at most (SQLite's limit on bound parameters, 10 a row). */
const MAX_BATCH = 500;

/**
 * The append-only audit trail. Writing is awaited: an action is not done until
 * it is recorded. Events recorded in the same turn of the event loop are written
 * together, in one commit (group commit): under concurrent pushes that is one
 * synced write instead of one per request, and each caller still waits for its own.
 */
export class AuditLog {
  private pending: { event: AuditEvent; done: () => void }[] = [];
  private flushScheduled = false;

  constructor(
    private readonly store: AccessStore,
    private readonly logger: Logger,
  ) {}

  record(principal: Principal | { system: true }, source: string | undefined, entry: AuditEntry): Promise<void> {
    const actor = 'system' in principal ? 'system' : principalName(principal);
    const kind = 'system' in principal ? 'system' : actorKind(principal);
    const event: AuditEvent = { at: Date.now(), actor, actorKind: kind, source, ...entry };
    return new Promise((done) => {
      this.pending.push({ event, done });
      if (!this.flushScheduled) {
        this.flushScheduled = true;
        setImmediate(() => void this.flush());
      }
    });
  }

  private async flush(): Promise<void> {
    this.flushScheduled = false;
    const batch = this.pending.splice(0, MAX_BATCH);
    if (this.pending.length > 0) {
      this.flushScheduled = true;
      setImmediate(() => void this.flush());
    }
    try {
      await this.store.appendAudit(batch.map((p) => p.event));
    } catch (err) {
      // Never fail the callers' requests on an audit write, but make the gap loud.
      this.logger.error({ err, actions: batch.map((p) => p.event.action) }, 'audit write failed');
    }
    for (const p of batch) p.done();
  }
}
