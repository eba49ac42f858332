import type { Kysely } from 'kysely';
import { KyselyAccessStore } from './kysely-access-store.js';
import { KyselyAuthStateStore } from './kysely-auth-state-store.js';
import { KyselyGcStore } from './kysely-gc-store.js';
import { KyselyJobStore } from './kysely-job-store.js';
import { KyselyMetaStore, type ProgressWrite } from './kysely-meta-store.js';
import { KyselyRepositoryQueries } from './kysely-repository-queries.js';
import { KyselyUsageStore } from './kysely-usage-store.js';
import { KyselyVulnDbStore } from './kysely-vulndb-store.js';
import { KyselyScanStore } from './kysely-scan-store.js';
import { KyselyImmutableTagStore } from './kysely-immutable-tag-store.js';
import { KyselyWebhookStore } from './kysely-webhook-store.js';
import { KyselyRetentionStore } from './kysely-retention-store.js';
import type { Database } from './schema.js';

/** Every store over one metadata database, whatever its dialect. */
export interface MetaStores {
  meta: KyselyMetaStore;
  access: KyselyAccessStore;
  /** Read queries for the management API's repository listings. */
  repositoryQueries: KyselyRepositoryQueries;
  /** Tiers, quotas, transfer and storage history of registries. */
  usage: KyselyUsageStore;
  /** Garbage collection's queries and run history. */
  gc: KyselyGcStore;
  /** Access control's state shared by every node: signing keys, failed logins. */
  authState: KyselyAuthStateStore;
  /** The durable job queue every node's worker takes background work from. */
  jobs: KyselyJobStore;
  /** The OSV vulnerability database the scanner matches inventories against. */
  vulndb: KyselyVulnDbStore;
  /** Vulnerability scans: layer inventories, findings by manifest, pull policies. */
  scans: KyselyScanStore;
  /** Rules that make tags immutable. */
  immutableTags: KyselyImmutableTagStore;
  /** Webhook endpoints, the event outbox and deliveries. */
  webhooks: KyselyWebhookStore;
  /** Retention policies, their runs, and manifests' pull times. */
  retention: KyselyRetentionStore;
  /** Closes the database (its file, or its connection pool). */
  close(): Promise<void>;
}

/** The stores over a migrated database; closing them destroys `db`. */
export function storesOver(db: Kysely<Database>, progressWrite?: ProgressWrite): MetaStores {
  const meta = new KyselyMetaStore(db, undefined, undefined, progressWrite);
  return {
    meta,
    access: new KyselyAccessStore(db),
    repositoryQueries: new KyselyRepositoryQueries(db),
    usage: new KyselyUsageStore(db),
    gc: new KyselyGcStore(db),
    authState: new KyselyAuthStateStore(db),
    jobs: new KyselyJobStore(db),
    vulndb: new KyselyVulnDbStore(db),
    scans: new KyselyScanStore(db),
    immutableTags: new KyselyImmutableTagStore(db),
    webhooks: new KyselyWebhookStore(db),
    retention: new KyselyRetentionStore(db),
    close: () => meta.close(),
  };
}
