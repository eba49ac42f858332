import { randomBytes } from 'node:crypto';
import { SignJWT, decodeProtectedHeader, jwtVerify, type JWTPayload } from 'jose';
import { SIGNING_ALGORITHM, type KeyRing } from './key-ring.js';

/** One entry of a token's `access` claim, as in Docker token auth. */
export interface AccessClaim {
  type: string;
  name: string;
  actions: string[];
}

export interface RegistryTokenClaims {
  subject: string;
  subjectKind: 'user' | 'robot' | 'anonymous';
  access: AccessClaim[];
  expiresAt: number;
}

export interface RegistryTokenOptions {
  issuer: string;
  /** The `service` clients name in token requests; the audience of every token. */
  service: string;
  ttlSeconds: number;
}

/** Verified tokens are remembered until they expire, so a pull's many requests verify a signature once. */
const MAX_CACHED = 10_000;

/**
 * Short-lived JWTs for Docker token auth: ES256, `kid` in the header, the
 * access claim as computed by the token endpoint (already the intersection of
 * what was asked and what is allowed).
 */
export class RegistryTokens {
  private readonly verified = new Map<string, RegistryTokenClaims>();

  constructor(
    private readonly keys: KeyRing,
    private readonly options: RegistryTokenOptions,
  ) {}

  get service(): string {
    return this.options.service;
  }

  get ttlSeconds(): number {
    return this.options.ttlSeconds;
  }

  async issue(subject: string, subjectKind: RegistryTokenClaims['subjectKind'], access: AccessClaim[]): Promise<{ token: string; expiresIn: number; issuedAt: Date }> {
    const { kid, key } = await this.keys.signingKey();
    const now = Math.floor(Date.now() / 1000);
    const token = await new SignJWT({ access, kind: subjectKind })
      .setProtectedHeader({ alg: SIGNING_ALGORITHM, kid, typ: 'JWT' })
      .setIssuer(this.options.issuer)
      .setAudience(this.options.service)
      .setSubject(subject)
      .setIssuedAt(now)
      .setNotBefore(now - 1)
      .setExpirationTime(now + this.options.ttlSeconds)
      .setJti(randomBytes(12).toString('base64url'))
      .sign(key);
    return { token, expiresIn: this.options.ttlSeconds, issuedAt: new Date(now * 1000) };
  }

  /** The token's claims, or undefined for anything forged, expired, not yet valid, or meant for another service. */
  async verify(token: string): Promise<RegistryTokenClaims | undefined> {
    const cached = this.verified.get(token);
    if (cached) {
      if (cached.expiresAt > Date.now()) return cached;
      this.verified.delete(token);
      return undefined;
    }
    let kid: string | undefined;
    try {
      const header = decodeProtectedHeader(token);
      if (header.alg !== SIGNING_ALGORITHM) return undefined;
      kid = header.kid;
    } catch {
      return undefined;
    }
    const key = kid ? await this.keys.verificationKey(kid) : undefined;
    if (!key) return undefined;
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, key, {
        algorithms: [SIGNING_ALGORITHM],
        issuer: this.options.issuer,
        audience: this.options.service,
        requiredClaims: ['exp', 'nbf', 'sub'],
        clockTolerance: 5,
      }));
    } catch {
      return undefined;
    }
    const claims: RegistryTokenClaims = {
      subject: payload.sub!,
      subjectKind: (payload.kind as RegistryTokenClaims['subjectKind']) ?? 'user',
      access: Array.isArray(payload.access) ? (payload.access as AccessClaim[]) : [],
      expiresAt: payload.exp! * 1000,
    };
    if (this.verified.size >= MAX_CACHED) this.verified.clear();
    this.verified.set(token, claims);
    return claims;
  }
}
