/**
 * Scale-out acceptance: three `berth serve` processes sharing one PostgreSQL
 * schema and one S3 bucket + prefix (s3rver over HTTP), access control on,
 * behind nginx (round-robin, streaming, see nginx.ts), driven by real clients.
 *
 * - the nodes start concurrently on an empty schema: one set of migrations, one admin;
 * - a token from one node is honoured by the others, and challenges point back through nginx;
 * - one chunked upload with its POST, PATCHes and PUT each on a different node;
 * - a tag moved on one node is seen at once on the others (LISTEN/NOTIFY cache invalidation),
 *   even by node 2, which hears every notification 150 ms late (see late-notify-proxy.ts);
 * - skopeo and docker push several images at once through nginx;
 * - a node is SIGKILLed while skopeo pushes a large image through nginx; the copy
 *   is rerun until it succeeds, and the node is restarted on a live schema;
 * - every image pushed is pulled back through nginx (skopeo, docker) and checked by
 *   digest, blob by blob, and every node serves every blob and tag.
 *
 * Needs PostgreSQL (BERTH_TEST_POSTGRES_URL), nginx, skopeo and docker.io. With
 * CI=true a missing one fails the run; elsewhere missing packages are installed
 * with apt-get, and the suite is skipped (with a message) only when that fails
 * or PostgreSQL is unreachable.
 */
import { existsSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tempDir } from '../support/berth-process.js';
import { CommandError, requireTool, run, startDockerd, type Dockerd } from '../support/clients.js';
import { buildTestLayout } from '../support/oci-layout.js';
import { adminQuery, postgresUnavailable, skipPostgres } from '../support/postgres.js';
import { bytesRead, freePort, logTails, startCluster, type Cluster } from './cluster.js';
import { MIB, noise, sha256, verifyDirPull, verifyOciPull, writeImageLayout, writeRootfsTar, type PushedImage } from './images.js';
import { startNginx, type Nginx } from './nginx.js';
import { basic, expectStatus, fetchToken, NodeClient, pushTinyImage } from './registry-http.js';

const ADMIN_PASSWORD = 'multi-node-admin-0123456789';
const ADMIN = basic('admin', ADMIN_PASSWORD);
const CREDS = `admin:${ADMIN_PASSWORD}`;
const NODES = 3;
/** Node 2 (index 1) gets every LISTEN/NOTIFY notification this late. */
const LATE_NODE = 1;
const NOTIFY_DELAY_MS = 150;

/** Debian packages the suite drives: command → package. */
const TOOLS: [string, string][] = [
  ['nginx', 'nginx-light'],
  ['skopeo', 'skopeo'],
  ['dockerd', 'docker.io'],
  ['/usr/bin/docker', 'docker.io'],
  ['containerd', 'containerd'],
];

/** Why the suite cannot run here, or undefined. In CI nothing is skipped: a missing piece throws. */
async function missingPrerequisite(): Promise<string | undefined> {
  if (skipPostgres) return `PostgreSQL is unreachable (${postgresUnavailable})`;
  for (const [tool, pkg] of TOOLS) {
    try {
      await requireTool(tool, pkg); // CI=true: throws at once; otherwise installs the package
    } catch (err) {
      if (process.env.CI === 'true') throw err;
      return `${tool} (Debian package ${pkg}) is missing and could not be installed: ${(err as Error).message}`;
    }
  }
  return undefined;
}

