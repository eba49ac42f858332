/**
 * Helpers for the migrate tests: the built CLI as a child process, an embedded
 * installation with images, users, tokens and a robot to copy, and checks of
 * what the copy holds (PostgreSQL rows, bucket objects, pulls from a Berth on it).
 */
import { scaleOutEnv as envFor } from '../support/scale-out-env.js';
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { cpSync, existsSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import Sqlite from 'better-sqlite3';
import { ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { expect } from 'vitest';
import { ADMIN_PASSWORD, Api, basic, passwordOf, pushBlob, putManifest, send } from '../auth/helpers.js';
import { descriptorOf, imageManifest, indexManifest, MT, type Bytes } from '../conformance/helpers.js';
import { BERTH_BIN, startBerth, tempDir } from '../support/berth-process.js';
import { POSTGRES_URL } from '../support/postgres.js';
import type { S3TestServer } from '../support/s3-server.js';

export interface CliRun {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** The environment without BERTH_* settings of the test runner, plus `extra`: each test says what it configures. */
export function cliEnv(extra: Record<string, string> = {}): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('BERTH_') && v !== undefined) env[k] = v;
  return { ...env, ...extra };
}

/** Starts the built CLI; `done` resolves when it exits. */
export function spawnCli(args: string[], env: Record<string, string>): { child: ChildProcess; done: Promise<CliRun> } {
  const child = spawn(process.execPath, [BERTH_BIN, ...args], { env: cliEnv(env), stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const done = new Promise<CliRun>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
  return { child, done };
}

export function runCli(args: string[], env: Record<string, string> = {}): Promise<CliRun> {
  return spawnCli(args, env).done;
}

/** Expects exit code `code`; the failure message shows everything the command printed. */
export function expectExit(run: CliRun, code: number): void {
  expect(run.code, `exit code\n--- stdout ---\n${run.stdout}\n--- stderr ---\n${run.stderr}`).toBe(code);
}

/** BERTH_STORAGE_* naming PostgreSQL (one schema) and the test S3 server (one prefix). */
export function scaleOutEnv(s3: S3TestServer, schema: string, prefix: string): Record<string, string> {
  // The smallest part S3 allows, so the big layer goes up in several parts.
  return { ...envFor(POSTGRES_URL, schema, s3, prefix), BERTH_STORAGE_S3_PART_SIZE_MIB: '5' };
}

/** The embedded default, whatever backend the test run otherwise uses. */
export const EMBEDDED_ENV = { BERTH_STORAGE_METADATA: 'sqlite', BERTH_STORAGE_BLOBS: 'filesystem' };

export interface PushedImage {
  repo: string;
  tag?: string;
  digest: string;
  mediaType: string;
  body: Bytes;
  /** Every blob the manifest references, by digest. */
  blobs: Map<string, Bytes>;
}

export interface SourceInstallation {
  dataDir: string;
  images: PushedImage[];
  /** Credentials that must keep working on the copy. */
  credentials: { name: string; auth: string }[];
}

/**
 * An embedded Berth with access control on: a registry, a user with a grant and a
 * personal access token, a robot, a deleted user (an id gap), and images: one
 * with a 12 MiB layer (several multipart parts), one with many small layers
 * (room to interrupt a copy between blobs), and an index over two images.
 */
export async function buildSourceInstallation(): Promise<SourceInstallation> {
  const berth = await startBerth({ adminPassword: ADMIN_PASSWORD, env: EMBEDDED_ENV });
  try {
    const admin = new Api(berth.url, basic('admin', ADMIN_PASSWORD));
    await admin.createRegistry('acme');
    await admin.createUser('alice');
    await admin.createUser('temp');
    await admin.ok('DELETE', '/users/temp');
    await admin.grant('acme', 'user', 'alice', 'read-write');
    const aliceAuth = basic('alice', passwordOf('alice'));
    const pat = await admin.as(aliceAuth).token('laptop');
    const robot = await admin.robot('acme', 'ci', 'read-only');
    // A failed login: the throttle's state is a table without a primary key.
    expect((await send(berth.url, { path: '/v2/', auth: basic('alice', 'not-her-password') })).status).toBe(401);
    const auth = admin.auth!;
    const images: PushedImage[] = [];
    images.push(await pushImageOf(berth.url, auth, 'acme/app', 'v1', [12 * 1024 * 1024, 3000]));
    images.push(await pushImageOf(berth.url, auth, 'acme/app', 'v2', [4096]));
    images.push(await pushImageOf(berth.url, aliceAuth, 'acme/many', 'latest', Array.from({ length: 60 }, () => 256 * 1024)));
    const amd = await pushImageOf(berth.url, auth, 'acme/multi', undefined, [1500]);
    const arm = await pushImageOf(berth.url, auth, 'acme/multi', undefined, [1600]);
    images.push(amd, arm, await pushIndexOf(berth.url, auth, 'acme/multi', 'latest', [amd, arm]));
    return {
      dataDir: berth.dataDir,
      images,
      credentials: [
        { name: 'admin password', auth },
        { name: 'alice password', auth: aliceAuth },
        { name: 'alice token', auth: basic('alice', pat.secret) },
        { name: 'robot', auth: basic(robot.username, robot.secret) },
      ],
    };
  } finally {
    expect(await berth.stop()).toBe(0);
  }
}

async function pushImageOf(base: string, auth: string, repo: string, tag: string | undefined, layerSizes: number[]): Promise<PushedImage> {
  const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', nonce: randomBytes(8).toString('hex') })) as Bytes;
  const layers = layerSizes.map((n) => randomBytes(n) as Bytes);
  const blobs = new Map<string, Bytes>();
  for (const blob of [config, ...layers]) {
    blobs.set(await pushBlob(base, auth, repo, blob), blob);
  }
  const body = Buffer.from(JSON.stringify(imageManifest(descriptorOf(config, MT.ociConfig), layers.map((l) => descriptorOf(l, MT.ociLayer))))) as Bytes;
  const digest = sha256(body);
  const res = await putManifest(base, auth, repo, tag ?? digest, body);
  expect(res.status, await res.text()).toBe(201);
  return { repo, tag, digest, mediaType: MT.ociManifest, body, blobs };
}

async function pushIndexOf(base: string, auth: string, repo: string, tag: string, children: PushedImage[]): Promise<PushedImage> {
  const body = Buffer.from(JSON.stringify(indexManifest(children.map((c) => descriptorOf(c.body, c.mediaType))))) as Bytes;
  const res = await send(base, { method: 'PUT', path: `/v2/${repo}/manifests/${tag}`, auth, body, headers: { 'content-type': MT.ociIndex } });
  expect(res.status, await res.text()).toBe(201);
  return { repo, tag, digest: sha256(body), mediaType: MT.ociIndex, body, blobs: new Map() };
}

export const sha256 = (data: Uint8Array): string => `sha256:${createHash('sha256').update(data).digest('hex')}`;

const copies: string[] = [];

/** A copy of the installation's data directory, so each case starts from the same source. */
export function copyOf(dataDir: string): string {
  const copy = join(tempDir('berth-migrate-src-'), 'data');
  cpSync(dataDir, copy, { recursive: true });
  copies.push(copy);
  return copy;
}

/** Removes the installation and every copy made of it. */
export function removeInstallations(...dataDirs: string[]): void {
  for (const dir of [...dataDirs, ...copies.splice(0)]) rmSync(dirname(dir), { recursive: true, force: true });
}

/** Row count of every table of the source (migration bookkeeping aside). */
export function sourceCounts(dataDir: string): Map<string, number> {
  const db = new Sqlite(join(dataDir, 'metadata.db'), { readonly: true });
  try {
    const tables = db.prepare(`select name from sqlite_master where type = 'table' and name not like 'sqlite_%' and name not like 'kysely_%'`).pluck().all() as string[];
    return new Map(tables.map((t) => [t, Number(db.prepare(`select count(*) from "${t}"`).pluck().get())]));
  } finally {
    db.close();
  }
}

/** Path of a blob file in an embedded data directory. */
export function blobFile(dataDir: string, digest: string): string {
  const [algorithm, hex] = digest.split(':') as [string, string];
  const path = join(dataDir, 'blobs', algorithm, hex.slice(0, 2), hex);
  expect(existsSync(path), path).toBe(true);
  return path;
}

/** Keys (relative to `prefix`) and sizes of every object under `prefix`. */
export async function bucketObjects(s3: S3TestServer, prefix: string): Promise<Map<string, number>> {
  const client = new S3Client({
    endpoint: s3.endpoint,
    region: s3.region,
    forcePathStyle: s3.forcePathStyle,
    credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey },
  });
  try {
    const objects = new Map<string, number>();
    let token: string | undefined;
    do {
      const page = await client.send(new ListObjectsV2Command({ Bucket: s3.bucket, Prefix: prefix, ContinuationToken: token }));
      for (const o of page.Contents ?? []) objects.set(o.Key!.slice(prefix.length), o.Size ?? 0);
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
    return objects;
  } finally {
    client.destroy();
  }
}

/** The bucket key of a blob under a prefix, as the S3 store lays them out. */
export function blobKey(digest: string): string {
  const [algorithm, hex] = digest.split(':') as [string, string];
  return `blobs/${algorithm}/${hex.slice(0, 2)}/${hex}`;
}

/** Pulls every image by digest (and tag) and every blob it references, comparing bytes. */
export async function pullAndVerify(base: string, auth: string, images: PushedImage[]): Promise<void> {
  for (const image of images) {
    for (const reference of [image.digest, ...(image.tag ? [image.tag] : [])]) {
      const res = await send(base, { path: `/v2/${image.repo}/manifests/${reference}`, auth, headers: { accept: `${MT.ociManifest}, ${MT.ociIndex}` } });
      expect(res.status, `GET ${image.repo} manifest ${reference}`).toBe(200);
      const body = Buffer.from(await res.arrayBuffer());
      expect(sha256(body), `${image.repo}@${reference}`).toBe(image.digest);
      expect(body.equals(image.body)).toBe(true);
    }
    for (const [digest, bytes] of image.blobs) {
      const res = await send(base, { path: `/v2/${image.repo}/blobs/${digest}`, auth });
      expect(res.status, `GET ${image.repo} blob ${digest}`).toBe(200);
      const body = Buffer.from(await res.arrayBuffer());
      expect(body.length).toBe(bytes.length);
      expect(sha256(body), `blob ${digest}`).toBe(digest);
    }
  }
}
