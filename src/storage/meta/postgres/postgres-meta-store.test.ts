import { describe, expect, it } from 'vitest';
import { postgresStores, postgresUnavailable, POSTGRES_URL, skipPostgres } from '../../../../test/support/postgres.js';
import { describeConcurrentWrites } from '../concurrency.case.test.js';
import { describeMetaStore } from '../meta-store.case.test.js';
import { describeStores } from '../stores.case.test.js';

// Each fixture gets a fresh schema, dropped when it ends. With CI=true an unreachable server fails here, loudly.
describe.skipIf(skipPostgres)('postgres', () => {
  it(`reaches PostgreSQL at ${POSTGRES_URL}`, () => {
    expect(postgresUnavailable, 'set BERTH_TEST_POSTGRES_URL, or start the local server').toBeUndefined();
  });

  describeMetaStore('postgres', async () => {
    const f = await postgresStores();
    return { meta: f.stores.meta, cleanup: f.cleanup };
  });
  describeStores('postgres', postgresStores);
  describeConcurrentWrites('postgres', postgresStores);
});
