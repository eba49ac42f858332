/**
 * The `berth` CLI against a running server with access control on: login
 * (CLI and docker configs), user/team/registry/grant/robot/token round trips,
 * scoped tokens at /v2/, audit, keys, logout, and exit codes.
 */
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stopAndClean } from '../conformance/helpers.js';
import { startBerth, type BerthProcess } from '../support/berth-process.js';
import { berthCli, newHome, ok, type Home } from './run-cli.js';

const ADMIN_PASSWORD = 'admin-password-cli-1';
const ALICE_PASSWORD = 'alice-password-cli-1';

let berth: BerthProcess;
let admin: Home;
let alice: Home;

beforeAll(async () => {
  berth = await startBerth({ adminPassword: ADMIN_PASSWORD });
  admin = newHome();
  alice = newHome();
});
afterAll(async () => {
  await stopAndClean(berth);
  for (const home of [admin, alice]) if (home) rmSync(home.dir, { recursive: true, force: true });
});

const basic = (user: string, secret: string) => `Basic ${Buffer.from(`${user}:${secret}`).toString('base64')}`;
const v2 = (path: string, auth: string, init: RequestInit = {}) => fetch(`${berth.url}/v2/${path}`, { ...init, headers: { authorization: auth, ...init.headers } });
const readJson = (path: string) => JSON.parse(readFileSync(path, 'utf8'));
const mode = (path: string) => statSync(path).mode & 0o777;

/** Pushes one blob to a repository (POST then PUT); returns its digest. */
async function pushBlob(repo: string, auth: string): Promise<string> {
  const data = randomBytes(64);
  const digest = `sha256:${createHash('sha256').update(data).digest('hex')}`;
  const start = await v2(`${repo}/blobs/uploads/`, auth, { method: 'POST' });
  expect(start.status).toBe(202);
  const location = new URL(start.headers.get('location')!, berth.url);
  location.searchParams.set('digest', digest);
  const put = await fetch(location, { method: 'PUT', headers: { authorization: auth, 'content-type': 'application/octet-stream' }, body: data });
  expect(put.status).toBe(201);
  return digest;
}

describe('berth login', () => {
  it('wrong password → exit 1 with a readable message, and nothing stored', async () => {
    const r = await berthCli(admin, ['login', berth.host, '-u', 'admin', '--password-stdin'], { input: 'not-the-password\n' });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^berth: unauthorized: invalid username or password \(HTTP 401\)/);
    expect(() => statSync(join(admin.configDir, 'config.json'))).toThrow();
  });

  it('stores a token in the CLI config and a working auth entry in the docker config (both 0600), keeping other entries', async () => {
    const dockerFile = join(admin.dockerDir, 'config.json');
    writeFileSync(dockerFile, JSON.stringify({ auths: { 'other.example:5000': { auth: 'b3RoZXI6c2VjcmV0' } }, psFormat: 'table' }));
    await ok(admin, ['login', berth.host, '-u', 'admin', '--password-stdin'], { input: `${ADMIN_PASSWORD}\n` });

    const configFile = join(admin.configDir, 'config.json');
    const config = readJson(configFile);
    expect(config.current).toBe(berth.host);
    expect(config.servers[berth.host]).toMatchObject({ url: berth.url, username: 'admin', token: expect.stringMatching(/^berth_pat_/) });
    expect(mode(configFile)).toBe(0o600);

    const docker = readJson(dockerFile);
    expect(docker.psFormat).toBe('table');
    expect(docker.auths['other.example:5000']).toEqual({ auth: 'b3RoZXI6c2VjcmV0' });
    const auth: string = docker.auths[berth.host].auth;
    expect(Buffer.from(auth, 'base64').toString()).toBe(`admin:${config.servers[berth.host].token}`);
    expect(mode(dockerFile)).toBe(0o600);
    expect((await v2('', `Basic ${auth}`)).status).toBe(200);

    const tokens = await ok(admin, ['token', 'list', '--json']);
    expect(tokens.map((t: { name: string }) => t.name)).toContain(`berth-cli@${hostname()}`);
    expect(tokens.find((t: { id: string }) => t.id === config.servers[berth.host].tokenId).scopes).toBeNull();
  });
});

