/**
 * The repositories part of the management API against a running server: DOCR-shaped
 * listings with sizes, paging, `%2F` names, who may read and delete what, deletes that
 * leave other repositories (and the storage figure) intact, and docker credentials.
 */
import Sqlite from 'better-sqlite3';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Api, ADMIN_PASSWORD, basic, bearer, passwordOf, pushBlob, putManifest, send, stopAndClean } from '../auth/helpers.js';
import { MT, descriptorOf, imageManifest, indexManifest, sha256, type Bytes } from '../conformance/helpers.js';
import { startBerth, type BerthProcess } from '../support/berth-process.js';

let berth: BerthProcess;
let admin: Api;
const as = (user: string) => admin.as(basic(user, passwordOf(user)));
const ADMIN = () => basic('admin', ADMIN_PASSWORD);

interface Pushed {
  digest: string;
  size: number;
  config: Bytes;
  layer: Bytes;
}

/** An image with one layer (given, so repositories can share it) under `tag`. */
async function pushImage(repo: string, tag: string, layer: Bytes = randomBytes(300)): Promise<Pushed> {
  const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', nonce: randomBytes(6).toString('hex') }));
  await pushBlob(berth.url, ADMIN(), repo, config);
  await pushBlob(berth.url, ADMIN(), repo, layer);
  const body = Buffer.from(JSON.stringify(imageManifest(descriptorOf(config, MT.ociConfig), [descriptorOf(layer, MT.ociLayer)])));
  const res = await putManifest(berth.url, ADMIN(), repo, tag, body);
  expect(res.status, await res.text()).toBe(201);
  return { digest: sha256(body), size: body.length, config, layer };
}

const v2 = (path: string, auth = ADMIN()) => send(berth.url, { path: `/v2/${path}`, auth });
const sizeOf = (p: Pushed) => p.size + p.config.length + p.layer.length;

let web1: Pushed;
let web2: Pushed;
let api: Pushed;
let db: Pushed;
const shared = randomBytes(500);

beforeAll(async () => {
  berth = await startBerth({ adminPassword: ADMIN_PASSWORD });
  admin = new Api(berth.url, ADMIN());
  await admin.createRegistry('team-a');
  await admin.createRegistry('team-b');
  for (const u of ['ro', 'rw', 'radm', 'globber', 'outsider']) await admin.createUser(u);
  await admin.grant('team-a', 'user', 'ro', 'read-only');
  await admin.grant('team-a', 'user', 'rw', 'read-write');
  await admin.grant('team-a', 'user', 'radm', 'admin');
  await admin.grant('team-a', 'user', 'globber', 'read-only', 'team-a/app/*');
  await admin.grant('team-b', 'user', 'outsider', 'admin');
  web1 = await pushImage('team-a/app/web', 'v1');
  web2 = await pushImage('team-a/app/web', 'v2');
  api = await pushImage('team-a/app/api', 'latest', shared);
  db = await pushImage('team-a/db', '1', shared);
  await pushImage('team-b/x', '1');
});
afterAll(() => stopAndClean(berth));

