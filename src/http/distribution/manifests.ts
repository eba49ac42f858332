import type { FastifyReply, FastifyRequest } from 'fastify';
import { MAX_MANIFEST_BYTES, tooLarge } from '../../core/manifests.js';
import type { Actor } from '../../core/registry-events.js';
import type { Registry } from '../../core/registry.js';
import { registryOf, type RepoName } from '../../oci/name.js';
import { header, readSmallBody } from './headers.js';

/** GET/HEAD /v2/<name>/manifests/<reference>. */
export async function getManifest(registry: Registry, name: RepoName, reference: string, req: FastifyRequest, reply: FastifyReply, actor?: Actor): Promise<void> {
  const manifest = await registry.manifests.get(name, reference);
  // A registry's vulnerability policy refuses pulls (GET), not HEAD: a HEAD transfers nothing to run.
  if (req.method === 'GET') {
    await registry.scanning?.pullPolicy.check(registryOf(name), name, manifest.digest);
    registry.manifests.pulled(name, manifest, { reference, actor });
  }
  // Berth keeps one representation of each manifest (no schema 1 down-conversion), so
  // negotiation could only choose between serving it and refusing. It always serves it,
  // with its true Content-Type: clients such as docker 20.10's `docker manifest` omit the
  // OCI manifest type from Accept yet read OCI manifests fine, and a refusal (Distribution
  // 2.8's answer) turns that into a confusing "manifest unknown".
  reply.headers({
    'content-type': manifest.mediaType,
    'docker-content-digest': manifest.digest,
    etag: `"${manifest.digest}"`,
    'content-length': manifest.size,
  });
  if (manifest.subjectDigest) reply.header('oci-subject', manifest.subjectDigest);
  reply.send(req.method === 'HEAD' ? undefined : manifest.body);
}

export async function putManifest(registry: Registry, name: RepoName, reference: string, req: FastifyRequest, reply: FastifyReply, actor?: Actor): Promise<void> {
  const body = await readSmallBody(req, MAX_MANIFEST_BYTES, tooLarge);
  const result = await registry.manifests.put(name, reference, body, header(req, 'content-type'), actor);
  reply.code(201).headers({
    location: `/v2/${name}/manifests/${result.digest}`,
    'docker-content-digest': result.digest,
    'content-length': 0,
  });
  if (result.subject) reply.header('oci-subject', result.subject);
  reply.send();
}

export async function deleteManifest(registry: Registry, name: RepoName, reference: string, reply: FastifyReply, actor?: Actor): Promise<void> {
  await registry.manifests.delete(name, reference, actor);
  reply.code(202).header('content-length', 0).send();
}
