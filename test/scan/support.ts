/**
 * Shared by the scanner's end-to-end tests (test/scan/*.test.ts): the tools
 * they need, a real Debian bookworm root filesystem (debootstrap, cached per
 * day), OCI image layouts written in code (one-layer images of a directory,
 * small layers of given files), pushes with skopeo, the scan API, OSV imports,
 * and dpkg's own version comparison.
 */
import { createHash, type Hash } from 'node:crypto';
import { createReadStream, createWriteStream, existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, readlinkSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Transform, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGzip, gzipSync } from 'node:zlib';
import tarStream from 'tar-stream';
import { expect } from 'vitest';
import { CommandError, findTool, requireTool, run } from '../support/clients.js';
import { OCI_CONFIG, OCI_INDEX, OCI_LAYER_GZIP, OCI_MANIFEST, REF_NAME, HOST_ARCH, tarOf } from '../support/oci-layout.js';

export { HOST_ARCH };

export const CI = process.env.CI === 'true';

// --- tools -----------------------------------------------------------------------

/**
 * Finds every tool (name → Debian package). A missing one fails loudly in CI
 * (CI=true); elsewhere its package is installed, and when that is not possible
 * the reason is returned so the suite can be skipped with it.
 */
export async function toolsOrSkipReason(tools: Record<string, string>): Promise<string | undefined> {
  for (const [name, pkg] of Object.entries(tools)) {
    if (findTool(name)) continue;
    try {
      await requireTool(name, pkg); // throws in CI: the run fails instead of skipping
    } catch (err) {
      if (CI) throw err;
      return `${name} (Debian package ${pkg}) is not installed and could not be installed: ${(err as Error).message.split('\n')[0]}`;
    }
  }
  return undefined;
}

// --- a Debian bookworm root filesystem ------------------------------------------------

export const CACHE_DIR = join(tmpdir(), 'berth-test-cache');

/**
 * The Debian mirror this machine's apt uses for bookworm (one-line or deb822
 * sources), else deb.debian.org.
 */
export function debianMirror(): string {
  const files = ['/etc/apt/sources.list'];
  try {
    for (const f of readdirSync('/etc/apt/sources.list.d')) if (/\.(list|sources)$/.test(f)) files.push(join('/etc/apt/sources.list.d', f));
  } catch {
    // no sources.list.d
  }
  for (const file of files) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      continue;
    }
    if (file.endsWith('.sources')) {
      for (const stanza of text.split(/\n\s*\n/)) {
        const field = (name: string) => new RegExp(`^${name}:\\s*(.+)$`, 'mi').exec(stanza)?.[1]?.trim().split(/\s+/) ?? [];
        if (/^\s*Enabled:\s*no/im.test(stanza)) continue;
        if (!field('Types').includes('deb') || !field('Suites').includes('bookworm')) continue;
        const uri = field('URIs').find((u) => /^https?:\/\//.test(u));
        if (uri) return uri.replace(/\/$/, '');
      }
    } else {
      for (const line of text.split('\n')) {
        const m = /^\s*deb\s+(?:\[[^\]]*\]\s+)?(https?:\/\/\S+)\s+bookworm\s/.exec(line);
        if (m) return m[1]!.replace(/\/$/, '');
      }
    }
  }
  return 'http://deb.debian.org/debian';
}

export interface DebianRootfs {
  dir: string;
  mirror: string;
  /** Whether it came from today's cached tarball rather than debootstrap. */
  fromCache: boolean;
  /** Seconds spent making it (debootstrap, or extracting the cached tarball). */
  seconds: number;
}

/**
 * `debootstrap --variant=minbase bookworm DIR MIRROR` into `<work>/rootfs`,
 * with the downloaded .debs removed (as `apt-get clean` would). The result is
 * kept as a tarball in CACHE_DIR for the rest of the day (set
 * BERTH_TEST_NO_CACHE=1 to always bootstrap); a cold cache bootstraps.
 */
