import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { JWK } from 'jose';
import type { SigningKeyRecord } from './auth-state-store.js';

/** A key file as Berth wrote them to `<data>/keys/<kid>.jwk.json` before keys moved into the metadata store. */
interface LegacyKeyFile {
  kid: string;
  createdAt: number;
  retiredAt?: number;
  privateJwk: JWK;
}

/**
 * The signing keys of an installation that kept them as files, for a one-time
 * import into the metadata store (an upgraded server keeps its keys, so tokens
 * it issued stay valid). No directory: no keys. The files are left as they
 * are; nothing reads them once the store has keys.
 */
export async function readLegacyKeys(dir: string): Promise<SigningKeyRecord[]> {
  let files: string[];
  try {
    files = await readdir(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
  const keys: SigningKeyRecord[] = [];
  for (const file of files.filter((f) => f.endsWith('.jwk.json')).sort()) {
    let stored: LegacyKeyFile;
    try {
      stored = JSON.parse(await readFile(join(dir, file), 'utf8')) as LegacyKeyFile;
    } catch (err) {
      throw new Error(`cannot read signing key ${join(dir, file)}: ${(err as Error).message}`, { cause: err });
    }
    if (typeof stored.kid !== 'string' || typeof stored.createdAt !== 'number' || typeof stored.privateJwk !== 'object' || stored.privateJwk === null) {
      throw new Error(`cannot read signing key ${join(dir, file)}: not a Berth key file`);
    }
    keys.push({ kid: stored.kid, createdAt: stored.createdAt, retiredAt: stored.retiredAt ?? null, privateJwk: JSON.stringify(stored.privateJwk) });
  }
  return keys;
}
