/**
 * storage.s3.redirect: blob GETs answered with a redirect to a presigned bucket URL,
 * so the bytes bypass the node. A real Berth on S3 (s3rver over HTTP) and SQLite.
 */
import { createHash, randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startBerth, type BerthProcess } from '../support/berth-process.js';
import { startS3Server, type S3TestServer } from '../support/s3-server.js';

let s3: S3TestServer;
let berth: BerthProcess;

beforeAll(async () => {
  s3 = await startS3Server();
  berth = await startBerth({
    env: {
      BERTH_STORAGE_BLOBS: 's3',
      BERTH_STORAGE_S3_ENDPOINT: s3.endpoint,
      BERTH_STORAGE_S3_REGION: s3.region,
      BERTH_STORAGE_S3_BUCKET: s3.bucket,
      BERTH_STORAGE_S3_PREFIX: `redirect-${Date.now()}/`,
      BERTH_STORAGE_S3_FORCE_PATH_STYLE: 'true',
      BERTH_STORAGE_S3_ACCESS_KEY_ID: s3.accessKeyId,
      BERTH_STORAGE_S3_SECRET_ACCESS_KEY: s3.secretAccessKey,
      BERTH_STORAGE_S3_REDIRECT: 'true',
      BERTH_STORAGE_S3_REDIRECT_EXPIRY_SECONDS: '120',
    },
  });
});

afterAll(async () => {
  await berth?.stop();
  await s3?.stop();
});

describe('blob GETs redirected to the bucket', () => {
  it('GET → 307 to a presigned URL that serves the exact bytes; HEAD is answered by the node', async () => {
    const data = randomBytes(300_000);
    const digest = `sha256:${createHash('sha256').update(data).digest('hex')}`;
    const push = await fetch(`${berth.url}/v2/team/app/blobs/uploads/?digest=${digest}`, { method: 'POST', body: data, headers: { 'content-type': 'application/octet-stream' } });
    expect(push.status).toBe(201);

    const get = await fetch(`${berth.url}/v2/team/app/blobs/${digest}`, { redirect: 'manual' });
    expect(get.status).toBe(307);
    expect(get.headers.get('docker-content-digest')).toBe(digest);
    const location = get.headers.get('location')!;
    expect(new URL(location).origin).toBe(s3.endpoint);
    expect(location).toMatch(/X-Amz-Expires=120/);
    const fromBucket = Buffer.from(await (await fetch(location)).arrayBuffer());
    expect(fromBucket.equals(data)).toBe(true);

    // Following the redirect, as registry clients do, gives the blob.
    const followed = Buffer.from(await (await fetch(`${berth.url}/v2/team/app/blobs/${digest}`)).arrayBuffer());
    expect(createHash('sha256').update(followed).digest('hex')).toBe(digest.slice(7));

    const head = await fetch(`${berth.url}/v2/team/app/blobs/${digest}`, { method: 'HEAD', redirect: 'manual' });
    expect(head.status).toBe(200);
    expect(head.headers.get('content-length')).toBe(String(data.length));
  });

  it('an unknown blob is still 404 BLOB_UNKNOWN from the node, never a redirect', async () => {
    const res = await fetch(`${berth.url}/v2/team/app/blobs/sha256:${'0'.repeat(64)}`, { redirect: 'manual' });
    expect(res.status).toBe(404);
    expect(((await res.json()) as { errors: { code: string }[] }).errors[0]!.code).toBe('BLOB_UNKNOWN');
  });
});