describe('GET /registries/{r}/repositoriesV2', () => {
  it('lists repositories by their path in the registry, with counts, the latest manifest and sizes', async () => {
    const body = await admin.ok('GET', '/registries/team-a/repositoriesV2');
    expect(body.meta).toEqual({ total: 3 });
    expect(body.repositories.map((r: { name: string }) => r.name)).toEqual(['app/api', 'app/web', 'db']);
    const web = body.repositories[1];
    expect(web).toMatchObject({ registry_name: 'team-a', name: 'app/web', tag_count: 2, manifest_count: 2 });
    expect(web.latest_manifest).toMatchObject({
      digest: web2.digest,
      registry_name: 'team-a',
      repository: 'app/web',
      tags: ['v2'],
      size_bytes: sizeOf(web2),
      compressed_size_bytes: web2.layer.length,
      blobs: [
        { digest: sha256(web2.config), compressed_size_bytes: web2.config.length },
        { digest: sha256(web2.layer), compressed_size_bytes: web2.layer.length },
      ],
    });
    expect(Date.parse(web.latest_manifest.updated_at)).toBeGreaterThan(Date.now() - 600_000);
    expect(body.links).toEqual({ pages: {} });
  });

  it('pages with page/per_page and links first/prev/next/last; page_token continues after the last name', async () => {
    const p1 = await admin.ok('GET', '/registries/team-a/repositoriesV2?per_page=1');
    expect(p1.repositories.map((r: { name: string }) => r.name)).toEqual(['app/api']);
    expect(Object.keys(p1.links.pages).sort()).toEqual(['last', 'next']);
    expect(p1.links.pages.last).toContain('page=3');
    const next = new URL(p1.links.pages.next, berth.url);
    expect(next.searchParams.get('page_token')).toBeTruthy();
    const p2 = await admin.ok('GET', `${next.pathname.replace('/api/v2', '')}${next.search}`);
    expect(p2.repositories.map((r: { name: string }) => r.name)).toEqual(['app/web']);
    expect(Object.keys(p2.links.pages).sort()).toEqual(['first', 'last', 'next', 'prev']);
    const p3 = await admin.ok('GET', '/registries/team-a/repositoriesV2?per_page=1&page=3');
    expect(p3.repositories.map((r: { name: string }) => r.name)).toEqual(['db']);
    expect(Object.keys(p3.links.pages).sort()).toEqual(['first', 'prev']);
    const beyond = await admin.ok('GET', '/registries/team-a/repositoriesV2?per_page=2&page=9');
    expect(beyond.repositories).toEqual([]);
    expect(beyond.meta.total).toBe(3);
    expect(beyond.links.pages.prev).toContain('page=2');
  });

  it.each(['per_page=0', 'per_page=201', 'page=0', 'page=-1', 'per_page=abc', 'page_token=garbage'])('422 for %s', async (query) => {
    const r = await admin.call('GET', `/registries/team-a/repositoriesV2?${query}`);
    expect(r.status).toBe(422);
    expect(r.body).toMatchObject({ id: 'unprocessable_entity' });
  });

  it('shows each caller the repositories they may pull; 404 for registries they cannot see; 401 anonymous', async () => {
    const names = async (user: string) => (await as(user).ok('GET', '/registries/team-a/repositoriesV2')).repositories.map((r: { name: string }) => r.name);
    expect(await names('ro')).toEqual(['app/api', 'app/web', 'db']);
    const globbed = await as('globber').ok('GET', '/registries/team-a/repositoriesV2');
    expect(globbed.repositories.map((r: { name: string }) => r.name)).toEqual(['app/api', 'app/web']);
    expect(globbed.meta.total).toBe(2);
    expect((await as('outsider').call('GET', '/registries/team-a/repositoriesV2')).status).toBe(404);
    expect((await admin.call('GET', '/registries/nope/repositoriesV2')).status).toBe(404);
    expect((await admin.as(undefined).call('GET', '/registries/team-a/repositoriesV2')).status).toBe(401);
    const robot = await admin.robot('team-a', 'lister', 'read-only');
    const byRobot = await admin.as(basic(robot.username, robot.secret)).ok('GET', '/registries/team-a/repositoriesV2?per_page=200');
    expect(byRobot.meta.total).toBe(3);
  });

  it('one-component names live in registry library under their own name', async () => {
    await pushImage('busybox', 'latest');
    const body = await admin.ok('GET', '/registries/library/repositoriesV2');
    expect(body.repositories.map((r: { name: string }) => r.name)).toEqual(['busybox']);
    expect((await admin.ok('GET', '/registries/library/repositories/busybox/tags')).tags[0]).toMatchObject({ registry_name: 'library', repository: 'busybox', tag: 'latest' });
  });
});

