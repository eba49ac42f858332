/**
 * Immutable tags against real clients: once a registry makes tags matching `image`
 * immutable, skopeo and docker cannot move such a tag to another image (DENIED,
 * with the rule in the message), pushing the same image again still works, and
 * neither /v2/ nor the management API can delete the tag, its manifest or its
 * repository — until an admin lifts the rule (audited).
 */
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startBerth, tempDir, type BerthProcess } from '../support/berth-process.js';
import { CommandError, fetchManifest, requireTool, run, seedWithSkopeo, startDockerd, type Dockerd } from '../support/clients.js';
import { buildTestLayout, type TestLayout } from '../support/oci-layout.js';

let berth: BerthProcess;
let dockerd: Dockerd;
let original: TestLayout;
let other: TestLayout;
let work: string;
let ruleId: number;

const skopeo = (...args: string[]) => run('skopeo', args);
const push = (layout: TestLayout, ref: string) => skopeo('copy', '--quiet', '--preserve-digests', '--dest-tls-verify=false', `oci:${layout.dir}:image`, `docker://${berth.host}/${ref}`);

async function api(method: string, path: string, body?: unknown): Promise<{ status: number; json: any }> {
  const res = await fetch(`${berth.url}/api/v2${path}`, {
    method,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, json: text ? JSON.parse(text) : undefined };
}

beforeAll(async () => {
  await requireTool('skopeo');
  work = tempDir('berth-e2e-immutable-');
  original = await buildTestLayout({ dir: join(work, 'original'), seed: 'immutable-original' });
  other = await buildTestLayout({ dir: join(work, 'other'), seed: 'immutable-other' });
  berth = await startBerth({ dataDir: join(work, 'berth') });
  dockerd = await startDockerd();
  await seedWithSkopeo(original, berth.host, 'imm/app');
  await seedWithSkopeo(other, berth.host, 'imm/other');
  const created = await api('POST', '/registries/imm/immutable-tags', { tag_pattern: 'image' });
  expect(created.status).toBe(201);
  ruleId = created.json.immutable_tag.id;
});

afterAll(async () => {
  await dockerd?.stop();
  await berth?.stop();
  if (work) rmSync(work, { recursive: true, force: true });
});

describe('immutable tags', () => {
  it('skopeo cannot move an immutable tag to another image, and the tag still names the original', async () => {
    const err = await push(other, 'imm/app:image').catch((e: CommandError) => e);
    expect(err).toBeInstanceOf(CommandError);
    expect((err as CommandError).stderr).toMatch(/denied/i);
    expect((err as CommandError).stderr).toContain('immutable');
    expect((await fetchManifest(berth.url, 'imm/app', 'image')).digest).toBe(original.image.digest);
  });

  it('pushing the same image under an immutable tag again succeeds', async () => {
    await push(original, 'imm/app:image');
    expect((await fetchManifest(berth.url, 'imm/app', 'image')).digest).toBe(original.image.digest);
  });

  it('tags that match no rule still move', async () => {
    await push(original, 'imm/app:latest');
    await push(other, 'imm/app:latest');
    expect((await fetchManifest(berth.url, 'imm/app', 'latest')).digest).toBe(other.image.digest);
  });

  it('docker cannot push another image under an immutable tag', async () => {
    const docker = (...args: string[]) => dockerd.docker(args);
    await docker('pull', `${berth.host}/imm/other:image`);
    await docker('tag', `${berth.host}/imm/other:image`, `${berth.host}/imm/app:image`);
    const err = await docker('push', `${berth.host}/imm/app:image`).catch((e: CommandError) => e);
    expect(err).toBeInstanceOf(CommandError);
    expect(`${(err as CommandError).stdout}\n${(err as CommandError).stderr}`).toMatch(/denied: tag image of imm\/app is immutable/);
    expect((await fetchManifest(berth.url, 'imm/app', 'image')).digest).toBe(original.image.digest);
  });

  it('neither /v2/ nor the API deletes the tag, its manifest or its repository', async () => {
    const v2 = await fetch(`${berth.url}/v2/imm/app/manifests/${original.image.digest}`, { method: 'DELETE' });
    expect(v2.status).toBe(403);
    const body = (await v2.json()) as { errors: { code: string; message: string }[] };
    expect(body.errors[0]!.code).toBe('DENIED');
    expect(body.errors[0]!.message).toContain(`rule ${ruleId}`);
    expect((await fetch(`${berth.url}/v2/imm/app/manifests/image`, { method: 'DELETE' })).status).toBe(403);

    const byTag = await api('DELETE', '/registries/imm/repositories/app/tags/image');
    expect(byTag.status).toBe(403);
    expect(byTag.json.message).toContain('immutable');
    expect((await api('DELETE', `/registries/imm/repositories/app/digests/${original.image.digest}`)).status).toBe(403);
    expect((await api('DELETE', '/registries/imm/repositories/app')).status).toBe(403);
    expect((await fetchManifest(berth.url, 'imm/app', 'image')).digest).toBe(original.image.digest);
    // A deletion that touches no immutable tag goes through.
    expect((await api('DELETE', '/registries/imm/repositories/app/tags/latest')).status).toBe(204);
  });

  it('an admin lifts the rule (audited), after which the tag moves and is deleted', async () => {
    expect((await api('GET', '/registries/imm/immutable-tags')).json.immutable_tags).toEqual([
      expect.objectContaining({ id: ruleId, tag_pattern: 'image', repository_pattern: '**' }),
    ]);
    expect((await api('DELETE', `/registries/imm/immutable-tags/${ruleId}`)).status).toBe(204);
    expect((await api('DELETE', `/registries/imm/immutable-tags/${ruleId}`)).status).toBe(404);
    await push(other, 'imm/app:image');
    expect((await fetchManifest(berth.url, 'imm/app', 'image')).digest).toBe(other.image.digest);
    expect((await api('DELETE', '/registries/imm/repositories/app/tags/image')).status).toBe(204);
    const audit = await api('GET', '/audit?action=immutable_tag.lift');
    expect(JSON.stringify(audit.json)).toContain('immutable_tag.lift');
  });

  it('refuses malformed rules with a readable message', async () => {
    const bad = await api('POST', '/registries/imm/immutable-tags', { tag_pattern: 'v 1' });
    expect(bad.status).toBe(422);
    expect(bad.json.message).toMatch(/tag_pattern/);
  });
});