export async function debianRootfs(work: string): Promise<DebianRootfs> {
  const dir = join(work, 'rootfs');
  const mirror = debianMirror();
  const day = new Date().toISOString().slice(0, 10);
  const cached = join(CACHE_DIR, `debian-bookworm-minbase-${day}.tar`);
  const started = performance.now();
  const seconds = () => Math.round((performance.now() - started) / 100) / 10;

  if (process.env.BERTH_TEST_NO_CACHE !== '1' && existsSync(cached)) {
    mkdirSync(dir, { recursive: true });
    try {
      await run('tar', ['--numeric-owner', '-xpf', cached, '-C', dir], { timeoutMs: 600_000 });
      if (existsSync(join(dir, 'var/lib/dpkg/status'))) return { dir, mirror, fromCache: true, seconds: seconds() };
    } catch {
      // a damaged cache: bootstrap again below
    }
    rmSync(dir, { recursive: true, force: true });
  }

  await run('/usr/sbin/debootstrap', ['--variant=minbase', 'bookworm', dir, mirror], { timeoutMs: 30 * 60_000 });
  for (const deb of readdirSync(join(dir, 'var/cache/apt/archives')).filter((f) => f.endsWith('.deb'))) rmSync(join(dir, 'var/cache/apt/archives', deb));
  const took = seconds();

  mkdirSync(CACHE_DIR, { recursive: true });
  for (const old of readdirSync(CACHE_DIR).filter((f) => f.startsWith('debian-bookworm-minbase-') && f !== `debian-bookworm-minbase-${day}.tar`)) {
    rmSync(join(CACHE_DIR, old), { force: true });
  }
  const partial = `${cached}.${process.pid}.partial`;
  await run('tar', ['--numeric-owner', '-cf', partial, '-C', dir, '.'], { timeoutMs: 600_000 });
  renameSync(partial, cached);
  return { dir, mirror, fromCache: false, seconds: took };
}

export interface DpkgRow {
  name: string;
  version: string;
  sourceName: string;
  sourceVersion: string;
}

/** `dpkg-query -W` over a root filesystem's database: every package with its version and source. */
export async function dpkgQuery(rootfs: string): Promise<DpkgRow[]> {
  const { stdout } = await run('dpkg-query', [`--admindir=${join(rootfs, 'var/lib/dpkg')}`, '-W', '-f', '${Package} ${Version} ${source:Package} ${source:Version}\n']);
  return stdout
    .split('\n')
    .filter(Boolean)
    .map((line) => {
      const [name, version, sourceName, sourceVersion] = line.split(' ') as [string, string, string, string];
      return { name, version, sourceName, sourceVersion };
    });
}

/** `dpkg --compare-versions a op b`, by dpkg itself. */
export async function dpkgCompare(a: string, op: 'lt' | 'le' | 'eq' | 'ge' | 'gt', b: string): Promise<boolean> {
  try {
    await run('dpkg', ['--compare-versions', a, op, b]);
    return true;
  } catch (err) {
    if (err instanceof CommandError && err.code === 1) return false;
    throw err;
  }
}

// --- OCI image layouts --------------------------------------------------------------

export interface LayerBlob {
  /** Digest of the compressed blob. */
  digest: string;
  /** Digest of the uncompressed tar (config rootfs.diff_ids). */
  diffId: string;
  size: number;
  /** Where the compressed blob is. */
  path: string;
}

class Hashing extends Transform {
  readonly hash: Hash = createHash('sha256');
  bytes = 0;
  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    this.hash.update(chunk);
    this.bytes += chunk.length;
    done(null, chunk);
  }
}

const digestOf = (data: Buffer | string) => `sha256:${createHash('sha256').update(data).digest('hex')}`;

/**
 * A gzip layer holding a directory tree as an image builder writes it: names
 * relative to the root, modes (setuid and sticky bits too), owners, mtimes,
 * symlinks, and hard links as tar links to the first path of their inode.
 * The contents of `emptied` directories (dev, proc, sys) are left out, as
 * images never carry device nodes; so are other special files (none in a
 * minbase system outside /dev).
 */
