/**
 * Once per test run. Servers started on the postgres-s3 backend keep their
 * metadata in PostgreSQL schemas named `berth_t_<run>_<server>`, where <run> is
 * this run's start time: at the end the run drops its own schemas, and at the
 * start it drops those of runs older than a day (a killed run cannot clean up
 * after itself) — never those of another run still going on the same server.
 */
import pg from 'pg';

const URL = process.env.BERTH_TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const DAY_SECONDS = 86_400;
const RUN = Math.floor(Date.now() / 1000);

async function dropSchemas(which: (runSeconds: number) => boolean): Promise<void> {
  const client = new pg.Client({ connectionString: URL, connectionTimeoutMillis: 3000 });
  try {
    await client.connect();
  } catch {
    return; // unreachable: the PostgreSQL suites report it themselves (and fail in CI)
  }
  try {
    const { rows } = await client.query<{ name: string }>(`select nspname as name from pg_namespace where nspname like 'berth\\_t\\_%'`);
    for (const { name } of rows) {
      const run = Number(name.split('_')[2]);
      if (Number.isInteger(run) && which(run)) await client.query(`drop schema if exists "${name}" cascade`);
    }
  } finally {
    await client.end();
  }
}

export async function setup(): Promise<void> {
  // Inherited by the test processes, which name their schemas after it (test/support/berth-process.ts).
  process.env.BERTH_TEST_RUN = String(RUN);
  await dropSchemas((run) => run < RUN - DAY_SECONDS);
}

export async function teardown(): Promise<void> {
  await dropSchemas((run) => run === RUN);
}
