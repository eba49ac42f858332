// Part of the composition root (server.ts): opens the blob and metadata backends
// the configuration names. The only module besides server.ts that knows the
// concrete stores.
import { mkdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { Logger } from 'pino';
import type { Config } from './config/schema.js';
import type { ChangeFeed } from './core/change-feed.js';
import type { BlobStore } from './storage/blob/blob-store.js';
import { FilesystemBlobStore } from './storage/blob/filesystem/filesystem-blob-store.js';
import type { S3BlobStoreOptions } from './storage/blob/s3/s3-options.js';
import { lockDataDir } from './storage/data-dir-lock.js';
import type { PostgresOptions } from './storage/meta/postgres/open-postgres.js';
import { openSqliteStores } from './storage/meta/sqlite/open-sqlite.js';
import type { MetaStores } from './storage/meta/stores.js';

export interface Backends {
  blobStore: BlobStore;
  stores: MetaStores;
  /** The data directory (keys imported from older installations, the embedded default's files). */
  dataDir: string;
  /** True when this process alone writes the metadata (SQLite, under the data-directory lock). */
  singleWriter: boolean;
  /** With shared metadata: how nodes tell each other what changed (their caches depend on it). */
  changeFeed?: ChangeFeed;
  /** With `storage.s3.redirect`: a presigned URL that serves a blob straight from the bucket. */
  blobRedirect?: (digest: string) => Promise<string>;
  /** Closes everything opened here, in reverse order. */
  close(): Promise<void>;
}

const MIB = 1024 * 1024;

export async function openBackends(config: Config, logger: Logger): Promise<Backends> {
  const dataDir = resolve(config.data);
  const { storage } = config;
  // Whatever fails part-way releases what was already opened, newest first.
  const undo: (() => Promise<void>)[] = [];
  const close = async () => {
    for (const step of undo.splice(0)) await step().catch((err) => logger.warn({ err }, 'closing a storage backend failed'));
  };
  try {
    let blobStore: BlobStore;
    let blobRedirect: Backends['blobRedirect'];
    if (storage.blobs === 's3') {
      // Loaded only when configured: the AWS SDK and pg cost the embedded default ~10 MiB of memory for nothing.
      const { S3BlobStore } = await import('./storage/blob/s3/s3-blob-store.js');
      const s3 = new S3BlobStore(s3StoreOptions(config));
      undo.unshift(async () => s3.client.destroy());
      await s3.ping().catch((err: Error) => {
        throw new Error(`cannot reach S3 bucket ${storage.s3.bucket} at ${storage.s3.endpoint ?? 'AWS'}: ${err.message}`);
      });
      if (storage.s3.redirect) blobRedirect = (digest) => s3.presignedGetUrl(digest as never);
      blobStore = s3;
    } else {
      const fs = new FilesystemBlobStore(dataDir);
      await fs.init();
      blobStore = fs;
    }

    let stores: MetaStores;
    let changeFeed: ChangeFeed & { close(): Promise<void> } | undefined;
    if (storage.metadata === 'postgres') {
      const { openPostgresStores } = await import('./storage/meta/postgres/open-postgres.js');
      const { PgChangeFeed } = await import('./storage/meta/postgres/pg-change-feed.js');
      const url = storage.postgres.url!;
      stores = await openPostgresStores({
        ...postgresStoreOptions(config),
        onIdleConnectionError: (err) => logger.warn({ err }, 'an idle PostgreSQL connection failed; it will be replaced'),
      }).catch((err: Error) => {
        throw new Error(`cannot open PostgreSQL metadata at ${redactUrl(url)}: ${err.message}`);
      });
      undo.unshift(() => stores.close());
      const feed = new PgChangeFeed({ url, schema: storage.postgres.schema, onError: (err) => logger.warn({ err }, 'change feed connection lost; reconnecting (caches are off meanwhile)') });
      await feed.start();
      undo.unshift(() => feed.close());
      changeFeed = feed;
    } else {
      // The embedded metadata is one process's alone: the lock stops a second one on the same directory.
      await mkdir(dataDir, { recursive: true });
      undo.unshift(await lockDataDir(dataDir));
      stores = await openSqliteStores({ path: join(dataDir, 'metadata.db'), synchronous: storage.sqlite.synchronous, cacheMiB: storage.sqlite.cacheMiB });
      undo.unshift(() => stores.close());
    }
    return { blobStore, stores, dataDir, singleWriter: storage.metadata === 'sqlite', changeFeed, blobRedirect, close };
  } catch (err) {
    await close();
    throw err;
  }
}

/** The S3 blob store's options as `storage.s3` configures them (the config must name a bucket). */
export function s3StoreOptions(config: Config): S3BlobStoreOptions {
  const { s3 } = config.storage;
  return {
    endpoint: s3.endpoint,
    region: s3.region,
    bucket: s3.bucket!,
    prefix: s3.prefix,
    forcePathStyle: s3.forcePathStyle,
    accessKeyId: s3.accessKeyId,
    secretAccessKey: s3.secretAccessKey,
    partSizeBytes: s3.partSizeMib * MIB,
    redirect: s3.redirect ? { expiresSeconds: s3.redirectExpirySeconds } : undefined,
  };
}

/** PostgreSQL's options as `storage.postgres` configures them (the config must name a URL). */
export function postgresStoreOptions(config: Config): PostgresOptions {
  const { postgres } = config.storage;
  return {
    url: postgres.url!,
    poolSize: postgres.poolSize,
    statementTimeoutMs: postgres.statementTimeoutSeconds * 1000,
    schema: postgres.schema,
  };
}

/** A connection URL without its password, for messages. */
export function redactUrl(url: string): string {
  return url.replace(/\/\/([^:@/]+):[^@/]*@/, '//$1:***@');
}