export async function directoryLayer(root: string, out: string, emptied: readonly string[] = ['dev', 'proc', 'sys']): Promise<LayerBlob> {
  const pack = tarStream.pack();
  const inodes = new Map<string, string>();
  const raw = new Hashing();
  const compressed = new Hashing();
  const written = pipeline(pack, raw, createGzip({ level: 6 }), compressed, createWriteStream(out));

  const add = async (rel: string): Promise<void> => {
    const abs = rel === '' ? root : join(root, rel);
    const st = lstatSync(abs);
    const header = { name: rel, mode: st.mode & 0o7777, uid: st.uid, gid: st.gid, mtime: st.mtime };
    if (st.isDirectory()) {
      if (rel !== '') await entry({ ...header, name: `${rel}/`, type: 'directory' });
      if (emptied.includes(rel)) return;
      for (const child of readdirSync(abs).sort()) await add(rel === '' ? child : `${rel}/${child}`);
    } else if (st.isSymbolicLink()) {
      await entry({ ...header, type: 'symlink', linkname: readlinkSync(abs) });
    } else if (st.isFile()) {
      const inode = `${st.dev}:${st.ino}`;
      const first = st.nlink > 1 ? inodes.get(inode) : undefined;
      if (first !== undefined) return entry({ ...header, type: 'link', linkname: first });
      if (st.nlink > 1) inodes.set(inode, rel);
      await new Promise<void>((resolve, reject) => {
        const sink = pack.entry({ ...header, type: 'file', size: st.size }, (err) => (err ? reject(err) : resolve()));
        createReadStream(abs).on('error', reject).pipe(sink);
      });
    }
  };
  const entry = (header: Partial<tarStream.Header> & { name: string }) =>
    new Promise<void>((resolve, reject) => {
      pack.entry(header, (err) => (err ? reject(err) : resolve()));
    });

  await add('');
  pack.finalize();
  await written;
  return { digest: `sha256:${compressed.hash.digest('hex')}`, diffId: `sha256:${raw.hash.digest('hex')}`, size: compressed.bytes, path: out };
}

export interface FileSpec {
  name: string;
  type?: 'file' | 'directory' | 'symlink';
  content?: Buffer | string;
  linkname?: string;
  mode?: number;
}

/** A small gzip layer of the given entries (parent directories are not added implicitly). */
export async function filesLayer(entries: FileSpec[], out: string): Promise<LayerBlob> {
  const tar = await tarOf(entries.map((e) => ({ ...e, content: typeof e.content === 'string' ? Buffer.from(e.content) : e.content })));
  const gz = gzipSync(tar, { level: 6 });
  writeFileSync(out, gz);
  return { digest: digestOf(gz), diffId: digestOf(tar), size: gz.length, path: out };
}

/** The directories above each path in `paths` (`a/`, `a/b/`), for layers that list them. */
export function parents(...paths: string[]): FileSpec[] {
  const dirs = new Set<string>();
  for (const p of paths) {
    const parts = p.split('/').slice(0, -1);
    for (let i = 1; i <= parts.length; i++) dirs.add(`${parts.slice(0, i).join('/')}/`);
  }
  return [...dirs].sort().map((name) => ({ name, type: 'directory' as const }));
}

export interface BuiltImage {
  tag: string;
  digest: string;
  configDigest: string;
  layers: LayerBlob[];
}

/**
 * An OCI image layout being written: blobs under `blobs/sha256`, tags in
 * `index.json`. Layers are made with `directoryLayer`/`filesLayer` into
 * `layerPath()`, then named in `image()`.
 */
export class ImageLayout {
  private readonly tags: { mediaType: string; digest: string; size: number; annotations: Record<string, string> }[] = [];