describe('tags and digests of a repository', () => {
  it('lists tags (newest first) of app%2Fweb with the manifest digest and sizes, paged', async () => {
    const body = await admin.ok('GET', '/registries/team-a/repositories/app%2Fweb/tags');
    expect(body.meta.total).toBe(2);
    expect(body.tags).toEqual([
      { registry_name: 'team-a', repository: 'app/web', tag: 'v2', manifest_digest: web2.digest, compressed_size_bytes: web2.layer.length, size_bytes: sizeOf(web2), updated_at: expect.any(String), vulnerabilities: expect.objectContaining({ status: expect.any(String) }), media_type: MT.ociManifest, artifact_type: null, platforms: [], subject_digest: null, pulled_at: null },
      { registry_name: 'team-a', repository: 'app/web', tag: 'v1', manifest_digest: web1.digest, compressed_size_bytes: web1.layer.length, size_bytes: sizeOf(web1), updated_at: expect.any(String), vulnerabilities: expect.objectContaining({ status: expect.any(String) }), media_type: MT.ociManifest, artifact_type: null, platforms: [], subject_digest: null, pulled_at: null },
    ]);
    const p2 = await admin.ok('GET', '/registries/team-a/repositories/app%2Fweb/tags?per_page=1&page=2');
    expect(p2.tags.map((t: { tag: string }) => t.tag)).toEqual(['v1']);
    expect(p2.links.pages.first).toBe('/api/v2/registries/team-a/repositories/app%2Fweb/tags?page=1&per_page=1');
    expect((await admin.call('GET', '/registries/team-a/repositories/app%2Fweb/tags?per_page=500')).status).toBe(422);
    // Unencoded slashes are another path altogether.
    expect((await admin.call('GET', '/registries/team-a/repositories/app/web/tags')).status).toBe(404);
  });

  it('lists manifests with their tags and blobs; an index counts its children and their distinct blobs', async () => {
    const body = await admin.ok('GET', '/registries/team-a/repositories/app%2Fweb/digests');
    expect(body.meta.total).toBe(2);
    expect(body.manifests[1]).toMatchObject({ digest: web1.digest, tags: ['v1'], size_bytes: sizeOf(web1), compressed_size_bytes: web1.layer.length });
    expect(body.manifests[1].blobs).toHaveLength(2);

    const a = await pushImage('team-a/multi', 'a', shared);
    const b = await pushImage('team-a/multi', 'b', shared);
    const index = Buffer.from(JSON.stringify(indexManifest([
      { mediaType: MT.ociManifest, digest: a.digest, size: a.size, platform: { os: 'linux', architecture: 'amd64' } },
      { mediaType: MT.ociManifest, digest: b.digest, size: b.size, platform: { os: 'linux', architecture: 'arm64' } },
    ])));
    const put = await send(berth.url, { method: 'PUT', path: '/v2/team-a/multi/manifests/all', auth: ADMIN(), body: index, headers: { 'content-type': MT.ociIndex } });
    expect(put.status).toBe(201);
    const tags = await admin.ok('GET', '/registries/team-a/repositories/multi/tags');
    const all = tags.tags.find((t: { tag: string }) => t.tag === 'all');
    expect(all.size_bytes).toBe(index.length + a.size + b.size + a.config.length + b.config.length + shared.length);
    expect(all.compressed_size_bytes).toBe(shared.length);
    await admin.ok('DELETE', '/registries/team-a/repositories/multi');
  });

  it('404 for unknown repositories, and for repositories the caller may not pull (no leak)', async () => {
    expect((await admin.call('GET', '/registries/team-a/repositories/nothing/tags')).status).toBe(404);
    expect((await as('globber').call('GET', '/registries/team-a/repositories/db/tags')).status).toBe(404);
    expect((await as('globber').call('GET', '/registries/team-a/repositories/app%2Fapi/digests')).status).toBe(200);
    expect((await as('outsider').call('GET', '/registries/team-a/repositories/db/digests')).status).toBe(404);
  });
});

