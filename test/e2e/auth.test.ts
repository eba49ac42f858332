/**
 * Access control with real clients: docker, podman, skopeo and ctr sign in
 * through Docker token auth (401 Bearer challenge → /token → JWT) with user
 * passwords, robot secrets and personal access tokens, push and pull where
 * their grants allow, and are refused with a clear error where they do not.
 * Anonymous clients may pull from a public registry only. Every digest pushed
 * comes back unchanged on pull.
 *
 * One Berth (access control on) and one dockerd serve the whole file.
 */
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startBerth, tempDir, type BerthProcess } from '../support/berth-process.js';
import {
  ALL_MANIFEST_TYPES,
  CommandError,
  ctr,
  newStorage,
  podman,
  removeStorage,
  requireTool,
  run,
  runWithInput,
  startDockerd,
  type Dockerd,
  type FetchedManifest,
  type RunResult,
  type Storage,
} from '../support/clients.js';
import { buildTestLayout, layoutRef, readLayoutBlob, sha256, type TestLayout } from '../support/oci-layout.js';

const ADMIN_PASSWORD = 'admin-password-for-e2e';
const PASSWORDS = {
  rw: 'rw-password-0123456789',
  ro: 'ro-password-0123456789',
  nobody: 'nobody-password-0123456789',
} as const;
/** The private registry everyone's grants are in, and the public one. */
const TEAM = 'team';
const PUB = 'pub';

let berth: BerthProcess;
let dockerd: Dockerd;
let layout: TestLayout;
let work: string;
/** Robot secrets (`team+ci` read-write, `team+viewer` read-only) and rw's pull-only PAT. */
const secrets = { ci: '', viewer: '', pat: '' };

// --- helpers ---------------------------------------------------------------------

const basic = (user: string, password: string) => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
const ADMIN = () => basic('admin', ADMIN_PASSWORD);