  constructor(readonly dir: string) {
    mkdirSync(join(dir, 'blobs', 'sha256'), { recursive: true });
    writeFileSync(join(dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
    this.writeIndex();
  }

  /** A scratch path for a layer; `image()` moves it into the blobs. */
  layerPath(name: string): string {
    return join(this.dir, `${name}.layer.tmp`);
  }

  private blob(data: Buffer): { digest: string; size: number } {
    const digest = digestOf(data);
    writeFileSync(join(this.dir, 'blobs', 'sha256', digest.slice(7)), data);
    return { digest, size: data.length };
  }

  /** An image manifest of `layers` (bottom first) with a linux config for this machine, tagged `tag`. */
  image(tag: string, layers: LayerBlob[], options: { cmd?: string[]; labels?: Record<string, string> } = {}): BuiltImage {
    for (const layer of layers) {
      const target = join(this.dir, 'blobs', 'sha256', layer.digest.slice(7));
      if (layer.path !== target) {
        renameSync(layer.path, target);
        layer.path = target;
      }
    }
    const created = '2024-01-01T00:00:00Z';
    const config = {
      created,
      architecture: HOST_ARCH,
      os: 'linux',
      config: { Env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'], Cmd: options.cmd ?? ['/bin/sh'], Labels: options.labels ?? {} },
      rootfs: { type: 'layers', diff_ids: layers.map((l) => l.diffId) },
      history: layers.map((_, i) => ({ created, created_by: `scan test layer ${i}` })),
    };
    const configBlob = this.blob(Buffer.from(JSON.stringify(config)));
    const manifest = {
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      config: { mediaType: OCI_CONFIG, ...configBlob },
      layers: layers.map((l) => ({ mediaType: OCI_LAYER_GZIP, digest: l.digest, size: l.size })),
    };
    const manifestBlob = this.blob(Buffer.from(JSON.stringify(manifest)));
    this.tag(tag, OCI_MANIFEST, manifestBlob);
    return { tag, digest: manifestBlob.digest, configDigest: configBlob.digest, layers };
  }

  /** Any manifest (an artifact, say) as given, tagged `tag`; its blobs are written first. */
  manifest(tag: string, manifest: object, blobs: Buffer[] = []): { tag: string; digest: string } {
    for (const b of blobs) this.blob(b);
    const body = Buffer.from(JSON.stringify(manifest));
    const written = this.blob(body);
    this.tag(tag, (manifest as { mediaType?: string }).mediaType ?? OCI_MANIFEST, written);
    return { tag, digest: written.digest };
  }

  private tag(tag: string, mediaType: string, blob: { digest: string; size: number }): void {
    const i = this.tags.findIndex((t) => t.annotations[REF_NAME] === tag);
    if (i >= 0) this.tags.splice(i, 1);
    this.tags.push({ mediaType, ...blob, annotations: { [REF_NAME]: tag } });
    this.writeIndex();
  }

  private writeIndex(): void {
    writeFileSync(join(this.dir, 'index.json'), JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: this.tags }));
  }
}

/** Size of a file, for reports. */
export const mib = (path: string) => `${(statSync(path).size / 1024 / 1024).toFixed(1)} MiB`;

// --- pushing ---------------------------------------------------------------------------

/** `skopeo copy --preserve-digests oci:LAYOUT:TAG docker://HOST/REPO:TAG` (with credentials when given). */
export async function skopeoPush(layout: string, tag: string, host: string, repo: string, creds?: string): Promise<void> {
  const auth = creds ? ['--dest-creds', creds] : [];
  await run('skopeo', ['copy', '--quiet', '--preserve-digests', '--dest-tls-verify=false', ...auth, `oci:${layout}:${tag}`, `docker://${host}/${repo}:${tag}`], { timeoutMs: 600_000 });
}

// --- the scan API ------------------------------------------------------------------------

export type Severity = 'CRITICAL' | 'HIGH' | 'MEDIUM' | 'LOW' | 'UNKNOWN';

export interface ReportedPackage {
  ecosystem: string;
  name: string;
  version: string;
  source_name?: string;
  source_version?: string;
  location: string;
  layer_digest: string;
  arch?: string;
}

export interface ReportedFinding {
  id: string;
  aliases: string[];
  severity: Severity;
  score?: number;
  vector?: string;
  summary?: string;
  package: ReportedPackage;
  fixed_version?: string;
}

export interface VulnerabilityReport {
  digest: string;
  status: 'queued' | 'scanning' | 'complete' | 'failed' | 'unsupported' | 'not scanned';
  kind: 'image' | 'index';
  scanned_at: string | null;
  vulndb_generation: number;
  error: string | null;
  os: { id: string; version_id: string; pretty_name: string; ecosystem: string | null } | null;
  package_count: number;
  summary: { critical: number; high: number; medium: number; low: number; unknown: number; total: number };
  findings: ReportedFinding[];
  packages?: ReportedPackage[];
  notes: string[];
}

export interface ImportReport {
  source: string;
  records: number;
  imported: number;
  updated: number;
  unchanged: number;
  withdrawn: number;
  skipped: number;
  stale: number;
  problems: { entry: string; reason: string }[];
  generation: number;
  duration_ms: number;
}

export interface ScanPolicy {
  block_severity: Exclude<Severity, 'UNKNOWN'> | null;
  allowlist: string[];
  block_unscanned: boolean;
}

export interface Answer<T = unknown> {
  status: number;
  body: T;
  text: string;
}

/** The management API as one caller (Basic credentials, or none when access control is off). */
export class ScanApi {
  constructor(
    readonly base: string,
    readonly authorization?: string,
  ) {}

