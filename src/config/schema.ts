import { z } from 'zod';

/** `90s`, `15m`, `1h`, `0s`… → milliseconds. */
const duration = z
  .string()
  .regex(/^\d+(ms|s|m|h|d)$/, 'a duration such as 0s, 90s, 15m, 1h or 2d')
  .transform((v) => {
    const n = Number(v.match(/^\d+/)![0]);
    const unit = v.slice(String(n).length);
    return n * { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[unit as 'ms' | 's' | 'm' | 'h' | 'd'];
  });

const GIB = 1024 ** 3;
const MIB = 1024 ** 2;

const tierSchema = z
  .object({
    slug: z.string().regex(/^[a-z][a-z0-9-]{0,62}$/),
    name: z.string(),
    /** null: no limit. */
    includedRepositories: z.number().int().min(0).nullable(),
    includedStorageBytes: z.number().int().min(0).nullable(),
    includedBandwidthBytes: z.number().int().min(0).nullable(),
    monthlyPriceInCents: z.number().int().min(0),
    allowStorageOverage: z.boolean(),
    storageOveragePricePerGbInCents: z.number().int().min(0).default(0),
  })
  .strict();

/** DigitalOcean's tiers, plus `unlimited` for self-hosted registries that need no quota. */
export const DEFAULT_TIERS: z.input<typeof tierSchema>[] = [
  { slug: 'starter', name: 'Starter', includedRepositories: 1, includedStorageBytes: 500 * MIB, includedBandwidthBytes: 500 * MIB, monthlyPriceInCents: 0, allowStorageOverage: false },
  { slug: 'basic', name: 'Basic', includedRepositories: 5, includedStorageBytes: 5 * GIB, includedBandwidthBytes: 5 * GIB, monthlyPriceInCents: 500, allowStorageOverage: true, storageOveragePricePerGbInCents: 2 },
  { slug: 'professional', name: 'Professional', includedRepositories: null, includedStorageBytes: 100 * GIB, includedBandwidthBytes: 100 * GIB, monthlyPriceInCents: 2000, allowStorageOverage: true, storageOveragePricePerGbInCents: 2 },
  { slug: 'unlimited', name: 'Unlimited (self-hosted)', includedRepositories: null, includedStorageBytes: null, includedBandwidthBytes: null, monthlyPriceInCents: 0, allowStorageOverage: true },
];

const listenAddress = z
  .string()
  .regex(/^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]*):\d{1,5}$/, 'expected HOST:PORT, e.g. 0.0.0.0:5000 or [::1]:5000')
  .refine((v) => Number(v.slice(v.lastIndexOf(':') + 1)) <= 65535, 'port must be at most 65535');

/**
 * The one configuration schema: the config file, BERTH_* environment variables
 * and command-line flags all fill it. Every default is listed in docs/configuration.md.
 */