const missing = await missingPrerequisite();
if (missing) console.warn(`multi-node tests skipped: ${missing}`);

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe.skipIf(missing !== undefined)('three Berth nodes on PostgreSQL + S3 behind nginx', () => {
  let work: string;
  let cluster: Cluster;
  let nginx: Nginx;
  let dockerd: Dockerd;
  /** Everything pushed, checked again at the end. */
  const pushed: PushedImage[] = [];
  /** Image IDs (config digests) of the images docker pushed, by ref. */
  const dockerIds = new Map<string, string>();
  /** Access-log length when the killed node was restarted. */
  let restartedAt = { node: -1, logOffset: 0 };
  /** The images the clients push, written while the servers start. */
  let fixtures: Awaited<ReturnType<typeof writeFixtures>>;

  async function writeFixtures(dir: string) {
    const layouts = await Promise.all([1, 2, 3].map((i) => writeImageLayout(join(dir, `skopeo-${i}`), `skopeo-${i}`, [6 * MIB, 1 * MIB + i, 16 * 1024], 'v1')));
    const multi = await buildTestLayout({ dir: join(dir, 'multi'), seed: 'multi-node' });
    const rootfs = [2, 3].map((mib, i) => ({ path: join(dir, `rootfs-${i + 1}.tar`), name: `fleet/docker-${i + 1}:v1`, seed: `docker-${i + 1}`, mib }));
    for (const r of rootfs) await writeRootfsTar(r.path, r.seed, r.mib * MIB);
    // Large enough that the push is still going when a node is killed.
    const big = await writeImageLayout(join(dir, 'big'), 'big', [64 * MIB, 3 * MIB, 4096], 'v1');
    return { layouts, multi, rootfs, big };
  }

  const nodes = () => cluster.nodes;
  const skopeo = (args: string[]) => run('skopeo', args, { timeoutMs: 120_000 });
  const docker = (...args: string[]) => dockerd.docker(args, { timeoutMs: 120_000 });
  /** Adds the nodes' and nginx's log tails to a failure. */
  const explain = (err: unknown) =>
    new Error(`${(err as Error).message}\n${logTails(nodes())}\n--- nginx error.log ---\n${nginx?.errorLog().slice(-2000) ?? ''}`);

  beforeAll(async () => {
    if (postgresUnavailable !== undefined) throw new Error(`PostgreSQL is unreachable (${postgresUnavailable}); the multi-node suite needs it (BERTH_TEST_POSTGRES_URL)`);
    work = tempDir('berth-multinode-');
    // Whatever starts is stopped by afterAll, even when something else failed.
    const started = await Promise.allSettled([
      startCluster({ workDir: work, adminPassword: ADMIN_PASSWORD, nodes: NODES, lateNotify: { node: LATE_NODE, delayMs: NOTIFY_DELAY_MS } }).then((c) => (cluster = c)),
      startDockerd().then((d) => (dockerd = d)),
      writeFixtures(work).then((f) => (fixtures = f)),
    ]);
    for (const s of started) if (s.status === 'rejected') throw s.reason;
    const nginxBin = await requireTool('nginx', 'nginx-light');
    nginx = await startNginx(nginxBin, `127.0.0.1:${await freePort()}`, cluster.nodes.map((n) => n.host));
  });

  afterAll(async () => {
    await nginx?.stop();
    await dockerd?.stop();
    await cluster?.stop();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it('started three nodes concurrently on one empty schema: one admin, signing in on every node', async () => {
    const admins = await adminQuery<{ n: string }>(`select count(*) as n from "${cluster.schema}".users where username = 'admin'`);
    expect(Number(admins[0]!.n)).toBe(1);
    // The admin signs in on every node, and every node signs tokens with the same shared keys.
    const keySets: string[] = [];
    for (const node of nodes()) {
      const res = await fetch(`${node.url}/api/v2/auth/keys`, { headers: { authorization: ADMIN } });
      const text = await res.text();
      expect(res.status, `${node.host}: ${text}`).toBe(200);
      keySets.push(JSON.stringify((JSON.parse(text) as { keys: { kid: string }[] }).keys.map((k) => k.kid).sort()));
    }
    expect(new Set(keySets).size, keySets.join('\n')).toBe(1);
  });

  it('honours a token from one node on the others; challenges send clients back through nginx', async () => {
    // Through nginx, the realm is nginx's address (the Host header is passed on), whichever node answered.
    for (let i = 0; i < NODES; i++) {
      const res = await fetch(`${nginx.url}/v2/`);
      expect(res.status).toBe(401);
      expect(res.headers.get('www-authenticate')).toContain(`realm="${nginx.url}/token"`);
    }
    const repo = 'mn/token';
    const client0 = new NodeClient(nodes()[0]!.url, await fetchToken(nodes()[0]!.url, ADMIN, [`repository:${repo}:pull,push`]));
    const { body, digest } = await pushTinyImage(client0, repo, 'token');
    await client0.putManifest(repo, 'v1', body);
    const token = await fetchToken(nodes()[1]!.url, ADMIN, [`repository:${repo}:pull`]);
    for (const node of nodes()) expect(await new NodeClient(node.url, token).manifestDigest(repo, 'v1')).toBe(digest);
    // The pull-only token from node 2 is refused a push on every node: the scope travels with it.
    for (const node of nodes()) {
      const res = await new NodeClient(node.url, token).request('POST', `/v2/${repo}/blobs/uploads/`);
      expect([401, 403], `${node.host}: ${res.status}`).toContain(res.status);
    }
  });

  it('commits a chunked upload whose POST, PATCHes and PUT each land on a different node', async () => {
    const repo = 'mn/chunked';
    const token = await fetchToken(nodes()[0]!.url, ADMIN, [`repository:${repo}:pull,push`]);
    const [n1, n2, n3] = nodes().map((n) => new NodeClient(n.url, token)) as [NodeClient, NodeClient, NodeClient];
    // Chunks above and below the 5 MiB part size; the last one rides on the PUT.
    const data = noise('chunked-upload', 7 * MIB + 4321);
    const cuts = [0, 6 * MIB, 6 * MIB + 300 * 1024 + 1, 7 * MIB, data.length];
    const digest = sha256(data);
    const piece = (start: number, end?: number) => data.subarray(start, end) as Buffer<ArrayBuffer>;

    const started = await expectStatus(await n1.request('POST', `/v2/${repo}/blobs/uploads/`), 202, 'POST on node 1');
    const location = new URL(started.headers.get('location')!, 'http://placeholder');
    const path = location.pathname + location.search;
    const patchers = [n2, n3, n1];
    for (let i = 0; i < 3; i++) {
      const [start, end] = [cuts[i]!, cuts[i + 1]!];
      const res = await patchers[i]!.request('PATCH', path, {
        body: piece(start, end),
        headers: { 'content-type': 'application/octet-stream', 'content-range': `${start}-${end - 1}`, 'content-length': String(end - start) },
      });
      await expectStatus(res, 202, `PATCH ${start}-${end - 1} on node ${[2, 3, 1][i]}`);
      expect(res.headers.get('range')).toBe(`0-${end - 1}`);
      if (i === 0) {
        // Every node knows the session's offset: a stale chunk is refused elsewhere with the right Range.
        const stale = await n3.request('PATCH', path, {
          body: piece(0, 1024),
          headers: { 'content-type': 'application/octet-stream', 'content-range': '0-1023', 'content-length': '1024' },
        });
        expect(stale.status).toBe(416);
        expect(stale.headers.get('range')).toBe(`0-${end - 1}`);
        const status = await expectStatus(await n1.request('GET', path), 204, 'upload status on node 1');
        expect(status.headers.get('range')).toBe(`0-${end - 1}`);
      }
    }
    const sep = path.includes('?') ? '&' : '?';
    const last = piece(cuts[3]!);
    const put = await n2.request('PUT', `${path}${sep}digest=${digest}`, {
      body: last,
      headers: { 'content-type': 'application/octet-stream', 'content-length': String(last.length) },
    });
    await expectStatus(put, 201, 'PUT on node 2');
    expect(put.headers.get('docker-content-digest')).toBe(digest);

    for (const node of [n3, n1, n2]) {
      const head = await expectStatus(await node.request('HEAD', `/v2/${repo}/blobs/${digest}`), 200, `HEAD on ${node.base}`);
      expect(Number(head.headers.get('content-length'))).toBe(data.length);
    }
    const got = Buffer.from(await (await expectStatus(await n3.request('GET', `/v2/${repo}/blobs/${digest}`), 200, 'GET on node 3')).arrayBuffer());
    expect(got.length).toBe(data.length);
    expect(sha256(got)).toBe(digest);
    // The session is over on every node.
    for (const node of [n1, n2, n3]) expect((await node.request('GET', path)).status).toBe(404);
  });

  it(`shows a tag moved on one node at once on the others, even on one that hears of changes ${NOTIFY_DELAY_MS} ms late`, async () => {
    const repo = 'mn/tags';
    const token = await fetchToken(nodes()[1]!.url, ADMIN, [`repository:${repo}:pull,push`]);
    const clients = nodes().map((n) => new NodeClient(n.url, token));
    const a = await pushTinyImage(clients[0]!, repo, 'tag-a');
    const b = await pushTinyImage(clients[0]!, repo, 'tag-b');
    await clients[0]!.putManifest(repo, 'live', a.body);
    /** Reads right after a move that still gave the old digest, and how long until the node caught up. */
    const stale: string[] = [];
    const MOVES = 9;
    for (let step = 0; step < MOVES; step++) {
      const [from, to] = step % 2 === 0 ? [a, b] : [b, a];
      // Every node reads the tag first, so each has it cached when it moves.
      for (const c of clients) expect(await c.manifestDigest(repo, 'live')).toBe(from.digest);
      const writer = step % NODES;
      expect(await clients[writer]!.putManifest(repo, 'live', to.body)).toBe(to.digest);
      const answered = performance.now();
      // No pause: once the PUT is answered, every node must give the new digest.
      for (const [i, c] of clients.entries()) {
        if ((await c.manifestDigest(repo, 'live')) === to.digest) continue;
        const firstRead = performance.now() - answered;
        let caughtUp = false;
        while (!caughtUp && performance.now() - answered < 15_000) caughtUp = (await c.manifestDigest(repo, 'live')) === to.digest;
        const after = caughtUp ? `${Math.round(performance.now() - answered)} ms` : 'never (15 s)';
        stale.push(`move ${step + 1} on node ${writer + 1}: node ${i + 1} served the old digest ${Math.round(firstRead)} ms after the PUT was answered; new digest after ${after}`);
      }
    }
    // Each node's read cache must have dropped the tag before the writer answers the PUT,
    // not merely soon after (a client that pushes then pulls through a balancer lands anywhere).
    expect(stale, `${stale.length} of ${MOVES * (NODES - 1)} reads on other nodes right after a tag move were stale`).toEqual([]);
  });

  it('takes concurrent pushes from skopeo and docker through nginx', async () => {
    // A fresh registry: the first pushes into it race to create it, on different nodes.
    const { layouts, multi } = fixtures;
    const rootfs = fixtures.rootfs.map((r) => ({ ...r, ref: `${nginx.host}/${r.name}` }));
    await Promise.all(
      rootfs.map(async (r) => {
        await docker('import', r.path, r.ref);
        dockerIds.set(r.ref, JSON.parse((await docker('image', 'inspect', r.ref)).stdout)[0].Id as string);
      }),
    );
    // docker login through nginx: its token requests are round-robined like everything else.
    await dockerd.docker(['login', '-u', 'admin', '--password-stdin', nginx.host], { input: ADMIN_PASSWORD });

    const copy = ['copy', '--quiet', '--preserve-digests', '--dest-tls-verify=false', '--dest-creds', CREDS];
    const skopeoPushes = layouts.map(async (l, i) => {
      await skopeo([...copy, `oci:${l.dir}:v1`, `docker://${nginx.host}/fleet/skopeo-${i + 1}:v1`]);
      return { ref: `fleet/skopeo-${i + 1}:v1`, digest: l.digest, blobs: l.blobs, kind: 'image' as const, by: 'skopeo' as const };
    });
    const indexPush = (async () => {
      await skopeo([...copy, '--all', `oci:${multi.dir}:${multi.index.tag}`, `docker://${nginx.host}/fleet/multi:v1`]);
      return { ref: 'fleet/multi:v1', digest: multi.index.digest, kind: 'index' as const, by: 'skopeo' as const };
    })();
    const dockerPushes = rootfs.map(async (r) => {
      const out = (await docker('push', r.ref)).stdout;
      const digest = out.match(/digest: (sha256:[0-9a-f]{64}) size: \d+/)?.[1];
      if (!digest) throw new Error(`no digest in docker push output:\n${out}`);
      return { ref: r.name, digest, kind: 'image' as const, by: 'docker' as const };
    });
    const started = Date.now();
    const results = await Promise.all([...skopeoPushes, indexPush, ...dockerPushes]).catch((err: unknown) => {
      throw explain(err);
    });
    console.info(`multi-node: ${results.length} concurrent pushes through nginx took ${Date.now() - started} ms`);
    for (const r of results) {
      const [repo, tag] = r.ref.split(':') as [string, string];
      pushed.push({ ...r, repo, tag });
    }

    // Each node answers each tag with the pushed digest.
    const token = await fetchToken(nodes()[2]!.url, ADMIN, pushed.map((p) => `repository:${p.repo}:pull`));
    for (const node of nodes()) {
      const client = new NodeClient(node.url, token);
      for (const p of pushed) expect(await client.manifestDigest(p.repo, p.tag), `${p.ref} on ${node.host}`).toBe(p.digest);
    }
  });

  it('survives a node SIGKILLed mid-push: the client reruns the copy until it succeeds', { timeout: 180_000 }, async () => {
    const { big } = fixtures;
    const dest = `docker://${nginx.host}/fleet/big:v1`;
    const copy = () => skopeo(['copy', '--quiet', '--preserve-digests', '--dest-tls-verify=false', '--dest-creds', CREDS, `oci:${big.dir}:v1`, dest]);

    // Watch how much each node reads: the one taking the 64 MiB layer is the one to kill.
    const baseline = nodes().map((n) => bytesRead(n.child.pid!));
    let settled = false;
    const first = copy().then(
      () => undefined,
      (err: unknown) => err,
    );
    void first.then(() => (settled = true));
    let victim: number | undefined;
    const deadline = Date.now() + 60_000;
    while (victim === undefined && !settled && Date.now() < deadline) {
      await sleep(25);
      const grown = nodes().map((n, i) => bytesRead(n.child.pid!) - baseline[i]!);
      const busiest = grown.indexOf(Math.max(...grown));
      if (grown[busiest]! > 16 * MIB) {
        await nodes()[busiest]!.kill();
        victim = busiest;
      }
    }
    const firstOutcome = await first;
    if (victim === undefined) throw explain(new Error(`the push ended before a node could be killed (${firstOutcome ? 'it failed' : 'it succeeded'}): make the layer larger`));
    console.info(`multi-node: killed node ${victim + 1} (${nodes()[victim]!.host}) mid-push`);
    expect(firstOutcome, 'the copy interrupted by the kill should have failed').toBeInstanceOf(CommandError);

    // What a CI job does: run the copy again until it goes through (nginx skips the dead node).
    const failures: string[] = [(firstOutcome as CommandError).stderr.trim().split('\n').at(-1) ?? ''];
    for (let attempt = 2; ; attempt++) {
      const result = await copy().then(
        () => undefined,
        (err: CommandError) => err,
      );
      if (!result) {
        console.info(`multi-node: the copy succeeded on attempt ${attempt}; earlier failures: ${failures.join(' | ')}`);
        break;
      }
      failures.push(result.stderr.trim().split('\n').at(-1) ?? '');
      if (attempt >= 5) throw explain(new Error(`the copy still fails after ${attempt} attempts:\n${failures.join('\n')}`));
      await sleep(500);
    }
    pushed.push({ ref: 'fleet/big:v1', repo: 'fleet/big', tag: 'v1', digest: big.digest, blobs: big.blobs, kind: 'image', by: 'skopeo' });

    // Bring the node back on its old port: it joins a live schema while the others serve.
    restartedAt = { node: victim, logOffset: nginx.accessLog().length };
    await cluster.restart(victim);
    const token = await fetchToken(nodes()[victim]!.url, ADMIN, ['repository:fleet/big:pull']);
    expect(await new NodeClient(nodes()[victim]!.url, token).manifestDigest('fleet/big', 'v1')).toBe(big.digest);
  });

  it('gives every image back intact through nginx, and every node serves every tag and blob', { timeout: 150_000 }, async () => {
    expect(pushed.length).toBeGreaterThanOrEqual(7);
    const problems: string[] = [];
    const pullInto = async (p: PushedImage, i: number) => {
      const out = join(work, `pull-${i}`);
      const src = `docker://${nginx.host}/${p.ref}`;
      const args = ['copy', '--quiet', '--preserve-digests', '--src-tls-verify=false', '--src-creds', CREDS];
      if (p.kind === 'index') {
        await skopeo([...args, '--all', src, `oci:${out}:${p.tag}`]);
        problems.push(...verifyOciPull(out, p));
      } else {
        await skopeo([...args, src, `dir:${out}`]);
        problems.push(...verifyDirPull(out, p));
      }
      rmSync(out, { recursive: true, force: true });
    };
    // Three skopeo pulls at a time through nginx while docker pulls its own images back, from nothing.
    const queue = pushed.map((p, i) => [p, i] as const);
    const skopeoPulls = [0, 1, 2].map(async () => {
      for (let next = queue.shift(); next; next = queue.shift()) await pullInto(...next);
    });
    const dockerPulls = (async () => {
      const ids = (await docker('image', 'ls', '-q', '--no-trunc')).stdout.split('\n').filter(Boolean);
      if (ids.length > 0) await docker('image', 'rm', '-f', ...new Set(ids));
      for (const p of pushed.filter((x) => x.by === 'docker')) {
        const ref = `${nginx.host}/${p.ref}`;
        expect((await docker('pull', ref)).stdout).toContain(`Digest: ${p.digest}`);
        const info = JSON.parse((await docker('image', 'inspect', ref)).stdout)[0] as { Id: string; RepoDigests: string[] };
        expect(info.Id).toBe(dockerIds.get(ref));
        expect(info.RepoDigests).toContain(`${nginx.host}/${p.repo}@${p.digest}`);
      }
    })();
    await Promise.all([...skopeoPulls, dockerPulls]).catch((err: unknown) => {
      throw explain(err);
    });
    expect(problems).toEqual([]);

    // Directly on each node: every tag resolves to its digest and every known blob is there, whole.
    const token = await fetchToken(nodes()[0]!.url, ADMIN, pushed.map((p) => `repository:${p.repo}:pull`));
    for (const node of nodes()) {
      const client = new NodeClient(node.url, token);
      for (const p of pushed) {
        expect(await client.manifestDigest(p.repo, p.tag), `${p.ref} on ${node.host}`).toBe(p.digest);
        for (const blob of p.blobs ?? []) {
          const head = await client.request('HEAD', `/v2/${p.repo}/blobs/${blob.digest}`);
          expect(head.status, `${p.repo}@${blob.digest} on ${node.host}`).toBe(200);
          expect(Number(head.headers.get('content-length'))).toBe(blob.size);
        }
      }
    }

    // Round-robin really spread the work: every node served requests through nginx,
    // the restarted one too once it was back.
    const served = (log: string) => new Set([...log.matchAll(/upstream=(.*?) upstream_status=/g)].flatMap((m) => m[1]!.match(/\d+\.\d+\.\d+\.\d+:\d+/g) ?? []));
    const all = served(nginx.accessLog());
    for (const node of nodes()) expect(all, `nginx never sent a request to ${node.host}`).toContain(node.host);
    const restarted = nodes()[restartedAt.node]!;
    if (!served(nginx.accessLog().slice(restartedAt.logOffset)).has(restarted.host)) {
      // nginx gives a node that failed another try only after fail_timeout (5 s); the pulls above
      // can all finish before then. Once it has passed, a few rounds of requests must reach it.
      await sleep(5_500);
      for (let i = 0; i < 3 * nodes().length; i++) await fetch(`${nginx.url}/v2/`);
    }
    expect(served(nginx.accessLog().slice(restartedAt.logOffset)), `no request reached the restarted ${restarted.host}`).toContain(restarted.host);

    // The nodes keep nothing of their own: the data directories hold no blobs and no staged uploads.
    for (const node of nodes()) {
      const entries = existsSync(node.dataDir) ? readdirSync(node.dataDir, { recursive: true }).map(String) : [];
      expect(entries.filter((e) => /(^|\/)(blobs|uploads)(\/|$)/.test(e) || e.endsWith('metadata.db')), node.dataDir).toEqual([]);
    }
  });
});
