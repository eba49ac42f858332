import { randomBytes } from 'node:crypto';
import { exportJWK, generateKeyPair, importJWK, type JWK, type KeyLike } from 'jose';
import type { SigningKeyRecord, SigningKeyStore } from './auth-state-store.js';
import { readLegacyKeys } from './legacy-keys.js';

export const SIGNING_ALGORITHM = 'ES256';

export interface KeyRingOptions {
  /** A signing key older than this is replaced when a node starts. */
  rotateAfterMs: number;
  /** How long a retired key keeps verifying: as long as any token it signed can live. */
  retainMs: number;
  /** Keys read longer ago than this are read again: before signing, and in the background when verifying (default 60 s). */
  refreshMs?: number;
  /** A key id not known here sends this node to the store at most once per this long (default 1 s). */
  missReloadMs?: number;
  /** Where an older Berth kept its key files (`<data>/keys`): imported once into a store that has no keys yet. */
  legacyDir?: string;
  /** Told when re-reading the keys fails (the ring keeps the keys it has). */
  onError?(err: unknown): void;
}

interface LoadedKey {
  stored: SigningKeyRecord;
  privateKey: KeyLike;
  publicKey: KeyLike;
}

/**
 * The token-signing keys, kept in the metadata store so every node signs and
 * verifies with the same ones. The newest key still signing signs; retired
 * keys keep verifying while tokens they signed may live. A node re-reads the
 * keys when it meets a key id it does not know (a key made on another node),
 * and when its copy is older than `refreshMs` (so a rotation elsewhere moves
 * its signing too).
 */
export class KeyRing {
  private keys: LoadedKey[] = [];
  /** When the load that produced `keys` began. */
  private loadedAt = 0;
  private loadsStarted = 0;
  private loadsApplied = 0;
  private lastReloadAt = -Infinity;
  /** The load in progress, if any. */
  private running?: Promise<void>;
  /** A reload that has not started yet: everyone who asks meanwhile waits for it. */
  private queued?: Promise<void>;
  private readonly refreshMs: number;
  private readonly missReloadMs: number;

  private constructor(
    private readonly store: SigningKeyStore,
    private readonly options: KeyRingOptions,
  ) {
    this.refreshMs = options.refreshMs ?? 60_000;
    this.missReloadMs = options.missReloadMs ?? 1000;
  }

  static async open(store: SigningKeyStore, options: KeyRingOptions): Promise<KeyRing> {
    const ring = new KeyRing(store, options);
    if (options.legacyDir !== undefined && (await store.listSigningKeys()).length === 0) {
      await store.importSigningKeys(await readLegacyKeys(options.legacyDir));
    }
    await ring.load();
    const current = ring.current();
    if (!current || Date.now() - current.stored.createdAt > options.rotateAfterMs) {
      // Nodes starting together may all get here: the store adds one key for all of them (or, racing, a few; all verify everywhere).
      await ring.addKey({ unlessSigningSince: Date.now() - options.rotateAfterMs });
    }
    await store.deleteSigningKeysRetiredBefore(Date.now() - ring.verifiesForMs());
    return ring;
  }

  /** Makes a new signing key; every other key only verifies from now on. Returns the new key id. */
  async rotate(): Promise<string> {
    const kid = await this.addKey({});
    await this.store.deleteSigningKeysRetiredBefore(Date.now() - this.verifiesForMs());
    return kid;
  }

  async signingKey(): Promise<{ kid: string; key: KeyLike }> {
    // Never sign from a copy older than refreshMs, so a key retired elsewhere stops signing here within that time.
    if (this.stale()) await this.reload().catch((err: unknown) => this.options.onError?.(err));
    const current = this.current();
    if (!current) throw new Error('no signing key');
    return { kid: current.stored.kid, key: current.privateKey };
  }

