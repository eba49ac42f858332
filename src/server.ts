import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { FastifyInstance } from 'fastify';
import { pino, type Logger } from 'pino';
import { splitListen } from './config/load.js';
import type { Config } from './config/schema.js';
import { Registry } from './core/registry.js';
import { TierCatalog } from './core/tiers.js';
import { TransferMeter } from './core/transfer-meter.js';
import { provideRepositoryListing } from './core/repository-listing.js';
import { buildApp } from './http/app.js';
import { ControlPanel } from './http/ui/control-panel.js';
import { openBackends } from './open-backends.js';
import { AccessControl } from './auth/access-control.js';
import { JobWorker } from './jobs/worker.js';
import { ensureAdminUser } from './auth/bootstrap.js';
import { startScanning } from './scan/start-scanning.js';
import { startWebhooks } from './events/start-webhooks.js';
import { startRetention } from './events/retention/start-retention.js';
import { startMemoryTrimmer } from './native/memory-trimmer.js';
import { capYoungGeneration } from './core/young-generation-cap.js';
import { zeroCopySender } from './native/zero-copy-sender.js';
import { bodyReceiver } from './native/body-receiver.js';

export interface RunningServer {
  app: FastifyInstance;
  registry: Registry;
  access: AccessControl;
  /** The address actually bound (the port is real even when 0 was asked for). */
  address: { host: string; port: number };
  close(): Promise<void>;
}