describe('deletes', () => {
  const storageOk = () => {
    // The registry's storage figure must equal its distinct blobs plus manifests, recomputed from scratch.
    const sqlite = new Sqlite(join(berth.dataDir, 'metadata.db'), { readonly: true });
    try {
      const rows = sqlite
        .prepare(
          `select g.name, g.storage_bytes as held,
             coalesce((select sum(size) from (select distinct rb.digest, b.size from repository_blobs rb join repositories r on r.id = rb.repository_id join blobs b on b.digest = rb.digest where r.registry_id = g.id)), 0)
           + coalesce((select sum(m.size) from manifests m join repositories r on r.id = m.repository_id where r.registry_id = g.id), 0) as actual
           from registries g`,
        )
        .all() as { name: string; held: number; actual: number }[];
      for (const r of rows) expect(r.held, `storage of ${r.name}`).toBe(r.actual);
    } finally {
      sqlite.close();
    }
  };

  it('needs push to untag and delete for manifests and repositories; denials are audited', async () => {
    expect((await as('ro').call('DELETE', '/registries/team-a/repositories/app%2Fweb/tags/v1')).status).toBe(403);
    expect((await as('rw').call('DELETE', '/registries/team-a/repositories/app%2Fweb/digests/' + web1.digest)).status).toBe(403);
    expect((await as('rw').call('DELETE', '/registries/team-a/repositories/app%2Fweb')).status).toBe(403);
    expect((await as('globber').call('DELETE', '/registries/team-a/repositories/db')).status).toBe(404);
    expect((await as('outsider').call('DELETE', '/registries/team-a/repositories/db')).status).toBe(404);
    const denied = await admin.ok('GET', '/audit?action=api.denied&registry=team-a');
    expect(denied.events.some((e: { actor: string; resource: string }) => e.actor === 'rw' && e.resource === 'team-a/app/web')).toBe(true);
  });

  it('DELETE tag: 204, the tag is gone from /v2/, the manifest stays; unknown tag 404', async () => {
    expect((await v2('team-a/app/web/manifests/v1')).status).toBe(200); // warm the read cache
    expect((await as('rw').call('DELETE', '/registries/team-a/repositories/app%2Fweb/tags/v1')).status).toBe(204);
    expect((await v2('team-a/app/web/manifests/v1')).status).toBe(404);
    expect((await v2(`team-a/app/web/manifests/${web1.digest}`)).status).toBe(200);
    expect((await admin.call('DELETE', '/registries/team-a/repositories/app%2Fweb/tags/v1')).status).toBe(404);
    const events = await admin.ok('GET', '/audit?action=tag.delete&registry=team-a');
    expect(events.events[0]).toMatchObject({ actor: 'rw', resource: 'team-a/app/web:v1', outcome: 'success' });
  });

  it('DELETE digest: 204, the manifest and its tags are gone; a tag in place of a digest is 400', async () => {
    expect((await v2(`team-a/app/web/manifests/${web2.digest}`)).status).toBe(200);
    expect((await admin.call('DELETE', '/registries/team-a/repositories/app%2Fweb/digests/v2')).status).toBe(400);
    expect((await as('radm').call('DELETE', `/registries/team-a/repositories/app%2Fweb/digests/${web2.digest}`)).status).toBe(204);
    expect((await v2(`team-a/app/web/manifests/${web2.digest}`)).status).toBe(404);
    expect((await v2('team-a/app/web/manifests/v2')).status).toBe(404);
    expect((await admin.call('DELETE', `/registries/team-a/repositories/app%2Fweb/digests/${web2.digest}`)).status).toBe(404);
    storageOk();
  });

  it('DELETE repository: its content is unknown on /v2/, other repositories (sharing blobs) stay whole, storage stays right', async () => {
    expect((await v2(`team-a/app/api/blobs/${sha256(shared)}`)).status).toBe(200);
    expect((await as('radm').call('DELETE', '/registries/team-a/repositories/app%2Fapi')).status).toBe(204);
    const tags = await v2('team-a/app/api/tags/list');
    expect(tags.status).toBe(404);
    expect(((await tags.json()) as { errors: { code: string }[] }).errors[0]!.code).toBe('NAME_UNKNOWN');
    expect((await v2(`team-a/app/api/manifests/${api.digest}`)).status).toBe(404);
    expect((await v2(`team-a/app/api/blobs/${sha256(shared)}`)).status).toBe(404);
    // db shares the layer: still whole.
    expect((await v2(`team-a/db/manifests/1`)).status).toBe(200);
    expect((await v2(`team-a/db/blobs/${sha256(shared)}`)).status).toBe(200);
    expect((await v2(`team-a/db/blobs/${sha256(db.config)}`)).status).toBe(200);
    expect((await admin.call('GET', '/registries/team-a/repositories/app%2Fapi/tags')).status).toBe(404);
    const list = await admin.ok('GET', '/registries/team-a/repositoriesV2');
    expect(list.repositories.map((r: { name: string }) => r.name)).toEqual(['app/web', 'db']);
    storageOk();
    const events = await admin.ok('GET', '/audit?action=repository.delete&registry=team-a');
    expect(events.events[0]).toMatchObject({ actor: 'radm', resource: 'team-a/app/api', detail: { manifests: 1, blobs: 2 } });
    // Pushing again recreates it from nothing.
    await pushImage('team-a/app/api', 'again', shared);
    expect((await admin.ok('GET', '/registries/team-a/repositories/app%2Fapi/tags')).tags.map((t: { tag: string }) => t.tag)).toEqual(['again']);
    storageOk();
  });
});

