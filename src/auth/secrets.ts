import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

/**
 * Token secrets look like `berth_<kind>_<id>_<secret>`: the id finds the row,
 * the secret is checked against its stored sha256. The prefix lets secret
 * scanners recognise a leaked Berth token.
 */
const SECRET_FORMAT = /^berth_(pat|rbt|rft|ses)_([A-Za-z0-9]{16})_([A-Za-z0-9_-]{43})$/;

export type SecretKind = 'pat' | 'robot' | 'refresh' | 'session';
const PREFIX: Record<SecretKind, string> = { pat: 'pat', robot: 'rbt', refresh: 'rft', session: 'ses' };

export interface MintedSecret {
  id: string;
  /** Shown to the user once; never stored. */
  secret: string;
  secretHash: string;
}

export function mintSecret(kind: SecretKind): MintedSecret {
  const id = randomBytes(12).toString('base64url').replace(/[-_]/g, 'x').slice(0, 16);
  const secretPart = randomBytes(32).toString('base64url');
  return { id, secret: `berth_${PREFIX[kind]}_${id}_${secretPart}`, secretHash: hashSecret(secretPart) };
}

export function parseSecret(value: string): { id: string; secretPart: string } | undefined {
  const m = value.match(SECRET_FORMAT);
  return m ? { id: m[2]!, secretPart: m[3]! } : undefined;
}

export function looksLikeSecret(value: string): boolean {
  return value.startsWith('berth_');
}

export function hashSecret(secretPart: string): string {
  return createHash('sha256').update(secretPart).digest('hex');
}

export function secretMatches(secretPart: string, storedHash: string): boolean {
  const a = Buffer.from(hashSecret(secretPart), 'hex');
  const b = Buffer.from(storedHash, 'hex');
  return a.length === b.length && timingSafeEqual(a, b);
}