/** Calls the management API as admin (or `auth`), expecting a 2xx. */
async function api<T = unknown>(method: string, path: string, body?: unknown, auth = ADMIN()): Promise<T> {
  const res = await fetch(`${berth.url}/api/v2${path}`, {
    method,
    headers: { authorization: auth, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  if (res.status < 200 || res.status > 299) throw new Error(`${method} /api/v2${path}: ${res.status} ${text}`);
  return (text ? JSON.parse(text) : undefined) as T;
}

/** GETs a manifest as admin (Basic on /v2/): what the registry really holds. */
async function held(repo: string, reference: string): Promise<FetchedManifest> {
  const res = await fetch(`${berth.url}/v2/${repo}/manifests/${reference}`, { headers: { accept: ALL_MANIFEST_TYPES, authorization: ADMIN() } });
  const body = Buffer.from(await res.arrayBuffer());
  if (res.status !== 200) throw new Error(`GET ${repo}/manifests/${reference}: ${res.status} ${body.toString('utf8').slice(0, 500)}`);
  return {
    digest: res.headers.get('docker-content-digest') ?? '',
    mediaType: res.headers.get('content-type') ?? '',
    body,
    json: JSON.parse(body.toString('utf8')) as FetchedManifest['json'],
  };
}

/** The CommandError a command must fail with (with the server log attached when it succeeds instead). */
async function failure(p: Promise<RunResult>): Promise<CommandError> {
  const result = await p.then(
    (r) => r,
    (e: unknown) => e,
  );
  if (!(result instanceof CommandError)) {
    if (result instanceof Error) throw result;
    throw new Error(`expected the command to fail, but it succeeded:\n${JSON.stringify(result)}\n--- berth log tail ---\n${berth.logs().slice(-3000)}`);
  }
  return result;
}

const output = (e: CommandError) => `${e.stdout}\n${e.stderr}`;

/** An auth file with no credentials, so anonymous runs cannot pick any up. */
let emptyAuthFile: string;

const skopeo = (...args: string[]) => run('skopeo', args);

async function skopeoDigest(ref: string, ...creds: string[]): Promise<string> {
  const raw = (await skopeo('inspect', '--tls-verify=false', '--raw', ...creds, `docker://${ref}`)).stdout;
  return sha256(Buffer.from(raw));
}

beforeAll(async () => {
  await requireTool('skopeo');
  await requireTool('podman');
  await requireTool('ctr');
  work = tempDir('berth-e2e-auth-');
  emptyAuthFile = join(work, 'empty-auth.json');
  writeFileSync(emptyAuthFile, '{"auths":{}}\n');
  layout = await buildTestLayout({ dir: join(work, 'layout'), seed: 'auth' });
  [berth, dockerd] = await Promise.all([startBerth({ dataDir: join(work, 'berth'), adminPassword: ADMIN_PASSWORD }), startDockerd()]);

  for (const [username, password] of Object.entries(PASSWORDS)) await api('POST', '/users', { username, password });
  await api('POST', '/registries', { name: TEAM });
  await api('POST', '/registries', { name: PUB });
  await api('POST', `/registries/${TEAM}/grants`, { subject_kind: 'user', subject: 'rw', role: 'read-write' });
  await api('POST', `/registries/${TEAM}/grants`, { subject_kind: 'user', subject: 'ro', role: 'read-only' });
  secrets.ci = (await api<{ username: string; secret: string }>('POST', `/registries/${TEAM}/robots`, { name: 'ci', role: 'read-write' })).secret;
  secrets.viewer = (await api<{ username: string; secret: string }>('POST', `/registries/${TEAM}/robots`, { name: 'viewer', role: 'read-only' })).secret;
  secrets.pat = (
    await api<{ secret: string }>('POST', '/tokens', { name: 'pull-only', scopes: [{ registry: TEAM, actions: ['pull'] }] }, basic('rw', PASSWORDS.rw))
  ).secret;

  // The image every client starts from, pushed by rw (skopeo through the token flow).
  await skopeo('copy', '--quiet', '--preserve-digests', '--dest-tls-verify=false', '--dest-creds', `rw:${PASSWORDS.rw}`, `oci:${layout.dir}:image`, `docker://${berth.host}/${TEAM}/seed:image`);
}, 180_000);

afterAll(async () => {
  await dockerd?.stop();
  await berth?.stop();
  if (work) rmSync(work, { recursive: true, force: true });
});

// --- the protocol itself -------------------------------------------------------------

describe('token flow', () => {
  it('challenges an anonymous /v2/ with a Bearer realm on this server, and issues a JWT for Basic credentials', async () => {
    const res = await fetch(`${berth.url}/v2/`);
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toBe(`Bearer realm="http://${berth.host}/token",service="berth"`);

    const token = await fetch(`${berth.url}/token?service=berth&scope=repository:${TEAM}/seed:pull`, { headers: { authorization: basic('ro', PASSWORDS.ro) } });
    expect(token.status).toBe(200);
    const body = (await token.json()) as { token: string };
    const ok = await fetch(`${berth.url}/v2/${TEAM}/seed/manifests/image`, { method: 'HEAD', headers: { authorization: `Bearer ${body.token}`, accept: ALL_MANIFEST_TYPES } });
    expect(ok.status).toBe(200);
    expect(ok.headers.get('docker-content-digest')).toBe(layout.image.digest);
  });
});

// --- skopeo ---------------------------------------------------------------------------

describe('skopeo', () => {
  const h = () => berth.host;

  it('pushes with --dest-creds and pulls with --src-creds, digests preserved', async () => {
    expect((await held(`${TEAM}/seed`, 'image')).digest).toBe(layout.image.digest);
    await skopeo('copy', '--quiet', '--preserve-digests', '--src-tls-verify=false', '--dest-tls-verify=false',
      '--src-creds', `ro:${PASSWORDS.ro}`, '--dest-creds', `rw:${PASSWORDS.rw}`, `docker://${h()}/${TEAM}/seed:image`, `docker://${h()}/${TEAM}/skopeo:v1`);
    expect((await held(`${TEAM}/skopeo`, 'v1')).digest).toBe(layout.image.digest);
    expect(await skopeoDigest(`${h()}/${TEAM}/skopeo:v1`, '--creds', `ro:${PASSWORDS.ro}`)).toBe(layout.image.digest);

    const out = join(work, 'skopeo-pulled');
    await skopeo('copy', '--quiet', '--preserve-digests', '--src-tls-verify=false', '--src-creds', `ro:${PASSWORDS.ro}`, `docker://${h()}/${TEAM}/skopeo:v1`, `oci:${out}:v1`);
    expect(layoutRef(out, 'v1').digest).toBe(layout.image.digest);
    for (const d of [layout.image.digest, layout.image.configDigest, ...layout.image.layers]) expect(sha256(readLayoutBlob(out, d))).toBe(d);
  });

  it('refuses a push by a read-only user', async () => {
    const err = await failure(
      skopeo('copy', '--quiet', '--preserve-digests', '--dest-tls-verify=false', '--dest-creds', `ro:${PASSWORDS.ro}`, `oci:${layout.dir}:image`, `docker://${h()}/${TEAM}/skopeo-ro:v1`),
    );
    expect(output(err)).toMatch(/denied|unauthorized/i);
  });

  it('pushes with a read-write robot secret; a read-only robot may pull but not push', async () => {
    await skopeo('copy', '--quiet', '--preserve-digests', '--dest-tls-verify=false', '--dest-creds', `${TEAM}+ci:${secrets.ci}`, `oci:${layout.dir}:image`, `docker://${h()}/${TEAM}/robot:v1`);
    expect((await held(`${TEAM}/robot`, 'v1')).digest).toBe(layout.image.digest);
    expect(await skopeoDigest(`${h()}/${TEAM}/robot:v1`, '--creds', `${TEAM}+viewer:${secrets.viewer}`)).toBe(layout.image.digest);

    const err = await failure(
      skopeo('copy', '--quiet', '--preserve-digests', '--dest-tls-verify=false', '--dest-creds', `${TEAM}+viewer:${secrets.viewer}`, `oci:${layout.dir}:image`, `docker://${h()}/${TEAM}/robot:viewer`),
    );
    expect(output(err)).toMatch(/denied|unauthorized/i);
    await expect(held(`${TEAM}/robot`, 'viewer')).rejects.toThrow(/404/);
  });

  it('a pull-only personal access token can inspect but not push', async () => {
    expect(await skopeoDigest(`${h()}/${TEAM}/seed:image`, '--creds', `rw:${secrets.pat}`)).toBe(layout.image.digest);
    const err = await failure(
      skopeo('copy', '--quiet', '--preserve-digests', '--dest-tls-verify=false', '--dest-creds', `rw:${secrets.pat}`, `oci:${layout.dir}:image`, `docker://${h()}/${TEAM}/pat:v1`),
    );
    expect(output(err)).toMatch(/denied|unauthorized/i);
  });

  it('a user without grants cannot inspect a private image', async () => {
    const err = await failure(skopeo('inspect', '--tls-verify=false', '--raw', '--creds', `nobody:${PASSWORDS.nobody}`, `docker://${h()}/${TEAM}/seed:image`));
    expect(output(err)).toMatch(/denied|unauthorized/i);
  });
});

// --- anonymous ----------------------------------------------------------------------------

describe('anonymous pulls', () => {
  const h = () => berth.host;

  it('pull from a public registry without credentials, digests preserved', async () => {
    await api('PATCH', `/registries/${PUB}`, { public: true });
    await skopeo('copy', '--quiet', '--preserve-digests', '--dest-tls-verify=false', '--dest-creds', `admin:${ADMIN_PASSWORD}`, `oci:${layout.dir}:image`, `docker://${h()}/${PUB}/app:v1`);

    expect(await skopeoDigest(`${h()}/${PUB}/app:v1`, '--authfile', emptyAuthFile)).toBe(layout.image.digest);
    const out = join(work, 'anonymous-pulled');
    await skopeo('copy', '--quiet', '--preserve-digests', '--src-tls-verify=false', '--authfile', emptyAuthFile, `docker://${h()}/${PUB}/app:v1`, `oci:${out}:v1`);
    expect(layoutRef(out, 'v1').digest).toBe(layout.image.digest);
    for (const d of [layout.image.configDigest, ...layout.image.layers]) expect(sha256(readLayoutBlob(out, d))).toBe(d);

    // Public means pull, not push.
    const err = await failure(
      skopeo('copy', '--quiet', '--preserve-digests', '--dest-tls-verify=false', '--authfile', emptyAuthFile, `oci:${layout.dir}:image`, `docker://${h()}/${PUB}/app:anon`),
    );
    expect(output(err)).toMatch(/denied|unauthorized|authentication required/i);
  });

  it('pull from a private registry without credentials fails with an auth error', async () => {
    const err = await failure(skopeo('inspect', '--tls-verify=false', '--raw', '--authfile', emptyAuthFile, `docker://${h()}/${TEAM}/seed:image`));
    expect(output(err)).toMatch(/unauthorized|authentication required|denied/i);
  });
});

// --- docker ------------------------------------------------------------------------------------

describe('docker', () => {
  const h = () => berth.host;
  /** A fresh DOCKER_CONFIG per signed-in identity. */
  const configs: Record<string, string> = {};
  const configFor = (who: string) => {
    if (!configs[who]) {
      configs[who] = join(work, `docker-config-${who}`);
      mkdirSync(configs[who], { recursive: true });
    }
    return configs[who];
  };
  const docker = (who: string, ...args: string[]) => dockerd.docker(args, { env: { DOCKER_CONFIG: configFor(who) } });
  const login = (who: string, user: string, password: string) =>
    runWithInput('/usr/bin/docker', ['login', h(), '-u', user, '--password-stdin'], password, {
      env: { DOCKER_HOST: `unix://${dockerd.socket}`, DOCKER_CONFIG: configFor(who) },
    });

  async function removeAllImages(): Promise<void> {
    const ids = (await docker('rw', 'image', 'ls', '-q', '--no-trunc')).stdout.split('\n').filter(Boolean);
    if (ids.length > 0) await docker('rw', 'image', 'rm', '-f', ...new Set(ids));
  }

  async function repoDigests(ref: string): Promise<string[]> {
    return (JSON.parse((await docker('rw', 'image', 'inspect', ref)).stdout) as { RepoDigests: string[] }[])[0]!.RepoDigests;
  }

  it('rejects docker login with a wrong password', async () => {
    const err = await failure(login('wrong', 'rw', 'not-the-password-at-all'));
    expect(output(err)).toMatch(/unauthorized|incorrect/i);
    // Nothing was stored.
    const file = join(configFor('wrong'), 'config.json');
    expect(existsSync(file) ? readFileSync(file, 'utf8') : '').not.toContain(h());
  });

  it('logs in as a read-write user, pushes into the registry, and pulls the pushed digest back', async () => {
    const out = await login('rw', 'rw', PASSWORDS.rw);
    expect(out.stdout).toMatch(/Login Succeeded/);

    await docker('rw', 'pull', `${h()}/${TEAM}/seed:image`);
    await docker('rw', 'tag', `${h()}/${TEAM}/seed:image`, `${h()}/${TEAM}/docker:v1`);
    const pushOut = (await docker('rw', 'push', `${h()}/${TEAM}/docker:v1`)).stdout;
    const digest = pushOut.match(/digest: (sha256:[0-9a-f]{64}) size: \d+/)?.[1];
    expect(digest, pushOut).toBeDefined();
    const stored = await held(`${TEAM}/docker`, 'v1');
    expect(stored.digest).toBe(digest);
    expect(stored.json.config?.digest).toBe(layout.image.configDigest);

    await removeAllImages();
    const pullOut = (await docker('rw', 'pull', `${h()}/${TEAM}/docker:v1`)).stdout;
    expect(pullOut).toContain(`Digest: ${digest}`);
    expect(await repoDigests(`${h()}/${TEAM}/docker:v1`)).toContain(`${h()}/${TEAM}/docker@${digest}`);
  });

  it('a read-only user is denied push but can pull', async () => {
    await login('ro', 'ro', PASSWORDS.ro);
    await removeAllImages();
    const pullOut = (await docker('ro', 'pull', `${h()}/${TEAM}/docker:v1`)).stdout;
    const digest = (await held(`${TEAM}/docker`, 'v1')).digest;
    expect(pullOut).toContain(`Digest: ${digest}`);

    await docker('ro', 'tag', `${h()}/${TEAM}/docker:v1`, `${h()}/${TEAM}/docker-ro:v1`);
    const err = await failure(docker('ro', 'push', `${h()}/${TEAM}/docker-ro:v1`));
    expect(output(err)).toMatch(/denied|unauthorized/i);
    await expect(held(`${TEAM}/docker-ro`, 'v1')).rejects.toThrow(/404/);
  });

  it('pulls with the config.json the docker-credentials endpoint hands out (read-only by default)', async () => {
    const config = await api<{ auths: Record<string, { auth: string }> }>('GET', `/registries/${TEAM}/docker-credentials?expiry_seconds=3600`, undefined, basic('rw', PASSWORDS.rw));
    expect(Object.keys(config.auths)).toEqual([h()]);
    mkdirSync(configFor('generated'), { recursive: true });
    writeFileSync(join(configFor('generated'), 'config.json'), JSON.stringify(config));
    await removeAllImages();
    const digest = (await held(`${TEAM}/docker`, 'v1')).digest;
    expect((await docker('generated', 'pull', `${h()}/${TEAM}/docker:v1`)).stdout).toContain(`Digest: ${digest}`);
    await docker('generated', 'tag', `${h()}/${TEAM}/docker:v1`, `${h()}/${TEAM}/docker-generated:v1`);
    expect(output(await failure(docker('generated', 'push', `${h()}/${TEAM}/docker-generated:v1`)))).toMatch(/denied|unauthorized/i);
  });

  it('after docker logout a private image cannot be pulled', async () => {
    await docker('rw', 'logout', h());
    await removeAllImages();
    const err = await failure(docker('rw', 'pull', `${h()}/${TEAM}/docker:v1`));
    expect(output(err)).toMatch(/denied|unauthorized/i);
  });
});

// --- podman -----------------------------------------------------------------------------------

describe('podman', () => {
  const h = () => berth.host;
  let rwStore: Storage;
  let roStore: Storage;

  beforeAll(() => {
    rwStore = newStorage('berth-e2e-auth-podman-rw-');
    roStore = newStorage('berth-e2e-auth-podman-ro-');
  });
  afterAll(() => {
    for (const s of [rwStore, roStore]) if (s) removeStorage(s);
  });

  const authfile = (s: Storage) => join(s.dir, 'auth.json');
  const login = (s: Storage, user: string, password: string) =>
    runWithInput(
      'podman',
      ['--root', s.root, '--runroot', s.runroot, '--storage-driver', 'vfs', '--cgroup-manager', 'cgroupfs', '--events-backend', 'file',
        'login', '--tls-verify=false', '--authfile', authfile(s), '-u', user, '--password-stdin', h()],
      password,
      { env: { TMPDIR: s.dir } },
    );

  async function inspect(s: Storage, ref: string): Promise<{ Digest: string; RepoDigests: string[] }> {
    return (JSON.parse((await podman(s, ['image', 'inspect', ref])).stdout) as { Digest: string; RepoDigests: string[] }[])[0]!;
  }

  it('logs in, pulls, pushes and pulls the pushed digest back', async () => {
    const out = await login(rwStore, 'rw', PASSWORDS.rw);
    expect(out.stdout + out.stderr).toMatch(/Login Succeeded/i);
    const auth = ['--tls-verify=false', '--authfile', authfile(rwStore)];

    await podman(rwStore, ['pull', '-q', ...auth, `${h()}/${TEAM}/seed:image`]);
    expect((await inspect(rwStore, `${h()}/${TEAM}/seed:image`)).Digest).toBe(layout.image.digest);

    const digestFile = join(rwStore.dir, 'pushed-digest');
    await podman(rwStore, ['push', ...auth, '--format', 'oci', '--digestfile', digestFile, `${h()}/${TEAM}/seed:image`, `docker://${h()}/${TEAM}/podman:v1`]);
    const digest = readFileSync(digestFile, 'utf8').trim();
    expect((await held(`${TEAM}/podman`, 'v1')).digest).toBe(digest);

    await podman(rwStore, ['pull', '-q', ...auth, `${h()}/${TEAM}/podman:v1`]);
    expect(await inspect(rwStore, `${h()}/${TEAM}/podman:v1`).then((i) => i.RepoDigests)).toContain(`${h()}/${TEAM}/podman@${digest}`);
  });

  it('a read-only user can pull but is denied push', async () => {
    await login(roStore, 'ro', PASSWORDS.ro);
    const auth = ['--tls-verify=false', '--authfile', authfile(roStore)];
    await podman(roStore, ['pull', '-q', ...auth, `${h()}/${TEAM}/seed:image`]);
    expect((await inspect(roStore, `${h()}/${TEAM}/seed:image`)).Digest).toBe(layout.image.digest);

    const err = await failure(podman(roStore, ['push', ...auth, `${h()}/${TEAM}/seed:image`, `docker://${h()}/${TEAM}/podman-ro:v1`]));
    expect(output(err)).toMatch(/denied|unauthorized/i);
  });

  it('rejects podman login with a wrong password', async () => {
    const s = newStorage('berth-e2e-auth-podman-bad-');
    try {
      const err = await failure(login(s, 'ro', 'not-the-password-at-all'));
      expect(output(err)).toMatch(/unauthorized|invalid username\/password|invalid username or password|incorrect/i);
    } finally {
      removeStorage(s);
    }
  });
});

// --- ctr --------------------------------------------------------------------------------------------

describe('ctr', () => {
  const h = () => berth.host;
  const c = (ns: string, ...args: string[]) => ctr(dockerd.containerdSocket, ns, args);

  async function images(ns: string): Promise<Map<string, string>> {
    const out = (await c(ns, 'images', 'ls')).stdout.trim().split('\n').slice(1);
    return new Map(out.map((line) => line.split(/\s+/)).map((cols) => [cols[0]!, cols[2]!]));
  }

  it('pulls with --user for a permitted user, and fails for a user without grants', async () => {
    await c('auth-ro', 'images', 'pull', '--plain-http', '--user', `ro:${PASSWORDS.ro}`, `${h()}/${TEAM}/seed:image`);
    expect((await images('auth-ro')).get(`${h()}/${TEAM}/seed:image`)).toBe(layout.image.digest);

    const err = await failure(c('auth-nobody', 'images', 'pull', '--plain-http', '--user', `nobody:${PASSWORDS.nobody}`, `${h()}/${TEAM}/seed:image`));
    // ctr reports only the status line: an authenticated caller without access gets 403.
    expect(output(err)).toMatch(/403 Forbidden|denied|unauthorized/i);
    expect((await images('auth-nobody')).has(`${h()}/${TEAM}/seed:image`)).toBe(false);
  });

  it('pushes with --user for a read-write user, digests unchanged; a read-only user is refused', async () => {
    await c('auth-rw', 'images', 'pull', '--plain-http', '--user', `rw:${PASSWORDS.rw}`, `${h()}/${TEAM}/seed:image`);
    await c('auth-rw', 'images', 'tag', `${h()}/${TEAM}/seed:image`, `${h()}/${TEAM}/ctr:v1`);
    await c('auth-rw', 'images', 'push', '--plain-http', '--user', `rw:${PASSWORDS.rw}`, `${h()}/${TEAM}/ctr:v1`);
    const stored = await held(`${TEAM}/ctr`, 'v1');
    expect(stored.digest).toBe(layout.image.digest);
    expect(stored.json.layers?.map((l) => l.digest)).toEqual(layout.image.layers);

    await c('auth-back', 'images', 'pull', '--plain-http', '--user', `ro:${PASSWORDS.ro}`, `${h()}/${TEAM}/ctr:v1`);
    expect((await images('auth-back')).get(`${h()}/${TEAM}/ctr:v1`)).toBe(layout.image.digest);

    await c('auth-ro', 'images', 'tag', `${h()}/${TEAM}/seed:image`, `${h()}/${TEAM}/ctr-ro:v1`);
    const err = await failure(c('auth-ro', 'images', 'push', '--plain-http', '--user', `ro:${PASSWORDS.ro}`, `${h()}/${TEAM}/ctr-ro:v1`));
    expect(output(err)).toMatch(/denied|unauthorized|forbidden|authoriz/i);
  });
});
