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

/** The append-only audit trail. Writing is awaited: an action is not done until it is recorded. */
export class AuditLog {
  constructor(
    private readonly store: AccessStore,
    private readonly logger: Logger,
  ) {}

  async record(principal: Principal | { system: true }, source: string | undefined, entry: AuditEntry): Promise<void> {
    const actor = 'system' in principal ? 'system' : principalName(principal);
    const kind = 'system' in principal ? 'system' : actorKind(principal);
    try {
      await this.store.appendAudit({ at: Date.now(), actor, actorKind: kind, source, ...entry });
    } catch (err) {
      // Never fail the caller's request on an audit write, but make the gap loud.
      this.logger.error({ err, action: entry.action }, 'audit write failed');
    }
  }
}
