import { randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { exportJWK, generateKeyPair, importJWK, type JWK, type KeyLike } from 'jose';

export const SIGNING_ALGORITHM = 'ES256';

interface StoredKey {
  kid: string;
  createdAt: number;
  /** Set when a newer key took over signing; the key still verifies until tokens it signed have expired. */
  retiredAt?: number;
  privateJwk: JWK;
}

interface LoadedKey {
  stored: StoredKey;
  privateKey: KeyLike;
  publicKey: KeyLike;
}

/**
 * The token-signing keys, kept in `<data>/keys/` (files readable by the owner only).
 * The newest key signs; retired keys keep verifying for `retainMs` after retirement.
 */
export class KeyRing {
  private keys: LoadedKey[] = [];

  private constructor(
    private readonly dir: string,
    private readonly retainMs: number,
  ) {}

  static async open(dir: string, options: { rotateAfterMs: number; retainMs: number }): Promise<KeyRing> {
    const ring = new KeyRing(dir, options.retainMs);
    await mkdir(dir, { recursive: true, mode: 0o700 });
    await ring.load();
    const current = ring.keys[0];
    if (!current || Date.now() - current.stored.createdAt > options.rotateAfterMs) await ring.rotate();
    return ring;
  }

  private async load(): Promise<void> {
    const loaded: LoadedKey[] = [];
    for (const file of await readdir(this.dir)) {
      if (!file.endsWith('.jwk.json')) continue;
      const stored = JSON.parse(await readFile(join(this.dir, file), 'utf8')) as StoredKey;
      if (stored.retiredAt !== undefined && Date.now() - stored.retiredAt > this.retainMs) {
        await rm(join(this.dir, file), { force: true });
        continue;
      }
      const privateKey = (await importJWK(stored.privateJwk, SIGNING_ALGORITHM)) as KeyLike;
      const { d: _private, ...publicJwk } = stored.privateJwk;
      const publicKey = (await importJWK(publicJwk, SIGNING_ALGORITHM)) as KeyLike;
      loaded.push({ stored, privateKey, publicKey });
    }
    this.keys = loaded.sort((a, b) => b.stored.createdAt - a.stored.createdAt);
  }

  /** Makes a new signing key; the previous one only verifies from now on. Returns the new key id. */
  async rotate(): Promise<string> {
    const now = Date.now();
    for (const key of this.keys) {
      if (key.stored.retiredAt === undefined) {
        key.stored.retiredAt = now;
        await this.save(key.stored);
      }
    }
    const { privateKey, publicKey } = await generateKeyPair(SIGNING_ALGORITHM, { extractable: true });
    const kid = randomBytes(9).toString('base64url');
    const stored: StoredKey = { kid, createdAt: now, privateJwk: { ...(await exportJWK(privateKey)), kid, alg: SIGNING_ALGORITHM } };
    await this.save(stored);
    this.keys.unshift({ stored, privateKey, publicKey });
    return kid;
  }

  private async save(stored: StoredKey): Promise<void> {
    const path = join(this.dir, `${stored.kid}.jwk.json`);
    const temp = `${path}.tmp`;
    await writeFile(temp, JSON.stringify(stored), { mode: 0o600 });
    await rename(temp, path);
  }

  signingKey(): { kid: string; key: KeyLike } {
    const current = this.keys[0];
    if (!current) throw new Error('no signing key');
    return { kid: current.stored.kid, key: current.privateKey };
  }

  /** The public key for a key id, while it may still verify. */
  verificationKey(kid: string): KeyLike | undefined {
    const key = this.keys.find((k) => k.stored.kid === kid);
    if (!key) return undefined;
    if (key.stored.retiredAt !== undefined && Date.now() - key.stored.retiredAt > this.retainMs) return undefined;
    return key.publicKey;
  }

  /** Key ids and their state, for operators. */
  list(): { kid: string; createdAt: number; retiredAt?: number }[] {
    return this.keys.map((k) => ({ kid: k.stored.kid, createdAt: k.stored.createdAt, retiredAt: k.stored.retiredAt }));
  }
}
