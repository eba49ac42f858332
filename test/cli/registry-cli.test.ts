/**
 * The doctl-like part of the built `berth` CLI against a running server: repository
 * listings and deletes, contexts and the global --context/--server/--token, registry
 * get/options/usage, docker-config pulled with skopeo (`--authfile`), a Kubernetes pull
 * secret checked by kubectl, and `gc` against a stand-in server speaking the GC contract.
 */
import { createServer, type Server } from 'node:http';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Api, basic, passwordOf, pushImage, stopAndClean } from '../auth/helpers.js';
import { startBerth, tempDir, type BerthProcess } from '../support/berth-process.js';
import { CommandError, requireTool, run } from '../support/clients.js';
import { berthCli, newHome, ok, type Home } from './run-cli.js';

const ADMIN_PASSWORD = 'admin-password-regcli-1';
let berth: BerthProcess;
let home: Home;
let work: string;
let api: Api;
let web: { digest: string };
let web1: { digest: string };

beforeAll(async () => {
  berth = await startBerth({ adminPassword: ADMIN_PASSWORD });
  home = newHome();
  work = tempDir('berth-regcli-');
  api = new Api(berth.url, basic('admin', ADMIN_PASSWORD));
  await api.createRegistry('team-a');
  await api.createUser('dev');
  await api.grant('team-a', 'user', 'dev', 'read-only');
  const auth = basic('admin', ADMIN_PASSWORD);
  web1 = await pushImage(berth.url, auth, 'team-a/app/web', 'v1');
  web = await pushImage(berth.url, auth, 'team-a/app/web', 'v2');
  await pushImage(berth.url, auth, 'team-a/db', '1');
  await ok(home, ['login', berth.host, '-u', 'admin', '--password-stdin'], { input: ADMIN_PASSWORD });
});
afterAll(async () => {
  await stopAndClean(berth);
  for (const dir of [home?.dir, work]) if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('berth repository', () => {
  it('list: a table, --format with --no-header, and JSON', async () => {
    const table = await ok(home, ['repository', 'list', 'team-a']);
    expect(table).toMatch(/^NAME\s+LATEST MANIFEST\s+LATEST TAG\s+TAGS\s+MANIFESTS\s+UPDATED\n/);
    expect(table).toMatch(new RegExp(`\\napp/web\\s+${web.digest}\\s+v2\\s+2\\s+2\\s+\\d{4}-`));
    expect(await ok(home, ['repo', 'list', 'team-a', '--format', 'Name,tag_count', '--no-header'])).toBe('app/web\t2\ndb\t1\n');
    const json = await ok(home, ['repository', 'list', 'team-a', '-o', 'json']);
    expect(JSON.parse(json).map((r: { name: string }) => r.name)).toEqual(['app/web', 'db']);
    const bad = await berthCli(home, ['repository', 'list', 'team-a', '--format', 'Name,Nope']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/unknown column Nope.*columns are Name, LatestManifest/);
  });

  it('list-tags and list-manifests by full name, or as a path with --registry', async () => {
    const tags = await ok(home, ['repository', 'list-tags', 'team-a/app/web', '--format', 'Tag,ManifestDigest', '--no-header']);
    expect(tags).toBe(`v2\t${web.digest}\nv1\t${web1.digest}\n`);
    const viaRegistry = JSON.parse(await ok(home, ['repository', 'list-tags', 'app/web', '--registry', 'team-a', '-o', 'json']));
    expect(viaRegistry.map((t: { tag: string }) => t.tag)).toEqual(['v2', 'v1']);
    const manifests = await ok(home, ['repository', 'list-manifests', 'team-a/app/web']);
    expect(manifests).toMatch(/^DIGEST\s+COMPRESSED SIZE\s+SIZE\s+UPDATED\s+TAGS\s+BLOBS\n/);
    expect(manifests).toContain(web.digest);
    const missing = await berthCli(home, ['repository', 'list-tags', 'team-a/nothing']);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/^berth: not_found: repository nothing in registry team-a not found \(HTTP 404\)/);
  });

  it('delete-tag / delete-manifest / delete: refused without --force off a terminal, done with it', async () => {
    const refused = await berthCli(home, ['repository', 'delete-tag', 'team-a/app/web', 'v1']);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/Refusing without --force/);
    expect(await ok(home, ['repository', 'delete-tag', 'team-a/app/web', 'v1', '--force'])).toBe('Deleted tag v1 of team-a/app/web.\n');
    await ok(home, ['repository', 'delete-manifest', 'team-a/app/web', web.digest, '-f']);
    expect(await ok(home, ['repository', 'list-tags', 'team-a/app/web', '--no-header', '--format', 'Tag'])).toBe('');
    await ok(home, ['repository', 'delete', 'team-a/app/web', '--force']);
    expect(await ok(home, ['repository', 'list', 'team-a', '--format', 'Name', '--no-header'])).toBe('db\n');
    expect((await fetch(`${berth.url}/v2/team-a/app/web/tags/list`, { headers: { authorization: basic('admin', ADMIN_PASSWORD) } })).status).toBe(404);
  });
});