describe('GET /registries/{r}/docker-credentials', () => {
  const decode = (config: { auths: Record<string, { auth: string }> }) => {
    expect(Object.keys(config.auths)).toEqual([berth.host]);
    const [user, secret] = Buffer.from(config.auths[berth.host]!.auth, 'base64').toString().split(':') as [string, string];
    return { user, secret, auth: basic(user, secret) };
  };

  it('read-only by default: pulls the registry, cannot push, cannot reach other registries or the API', async () => {
    const cred = decode(await as('rw').ok('GET', '/registries/team-a/docker-credentials'));
    expect(cred.user).toBe('rw');
    expect((await v2('team-a/db/manifests/1', cred.auth)).status).toBe(200);
    const push = await send(berth.url, { method: 'POST', path: '/v2/team-a/db/blobs/uploads/', auth: cred.auth });
    expect(push.status).toBe(403);
    // Even a server administrator's credentials are limited to the registry.
    const adminCred = decode(await admin.ok('GET', '/registries/team-a/docker-credentials'));
    expect((await v2('team-a/db/manifests/1', adminCred.auth)).status).toBe(200);
    expect((await v2('team-b/x/manifests/1', adminCred.auth)).status).toBe(403);
    expect((await admin.as(adminCred.auth).call('GET', '/users')).status).toBe(403);
    const tokens = await as('rw').ok('GET', '/tokens');
    const minted = tokens.tokens.find((t: { name: string }) => t.name.startsWith('docker-credentials team-a'));
    expect(minted).toMatchObject({ scopes: [{ registry: 'team-a', actions: ['pull'] }], expires_at: null });
  });

  it('read_write=true adds push; expiry_seconds sets the expiry; bad values are 422', async () => {
    const cred = decode(await as('rw').ok('GET', '/registries/team-a/docker-credentials?read_write=true&expiry_seconds=3600'));
    const push = await send(berth.url, { method: 'POST', path: '/v2/team-a/db/blobs/uploads/', auth: cred.auth });
    expect(push.status).toBe(202);
    const tokens = (await as('rw').ok('GET', '/tokens')).tokens as { name: string; expires_at: string | null }[];
    const rwToken = tokens.find((t) => t.name === 'docker-credentials team-a (read-write)')!;
    expect(Date.parse(rwToken.expires_at!) - Date.now()).toBeGreaterThan(3500_000);
    for (const q of ['read_write=yes', 'expiry_seconds=10', 'expiry_seconds=abc']) {
      expect((await as('rw').call('GET', `/registries/team-a/docker-credentials?${q}`)).status, q).toBe(422);
    }
  });

  it('404 for registries the caller cannot see; 403 for robots and scoped tokens; audited', async () => {
    expect((await as('outsider').call('GET', '/registries/team-a/docker-credentials')).status).toBe(404);
    const robot = await admin.robot('team-a', 'ci', 'read-only');
    expect((await admin.as(basic(robot.username, robot.secret)).call('GET', '/registries/team-a/docker-credentials')).status).toBe(403);
    const scoped = await as('rw').token('scoped', { scopes: [{ registry: 'team-a', actions: ['pull'] }] });
    expect((await admin.as(bearer(scoped.secret)).call('GET', '/registries/team-a/docker-credentials')).status).toBe(403);
    const events = await admin.ok('GET', '/audit?action=token.create&actor=rw');
    expect(events.events.some((e: { detail: { purpose?: string } }) => e.detail?.purpose === 'docker-credentials')).toBe(true);
  });
});