  async call<T = any>(method: string, path: string, body?: object | { raw: string | Buffer; type: string }): Promise<Answer<T>> {
    const headers: Record<string, string> = {};
    if (this.authorization) headers.authorization = this.authorization;
    let payload: string | Buffer | undefined;
    if (body && 'raw' in body && 'type' in body) {
      payload = body.raw as string | Buffer;
      headers['content-type'] = body.type as string;
    } else if (body) {
      payload = JSON.stringify(body);
      headers['content-type'] = 'application/json';
    }
    const res = await fetch(`${this.base}/api/v2${path}`, { method, headers, body: payload as BodyInit | undefined });
    const text = await res.text();
    let parsed: unknown = text;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      // not JSON: the text it is
    }
    return { status: res.status, body: parsed as T, text };
  }

  /** The answer's body, after asserting `status` (with the request and answer in the message). */
  async expect<T = any>(status: number, method: string, path: string, body?: Parameters<ScanApi['call']>[2]): Promise<T> {
    const answer = await this.call<T>(method, path, body);
    expect(answer.status, `${method} /api/v2${path} answered ${answer.status}: ${answer.text.slice(0, 2000)}`).toBe(status);
    return answer.body;
  }

  static digestPath(registry: string, repo: string, digest: string): string {
    return `/registries/${encodeURIComponent(registry)}/repositories/${encodeURIComponent(repo)}/digests/${digest}`;
  }

  vulnerabilities(registry: string, repo: string, digest: string, packages = false): Promise<Answer<{ vulnerabilities: VulnerabilityReport }>> {
    return this.call('GET', `${ScanApi.digestPath(registry, repo, digest)}/vulnerabilities${packages ? '?packages=true' : ''}`);
  }

  /** Polls the report every `intervalMs` until `done` holds; throws with the last answer after `timeoutMs`. */
  async waitFor(
    registry: string,
    repo: string,
    digest: string,
    done: (r: VulnerabilityReport) => boolean,
    options: { timeoutMs?: number; intervalMs?: number; packages?: boolean; what?: string } = {},
  ): Promise<{ report: VulnerabilityReport; elapsedMs: number }> {
    const started = performance.now();
    const deadline = started + (options.timeoutMs ?? 60_000);
    let last: Answer<{ vulnerabilities: VulnerabilityReport }> | undefined;
    for (;;) {
      last = await this.vulnerabilities(registry, repo, digest, options.packages);
      if (last.status === 200 && last.body?.vulnerabilities && done(last.body.vulnerabilities)) {
        return { report: last.body.vulnerabilities, elapsedMs: performance.now() - started };
      }
      if (performance.now() > deadline) {
        throw new Error(
          `${registry}/${repo}@${digest}: ${options.what ?? 'condition'} not reached in ${options.timeoutMs ?? 60_000} ms; last answer ${last.status}: ${summarizeAnswer(last)}`,
        );
      }
      await sleep(options.intervalMs ?? 100);
    }
  }

  /** Waits until the scan has ended (complete, failed or unsupported) and returns it with its packages. */
  async scanned(registry: string, repo: string, digest: string, timeoutMs = 120_000): Promise<VulnerabilityReport> {
    const { report } = await this.waitFor(registry, repo, digest, (r) => ['complete', 'failed', 'unsupported'].includes(r.status), { timeoutMs, packages: true, what: 'the end of the scan' });
    return report;
  }

  /** POST /vulndb/imports with OSV JSON lines; asserts 200 and returns the import report. */
  async importOsv(records: object[], source: string): Promise<ImportReport> {
    const raw = records.map((r) => JSON.stringify(r)).join('\n') + '\n';
    const body = await this.expect<{ import: ImportReport }>(200, 'POST', `/vulndb/imports?source=${encodeURIComponent(source)}`, { raw, type: 'application/x-ndjson' });
    return body.import;
  }

  async putPolicy(registry: string, policy: Partial<ScanPolicy>): Promise<ScanPolicy> {
    return (await this.expect<{ scan_policy: ScanPolicy }>(200, 'PUT', `/registries/${encodeURIComponent(registry)}/scan-policy`, policy)).scan_policy;
  }
}

