import type { FastifyRequest } from 'fastify';
import type { AuditEntry } from '../../auth/audit-log.js';
import { isDigestLike } from '../../oci/digest.js';
import { RegistryError } from '../../oci/errors.js';
import { registryOf } from '../../oci/name.js';
import type { DistributionRoute } from './route.js';

/**
 * The audit entry for a request that changes something (outcome filled in by
 * the caller), or undefined for reads and for steps that are not changes on
 * their own (starting an upload session, sending a chunk).
 */
export function auditOf(route: DistributionRoute, req: FastifyRequest): Omit<AuditEntry, 'outcome'> | undefined {
  const at = (name: string, resource: string, action: string, detail?: Record<string, unknown>) => ({
    action,
    registry: registryOf(name as never),
    resource,
    detail,
  });
  const method = req.method;
  const query = req.query as Record<string, string | undefined>;
  switch (route.kind) {
    case 'manifest':
      if (method === 'PUT') return at(route.name, `${route.name}:${route.reference}`, 'manifest.push');
      if (method === 'DELETE') {
        return isDigestLike(route.reference)
          ? at(route.name, `${route.name}@${route.reference}`, 'manifest.delete')
          : at(route.name, `${route.name}:${route.reference}`, 'tag.delete');
      }
      return undefined;
    case 'blob':
      return method === 'DELETE' ? at(route.name, `${route.name}@${route.digest}`, 'blob.delete') : undefined;
    case 'uploads':
      if (query.mount !== undefined) return at(route.name, `${route.name}@${query.mount}`, 'blob.mount', { from: query.from });
      if (query.digest !== undefined) return at(route.name, `${route.name}@${query.digest}`, 'blob.push');
      return undefined;
    case 'upload':
      return method === 'PUT' ? at(route.name, `${route.name}@${query.digest ?? ''}`, 'blob.push') : undefined;
    default:
      return undefined;
  }
}

/** A pull refused by the registry's vulnerability policy: audited, though reads are not. */
export function policyDenialOf(route: DistributionRoute, err: unknown): Omit<AuditEntry, 'outcome'> | undefined {
  if (route.kind !== 'manifest' || !(err instanceof RegistryError) || err.code !== 'DENIED') return undefined;
  const detail = err.detail as { policy?: string; findings?: unknown[] } | undefined;
  if (detail?.policy !== 'vulnerability') return undefined;
  return {
    action: 'pull.blocked',
    registry: registryOf(route.name as never),
    resource: isDigestLike(route.reference) ? `${route.name}@${route.reference}` : `${route.name}:${route.reference}`,
    reason: err.message.slice(0, 1000),
    detail: { findings: detail.findings ?? [] },
  };
}
