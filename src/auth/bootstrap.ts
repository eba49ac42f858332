import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import type { AccessStore } from './access-store.js';
import type { AuditLog } from './audit-log.js';
import { hashPassword, passwordProblem } from './passwords.js';

/**
 * On first start (no users at all) creates the `admin` server administrator.
 * Its password is BERTH_ADMIN_PASSWORD when set, otherwise generated and
 * logged once, with a hint to change it.
 */
export async function ensureAdminUser(store: AccessStore, audit: AuditLog, logger: Logger, adminPassword: string | undefined): Promise<void> {
  if ((await store.countUsers()) > 0) return;
  if (adminPassword !== undefined) {
    const problem = passwordProblem(adminPassword);
    if (problem) throw new Error(`BERTH_ADMIN_PASSWORD: ${problem}`);
  }
  const password = adminPassword ?? randomBytes(18).toString('base64url');
  try {
    await store.createUser({ username: 'admin', passwordHash: await hashPassword(password), serverAdmin: true, canCreateRegistries: true });
  } catch (err) {
    // Several nodes starting at once on one empty shared database: another one created it first.
    if (await store.getUser('admin')) return;
    throw err;
  }
  await audit.record({ system: true }, undefined, { action: 'user.create', outcome: 'success', resource: 'admin', reason: 'first start' });
  if (adminPassword === undefined) {
    // Printed to stderr (not the JSON log stream) so log shippers don't collect it.
    process.stderr.write(
      `\nberth: created the server administrator "admin" with password:\n\n    ${password}\n\n` +
        `This is shown once. Change it with: berth login <server> -u admin && berth user passwd admin\n\n`,
    );
    logger.warn('created user "admin" with a generated password (printed once to stderr); change it');
  } else {
    logger.info('created user "admin" with the password from BERTH_ADMIN_PASSWORD');
  }
}