describe('contexts and global options', () => {
  it('auth init with a token on stdin and a default registry; --context, --server and --token anywhere on the line', async () => {
    const token = await api.as(basic('dev', passwordOf('dev'))).token('cli-context');
    await ok(home, ['auth', 'init', '--context', 'dev', '--server', berth.url, '--registry', 'team-a', '--token-stdin'], { input: `${token.secret}\n` });
    // The new context is current, and its registry is the default.
    expect(await ok(home, ['repository', 'list', '--format', 'Name', '--no-header'])).toBe('db\n');
    const contexts = await ok(home, ['auth', 'list']);
    expect(contexts).toMatch(new RegExp(`\\ndev\\s+${berth.url.replace(/\./g, '\\.')}\\s+dev\\s+team-a\\s+\\*`));
    // A delete as dev (read-only) is refused by the server; as the admin's login it would not be.
    const denied = await berthCli(home, ['repository', 'delete-tag', 'team-a/db', '1', '-f']);
    expect(denied.stderr).toMatch(/forbidden/);
    await ok(home, ['--context', berth.host, 'repository', 'list', 'team-a']);
    await ok(home, ['auth', 'switch', '--context', berth.host]);
    expect(JSON.parse(await ok(home, ['auth', 'list', '-o', 'json'])).find((c: { current: boolean }) => c.current).name).toBe(berth.host);
    // A fresh machine: everything on the command line.
    const bare = newHome();
    expect(await ok(bare, ['repository', 'list', 'team-a', '--server', berth.url, '--token', token.secret, '--format', 'Name', '--no-header'])).toBe('db\n');
    const unknown = await berthCli(bare, ['--context', 'nope', 'repository', 'list']);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(/no context nope/);
    await ok(home, ['auth', 'remove', '--context', 'dev']);
    rmSync(bare.dir, { recursive: true, force: true });
  });
});

describe('registry get, options and usage (the registries API)', () => {
  it('prints them as tables and JSON', async () => {
    const got = JSON.parse(await ok(home, ['registry', 'get', 'team-a', '-o', 'json']));
    expect(got.name).toBe('team-a');
    expect(await ok(home, ['registry', 'get', 'team-a', '--format', 'Name', '--no-header'])).toBe('team-a\n');
    const options = await ok(home, ['registry', 'options']);
    expect(options).toMatch(/available regions: /);
    expect(options).toMatch(/subscription tiers:\nNAME/);
    const usage = await ok(home, ['usage', 'team-a']);
    expect(usage).toMatch(/^Registry:\s+team-a\n/);
    expect(usage).toMatch(/\nStorage:\s+\S+/);
    const all = await ok(home, ['usage', '--format', 'Registry', '--no-header']);
    expect(all.split('\n')).toContain('team-a');
  });
});