  /** The public key for a key id, while it may still verify; an unknown id is looked up in the store. */
  async verificationKey(kid: string): Promise<KeyLike | undefined> {
    let key = this.find(kid);
    if (key) {
      if (this.stale()) this.reload().catch((err: unknown) => this.options.onError?.(err));
    } else {
      await this.reload().catch((err: unknown) => this.options.onError?.(err));
      key = this.find(kid);
    }
    if (!key) return undefined;
    if (key.stored.retiredAt !== null && Date.now() - key.stored.retiredAt > this.verifiesForMs()) return undefined;
    return key.publicKey;
  }

  /** Key ids and their state, for operators (as last read; an old copy is re-read in the background). */
  list(): { kid: string; createdAt: number; retiredAt?: number }[] {
    if (this.stale()) this.reload().catch((err: unknown) => this.options.onError?.(err));
    return this.keys.map((k) => ({ kid: k.stored.kid, createdAt: k.stored.createdAt, retiredAt: k.stored.retiredAt ?? undefined }));
  }

  /**
   * How long after its retirement a key verifies: `retainMs`, plus `refreshMs`
   * because another node may sign with it until it next reads the keys.
   */
  private verifiesForMs(): number {
    return this.options.retainMs + this.refreshMs;
  }

  private current(): LoadedKey | undefined {
    return this.keys.find((k) => k.stored.retiredAt === null) ?? this.keys[0];
  }

  private find(kid: string): LoadedKey | undefined {
    return this.keys.find((k) => k.stored.kid === kid);
  }

  private stale(): boolean {
    return Date.now() - this.loadedAt > this.refreshMs;
  }

  private async addKey(options: { unlessSigningSince?: number }): Promise<string> {
    const { privateKey } = await generateKeyPair(SIGNING_ALGORITHM, { extractable: true });
    const kid = randomBytes(9).toString('base64url');
    const privateJwk: JWK = { ...(await exportJWK(privateKey)), kid, alg: SIGNING_ALGORITHM };
    await this.store.addSigningKey({ kid, createdAt: Date.now(), retiredAt: null, privateJwk: JSON.stringify(privateJwk) }, options);
    await this.load();
    return this.current()!.stored.kid;
  }

  /**
   * Re-reads the keys, single-flight and rate-limited: the caller waits for a
   * load that starts after it asked, and loads start at most once per
   * `missReloadMs`, however many unknown key ids arrive.
   */
  private reload(): Promise<void> {
    return (this.queued ??= (async () => {
      try {
        await this.running?.catch(() => undefined);
        const wait = this.lastReloadAt + this.missReloadMs - Date.now();
        if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
      } finally {
        this.queued = undefined;
      }
      this.lastReloadAt = Date.now();
      await this.load();
    })());
  }

  /** Reads every key from the store; a load that finishes after a later one changes nothing. */
  private async load(): Promise<void> {
    const sequence = ++this.loadsStarted;
    const startedAt = Date.now();
    const loading = (async () => {
      const stored = await this.store.listSigningKeys();
      const loaded = await Promise.all(stored.map((s) => this.imported(s)));
      if (sequence < this.loadsApplied) return;
      this.loadsApplied = sequence;
      this.loadedAt = startedAt;
      this.keys = loaded.sort((a, b) => b.stored.createdAt - a.stored.createdAt || (a.stored.kid < b.stored.kid ? 1 : -1));
    })();
    this.running = loading;
    try {
      await loading;
    } finally {
      if (this.running === loading) this.running = undefined;
    }
  }

  /** The key with its imported key objects, reusing those already imported (a key's material never changes). */
  private async imported(stored: SigningKeyRecord): Promise<LoadedKey> {
    const known = this.find(stored.kid);
    if (known) return { ...known, stored };
    const privateJwk = JSON.parse(stored.privateJwk) as JWK;
    const { d: _private, ...publicJwk } = privateJwk;
    return {
      stored,
      privateKey: (await importJWK(privateJwk, SIGNING_ALGORITHM)) as KeyLike,
      publicKey: (await importJWK(publicJwk, SIGNING_ALGORITHM)) as KeyLike,
    };
  }
}