export const configSchema = z
  .object({
    listen: listenAddress.default('0.0.0.0:5000'),
    data: z.string().min(1, 'must not be empty').default('./data'),
    log: z
      .object({
        level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
      })
      .strict()
      .default({}),
    http: z
      .object({
        idleTimeoutSeconds: z.number().int().min(1).max(3600).default(120),
        shutdownGraceSeconds: z.number().int().min(0).max(3600).default(30),
        /** Upload bodies read at once, process-wide; the rest wait unread in their sockets (bounds memory under many parallel pushes). */
        maxConcurrentUploadBodies: z.number().int().min(1).max(10_000).default(16),
        /** Send blob bodies from the filesystem store with sendfile(2) when the native module is built (Linux). */
        zeroCopySends: z.boolean().default(true),
        /** Read, hash and write upload bodies of 256 KiB and more on a native thread when the module is built (Linux). */
        directUploads: z.boolean().default(true),
        /** Serve the web control panel at `/` (from the built web/dist). */
        controlPanel: z.boolean().default(true),
        /** Load balancers (addresses or CIDRs) whose X-Forwarded-* headers are trusted; empty: none. */
        trustedProxies: z.array(z.string().regex(/^[0-9a-fA-F:.]+(\/\d{1,3})?$/, 'an IP address or CIDR, e.g. 10.0.0.0/8')).default([]),
      })
      .strict()
      .default({}),
    auth: z
      .object({
        enabled: z.boolean().default(true),
        service: z.string().min(1).default('berth'),
        issuer: z.string().min(1).default('berth'),
        realm: z.string().url().optional(),
        tokenTtlSeconds: z.number().int().min(30).max(3600).default(300),
        refreshTokenTtlDays: z.number().int().min(1).max(365).default(30),
        /** Lifetime of a control-panel sign-in (the session cookie), from sign-in; not extended by use. */
        sessionTtlHours: z.number().int().min(1).max(24 * 30).default(12),
        keyRotationDays: z.number().int().min(1).max(3650).default(90),
        throttle: z
          .object({
            windowSeconds: z.number().int().min(1).default(900),
            maxFailuresPerUser: z.number().int().min(1).default(10),
            maxFailuresPerSource: z.number().int().min(1).default(50),
          })
          .strict()
          .default({}),
      })
      .strict()
      .default({}),
    registries: z
      .object({
        autoCreate: z.boolean().default(true),
        /** The tier of registries created by a push (the API asks for one). */
        defaultTier: z.string().default('unlimited'),
        /** Regions offered by the API; a self-hosted Berth is usually one. */
        regions: z.array(z.string().regex(/^[a-z0-9-]{1,32}$/)).min(1).default(['local']),
      })
      .strict()
      .default({}),
    tiers: z.array(tierSchema).min(1).default(DEFAULT_TIERS),
    pricing: z
      .object({
        /** $0.05 per GB-month of storage, $0.01 per GB of outbound transfer (DigitalOcean's list prices). */
        storagePerGbMonthInCents: z.number().min(0).default(5),
        transferPerGbInCents: z.number().min(0).default(1),
      })
      .strict()
      .default({}),
    gc: z
      .object({
        /** Blobs uploaded or mounted more recently than this are never collected. */
        gracePeriod: duration.default('1h'),
      })
      .strict()
      .default({}),
    scan: z
      .object({
        /** Scan every pushed manifest (a durable job, started at once). */
        onPush: z.boolean().default(true),
      })
      .strict()
      .default({}),
    vulndb: z
      .object({
        /** URLs of OSV zips (as osv.dev publishes them per ecosystem) imported on a schedule; none by default (the machine may be offline). */
        sources: z.array(z.string().url('an http(s) URL of an OSV zip')).default([]),
        /** How often the sources are imported again. */
        refreshInterval: duration.default('24h'),
      })
      .strict()
      .default({}),
    webhooks: z
      .object({
        /** Let webhook URLs reach loopback, private (RFC 1918), link-local and other non-public addresses. */
        allowPrivateTargets: z.boolean().default(false),
        /** How long one delivery attempt may take, connection and response included. */
        deliveryTimeout: duration.default('10s'),
        /** Failed attempts are retried after about this long, doubling each time (with jitter)… */
        retryBase: duration.default('10s'),
        /** …up to this between two attempts… */
        retryMax: duration.default('1h'),
        /** …for this long after the first attempt. */
        retryFor: duration.default('24h'),
        /** An endpoint whose every attempt has failed for this long is disabled. */
        disableAfter: duration.default('3d'),
        /** Finished deliveries stay in the delivery log this long. */
        keepDeliveries: duration.default('30d'),
      })
      .strict()
      .default({}),
    storage: z
      .object({
        /** Where metadata lives: the embedded SQLite file in `data`, or a shared PostgreSQL for several nodes. */
        metadata: z.enum(['sqlite', 'postgres']).default('sqlite'),
        /** Where blob bytes live: files under `data`, or an S3-compatible bucket shared by several nodes. */
        blobs: z.enum(['filesystem', 's3']).default('filesystem'),
        sqlite: z
          .object({
            synchronous: z.enum(['FULL', 'NORMAL']).default('FULL'),
            /** SQLite's own page cache, in MiB (better-sqlite3 would take 16); the OS caches the file too. */
            cacheMiB: z.number().int().min(1).max(4096).default(4),
          })
          .strict()
          .default({}),
        postgres: z
          .object({
            /** postgres://user:password@host:5432/database (libpq URL; `?sslmode=require` etc. pass through). */
            url: z.string().regex(/^postgres(ql)?:\/\//, 'a postgres:// URL').optional(),
            poolSize: z.number().int().min(1).max(200).default(10),
            statementTimeoutSeconds: z.number().int().min(1).max(3600).default(30),
            /** A schema of its own inside the database (created if missing); default: the connection's search_path. */
            schema: z.string().regex(/^[a-z_][a-z0-9_]{0,62}$/, 'a lower-case SQL identifier').optional(),
          })
          .strict()
          .default({}),
        s3: z
          .object({
            /** Unset: AWS S3 itself. Set for MinIO, Spaces, R2, Ceph RGW: https://nyc3.digitaloceanspaces.com */
            endpoint: z.string().url().optional(),
            region: z.string().min(1).default('us-east-1'),
            bucket: z.string().regex(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, 'an S3 bucket name').optional(),
            /** Key prefix inside the bucket, so one bucket can hold several installations: `berth/`. */
            prefix: z.string().regex(/^([A-Za-z0-9._-]+\/)*$/, 'path segments each ending in /, e.g. berth/').default(''),
            /** Path-style URLs (endpoint/bucket/key), which MinIO and most self-hosted servers need. */
            forcePathStyle: z.boolean().default(false),
            /** Unset: the SDK's default chain (AWS_ACCESS_KEY_ID…, shared config, instance role). */
            accessKeyId: z.string().min(1).optional(),
            secretAccessKey: z.string().min(1).optional(),
            /** Multipart part size for uploads to the bucket (S3 needs at least 5 MiB). */
            partSizeMib: z.number().int().min(5).max(512).default(8),
            /** Answer blob GETs with a redirect to a presigned bucket URL, so the bytes bypass the nodes. */
            redirect: z.boolean().default(false),
            redirectExpirySeconds: z.number().int().min(60).max(604_800).default(900),
          })
          .strict()
          .default({}),
      })
      .strict()
      .superRefine((storage, ctx) => {
        if (storage.metadata === 'postgres' && !storage.postgres.url) {
          ctx.addIssue({ code: 'custom', path: ['postgres', 'url'], message: 'required when storage.metadata is postgres (BERTH_STORAGE_POSTGRES_URL)' });
        }
        if (storage.blobs === 's3' && !storage.s3.bucket) {
          ctx.addIssue({ code: 'custom', path: ['s3', 'bucket'], message: 'required when storage.blobs is s3 (BERTH_STORAGE_S3_BUCKET)' });
        }
        if (Boolean(storage.s3.accessKeyId) !== Boolean(storage.s3.secretAccessKey)) {
          ctx.addIssue({ code: 'custom', path: ['s3', 'secretAccessKey'], message: 'accessKeyId and secretAccessKey go together' });
        }
      })
      .default({}),
  })
  .strict();

export type Config = z.infer<typeof configSchema>;
export type Tier = z.infer<typeof tierSchema>;
