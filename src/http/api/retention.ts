import type { FastifyInstance, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { principalName } from '../../auth/principal.js';
import type { Decision } from '../../events/retention/evaluate.js';
import { RetentionLimit, type Retention, type RetentionPreview } from '../../events/retention/retention.js';
import type { RetentionRun, RunDeletion, StoredPolicy } from '../../events/retention/retention-store.js';
import { policyIdSchema, policySchema } from '../../events/retention/rules.js';
import { ApiError, conflict, notFound, unprocessable } from './api-error.js';
import { audit, requireRegistryAdmin, type ApiContext } from './context.js';
import { doc } from './openapi.js';
import { pageLinks, pageQuery } from './paging.js';

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

/** The policy document as saved, with what the server keeps about it. */
const policyView = (stored: StoredPolicy, retention: Retention) => ({
  ...stored.policy,
  registry_name: stored.registry,
  revision: stored.revision,
  created_at: iso(stored.createdAt),
  updated_at: iso(stored.updatedAt),
  next_run_at: iso(retention.nextRunAt(stored)),
});

const decisionView = (d: Decision) => ({
  digest: d.digest,
  tags: d.tags,
  role: d.role,
  media_type: d.mediaType,
  size: d.size,
  pushed_at: iso(d.pushedAt),
  last_pulled_at: iso(d.pulledAt),
  rule_priority: d.rulePriority,
  keep_rule: d.keepRule,
  reason: d.reason,
});

function planView(preview: RetentionPreview, withKept: boolean) {
  const s = preview.summary;
  return {
    policy_id: preview.policyId,
    registry_name: preview.registry,
    evaluated_at: iso(preview.evaluatedAt),
    summary: {
      repositories: s.repositories,
      images_expired: s.imagesExpired,
      manifests_expired: s.manifestsExpired,
      bytes_freed: s.bytesFreed,
      by_rule: s.byRule.map((r) => ({ rule_priority: r.rulePriority, images_expired: r.imagesExpired })),
    },
    repositories: preview.repositories.map((plan) => {
      const byDigest = new Map(plan.decisions.map((d) => [d.digest, d]));
      const expire = plan.deleteOrder.map((digest) => byDigest.get(digest)!);
      return {
        repository: plan.repository,
        images_expired: expire.filter((d) => d.role === 'image').length,
        manifests_expired: expire.length,
        // In the order a run deletes them.
        expire: expire.map(decisionView),
        ...(withKept ? { keep: plan.decisions.filter((d) => d.action === 'keep').map(decisionView) } : {}),
      };
    }),
  };
}

const runView = (run: RetentionRun, registry: string) => ({
  id: run.id,
  registry_name: registry,
  policy_id: run.policyId,
  trigger: run.trigger,
  status: run.status,
  requested_by: run.requestedBy,
  created_at: iso(run.createdAt),
  started_at: iso(run.startedAt),
  finished_at: iso(run.finishedAt),
  repositories: run.repositories,
  images_deleted: run.imagesDeleted,
  manifests_deleted: run.manifestsDeleted,
  bytes_freed: run.bytesFreed,
  skipped: run.skipped,
  error: run.error,
  gc_run_id: run.gcRunId,
});

const deletionView = (d: RunDeletion) => ({
  repository: d.repository,
  digest: d.digest,
  role: d.role,
  tags: d.tags,
  size: d.size,
  rule_priority: d.rulePriority,
  reason: d.reason,
  outcome: d.outcome,
});

const dryRunQuery = z.object({ kept: z.enum(['true', 'false']).default('true').describe('Also list what stays, and why (`false`: only what goes).') }).strict();
const POLICY_NOTE = 'The body is a policy document (docs/retention.md): `rules` as in an ECR lifecycle policy, `keep` rules, `scope`, `schedule` (5-field cron, UTC) and `enabled`.';

/**
 * /api/v2/registries/{registry}/retention-policies: a registry's retention
 * policies, their dry runs, runs and run history, for its admins.
 */
export function registerRetentionRoutes(api: FastifyInstance, ctx: ApiContext): void {
  const service = (): Retention => {
    if (!ctx.registry.retention) throw new ApiError(501, 'not_implemented', 'retention is not available on this server');
    return ctx.registry.retention;
  };
  const params = (req: FastifyRequest) => req.params as { registry: string; id?: string; run?: string };
  const admin = (req: FastifyRequest) => requireRegistryAdmin(ctx, req, params(req).registry);
  const policyIdOf = (req: FastifyRequest) => {
    const id = params(req).id!;
    if (!policyIdSchema.safeParse(id).success) throw notFound(`retention policy ${id.slice(0, 64)}`);
    return id;
  };
  async function savedPolicy(req: FastifyRequest) {
    const { principal, registry } = await admin(req);
    const id = policyIdOf(req);
    const stored = await service().policy(registry.id, id);
    if (!stored) throw notFound(`retention policy ${id} in registry ${registry.name}`);
    return { principal, registry, stored };
  }
  async function save(req: FastifyRequest, id: string | undefined, mustBeNew: boolean) {
    const { principal, registry } = await admin(req);
    const policy = policySchema.parse(req.body ?? {});
    if (id !== undefined && policy.id !== undefined && policy.id !== id) throw unprocessable(`id: the body names policy ${policy.id}, the path ${id}`);
    const wanted = id ?? policy.id;
    if (mustBeNew && wanted !== undefined && (await service().policy(registry.id, wanted))) throw conflict(`retention policy ${wanted} already exists in registry ${registry.name}; PUT it to replace it`);
    try {
      const result = await service().save(registry, { ...policy, ...(wanted !== undefined ? { id: wanted } : {}) });
      await audit(ctx, req, principal, { action: result.created ? 'retention.policy.create' : 'retention.policy.update', outcome: 'success', registry: registry.name, resource: result.stored.policy.id, detail: { revision: result.stored.revision, enabled: result.stored.policy.enabled, schedule: result.stored.policy.schedule, rules: result.stored.policy.rules.length, keep: result.stored.policy.keep.length } });
      return result;
    } catch (err) {
      if (err instanceof RetentionLimit) throw unprocessable(err.message);
      throw err;
    }
  }

  api.get('/registries/:registry/retention-policies', doc({ summary: "List a registry's retention policies", tags: ['Retention'], responses: { '200': '`{retention_policies}`.', '403': 'Not an admin of the registry.', '404': 'No such registry.' } }), async (req) => {
    const { registry } = await admin(req);
    return { retention_policies: (await service().policies(registry.id)).map((p) => policyView(p, service())) };
  });

  api.post('/registries/:registry/retention-policies', doc({ summary: 'Create a retention policy', tags: ['Retention'], description: `${POLICY_NOTE} Without an id, one is made up. Its first scheduled run is queued.`, body: policySchema, responses: { '201': '`{retention_policy}`.', '403': 'Not an admin of the registry.', '404': 'No such registry.', '409': 'A policy with that id exists.' } }), async (req, reply) => {
    const { stored } = await save(req, undefined, true);
    reply.code(201);
    return { retention_policy: policyView(stored, service()) };
  });

  // Before /:id routes in the docs; fastify prefers the static segment anyway, and `dry-run` is no policy id.
  api.post('/registries/:registry/retention-policies/dry-run', doc({ summary: 'Preview what a policy would delete now, and why', tags: ['Retention'], description: `${POLICY_NOTE} Nothing is saved or deleted. The policy is evaluated as if saved (replacing a saved policy with the same id), over the repositories it would govern; \`expire\` lists, per repository, what a run would delete, in the order it would, with the rule and reason; \`keep\` what stays and why.`, body: policySchema, query: dryRunQuery, responses: { '200': '`{retention_plan}`.', '403': 'Not an admin of the registry.', '404': 'No such registry.' } }), async (req) => {
    const q = dryRunQuery.parse(req.query);
    const { registry } = await admin(req);
    const policy = policySchema.parse(req.body ?? {});
    return { retention_plan: planView(await service().preview(registry, policy), q.kept === 'true') };
  });

  api.get('/registries/:registry/retention-policies/:id', doc({ summary: 'A retention policy', tags: ['Retention'], responses: { '200': '`{retention_policy}`.', '403': 'Not an admin of the registry.', '404': 'No such registry or policy.' } }), async (req) => {
    const { stored } = await savedPolicy(req);
    return { retention_policy: policyView(stored, service()) };
  });

  api.put('/registries/:registry/retention-policies/:id', doc({ summary: 'Create or replace a retention policy', tags: ['Retention'], description: `${POLICY_NOTE} Replacing a policy counts up its revision; runs scheduled for the old revision do not happen, and the next one of the new schedule is queued.`, body: policySchema, responses: { '200': '`{retention_policy}`, replaced.', '201': '`{retention_policy}`, created.', '403': 'Not an admin of the registry.', '404': 'No such registry.' } }), async (req, reply) => {
    const id = params(req).id!;
    if (!policyIdSchema.safeParse(id).success) throw unprocessable(`id: ${id.slice(0, 64)} is not a policy id (1-63 of a-z 0-9 and -)`);
    const { stored, created } = await save(req, id, false);
    reply.code(created ? 201 : 200);
    return { retention_policy: policyView(stored, service()) };
  });

  api.delete('/registries/:registry/retention-policies/:id', doc({ summary: 'Delete a retention policy', tags: ['Retention'], description: 'Its scheduled runs stop; its run history stays.', responses: { '204': 'Deleted.', '403': 'Not an admin of the registry.', '404': 'No such registry or policy.' } }), async (req, reply) => {
    const { principal, registry, stored } = await savedPolicy(req);
    await service().remove(registry.id, stored.policy.id);
    await audit(ctx, req, principal, { action: 'retention.policy.delete', outcome: 'success', registry: registry.name, resource: stored.policy.id });
    reply.code(204).send();
  });

  api.post('/registries/:registry/retention-policies/:id/runs', doc({ summary: 'Run a retention policy now', tags: ['Retention'], description: 'The run goes on in the background; poll it for its outcome. It deletes what a dry run would list at that moment, then starts a garbage collection of the blobs that freed.', responses: { '202': '`{retention_run}`, queued.', '403': 'Not an admin of the registry.', '404': 'No such registry or policy.', '409': 'A run of the policy is already queued or running.' } }), async (req, reply) => {
    const { principal, registry, stored } = await savedPolicy(req);
    const result = await service().requestRun(registry, stored.policy.id, principalName(principal));
    if (!result) throw notFound(`retention policy ${stored.policy.id} in registry ${registry.name}`);
    if ('active' in result) throw conflict(`run ${result.active.id} of retention policy ${stored.policy.id} is already ${result.active.status}`);
    await audit(ctx, req, principal, { action: 'retention.run.request', outcome: 'success', registry: registry.name, resource: result.run.id, detail: { policy: stored.policy.id } });
    reply.code(202);
    return { retention_run: runView(result.run, registry.name) };
  });

  api.get('/registries/:registry/retention-policies/:id/runs', doc({ summary: "A retention policy's runs, newest first", tags: ['Retention'], query: pageQuery, responses: { '200': '`{retention_runs, links, meta}`.', '403': 'Not an admin of the registry.', '404': 'No such registry.' } }), async (req) => {
    const q = pageQuery.parse(req.query);
    const { registry } = await admin(req);
    const id = policyIdOf(req);
    const { runs, total } = await service().runs(registry.id, id, q.per_page, (q.page - 1) * q.per_page);
    return {
      retention_runs: runs.map((r) => runView(r, registry.name)),
      links: pageLinks(`/api/v2/registries/${registry.name}/retention-policies/${id}/runs`, q, total),
      meta: { total },
    };
  });

  api.get('/registries/:registry/retention-policies/:id/runs/:run', doc({ summary: 'A retention run, with what it deleted', tags: ['Retention'], description: '`deletions` is paged (`page`, `per_page`), in the order the run made them; each has its rule, reason and outcome (`deleted`, or `refused`, `changed`, `gone`).', query: pageQuery, responses: { '200': '`{retention_run, deletions, links, meta}`.', '403': 'Not an admin of the registry.', '404': 'No such registry or run.' } }), async (req) => {
    const q = pageQuery.parse(req.query);
    const { registry } = await admin(req);
    const id = policyIdOf(req);
    const runId = params(req).run!;
    const run = await service().run(runId);
    if (!run || run.registryId !== registry.id || run.policyId !== id) throw notFound(`retention run ${runId.slice(0, 64)}`);
    const { deletions, total } = await service().deletions(run.id, q.per_page, (q.page - 1) * q.per_page);
    return {
      retention_run: runView(run, registry.name),
      deletions: deletions.map(deletionView),
      links: pageLinks(`/api/v2/registries/${registry.name}/retention-policies/${id}/runs/${run.id}`, q, total),
      meta: { total },
    };
  });
}
