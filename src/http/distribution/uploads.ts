import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Registry } from '../../core/registry.js';
import type { Chunk, UploadStatus } from '../../core/uploads.js';
import { parseDigest, type Digest } from '../../oci/digest.js';
import { parseRepoName, type RepoName } from '../../oci/name.js';
import { directBodyOf, type BodyReceiving } from './direct-body.js';
import { contentLength, hasBody, query, uploadContentRange } from './headers.js';

/**
 * Where a mount may take a blob from: `from` only if the caller may pull it;
 * without `from`, any repository only for a caller who may read everything.
 */
export type MountSourcePolicy = (from: RepoName | undefined) => Promise<{ from: RepoName } | 'any-repository' | 'none'>;

/** POST /v2/<name>/blobs/uploads/: a mount, a monolithic push, or a new session. */
export async function startUpload(
  registry: Registry,
  name: RepoName,
  req: FastifyRequest,
  reply: FastifyReply,
  mountSource: MountSourcePolicy,
  receiving?: BodyReceiving,
): Promise<void> {
  const mount = query(req, 'mount');
  if (mount !== undefined) {
    const digest = parseDigest(mount).digest;
    const fromParam = query(req, 'from');
    const from = fromParam === undefined || fromParam === '' ? undefined : parseRepoName(fromParam);
    req.raw.resume();
    const result = await registry.uploads.mount(name, digest, await mountSource(from));
    if (result.mounted) return blobCreated(reply, name, digest);
    return sessionAccepted(reply, name, result.upload);
  }
  const digest = query(req, 'digest');
  if (digest !== undefined) {
    const created = await registry.uploads.monolithic(name, digest, chunkOf(req, reply, receiving));
    return blobCreated(reply, name, created);
  }
  req.raw.resume(); // a body without ?digest= has nowhere to go
  sessionAccepted(reply, name, await registry.uploads.start(name));
}

export async function uploadStatus(registry: Registry, name: RepoName, id: string, reply: FastifyReply): Promise<void> {
  const status = await registry.uploads.status(name, id);
  reply.code(204);
  sessionHeaders(reply, name, status);
  reply.send();
}

export async function patchUpload(registry: Registry, name: RepoName, id: string, req: FastifyRequest, reply: FastifyReply, receiving?: BodyReceiving): Promise<void> {
  const status = await registry.uploads.append(name, id, chunkOf(req, reply, receiving));
  sessionAccepted(reply, name, status);
}

export async function putUpload(registry: Registry, name: RepoName, id: string, req: FastifyRequest, reply: FastifyReply, receiving?: BodyReceiving): Promise<void> {
  const chunk = hasBody(req) ? chunkOf(req, reply, receiving) : undefined;
  if (!chunk) req.raw.resume();
  const digest = await registry.uploads.complete(name, id, query(req, 'digest'), chunk);
  blobCreated(reply, name, digest);
}

export async function cancelUpload(registry: Registry, name: RepoName, id: string, reply: FastifyReply): Promise<void> {
  await registry.uploads.cancel(name, id);
  reply.code(204).send();
}

function chunkOf(req: FastifyRequest, reply: FastifyReply, receiving: BodyReceiving | undefined): Chunk {
  const length = contentLength(req);
  return { body: req.raw, range: uploadContentRange(req), length, direct: directBodyOf(req, reply, receiving, length) };
}

function blobCreated(reply: FastifyReply, name: RepoName, digest: Digest): void {
  reply
    .code(201)
    .headers({ location: `/v2/${name}/blobs/${digest}`, 'docker-content-digest': digest, 'content-length': 0 })
    .send();
}

function sessionAccepted(reply: FastifyReply, name: RepoName, status: UploadStatus): void {
  reply.code(202);
  sessionHeaders(reply, name, status);
  reply.send();
}

function sessionHeaders(reply: FastifyReply, name: RepoName, status: UploadStatus): void {
  reply.headers({
    location: `/v2/${name}/blobs/uploads/${status.id}`,
    range: `0-${Math.max(status.size - 1, 0)}`,
    'docker-upload-uuid': status.id,
    'content-length': 0,
  });
}