/** The composition root: config → stores → services → HTTP. The only module that knows every concrete part. */
export async function startServer(
  config: Config,
  logger: Logger = pino({ level: config.log.level }),
  /** The first administrator's password (BERTH_ADMIN_PASSWORD), used only when there are no users yet. */
  adminPassword: string | undefined = process.env.BERTH_ADMIN_PASSWORD,
): Promise<RunningServer> {
  // Before the migrations, whose allocations would otherwise grow it to V8's 32 MiB at once.
  const uncapYoungGeneration = capYoungGeneration();
  const backends = await openBackends(config, logger).catch((err: unknown) => {
    uncapYoungGeneration();
    throw err;
  });
  const { stores, blobStore, dataDir } = backends;
  // Whatever fails during start-up releases what was already taken, in reverse order.
  const undo: (() => Promise<void>)[] = [() => backends.close(), async () => uncapYoungGeneration()];
  try {
    const tiers = new TierCatalog(config.tiers, config.registries.regions, config.registries.defaultTier);
    stores.access.registryDefaults = { tierSlug: tiers.defaultTier.slug, region: tiers.defaultRegion };
    // Transfer is counted in memory and written every few seconds; the rest on shutdown, before the stores close.
    const meter = new TransferMeter(stores.usage, { flushIntervalMs: 5000, onError: (err) => logger.warn({ err }, 'could not record transfer usage; retrying') });
    meter.start();
    undo.unshift(() => meter.stop());
    const receiver = config.http.directUploads ? bodyReceiver() : undefined;
    if (config.http.directUploads && !receiver && process.platform === 'linux') {
      logger.warn('the receive module is not built (native/build/Release/receive.node): run npm run build; upload bodies are streamed through Node');
    }
    const registry = new Registry(stores.meta, blobStore, {
      // The embedded default is this process's alone (the data-directory lock), so hot reads may be cached;
      // nodes sharing PostgreSQL cache them too, dropping what other nodes announce they changed.
      singleWriter: backends.singleWriter,
      changeFeed: backends.changeFeed,
      blobRedirect: backends.blobRedirect,
      accounts: { store: stores.usage, tiers, pricing: config.pricing, meter },
      gc: { store: stores.gc, gracePeriodMs: config.gc.gracePeriod, logger },
      immutableTags: stores.immutableTags,
      maxConcurrentUploadBodies: config.http.maxConcurrentUploadBodies,
      newUploadDigest: receiver?.sha256,
    });
    // Runs a shutdown or crash cut short are marked failed (SQLite) or left to their job leases (PostgreSQL); on shutdown, running ones stop before the stores close.
    await registry.gc!.recover();
    undo.unshift(() => registry.gc!.close());
    // One job worker per node, named afresh by every process; it stops (and hands back what it runs) before GC and the stores close.
    const worker = new JobWorker(stores.jobs, { workerId: `${hostname()}-${randomBytes(4).toString('hex')}`, logger });
    registry.gc!.attach(worker);
    // Alone on the metadata (SQLite, locked data directory), every running job was this process's before a crash: run them again now, not after their leases expire.
    if (backends.singleWriter) {
      const released = await stores.jobs.releaseAllRunning();
      if (released > 0) logger.info({ jobs: released }, 'jobs cut short by the last stop are queued again');
    }
    worker.start();
    undo.unshift(() => worker.close());
    provideRepositoryListing(registry, stores.repositoryQueries);
    const access = await AccessControl.create(
      { ...config.auth, dataDir, autoCreateRegistries: config.registries.autoCreate, changeFeed: backends.changeFeed },
      stores.access,
      stores.authState,
      logger,
    );
    await ensureAdminUser(stores.access, access.audit, logger, adminPassword);
    await startScanning({ onPush: config.scan.onPush, vulndb: config.vulndb }, {
      registry,
      blobStore,
      scans: stores.scans,
      vulndb: stores.vulndb,
      jobs: stores.jobs,
      worker,
      audit: access.audit,
      registryId: async (name) => (await stores.access.getRegistry(name))?.id,
      logger,
    });
    // After scanning: webhooks hear of its finished scans. Pushes and deletions record their events in their own transactions.
    const webhooks = startWebhooks(config.webhooks, { registry, store: stores.webhooks, worker, audit: access.audit, logger, ownPort: splitListen(config.listen).port });
    undo.unshift(async () => webhooks.close());
    // Pull times are flushed every few seconds, and on shutdown before the stores close.
    const retention = await startRetention({ registry, store: stores.retention, jobs: stores.jobs, worker, audit: access.audit, graceMs: config.gc.gracePeriod, logger });
    undo.unshift(() => retention.pullTimes.stop());
    if (!config.auth.enabled) {
      logger.warn('access control is DISABLED (auth.enabled: false): anyone who can reach this port can push, pull and delete');
    }
    const controlPanel = config.http.controlPanel ? ControlPanel.load() : undefined;
    if (config.http.controlPanel && !controlPanel) logger.warn('the web control panel is not built (no web/dist/index.html): run npm run build; serving the APIs only');
    // Freed request-body buffers otherwise stay resident: bench/pushes.ts peaks 181 → 148–174 MiB with this.
    const trimmer = startMemoryTrimmer({ intervalMs: 1000, thresholdBytes: 4 * 1024 * 1024 });
    if (trimmer) undo.unshift(async () => trimmer.stop());
    const zeroCopy = config.http.zeroCopySends ? zeroCopySender() : undefined;
    if (config.http.zeroCopySends && !zeroCopy && process.platform === 'linux') {
      logger.warn('the sendfile module is not built (native/build/Release/sendfile.node): run npm run build; blobs are sent through userland buffers');
    }
    const app = buildApp(registry, access, {
      logger,
      idleTimeoutMs: config.http.idleTimeoutSeconds * 1000,
      trustedProxies: config.http.trustedProxies,
      controlPanel,
      zeroCopy,
      receiver,
    });
    const { host, port } = splitListen(config.listen);
    await app.listen({ host, port });
    const bound = app.server.address();
    const address = typeof bound === 'object' && bound ? { host: bound.address, port: bound.port } : { host, port };
    logger.info({ listen: `${address.host}:${address.port}`, data: dataDir }, 'berth is serving');

    let closing: Promise<void> | undefined;
    const close = () =>
      (closing ??= (async () => {
        await app.close();
        for (const step of undo) await step();
      })());
    return { app, registry, access, address, close };
  } catch (err) {
    for (const step of undo) await step().catch(() => undefined);
    throw err;
  }
}
