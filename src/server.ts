import { join, resolve } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { pino, type Logger } from 'pino';
import { splitListen } from './config/load.js';
import type { Config } from './config/schema.js';
import { Registry } from './core/registry.js';
import { buildApp } from './http/app.js';
import { FilesystemBlobStore } from './storage/blob/filesystem/filesystem-blob-store.js';
import { openSqliteMetaStore } from './storage/meta/sqlite/open-sqlite.js';

export interface RunningServer {
  app: FastifyInstance;
  registry: Registry;
  /** The address actually bound (the port is real even when 0 was asked for). */
  address: { host: string; port: number };
  close(): Promise<void>;
}

/** The composition root: config → stores → services → HTTP. The only module that knows every concrete part. */
export async function startServer(config: Config, logger: Logger = pino({ level: config.log.level })): Promise<RunningServer> {
  const dataDir = resolve(config.data);
  const blobStore = new FilesystemBlobStore(dataDir);
  await blobStore.init();
  const meta = await openSqliteMetaStore({ path: join(dataDir, 'metadata.db'), synchronous: config.storage.sqlite.synchronous });
  const registry = new Registry(meta, blobStore);
  const app = buildApp(registry, { logger, idleTimeoutMs: config.http.idleTimeoutSeconds * 1000 });

  const { host, port } = splitListen(config.listen);
  try {
    await app.listen({ host, port });
  } catch (err) {
    await meta.close();
    throw err;
  }
  const bound = app.server.address();
  const address = typeof bound === 'object' && bound ? { host: bound.address, port: bound.port } : { host, port };
  logger.info({ listen: `${address.host}:${address.port}`, data: dataDir }, 'berth is serving');

  let closing: Promise<void> | undefined;
  const close = () =>
    (closing ??= (async () => {
      await app.close();
      await meta.close();
    })());
  return { app, registry, address, close };
}
