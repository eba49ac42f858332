import type { FastifyInstance } from 'fastify';
import type { AccessControl } from '../../auth/access-control.js';
import type { Registry } from '../../core/registry.js';
import { apiErrorBody, handleApiError } from './api-error.js';
import { registerAuditRoutes } from './audit.js';
import { registerDockerCredentialRoutes } from './docker-credentials.js';
import { registerGcRoutes } from './gc.js';
import { registerKeyRoutes } from './keys.js';
import { collectRoutes, registerOpenApiRoute, type CollectedRoute } from './openapi.js';
import { registerRegistryRoutes } from './registries.js';
import { registerSubscriptionRoutes } from './subscriptions.js';
import { registerRepositoryRoutes } from './repositories.js';
import { registerTeamRoutes } from './teams.js';
import { registerTokenRoutes } from './tokens.js';
import { registerUserRoutes } from './users.js';
import { registerScanRoutes } from './scans.js';
import { registerVulnDbRoutes } from './vulndb.js';
import { registerWebhookRoutes } from './webhooks.js';
import { registerImmutableTagRoutes } from './immutable-tags.js';
import { registerRetentionRoutes } from './retention.js';
import { registerSessionRoutes } from './session.js';

const MAX_JSON_BYTES = 1024 * 1024;

/**
 * The management REST API under /api/v2, with its own JSON parsing and `{id, message}` errors,
 * and its OpenAPI document at /api/openapi.json, made from the routes' own schemas.
 */
export function registerManagementApi(app: FastifyInstance, registry: Registry, access: AccessControl): void {
  const routes: CollectedRoute[] = [];
  app.register(
    async (api) => {
      api.addHook('onRoute', collectRoutes(routes));
      api.addContentTypeParser('application/json', { parseAs: 'string', bodyLimit: MAX_JSON_BYTES }, (_req, body, done) => {
        if (body === '') return done(null, undefined);
        try {
          done(null, JSON.parse(body as string));
        } catch {
          done(Object.assign(new Error('request body is not valid JSON'), { statusCode: 400 }), undefined);
        }
      });
      api.setErrorHandler(handleApiError);
      api.setNotFoundHandler((req, reply) => {
        reply.code(404).send(apiErrorBody(req, 'not_found', `no such endpoint: ${req.method} ${req.url.split('?', 1)[0]!.slice(0, 200)}`));
      });
      const ctx = { access, registry };
      registerSessionRoutes(api, ctx);
      registerUserRoutes(api, ctx);
      registerTeamRoutes(api, ctx);
      registerRegistryRoutes(api, ctx);
      registerSubscriptionRoutes(api, ctx);
      registerTokenRoutes(api, ctx);
      registerAuditRoutes(api, ctx);
      registerKeyRoutes(api, ctx);
      registerGcRoutes(api, ctx);
      registerRepositoryRoutes(api, ctx);
      registerDockerCredentialRoutes(api, ctx);
      registerScanRoutes(api, ctx);
      registerVulnDbRoutes(api, ctx);
      registerWebhookRoutes(api, ctx);
      registerImmutableTagRoutes(api, ctx);
      registerRetentionRoutes(api, ctx);
    },
    { prefix: '/api/v2' },
  );
  registerOpenApiRoute(app, routes);
}