describe('docker-config and kubernetes-manifest', () => {
  const skopeo = (...args: string[]) => run('skopeo', args, { timeoutMs: 120_000 });
  const src = () => `docker://${berth.host}/team-a/db:1`;

  it('docker-config: skopeo pulls with it as --authfile; read-only cannot push; --read-write can; 30 days by default', async () => {
    await requireTool('skopeo');
    const ro = join(work, 'ro.json');
    writeFileSync(ro, await ok(home, ['registry', 'docker-config', 'team-a']));
    expect(Object.keys(JSON.parse(readFileSync(ro, 'utf8')).auths)).toEqual([berth.host]);
    await skopeo('copy', '--src-tls-verify=false', '--authfile', ro, src(), `dir:${join(work, 'pulled')}`);
    const push = await skopeo('copy', '--dest-tls-verify=false', '--authfile', ro, `dir:${join(work, 'pulled')}`, `docker://${berth.host}/team-a/copy:1`).catch((e: CommandError) => e);
    expect(push).toBeInstanceOf(CommandError);
    expect((push as CommandError).stderr).toMatch(/denied|unauthorized/i);
    const rw = join(work, 'rw.json');
    writeFileSync(rw, await ok(home, ['registry', 'docker-config', 'team-a', '--read-write', '--expiry-seconds', '600']));
    await skopeo('copy', '--dest-tls-verify=false', '--authfile', rw, `dir:${join(work, 'pulled')}`, `docker://${berth.host}/team-a/copy:1`);
    const tokens = (await api.ok('GET', '/tokens')).tokens as { name: string; expires_at: string }[];
    const days = tokens.filter((t) => t.name === 'docker-credentials team-a (read-only)').map((t) => (Date.parse(t.expires_at) - Date.now()) / 86_400_000);
    expect(days[0]).toBeGreaterThan(29.9);
    expect(days[0]).toBeLessThanOrEqual(30);
  });

  it('kubernetes-manifest: a dockerconfigjson Secret kubectl applies (client dry run) whose config pulls', async () => {
    await requireTool('skopeo');
    await requireTool('kubectl', 'kubernetes-client');
    const yaml = await ok(home, ['registry', 'kubernetes-manifest', '--registry', 'team-a', '--namespace', 'default']);
    const secret = parse(yaml);
    expect(secret).toMatchObject({ apiVersion: 'v1', kind: 'Secret', type: 'kubernetes.io/dockerconfigjson', metadata: { name: 'registry-team-a', namespace: 'default' } });
    // kubectl maps kinds through API discovery even for a client dry run; a stand-in answers it, nothing else.
    const discovery = await fakeKubeApi();
    try {
      const kubeconfig = join(work, 'kubeconfig');
      writeFileSync(kubeconfig, `apiVersion: v1\nkind: Config\nclusters: [{name: c, cluster: {server: "${discovery.url}"}}]\nusers: [{name: u, user: {}}]\ncontexts: [{name: c, context: {cluster: c, user: u}}]\ncurrent-context: c\n`);
      const file = join(work, 'secret.yaml');
      writeFileSync(file, yaml);
      const applied = await run('kubectl', ['apply', '--dry-run=client', '--validate=false', '-f', file], { env: { KUBECONFIG: kubeconfig } });
      expect(applied.stdout).toBe('secret/registry-team-a created (dry run)\n');
    } finally {
      discovery.server.close();
    }
    const authfile = join(work, 'k8s.json');
    writeFileSync(authfile, Buffer.from(secret.data['.dockerconfigjson'], 'base64'));
    await skopeo('inspect', '--tls-verify=false', '--authfile', authfile, src());
    const bad = await berthCli(home, ['registry', 'kubernetes-manifest', 'team-a', '--name', 'Not_Valid']);
    expect(bad.code).toBe(2);
  });
});

describe('berth gc (against a stand-in for the GC API)', () => {
  it('start --wait shows progress and the result; list, get-active and cancel', async () => {
    const gc = await fakeGcApi();
    try {
      const args = ['--server', gc.url, '--token', 'berth_pat_fake'];
      const r = await berthCli(home, [...args, 'gc', 'start', 'team-a', '--type', 'untagged-manifests-and-unreferenced-blobs', '--dry-run', '--wait', '--poll-ms', '20']);
      expect(r.code, r.stderr).toBe(0);
      expect(gc.requests[0]).toEqual({ method: 'POST', url: '/api/v2/registries/team-a/garbage-collection', body: { type: 'untagged manifests and unreferenced blobs', dry_run: true } });
      expect(r.stderr).toMatch(/scanning manifests: 0 blob\(s\) deleted/);
      expect(r.stderr).toMatch(/deleting unreferenced blobs: 2 blob\(s\) deleted, 2.00 KiB freed/);
      expect(r.stdout).toBe('Garbage collection gc-1 of team-a succeeded: 3 blob(s), would free 4.00 KiB.\n');
      expect(await ok(home, [...args, 'gc', 'list', 'team-a', '--format', 'UUID,Status', '--no-header'])).toBe('gc-1\tsucceeded\n');
      const none = await berthCli(home, [...args, 'gc', 'get-active', 'team-a']);
      expect(none.code).toBe(1);
      expect(none.stderr).toMatch(/no garbage collection is running in team-a/);
      const cancelled = JSON.parse(await ok(home, [...args, 'gc', 'cancel', 'team-a', 'gc-1', '-o', 'json']));
      expect(cancelled.status).toBe('cancelled');
      expect(gc.requests.at(-1)).toEqual({ method: 'PUT', url: '/api/v2/registries/team-a/garbage-collection/gc-1', body: { cancel: true } });
      expect((await berthCli(home, [...args, 'gc', 'start', 'team-a', '--type', 'everything'])).code).toBe(2);
    } finally {
      gc.server.close();
    }
  });
});

