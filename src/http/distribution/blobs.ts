import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Registry } from '../../core/registry.js';
import { parseDigest } from '../../oci/digest.js';
import { registryOf, type RepoName } from '../../oci/name.js';
import { pumpBlob, type BlobSending } from './blob-pump.js';
import { byteRange } from './headers.js';

/** GET/HEAD /v2/<name>/blobs/<digest>, with single byte ranges. */
export async function getBlob(registry: Registry, name: RepoName, digestParam: string, req: FastifyRequest, reply: FastifyReply, sending?: BlobSending): Promise<void> {
  const { digest } = parseDigest(digestParam);
  const blob = await registry.blobs.stat(name, digest);
  const range = byteRange(req, blob.size);
  if (req.method === 'GET' && registry.blobRedirect && blob.size > 0) {
    // The bytes go straight from the bucket; the client repeats its Range there. They still count as this registry's transfer.
    const location = await registry.blobRedirect(digest);
    registry.accounts?.meter.add(registryOf(name), range ? range.end - range.start + 1 : blob.size);
    reply.code(307).headers({ location, 'docker-content-digest': digest, 'content-length': 0 }).send();
    return;
  }
  reply.headers({
    'content-type': 'application/octet-stream',
    'docker-content-digest': digest,
    etag: `"${digest}"`,
    'accept-ranges': 'bytes',
    // Content-addressed bytes never change.
    'cache-control': 'max-age=31536000',
  });
  if (range) {
    reply.code(206).header('content-range', `bytes ${range.start}-${range.end}/${blob.size}`);
  }
  const length = range ? range.end - range.start + 1 : blob.size;
  reply.header('content-length', length);
  if (req.method === 'HEAD' || length === 0) {
    reply.send();
    return;
  }
  const reader = await registry.blobs.openReader(digest);
  if (reader) {
    const meter = registry.accounts?.meter;
    const registryName = registryOf(name);
    return pumpBlob(req, reply, reader, range ?? { start: 0, end: blob.size - 1 }, (bytes) => meter?.add(registryName, bytes), sending);
  }
  const body = await registry.blobs.open(digest, range);
  // Outbound transfer is metered per registry as the bytes go out (HEAD and empty bodies send none).
  reply.send(registry.accounts ? registry.accounts.meter.count(registryOf(name), body) : body);
}

export async function deleteBlob(registry: Registry, name: RepoName, digestParam: string, reply: FastifyReply): Promise<void> {
  const { digest } = parseDigest(digestParam);
  await registry.blobs.delete(name, digest);
  reply.code(202).header('content-length', 0).send();
}