describe('managing access', () => {
  it('users and teams: create, list (table and JSON), membership', async () => {
    await ok(admin, ['user', 'create', 'alice', '--can-create-registries', '--password-stdin'], { input: `${ALICE_PASSWORD}\n` });
    await ok(admin, ['team', 'create', 'devs']);
    await ok(admin, ['team', 'add', 'devs', 'alice']);
    const [users, table, teams] = await Promise.all([ok(admin, ['user', 'list', '--json']), ok(admin, ['user', 'list']), ok(admin, ['team', 'list', '--json'])]);
    expect(users).toContainEqual(expect.objectContaining({ username: 'alice', server_admin: false, can_create_registries: true, disabled: false }));
    expect(table).toMatch(/^USERNAME\s+SERVER ADMIN\s+CAN CREATE REGISTRIES\s+DISABLED\s+CREATED\n/);
    expect(table).toMatch(/\nalice\s+no\s+yes\s+no\s+\d{4}-/);
    expect(teams).toContainEqual(expect.objectContaining({ name: 'devs', members: ['alice'] }));
  });

  it('registries, grants and robots: create, list, and the robot secret works at /v2/', async () => {
    await ok(admin, ['registry', 'create', 'team-a']);
    const grant = await ok(admin, ['grant', 'add', 'team-a', '--team', 'devs', '--role', 'read-write', '--json']);
    expect(grant).toMatchObject({ subject_kind: 'team', subject: 'devs', role: 'read-write', repository_pattern: null });
    const robot = await ok(admin, ['robot', 'create', 'team-a', 'ci', '--role', 'read-only', '--json']);
    expect(robot.username).toBe('team-a+ci');
    const [grants, robots, registries] = await Promise.all([
      ok(admin, ['grant', 'list', 'team-a', '--json']),
      ok(admin, ['robot', 'list', 'team-a', '--json']),
      ok(admin, ['registry', 'list', '--json']),
    ]);
    expect(grants.map((g: { id: number }) => g.id)).toContain(grant.id);
    expect(grants).toContainEqual(expect.objectContaining({ subject_kind: 'robot', subject: 'team-a+ci', role: 'read-only' }));
    expect(robots).toContainEqual(expect.objectContaining({ name: 'ci', username: 'team-a+ci' }));
    expect(registries).toContainEqual(expect.objectContaining({ name: 'team-a', public: false }));
    expect((await v2('', basic(robot.username, robot.secret))).status).toBe(200);

    // The rest of the lifecycle, in parallel where independent.
    const [secret, pub] = await Promise.all([ok(admin, ['robot', 'secret', 'team-a', 'ci', '--json']), ok(admin, ['registry', 'set-public', 'team-a', 'true', '--json'])]);
    expect(secret.username).toBe('team-a+ci');
    expect(pub.public).toBe(true);
    await Promise.all([ok(admin, ['grant', 'remove', 'team-a', String(grant.id)]), ok(admin, ['robot', 'delete', 'team-a', 'ci']), ok(admin, ['registry', 'set-public', 'team-a', 'false'])]);
    expect((await v2('', basic('team-a+ci', secret.secret))).status).toBe(401);
    expect(await ok(admin, ['grant', 'list', 'team-a', '--json'])).toEqual([]);
  });

  it('a scoped token can pull but not push; an unscoped one can push; revoking makes it fail (401)', async () => {
    const scoped = await ok(admin, ['token', 'create', 'puller', '--scope', 'team-a:pull', '--scope', 'team-b/app/*:pull', '--json']);
    expect(scoped.token.scopes).toEqual([
      { registry: 'team-a', actions: ['pull'] },
      { registry: 'team-b', repositories: 'team-b/app/*', actions: ['pull'] },
    ]);
    const human = await ok(admin, ['token', 'create', 'pusher']);
    expect(human).toMatch(/will not be shown again/);
    const pusherSecret = human.match(/(berth_pat_\S+)/)![1];

    const digest = await pushBlob('team-a/x', basic('admin', pusherSecret));
    const puller = basic('admin', scoped.secret);
    expect((await v2(`team-a/x/blobs/${digest}`, puller)).status).toBe(200);
    expect((await v2('team-a/x/blobs/uploads/', puller, { method: 'POST' })).status).toBe(403);

    await ok(admin, ['token', 'revoke', scoped.token.id]);
    expect((await v2(`team-a/x/blobs/${digest}`, puller)).status).toBe(401);
    const tokens = await ok(admin, ['token', 'list']);
    expect(tokens).toMatch(new RegExp(`${scoped.token.id}\\s+puller\\s+team-a:pull team-b/app/\\*:pull\\s+revoked`));
  });

  it('a non-admin: `user create` → exit 1 "forbidden"; passwd changes their own password', async () => {
    await ok(alice, ['login', berth.url, '-u', 'alice', '--password-stdin'], { input: ALICE_PASSWORD });
    const r = await berthCli(alice, ['user', 'create', 'bob', '--password-stdin'], { input: 'bob-password-123\n' });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^berth: forbidden: this needs a server administrator.*\(HTTP 403\)\n$/);
    expect(r.stdout).toBe('');

    await ok(alice, ['user', 'passwd', '--password-stdin'], { input: `${ALICE_PASSWORD}\nalice-new-password-2\n` });
    const res = await fetch(`${berth.url}/api/v2/account`, { headers: { authorization: basic('alice', 'alice-new-password-2') } });
    expect(res.status).toBe(200);
  });
});

