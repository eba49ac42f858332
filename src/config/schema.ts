import { z } from 'zod';

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
      })
      .strict()
      .default({}),
    storage: z
      .object({
        sqlite: z
          .object({
            synchronous: z.enum(['FULL', 'NORMAL']).default('FULL'),
          })
          .strict()
          .default({}),
      })
      .strict()
      .default({}),
  })
  .strict();

export type Config = z.infer<typeof configSchema>;
