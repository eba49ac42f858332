/**
 * Access control's state that every node must share: the token-signing keys
 * and the failed-login counts. Kept in the metadata store, so a token one node
 * issues verifies on any other, and guesses spread over nodes add up.
 */

/** A token-signing key as stored. Times are epoch milliseconds. */
export interface SigningKeyRecord {
  kid: string;
  createdAt: number;
  /** Set when a newer key took over signing; null while the key signs. */
  retiredAt: number | null;
  /** The private JWK, as JSON text. */
  privateJwk: string;
}

export interface SigningKeyStore {
  /** Every stored key, newest first. */
  listSigningKeys(): Promise<SigningKeyRecord[]>;
  /**
   * Adds `key` as the one that signs, retiring (at `key.createdAt`) every key
   * still signing, in one transaction. With `unlessSigningSince`, adds nothing
   * and returns false when a key created at or after that time still signs:
   * another node has just made one.
   */
  addSigningKey(key: SigningKeyRecord, options?: { unlessSigningSince?: number }): Promise<boolean>;
  /** Copies keys kept elsewhere, in one transaction, only into a store with no keys at all; returns whether it did. */
  importSigningKeys(keys: SigningKeyRecord[]): Promise<boolean>;
  /** Deletes the keys retired before `cutoff`; returns how many. */
  deleteSigningKeysRetiredBefore(cutoff: number): Promise<number>;
}

export interface LoginFailureStore {
  /** For each of `keys` with failures later than `windowStart`: how many, and the time of the earliest of them. */
  recentLoginFailures(keys: string[], windowStart: number): Promise<Map<string, { count: number; first: number }>>;
  /** Records one failure under each of `keys` at `at`, and deletes a bounded batch of failures at or before `windowStart`. */
  addLoginFailures(keys: string[], at: number, windowStart: number): Promise<void>;
  /** Forgets every failure recorded under `key`. */
  clearLoginFailures(key: string): Promise<void>;
}

export type AuthStateStore = SigningKeyStore & LoginFailureStore;
