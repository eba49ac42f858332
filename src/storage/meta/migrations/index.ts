import type { Migration, MigrationProvider } from 'kysely';
import * as m001 from './001-initial.js';
import * as m002 from './002-access-control.js';
import * as m003 from './003-registry-usage.js';
import * as m004 from './004-shared-auth-state.js';
import * as m005 from './005-jobs.js';
import * as m006 from './006-vulndb.js';
import * as m007 from './007-scans.js';
import * as m008 from './008-webhooks.js';
import * as m009 from './009-retention.js';
import * as m010 from './010-immutable-tags.js';

/**
 * Versioned migrations, in order, for every dialect (types that differ come from
 * dialect.ts). Add new ones at the end; never change what a released one does:
 * on SQLite they still create exactly what they first did.
 */
export const migrationProvider: MigrationProvider = {
  async getMigrations(): Promise<Record<string, Migration>> {
    return { '001-initial': m001, '002-access-control': m002, '003-registry-usage': m003, '004-shared-auth-state': m004, '005-jobs': m005, '006-vulndb': m006, '007-scans': m007, '008-webhooks': m008, '009-retention': m009, '010-immutable-tags': m010 };
  },
};