describe('berth gc (against the server)', () => {
  it('start --wait runs to success; list shows the run', async () => {
    const r = await berthCli(home, ['gc', 'start', 'team-a', '--type', 'untagged-manifests-and-unreferenced-blobs', '--wait', '--poll-ms', '100']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^Garbage collection (\S+) of team-a succeeded: \d+ blob\(s\), freed /);
    const uuid = r.stdout.split(' ')[2];
    const runs = JSON.parse(await ok(home, ['gc', 'list', 'team-a', '-o', 'json']));
    expect(runs).toContainEqual(expect.objectContaining({ uuid, status: 'succeeded', type: 'untagged manifests and unreferenced blobs' }));
  });
});

async function listen(handler: Parameters<typeof createServer>[1]): Promise<{ server: Server; url: string }> {
  const server = createServer(handler);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { server, url: `http://127.0.0.1:${(server.address() as { port: number }).port}` };
}

/** Just enough of a Kubernetes API server for kubectl's discovery: core/v1 with secrets; every object is absent. */
function fakeKubeApi() {
  return listen((req, res) => {
    const path = (req.url ?? '').split('?')[0];
    const bodies: Record<string, object> = {
      '/api': { kind: 'APIVersions', versions: ['v1'], serverAddressByClientCIDRs: [] },
      '/apis': { kind: 'APIGroupList', apiVersion: 'v1', groups: [] },
      '/api/v1': { kind: 'APIResourceList', groupVersion: 'v1', resources: [{ name: 'secrets', singularName: 'secret', namespaced: true, kind: 'Secret', verbs: ['create', 'get', 'patch'] }] },
    };
    const body = bodies[path ?? ''];
    res.writeHead(body ? 200 : 404, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body ?? { kind: 'Status', apiVersion: 'v1', status: 'Failure', reason: 'NotFound', code: 404 }));
  });
}

/** The GC contract: a run that moves through DigitalOcean's statuses, one step per poll, then leaves the active slot. */
async function fakeGcApi() {
  const requests: { method: string; url: string; body?: unknown }[] = [];
  const steps: [string, number, number][] = [['requested', 0, 0], ['scanning manifests', 0, 0], ['deleting unreferenced blobs', 2, 2048], ['succeeded', 3, 4096]];
  let step = 0;
  const run = (status: string, blobs: number, freed: number) => ({ uuid: 'gc-1', registry_name: 'team-a', status, type: 'untagged manifests and unreferenced blobs', dry_run: true, created_at: '2024-01-01T00:00:00Z', updated_at: '2024-01-01T00:00:01Z', blobs_deleted: blobs, freed_bytes: freed });
  const { server, url } = await listen(async (req, res) => {
    let text = '';
    for await (const chunk of req) text += chunk;
    requests.push({ method: req.method!, url: req.url!, ...(text ? { body: JSON.parse(text) } : {}) });
    const send = (status: number, body: object) => res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
    if (req.headers.authorization !== 'Bearer berth_pat_fake') return send(401, { id: 'unauthorized', message: 'bad token' });
    const path = req.url!.split('?')[0];
    if (req.method === 'POST' && path === '/api/v2/registries/team-a/garbage-collection') return send(201, { garbage_collection: run(...steps[0]!) });
    if (req.method === 'GET' && path === '/api/v2/registries/team-a/garbage-collection') {
      step++;
      if (step >= steps.length - 1) return send(404, { id: 'not_found', message: 'no active garbage collection' });
      return send(200, { garbage_collection: run(...steps[step]!) });
    }
    if (req.method === 'GET' && path === '/api/v2/registries/team-a/garbage-collections') return send(200, { garbage_collections: [run(...steps[3]!)], links: { pages: {} }, meta: { total: 1 } });
    if (req.method === 'PUT' && path === '/api/v2/registries/team-a/garbage-collection/gc-1') return send(200, { garbage_collection: run('cancelled', 0, 0) });
    send(404, { id: 'not_found', message: `no such endpoint ${req.method} ${path}` });
  });
  return { server, url, requests };
}
