import { describe, expect, it } from 'vitest';
import { digestBytes, parseDigest } from './digest.js';
import { RegistryError } from './errors.js';

const code = (f: () => unknown) => {
  try {
    f();
  } catch (err) {
    return (err as RegistryError).code;
  }
  return 'no error';
};

describe('parseDigest', () => {
  it('accepts sha256 and sha512 of the right length', () => {
    const d256 = digestBytes(Buffer.from('x'));
    const d512 = digestBytes(Buffer.from('x'), 'sha512');
    expect(parseDigest(d256)).toMatchObject({ algorithm: 'sha256', hex: d256.slice(7) });
    expect(parseDigest(d512).algorithm).toBe('sha512');
    expect(d512).toHaveLength(7 + 128);
  });

  it('refuses malformed digests with DIGEST_INVALID', () => {
    for (const bad of ['', 'sha256', 'sha256:', 'sha256:abc', `sha256:${'A'.repeat(64)}`, `sha256:${'g'.repeat(64)}`, `../../etc:${'a'.repeat(64)}`, `sha512:${'a'.repeat(64)}`]) {
      expect(code(() => parseDigest(bad)), bad).toBe('DIGEST_INVALID');
    }
  });

  it('refuses well-formed digests of other algorithms with UNSUPPORTED', () => {
    expect(code(() => parseDigest(`md5:${'a'.repeat(32)}`))).toBe('UNSUPPORTED');
    expect(code(() => parseDigest(`blake3:${'a'.repeat(64)}`))).toBe('UNSUPPORTED');
  });
});