/** A report without its long lists, for failure messages. */
export function summarizeAnswer(answer: Answer<any>): string {
  const v = answer.body?.vulnerabilities as VulnerabilityReport | undefined;
  if (!v) return answer.text.slice(0, 1000);
  const { packages, findings, ...rest } = v;
  return JSON.stringify({ ...rest, findings: findings?.length, packages: packages?.length });
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

// --- comparing lists ---------------------------------------------------------------------

/**
 * Asserts that two lists of strings hold the same items (as multisets), with a
 * message naming what is missing and what is extra.
 */
export function expectSameItems(actual: readonly string[], expected: readonly string[], what: string): void {
  const count = (list: readonly string[]) => list.reduce((m, s) => m.set(s, (m.get(s) ?? 0) + 1), new Map<string, number>());
  const a = count(actual);
  const e = count(expected);
  const missing: string[] = [];
  const extra: string[] = [];
  for (const [item, n] of e) for (let i = a.get(item) ?? 0; i < n; i++) missing.push(item);
  for (const [item, n] of a) for (let i = e.get(item) ?? 0; i < n; i++) extra.push(item);
  const message = `${what}: ${missing.length} missing, ${extra.length} extra (${actual.length} reported, ${expected.length} expected)\n` +
    (missing.length ? `missing:\n  ${missing.sort().join('\n  ')}\n` : '') +
    (extra.length ? `extra:\n  ${extra.sort().join('\n  ')}\n` : '');
  expect(missing.length + extra.length, message).toBe(0);
}

// --- Go binaries ----------------------------------------------------------------------------

/**
 * Builds a small Go program with two vendored module dependencies, one of them
 * replaced by another module (`replace a => b v…`), so its build info lists a
 * main module, deps and a replacement. Vendored: no network, no module proxy.
 */
export async function buildGoProgram(dir: string): Promise<string> {
  const files: Record<string, string> = {
    'go.mod': [
      'module example.com/scanfixture',
      '',
      'go 1.19',
      '',
      'require (',
      '\texample.com/colors v0.3.0',
      '\texample.com/greeting v1.4.2',
      ')',
      '',
      'replace example.com/colors => example.com/colors-fork v0.3.1',
      '',
    ].join('\n'),
    'vendor/modules.txt': [
      '# example.com/colors v0.3.0 => example.com/colors-fork v0.3.1',
      '## explicit; go 1.19',
      'example.com/colors',
      '# example.com/greeting v1.4.2',
      '## explicit; go 1.19',
      'example.com/greeting',
      '# example.com/colors => example.com/colors-fork v0.3.1',
      '',
    ].join('\n'),
    'vendor/example.com/greeting/greeting.go': 'package greeting\n\nfunc Hello() string { return "hello" }\n',
    'vendor/example.com/colors/colors.go': 'package colors\n\nfunc Red(s string) string { return "\\x1b[31m" + s + "\\x1b[0m" }\n',
    'main.go': 'package main\n\nimport (\n\t"fmt"\n\n\t"example.com/colors"\n\t"example.com/greeting"\n)\n\nfunc main() { fmt.Println(colors.Red(greeting.Hello())) }\n',
  };
  for (const [name, text] of Object.entries(files)) {
    mkdirSync(join(dir, name, '..'), { recursive: true });
    writeFileSync(join(dir, name), text);
  }
  const out = join(dir, 'scanfixture');
  await run('go', ['build', '-mod=vendor', '-trimpath', '-o', out, '.'], {
    cwd: dir,
    timeoutMs: 600_000,
    env: { CGO_ENABLED: '0', GOFLAGS: '-mod=vendor', GOPROXY: 'off', GOCACHE: join(CACHE_DIR, 'go-build'), GOPATH: join(dir, 'gopath'), GOTOOLCHAIN: 'local' },
  });
  return out;
}

/**
 * The modules `go version -m` lists for a binary, as scanners name them:
 * `stdlib` at the Go version, the main module, and every dep — a dep
 * replaced by another module as that module (its code is what was compiled).
 */
export async function goModules(binary: string): Promise<{ name: string; version: string }[]> {
  const { stdout } = await run('go', ['version', '-m', binary]);
  const lines = stdout.split('\n');
  const goVersion = /:\s+(go\S+)/.exec(lines[0] ?? '')?.[1];
  if (!goVersion) throw new Error(`go version -m ${binary}: no Go version in\n${stdout}`);
  const modules: { name: string; version: string }[] = [{ name: 'stdlib', version: goVersion }];
  for (const line of lines.slice(1)) {
    const [kind, path, version] = line.replace(/^\t/, '').split('\t');
    if (kind === 'mod' || kind === 'dep') modules.push({ name: path!, version: version! });
    else if (kind === '=>') {
      if (/^(\.{1,2}\/|\/)/.test(path!)) throw new Error(`${binary}: a dep replaced by a local directory (${path}) is not expected in these fixtures`);
      modules[modules.length - 1] = { name: path!, version: version! };
    }
  }
  return modules;
}
