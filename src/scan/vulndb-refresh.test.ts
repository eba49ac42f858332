import { createReadStream } from 'node:fs';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { sqliteStores, type MetaStoresFixture } from '../../test/support/meta-stores.js';
import { importOsvZipFromUrl, refreshVulnDb, type VulnDbRefreshDeps } from './vulndb-refresh.js';
import { sharedTestdata } from '../../test/support/shared-testdata.js';

const NPM_SAMPLE = sharedTestdata('osv', 'npm-sample.zip');
const NPM_SAMPLE_IDS = ['GHSA-35jh-r3h4-6jhm', 'GHSA-93q8-gq69-wqmw', 'GHSA-9c47-m6qq-7p4h', 'GHSA-c2qf-rxjj-qqgw', 'GHSA-xvch-5gv4-984h'];

// ---------- a real HTTP server for the sources ----------

let server: Server;
let base: string;
/** Requests by path, in order. */
let requests: string[];
/** Responses held open by /stalled, ended when a test is over. */
const stalled = new Set<import('node:http').ServerResponse>();

beforeAll(async () => {
  server = createServer((req, res) => {
    requests.push(req.url ?? '');
    switch (req.url) {
      case '/npm/all.zip':
        res.writeHead(200, { 'content-type': 'application/zip' });
        createReadStream(NPM_SAMPLE).pipe(res);
        return;
      case '/latest':
        res.writeHead(302, { location: '/npm/all.zip' });
        res.end();
        return;
      case '/not-a-zip':
        res.writeHead(200, { 'content-type': 'application/zip' });
        res.end('<html>a captive portal</html>');
        return;
      case '/stalled':
        res.writeHead(200, { 'content-type': 'application/zip' });
        res.write(Buffer.from('PK\u0003\u0004'));
        stalled.add(res);
        return;
      case '/down':
        res.writeHead(503, 'Service Unavailable');
        res.end();
        return;
      default:
        res.writeHead(404, 'Not Found');
        res.end();
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

// ---------- a store, and a temporary directory of our own to see what downloads leave behind ----------

let fixture: MetaStoresFixture;
let spool: string;
const savedTmpdir = process.env.TMPDIR;

beforeEach(async () => {
  requests = [];
  fixture = await sqliteStores();
  spool = await mkdtemp(join(tmpdir(), 'berth-refresh-test-'));
  process.env.TMPDIR = spool;
});

afterEach(async () => {
  for (const res of stalled) res.destroy();
  stalled.clear();
  if (savedTmpdir === undefined) delete process.env.TMPDIR;
  else process.env.TMPDIR = savedTmpdir;
  await fixture.cleanup();
  await rm(spool, { recursive: true, force: true });
});

const leftBehind = () => readdir(spool);

describe('importOsvZipFromUrl', () => {
  it('downloads an OSV zip and imports its records under the URL, leaving no temporary file', async () => {
    const { vulndb } = fixture.stores;
    const url = `${base}/npm/all.zip`;
    const report = await importOsvZipFromUrl(vulndb, url);
    expect(report).toMatchObject({ source: url, records: 5, imported: 5, updated: 0, unchanged: 0, skipped: 0, generation: 1 });
    expect(await Promise.all(NPM_SAMPLE_IDS.map(async (id) => (await vulndb.record(id))?.id))).toEqual(NPM_SAMPLE_IDS);
    expect((await vulndb.recordsForPackage('npm', 'lodash')).map((r) => r.id)).toEqual(['GHSA-35jh-r3h4-6jhm']);
    const status = await vulndb.status();
    expect(status.records).toBe(5);
    expect(status.sources).toEqual([{ name: url, importedAt: expect.any(Number), records: 5, latestModified: '2023-07-10T22:57:56Z' }]);
    expect(await leftBehind()).toEqual([]);

    // Again: nothing new.
    expect(await importOsvZipFromUrl(vulndb, url)).toMatchObject({ records: 5, imported: 0, unchanged: 5, generation: 1 });
  });

  it('follows redirects, recording the source under the URL it was given', async () => {
    const url = `${base}/latest`;
    const report = await importOsvZipFromUrl(fixture.stores.vulndb, url);
    expect(report).toMatchObject({ source: url, imported: 5 });
    expect(requests).toEqual(['/latest', '/npm/all.zip']);
    expect((await fixture.stores.vulndb.status()).sources.map((s) => s.name)).toEqual([url]);
  });

  it('fails on an HTTP error, naming the URL and the status, importing nothing', async () => {
    const url = `${base}/osv/nothing.zip`;
    await expect(importOsvZipFromUrl(fixture.stores.vulndb, url)).rejects.toThrow(`GET ${url} answered 404 Not Found`);
    expect(await fixture.stores.vulndb.status()).toMatchObject({ generation: 0, records: 0, sources: [] });
    expect(await leftBehind()).toEqual([]);
  });

  it('fails on a body that is not a zip, leaving no temporary file', async () => {
    await expect(importOsvZipFromUrl(fixture.stores.vulndb, `${base}/not-a-zip`)).rejects.toThrow();
    expect(await fixture.stores.vulndb.status()).toMatchObject({ generation: 0, sources: [] });
    expect(await leftBehind()).toEqual([]);
  });

  it('stops a download when aborted, leaving no temporary file', async () => {
    const controller = new AbortController();
    const importing = importOsvZipFromUrl(fixture.stores.vulndb, `${base}/stalled`, controller.signal);
    await expect.poll(() => requests).toEqual(['/stalled']);
    // The download is spooled to a directory of its own, under the temporary directory…
    expect(await leftBehind()).toEqual([expect.stringMatching(/^berth-osv-/)]);
    controller.abort(new Error('shutting down'));
    await expect(importing).rejects.toThrow();
    // …which goes when the download does.
    expect(await leftBehind()).toEqual([]);
  });
});

describe('refreshVulnDb', () => {
  const NOW = 1_730_000_000_000;

  function deps(sources: string[], overrides: Partial<VulnDbRefreshDeps> = {}) {
    const calls = { schedule: [] as number[], changed: 0, info: [] as object[], warn: [] as object[] };
    const d: VulnDbRefreshDeps = {
      store: fixture.stores.vulndb,
      sources,
      intervalMs: 3_600_000,
      schedule: async (runAt) => void calls.schedule.push(runAt),
      changed: async () => void calls.changed++,
      logger: { info: (obj) => void calls.info.push(obj), warn: (obj) => void calls.warn.push(obj) },
      now: () => NOW,
      ...overrides,
    };
    return { deps: d, calls };
  }

  it('imports every source, says the database changed, and schedules the next run an interval later', async () => {
    const sources = [`${base}/npm/all.zip`, `${base}/latest`];
    const { deps: d, calls } = deps(sources);
    await refreshVulnDb(d);
    expect(requests).toEqual(['/npm/all.zip', '/latest', '/npm/all.zip']);
    expect(calls.changed).toBe(1);
    expect(calls.schedule).toEqual([NOW + 3_600_000]);
    expect(calls.info).toEqual([
      { source: sources[0], imported: 5, updated: 0, withdrawn: 0 },
      { source: sources[1], imported: 0, updated: 0, withdrawn: 0 },
    ]);
    expect((await fixture.stores.vulndb.status()).sources.map((s) => s.name).sort()).toEqual([...sources].sort());
  });

  it('asks for a rematch after every import that ran, changed or not (the scanner queues one per generation)', async () => {
    const { deps: d, calls } = deps([`${base}/npm/all.zip`]);
    await refreshVulnDb(d);
    await refreshVulnDb(d);
    expect(calls.changed).toBe(2);
    expect(calls.schedule).toEqual([NOW + 3_600_000, NOW + 3_600_000]);
  });

  it('imports the other sources when one fails, and succeeds', async () => {
    const sources = [`${base}/down`, `${base}/npm/all.zip`, `${base}/not-a-zip`];
    const { deps: d, calls } = deps(sources);
    await refreshVulnDb(d);
    expect((await fixture.stores.vulndb.status()).records).toBe(5);
    expect(calls.changed).toBe(1);
    expect(calls.schedule).toEqual([NOW + 3_600_000]);
    expect(calls.warn.map((w) => (w as { source: string }).source)).toEqual([sources[0], sources[2]]);
  });

  it('fails (to be retried) only when every source failed, naming each, after scheduling the next run', async () => {
    const sources = [`${base}/down`, `${base}/missing.zip`];
    const { deps: d, calls } = deps(sources);
    const error = await refreshVulnDb(d).then(
      () => undefined,
      (err: Error) => err,
    );
    expect(error?.message).toBe(`no source could be imported: ${sources[0]}: GET ${sources[0]} answered 503 Service Unavailable; ${sources[1]}: GET ${sources[1]} answered 404 Not Found`);
    expect(calls.changed).toBe(0);
    expect(calls.schedule).toEqual([NOW + 3_600_000]);
  });

  it('with no sources, only schedules the next run', async () => {
    const { deps: d, calls } = deps([]);
    await refreshVulnDb(d);
    expect(requests).toEqual([]);
    expect(calls).toMatchObject({ changed: 0, schedule: [NOW + 3_600_000] });
  });

  it('stops when its job is aborted', async () => {
    const controller = new AbortController();
    const { deps: d, calls } = deps([`${base}/stalled`]);
    const refreshing = refreshVulnDb(d, controller.signal);
    await expect.poll(() => requests).toEqual(['/stalled']);
    controller.abort(new Error('shutdown'));
    await expect(refreshing).rejects.toThrow('no source could be imported');
    expect(calls.changed).toBe(0);
  });

  it('queues the rematch on the retry when saying the database changed failed the first time', async () => {
    let failOnce = true;
    let rematches = 0;
    const { deps: d } = deps([`${base}/npm/all.zip`], {
      changed: async () => {
        if (failOnce) {
          failOnce = false;
          throw new Error('job queue unavailable');
        }
        rematches++;
      },
    });
    await expect(refreshVulnDb(d)).rejects.toThrow('job queue unavailable');
    await refreshVulnDb(d); // the job's retry
    expect(rematches).toBe(1);
  });
});