describe('audit and keys', () => {
  it('audit: JSON and table, following next links past one page; export streams JSON lines', async () => {
    // 120 denied calls make more events than one page (100) holds.
    const aliceAuth = basic('alice', 'alice-new-password-2');
    await Promise.all(Array.from({ length: 120 }, () => fetch(`${berth.url}/api/v2/users`, { headers: { authorization: aliceAuth } })));
    const [many, table, exported] = await Promise.all([
      ok(admin, ['audit', '--actor', 'alice', '--action', 'api.denied', '--limit', '110', '--json']),
      ok(admin, ['audit', '--action', 'user.create', '--limit', '5']),
      berthCli(admin, ['audit', 'export', '--action', 'token.create']),
    ]);
    expect(many).toHaveLength(110);
    expect(new Set(many.map((e: { id: number }) => e.id)).size).toBe(110);
    expect(many.every((e: { actor: string; action: string; outcome: string }) => e.actor === 'alice' && e.action === 'api.denied' && e.outcome === 'denied')).toBe(true);
    expect(table).toMatch(/^TIME\s+ACTOR\s+ACTION/);
    expect(table).toMatch(/admin\s+user\.create\s+-\s+alice\s+success/);
    expect(exported.code).toBe(0);
    const lines = exported.stdout.trimEnd().split('\n').map((l) => JSON.parse(l));
    expect(lines.length).toBeGreaterThanOrEqual(4); // two logins, puller, pusher
    expect(lines.every((e) => e.action === 'token.create')).toBe(true);
  });

  it('keys: list and rotate', async () => {
    const before = await ok(admin, ['keys', 'list', '--json']);
    const rotated = await ok(admin, ['keys', 'rotate', '--json']);
    expect(rotated.keys).toHaveLength(before.length + 1);
    expect(rotated.keys.filter((k: { retired_at: string | null }) => k.retired_at === null).map((k: { kid: string }) => k.kid)).toEqual([rotated.kid]);
  });
});

describe('usage and errors', () => {
  it('bad usage exits 2; an unreachable server exits 1 with "cannot reach"', async () => {
    const port = await new Promise<number>((resolve) => {
      const s = createServer().listen(0, '127.0.0.1', () => {
        const p = (s.address() as { port: number }).port;
        s.close(() => resolve(p));
      });
    });
    const [scope, grant, unreachable] = await Promise.all([
      berthCli(admin, ['token', 'create', 'x', '--scope', 'team-a:fly']),
      berthCli(admin, ['grant', 'add', 'team-a', '--user', 'alice', '--team', 'devs', '--role', 'admin']),
      berthCli(admin, ['user', 'list', '--server', `127.0.0.1:${port}`], { env: { BERTH_TOKEN: 'berth_pat_x' } }),
    ]);
    expect(scope.code).toBe(2);
    expect(scope.stderr).toMatch(/unknown action fly/);
    expect(grant.code).toBe(2);
    expect(unreachable.code).toBe(1);
    expect(unreachable.stderr).toMatch(new RegExp(`^berth: cannot reach http://127\\.0\\.0\\.1:${port}: .*ECONNREFUSED`));
  });
});

describe('berth logout', () => {
  it('revokes the token and removes both entries, keeping the others', async () => {
    const config = readJson(join(admin.configDir, 'config.json'));
    const auth = readJson(join(admin.dockerDir, 'config.json')).auths[berth.host].auth;
    await ok(admin, ['logout']);
    const after = readJson(join(admin.configDir, 'config.json'));
    expect(after.servers[berth.host]).toBeUndefined();
    expect(after.current).toBeUndefined();
    const docker = readJson(join(admin.dockerDir, 'config.json'));
    expect(docker.auths[berth.host]).toBeUndefined();
    expect(docker.auths['other.example:5000']).toBeDefined();
    expect((await v2('', `Basic ${auth}`)).status).toBe(401);
    expect(config.servers[berth.host].tokenId).toBeTruthy();

    const again = await berthCli(admin, ['user', 'list']);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/^berth: not logged in/);
  });
});
