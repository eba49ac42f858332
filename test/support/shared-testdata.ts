/**
 * The public test data kept beside the project (`../shared/testdata/`: OSV
 * records, version-order fixtures), read in place, never copied in.
 * `BERTH_TEST_SHARED_DATA` points elsewhere when the checkout lives apart from it.
 */
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const PROJECT_ROOT = resolve(fileURLToPath(new URL('../..', import.meta.url)));
const ROOT = process.env.BERTH_TEST_SHARED_DATA ?? resolve(PROJECT_ROOT, '../shared/testdata');

/** A path inside the shared test data; throws, naming where it looked, when the data is not there. */
export function sharedTestdata(...parts: string[]): string {
  if (!existsSync(ROOT)) {
    throw new Error(`the shared test data is not at ${ROOT} (expected beside the project as ../shared/testdata, or set BERTH_TEST_SHARED_DATA)`);
  }
  return join(ROOT, ...parts);
}
