import type { Migration, MigrationProvider } from 'kysely';
import * as m001 from './001-initial.js';
import * as m002 from './002-access-control.js';
import * as m003 from './003-registry-usage.js';

/** Versioned migrations, in order. Add new ones at the end; never edit a released one. */
export const migrationProvider: MigrationProvider = {
  async getMigrations(): Promise<Record<string, Migration>> {
    return { '001-initial': m001, '002-access-control': m002, '003-registry-usage': m003 };
  },
};
