import { defineConfig } from 'vitest/config';

const shared = {
  // Shared suites run once per implementation, from the implementation's own test file.
  exclude: ['**/node_modules/**', '**/*.case.test.ts'],
  testTimeout: 120_000,
  hookTimeout: 600_000,
  pool: 'forks' as const,
  poolOptions: { forks: { maxForks: 2, minForks: 1 } },
};

export default defineConfig({
  test: {
    globalSetup: ['test/support/global-setup.ts'],
    projects: [
      { test: { ...shared, name: 'embedded', include: ['src/**/*.test.ts', 'test/**/*.test.ts'] } },
      // The OCI conformance suite again, on the scale-out backends: PostgreSQL metadata + S3 blobs.
      { test: { ...shared, name: 'postgres-s3', include: ['test/conformance/**/*.test.ts'], env: { BERTH_TEST_BACKEND: 'postgres-s3' } } },
    ],
  },
});
