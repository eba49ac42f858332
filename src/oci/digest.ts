import { createHash, type Hash } from 'node:crypto';
import { RegistryError } from './errors.js';

/** Digest algorithms Berth accepts, with the exact hex length each must have. */
const ALGORITHMS = { sha256: 64, sha512: 128 } as const;
export type DigestAlgorithm = keyof typeof ALGORITHMS;

/** A validated digest string, e.g. `sha256:abc…`. The brand keeps unchecked strings out. */
export type Digest = string & { readonly __digest: unique symbol };

// The spec's grammar: algorithm-component(+separator)* ":" encoded.
const DIGEST_GRAMMAR = /^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$/;

export interface ParsedDigest {
  digest: Digest;
  algorithm: DigestAlgorithm;
  hex: string;
}

/**
 * Parses and validates a digest. Throws DIGEST_INVALID for malformed input and
 * UNSUPPORTED for a well-formed digest of an algorithm Berth does not implement.
 */
export function parseDigest(input: string): ParsedDigest {
  if (input.length > 256 || !DIGEST_GRAMMAR.test(input)) {
    throw new RegistryError('DIGEST_INVALID', `invalid digest: ${truncate(input)}`);
  }
  const colon = input.indexOf(':');
  const algorithm = input.slice(0, colon);
  const hex = input.slice(colon + 1);
  if (!(algorithm in ALGORITHMS)) {
    throw new RegistryError('UNSUPPORTED', `unsupported digest algorithm: ${algorithm}`, {
      supported: Object.keys(ALGORITHMS),
    });
  }
  const alg = algorithm as DigestAlgorithm;
  if (hex.length !== ALGORITHMS[alg] || !/^[a-f0-9]+$/.test(hex)) {
    throw new RegistryError('DIGEST_INVALID', `invalid ${alg} digest: ${truncate(input)}`);
  }
  return { digest: input as Digest, algorithm: alg, hex };
}

export function isDigestLike(reference: string): boolean {
  return reference.includes(':');
}

export function createDigester(algorithm: DigestAlgorithm = 'sha256'): Hash {
  return createHash(algorithm);
}

/** A digest being computed: node:crypto's Hash, or another implementation with the same three calls. */
export interface RunningDigest {
  update(bytes: Uint8Array): unknown;
  copy(): RunningDigest;
  digest(encoding: 'hex'): string;
}

export function digestOf(algorithm: DigestAlgorithm, hash: RunningDigest): Digest {
  return `${algorithm}:${hash.digest('hex')}` as Digest;
}

export function digestBytes(bytes: Uint8Array, algorithm: DigestAlgorithm = 'sha256'): Digest {
  return digestOf(algorithm, createHash(algorithm).update(bytes));
}

function truncate(s: string): string {
  return s.length > 80 ? `${s.slice(0, 80)}…` : s;
}
