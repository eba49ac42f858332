import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { OCI_CODES } from '../oci/errors.js';
import { STATUS_BY_CODE } from './errors.js';

describe('error codes', () => {
  it('each has an HTTP status and is documented in docs/errors.md with that status', () => {
    const doc = readFileSync(new URL('../../docs/errors.md', import.meta.url), 'utf8');
    for (const code of OCI_CODES) {
      const status = STATUS_BY_CODE[code];
      expect(status, code).toBeGreaterThanOrEqual(400);
      expect(doc, `docs/errors.md row for ${code}`).toMatch(new RegExp(`\\| \`${code}\` \\| ${status} \\|`));
    }
  });
});
