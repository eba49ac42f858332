import type { Logger } from 'pino';
import type { AuditLog } from '../auth/audit-log.js';
import type { Registry } from '../core/registry.js';
import type { JobWorker } from '../jobs/worker.js';
import { registryOf } from '../oci/name.js';
import { changeRecorder } from './outbox.js';
import { WebhookDispatcher } from './webhook-dispatch.js';
import type { WebhookStore } from './webhook-store.js';
import { provideWebhooks, Webhooks } from './webhooks.js';

/** `webhooks.*` of the configuration, durations in milliseconds. */
export interface WebhookOptions {
  allowPrivateTargets: boolean;
  deliveryTimeout: number;
  retryBase: number;
  retryMax: number;
  retryFor: number;
  disableAfter: number;
  keepDeliveries: number;
}

export interface WebhookParts {
  registry: Registry;
  store: WebhookStore;
  worker: JobWorker;
  audit: AuditLog;
  logger: Logger;
  /** The port this server listens on (0: unknown): never a webhook target. */
  ownPort: number;
}

const HOUR = 3_600_000;

/**
 * Part of the composition root: core records content changes in the outbox,
 * the node's worker fans events out and delivers them, and scans, GC runs,
 * storage thresholds and pulls are recorded as they happen (pulls only for
 * registries that subscribe to them, which this node rereads every few
 * seconds). Call after scanning has started: its scanner is hooked here.
 */
export function startWebhooks(options: WebhookOptions, parts: WebhookParts): { webhooks: Webhooks; close(): void } {
  const { registry, store, worker, logger } = parts;
  const policy = { allowPrivateTargets: options.allowPrivateTargets, ...(parts.ownPort > 0 ? { ownPort: parts.ownPort } : {}) };
  const wake = () => worker.wake();
  const webhooks = new Webhooks(store, { policy, wake, logger });
  const dispatcher = new WebhookDispatcher(store, {
    timeoutMs: options.deliveryTimeout,
    retry: { baseMs: options.retryBase, maxMs: options.retryMax, forMs: options.retryFor },
    disableAfterMs: options.disableAfter,
    policy,
    logger,
    onDisabled: (endpoint) =>
      parts.audit.record({ system: true }, undefined, {
        action: 'webhook.disabled',
        outcome: 'success',
        registry: endpoint.registry,
        resource: endpoint.id,
        reason: endpoint.disabledReason ?? 'failing',
        detail: { url: endpoint.url },
      }),
  });
  dispatcher.attach(worker);
  registry.manifests.recordChange = changeRecorder(wake);

  const warn = (what: string) => (err: unknown) => logger.warn({ err }, `webhooks: could not record ${what}`);
  const accounts = registry.accounts;
  if (accounts) {
    registry.manifests.onPushed(async ({ repository }) => {
      const name = registryOf(repository);
      try {
        if (!(await webhooks.subscribed('quota.warning', name))) return;
        const tier = await accounts.quota.tierOf(name);
        // The tier's included storage, whether or not it allows overage (a warning is worth more before a bill than after a refusal).
        const included = tier.includedStorageBytes;
        if (included !== null) await webhooks.storageMeasured(name, tier.slug, await registry.meta.registryStorage(name), included);
      } catch (err) {
        warn('a storage threshold')(err);
      }
    });
  }
  registry.manifests.onPulled((repository, manifest, request) =>
    webhooks.pulled({ repository, reference: request?.reference ?? manifest.digest, digest: manifest.digest, mediaType: manifest.mediaType, size: manifest.size, puller: request?.actor?.name }),
  );
  registry.gc?.onFinished((run, name) => void webhooks.gcFinished(run, name).catch(warn('a finished garbage collection')));
  registry.scanning?.scanner.onCompleted((event) => void webhooks.scanCompleted(event).catch(warn('a finished scan')));

  const prune = () =>
    store
      .prune(Date.now() - options.keepDeliveries)
      .then((n) => n.deliveries + n.events > 0 && logger.info(n, 'webhooks: pruned old deliveries and events'))
      .catch(warn('pruning the delivery log'));
  // Soon after start (a server restarted often still prunes), then hourly.
  const first = setTimeout(prune, 60_000);
  const timer = setInterval(prune, HOUR);
  first.unref();
  timer.unref();
  provideWebhooks(registry, webhooks);
  return {
    webhooks,
    close: () => {
      clearTimeout(first);
      clearInterval(timer);
    },
  };
}
