import type { FastifyInstance } from 'fastify';
import type { Registry } from '../core/registry.js';

/** /healthz: the process answers. /readyz: metadata and blob storage are reachable. */
export function registerHealthRoutes(app: FastifyInstance, registry: Registry): void {
  app.get('/healthz', async (_req, reply) => {
    reply.send({ status: 'ok' });
  });
  app.get('/readyz', async (req, reply) => {
    try {
      await registry.ping();
      reply.send({ status: 'ready' });
    } catch (err) {
      req.log.warn({ err }, 'readiness check failed');
      reply.code(503).send({ status: 'unavailable', reason: (err as Error).message });
    }
  });
}
