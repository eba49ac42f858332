/**
 * docker-credential-berth: Docker's credential-helper protocol round trip
 * (store/get/list/erase, misses, bad input, a 0600 file), run as npm would link
 * it; then `berth registry login --use-credential-helper` with skopeo pulling
 * through the helper, and the inline (no helper) form.
 */
import { spawn } from 'node:child_process';
import { chmodSync, mkdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { delimiter, dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Api, basic, pushImage, stopAndClean } from '../auth/helpers.js';
import { BERTH_BIN, startBerth, tempDir, type BerthProcess } from '../support/berth-process.js';
import { requireTool, run } from '../support/clients.js';
import { newHome, ok, type Home } from './run-cli.js';

const HELPER = join(dirname(BERTH_BIN), 'credential-helper.js');
let bin: string;
let home: Home;

/** Runs the helper as docker does: one action argument, input on stdin. */
function helper(action: string, input = ''): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(join(bin, 'docker-credential-berth'), [action], { env: { ...process.env, BERTH_CONFIG_DIR: home.configDir }, stdio: ['pipe', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  child.stdin.end(input);
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, stdout, stderr }));
  });
}

beforeAll(() => {
  home = newHome();
  // As `npm install` links a bin: a symlink to the built file, made executable.
  bin = join(home.dir, 'bin');
  mkdirSync(bin);
  chmodSync(HELPER, 0o755);
  symlinkSync(HELPER, join(bin, 'docker-credential-berth'));
});
afterAll(() => rmSync(home.dir, { recursive: true, force: true }));

describe('the credential-helper protocol', () => {
  it('store → get → list → erase → get (miss)', async () => {
    const cred = { ServerURL: '127.0.0.1:5999', Username: 'alice', Secret: 'berth_pat_abc_def' };
    expect(await helper('store', JSON.stringify(cred))).toMatchObject({ code: 0, stdout: '' });
    const file = join(home.configDir, 'docker-credentials.json');
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(JSON.parse((await helper('get', '127.0.0.1:5999\n')).stdout)).toEqual(cred);
    // The same registry written as a URL is the same entry.
    expect(JSON.parse((await helper('get', 'https://127.0.0.1:5999/')).stdout)).toMatchObject({ Username: 'alice', Secret: cred.Secret });
    await helper('store', JSON.stringify({ ServerURL: 'other.example', Username: 'bob', Secret: 's2' }));
    expect(JSON.parse((await helper('list')).stdout)).toEqual({ '127.0.0.1:5999': 'alice', 'other.example': 'bob' });
    expect((await helper('erase', '127.0.0.1:5999')).code).toBe(0);
    const miss = await helper('get', '127.0.0.1:5999');
    expect(miss).toMatchObject({ code: 1, stdout: 'credentials not found in native keychain\n' });
    expect((await helper('erase', '127.0.0.1:5999')).code).toBe(1);
    expect(JSON.parse((await helper('list')).stdout)).toEqual({ 'other.example': 'bob' });
  });

  it('bad input fails without echoing it; unknown actions exit 2', async () => {
    const bad = await helper('store', '{"ServerURL": "x", "Secret": "do-not-print-me"');
    expect(bad.code).toBe(1);
    expect(bad.stdout + bad.stderr).not.toContain('do-not-print-me');
    expect((await helper('store', '{"ServerURL": "x"}')).code).toBe(1);
    expect((await helper('fly')).code).toBe(2);
    expect((await helper('version')).stdout).toMatch(/^docker-credential-berth /);
  });
});

describe('berth registry login', () => {
  const ADMIN_PASSWORD = 'admin-password-helper-1';
  let berth: BerthProcess;

  beforeAll(async () => {
    berth = await startBerth({ adminPassword: ADMIN_PASSWORD });
    await new Api(berth.url, basic('admin', ADMIN_PASSWORD)).createRegistry('team-h');
    await pushImage(berth.url, basic('admin', ADMIN_PASSWORD), 'team-h/app', 'v1');
    await ok(home, ['login', berth.host, '-u', 'admin', '--password-stdin'], { input: ADMIN_PASSWORD });
  });
  afterAll(() => stopAndClean(berth));

  it('--use-credential-helper: docker config names "berth", the secret is in the helper store, skopeo pulls through it', async () => {
    await requireTool('skopeo');
    const dockerFile = join(home.dockerDir, 'config.json');
    writeFileSync(dockerFile, JSON.stringify({ auths: { 'other.example': { auth: 'eDp5' } }, credHelpers: { 'gcr.io': 'gcloud' } }));
    await ok(home, ['registry', 'login', 'team-h', '--use-credential-helper']);
    const config = JSON.parse(readFileSync(dockerFile, 'utf8'));
    expect(config.credHelpers).toEqual({ 'gcr.io': 'gcloud', [berth.host]: 'berth' });
    expect(config.auths).toEqual({ 'other.example': { auth: 'eDp5' } });
    const stored = JSON.parse((await helper('get', berth.host)).stdout);
    expect(stored).toMatchObject({ ServerURL: berth.host, Username: 'admin', Secret: expect.stringMatching(/^berth_pat_/) });

    const work = tempDir('berth-helper-');
    try {
      // Docker runs the helper with its own environment: where berth keeps its files must be in it.
      const env = { PATH: `${bin}${delimiter}${process.env.PATH}`, BERTH_CONFIG_DIR: home.configDir };
      await run('skopeo', ['copy', '--src-tls-verify=false', '--authfile', dockerFile, `docker://${berth.host}/team-h/app:v1`, `dir:${join(work, 'out')}`], { env });
    } finally {
      rmSync(work, { recursive: true, force: true });
    }
  });

  it('without the helper: an inline auth replaces the helper entry; --read-only makes a pull-only token', async () => {
    const dockerFile = join(home.dockerDir, 'config.json');
    const said = await ok(home, ['registry', 'login', 'team-h', '--read-only', '--expiry-seconds', '0']);
    expect(said).toMatch(/read-only; never expires/);
    const config = JSON.parse(readFileSync(dockerFile, 'utf8'));
    expect(config.credHelpers).toEqual({ 'gcr.io': 'gcloud' });
    const [user, secret] = Buffer.from(config.auths[berth.host].auth, 'base64').toString().split(':');
    expect(user).toBe('admin');
    const auth = basic(user!, secret!);
    expect((await fetch(`${berth.url}/v2/team-h/app/manifests/v1`, { headers: { authorization: auth } })).status).toBe(200);
    expect((await fetch(`${berth.url}/v2/team-h/app/blobs/uploads/`, { method: 'POST', headers: { authorization: auth } })).status).toBe(403);
  });

  it('registry logout revokes the token it finds and removes the entry, keeping everything else', async () => {
    const dockerFile = join(home.dockerDir, 'config.json');
    const [user, secret] = Buffer.from(JSON.parse(readFileSync(dockerFile, 'utf8')).auths[berth.host].auth, 'base64').toString().split(':');
    expect(await ok(home, ['registry', 'logout'])).toMatch(/Logged docker out of .* and revoked its token/);
    const config = JSON.parse(readFileSync(dockerFile, 'utf8'));
    expect(config.auths).toEqual({ 'other.example': { auth: 'eDp5' } });
    expect(config.credHelpers).toEqual({ 'gcr.io': 'gcloud' });
    expect((await fetch(`${berth.url}/v2/team-h/app/manifests/v1`, { headers: { authorization: basic(user!, secret!) } })).status).toBe(401);
  });
});
