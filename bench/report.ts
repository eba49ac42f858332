// Turns per-round samples into medians, ratios and pass/fail against the targets,
// and writes them as a markdown table and JSON.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** Per server (berth, distribution, nginx): metric → one value per round. */
export type Samples = Record<string, Record<string, number[]>>;

export interface Ceilings {
  /** CPU cores the servers, clients and load tools share. */
  cores: number;
  nodeSha256MBps: number;
  opensslSha256MBps?: number;
  /** 256 MiB written to a file on the data disk, without and with fsync. */
  fileWrite: FileWriteCeilings;
  /** nginx pull medians, same metric names as the registry pulls. */
  nginx: Record<string, number>;
  /** Pushes to a bare Node HTTP server (node-receiver.ts) per mode: the runtime's push ceiling. */
  nodeReceiver: Record<string, number>;
}

export interface FileWriteCeilings {
  /** Best of 3, each file deleted before the next (so its pages are reused): no fsync, and with fsync. */
  write: number;
  writeFsync: number;
  /** New files written back to back and kept, as pushed blobs are, without and with fsync: median of the second half. */
  writeKept: number;
  writeFsyncKept: number;
  /** Every kept file's rate, in order, of each series. */
  writeKeptAll: number[];
  writeFsyncKeptAll: number[];
}

export interface Row {
  workload: string;
  berth: number;
  distribution: number;
  /** Oriented so that > 1 means Berth is better. */
  ratio: number;
  target: string;
  pass?: boolean;
  /** Why the target is out of reach on this machine: it asks for more than a ceiling measured in the same run. */
  beyond?: string;
}

export function median(values: number[] | undefined): number {
  const v = (values ?? []).filter(Number.isFinite).sort((a, b) => a - b);
  if (v.length === 0) return NaN;
  const mid = Math.floor(v.length / 2);
  return v.length % 2 ? v[mid]! : (v[mid - 1]! + v[mid]!) / 2;
}

interface RowDef {
  label: string;
  metric: string;
  better: 'higher' | 'lower' | 'none';
  target?: (b: number, ratio: number, c: Ceilings, berthAll: Record<string, number>) => TargetResult;
}

interface TargetResult {
  text: string;
  pass: boolean;
  beyond?: string;
}

/** `beyond` when a rate target needs more than `ceiling` (what the machine or runtime does with no registry work at all). */
const outOfReach = (need: number, ceiling: number | undefined, what: string): string | undefined =>
  ceiling !== undefined && need > ceiling ? `needs ${fmt(need)}; ${what}: ${fmt(ceiling)}` : undefined;

/**
 * The CPU a push cannot avoid, per MB: the client sending it (the bench process's CPU time
 * while it PUTs to the bare receiver), putting it into new page-cache pages (1 / the kept
 * write rate: every pushed byte stays, so it needs pages no file has just freed) and hashing
 * it (1 / SHA-256's rate). Everything shares the machine's cores, so no push can go faster
 * than cores ÷ that sum, however it overlaps the three; a registry's parsing, copying out of
 * the socket and metadata only add to it. Undefined until all three are measured.
 */
export function pushCpuBudgetMBps(ce: Ceilings): number | undefined {
  const client = ce.nodeReceiver.push_client_cpu_ms_per_MB;
  const sha = Math.max(ce.nodeSha256MBps, ce.opensslSha256MBps ?? 0);
  if (client === undefined || !(ce.fileWrite.writeKept > 0) || !(sha > 0)) return undefined;
  return (ce.cores * 1000) / (client + 1000 / ce.fileWrite.writeKept + 1000 / sha);
}

/**
 * The most a push can reach here: what the same client sends to a server that only reads
 * the body (the bare Node receiver), or the CPU budget above, whichever is lower. Berth
 * reads upload bodies on a native thread, not through Node's parser; nginx's WebDAV PUT (in
 * the ceilings table) is nginx's own speed, not a ceiling. The kept-file write rates are
 * shown beside it: a single writer cannot beat them, but a server that overlaps writing
 * with receiving (Berth does) can.
 */
const MONOLITHIC_CLIENT = { metric: 'push_discard_MBps', what: 'the same client to a server that only reads the body' };
const CHUNKED_CLIENT = { metric: 'push_discard_chunked_MBps', what: 'the same client, the same requests, to a server that only reads the body' };

const pushOutOfReach = (need: number, ce: Ceilings, clientCeiling = MONOLITHIC_CLIENT): string | undefined => {
  const client = ce.nodeReceiver[clientCeiling.metric];
  const budget = pushCpuBudgetMBps(ce);
  if (client !== undefined && (budget === undefined || client <= budget)) return outOfReach(need, client, clientCeiling.what);
  return outOfReach(need, budget, `${ce.cores} cores ÷ the CPU per MB of the client, new page-cache pages and SHA-256`);
};

const atLeast = (x: number) => (_b: number, ratio: number) => ({ text: `≥ ${x}×`, pass: ratio >= x });

/** Pull targets: ≥ 1.2× Distribution and ≥ 70% of nginx doing the same pull. */
const pullTarget = (metric: string) => (b: number, ratio: number, c: Ceilings): TargetResult => {
  const nginx = c.nginx[metric] ?? NaN;
  return {
    text: `≥ 1.2× and ≥ 70% of nginx (${fmt(0.7 * nginx)})`,
    pass: ratio >= 1.2 && b >= 0.7 * nginx,
    beyond: outOfReach((1.2 * b) / ratio, c.nginx[metric], 'nginx sendfile to the same client'),
  };
};

/** Request-rate targets: ≥ 8× Distribution with no failed request. */
const rateTarget = (errorsMetric: string) => (_b: number, ratio: number, _c: Ceilings, all: Record<string, number>) => ({
  text: '≥ 8×, 0 errors',
  pass: ratio >= 8 && all[errorsMetric] === 0,
});

const p99Target = (b: number) => ({ text: '≤ 20 ms', pass: b <= 20 });

export function rowDefs(p: { blobMiB: number; chunkMiB: number; images: number; tags: number; repos: number; connections: number }): RowDef[] {
  const c = p.connections;
  return [
    { label: `monolithic push ${p.blobMiB} MiB (MB/s)`, metric: 'push_mono_MBps', better: 'higher',
      target: (b, ratio, ce) => ({
        text: `≥ 4× and ≥ 50% of SHA-256 (${fmt(0.5 * ce.nodeSha256MBps)})`,
        pass: ratio >= 4 && b >= 0.5 * ce.nodeSha256MBps,
        beyond: pushOutOfReach(Math.max((4 * b) / ratio, 0.5 * ce.nodeSha256MBps), ce),
      }) },
    { label: 'pull, 1 client (MB/s)', metric: 'pull_1_MBps', better: 'higher', target: pullTarget('pull_1_MBps') },
    { label: 'pull, 1 client verifying digest (MB/s)', metric: 'pull_1_verify_MBps', better: 'higher', target: pullTarget('pull_1_verify_MBps') },
    { label: 'pull, 4 clients, aggregate (MB/s)', metric: 'pull_4_MBps', better: 'higher', target: pullTarget('pull_4_MBps') },
    { label: 'pull, 4 clients verifying, aggregate (MB/s)', metric: 'pull_4_verify_MBps', better: 'higher', target: pullTarget('pull_4_verify_MBps') },
    { label: `chunked push ${p.blobMiB} MiB in ${p.chunkMiB} MiB PATCHes (MB/s)`, metric: 'push_chunked_MBps', better: 'higher',
      target: (b, ratio, ce) => ({ ...atLeast(3)(b, ratio), beyond: pushOutOfReach((3 * b) / ratio, ce, CHUNKED_CLIENT) }) },
    { label: `GET manifest by tag, ${c} conns (req/s)`, metric: 'manifest_get_rps', better: 'higher', target: rateTarget('manifest_get_errors') },
    { label: 'GET manifest p50 (ms)', metric: 'manifest_get_p50_ms', better: 'lower' },
    { label: 'GET manifest p99 (ms)', metric: 'manifest_get_p99_ms', better: 'lower', target: p99Target },
    { label: `HEAD blob, ${c} conns (req/s)`, metric: 'head_blob_rps', better: 'higher', target: rateTarget('head_blob_errors') },
    { label: 'HEAD blob p50 (ms)', metric: 'head_blob_p50_ms', better: 'lower' },
    { label: 'HEAD blob p99 (ms)', metric: 'head_blob_p99_ms', better: 'lower', target: p99Target },
    { label: `${p.images} concurrent 5-layer image pushes, wall (s)`, metric: 'images_wall_s', better: 'lower',
      target: (_b, ratio, _c, all) => ({ text: '> 1× (faster), 0 errors', pass: ratio > 1 && all.images_errors === 0 }) },
    { label: `${p.images} concurrent image pushes, errors`, metric: 'images_errors', better: 'none', target: (b) => ({ text: '0', pass: b === 0 }) },
    { label: `walk ${p.tags} tags, n=100 (s)`, metric: 'tags_walk_s', better: 'lower',
      target: (b, ratio, ce, all) => {
        // A time: 5× faster means at most Distribution's time / 5; nothing walks N pages faster than N bare round trips.
        const allowedMs = ((b * ratio) / 5) * 1000;
        const floorMs = ((ce.nodeReceiver.get_100_sequential_ms ?? NaN) * (all.tags_pages ?? NaN)) / 100;
        const beyond = allowedMs < floorMs ? `allows ${fmt(allowedMs)} ms for ${fmt(all.tags_pages ?? NaN)} pages; as many bare Node round trips take ${fmt(floorMs)} ms` : undefined;
        return { ...atLeast(5)(b, ratio), beyond };
      } },
    { label: 'tags: first page (ms)', metric: 'tags_first_page_ms', better: 'lower' },
    { label: 'tags: last page (ms)', metric: 'tags_last_page_ms', better: 'lower' },
    { label: 'tags: pages walked', metric: 'tags_pages', better: 'none' },
    { label: `walk _catalog of ${p.repos}+ repos, n=100 (s)`, metric: 'catalog_walk_s', better: 'lower', target: atLeast(5) },
    { label: '_catalog: first page (ms)', metric: 'catalog_first_page_ms', better: 'lower' },
    { label: '_catalog: last page (ms)', metric: 'catalog_last_page_ms', better: 'lower' },
    { label: '_catalog: pages walked', metric: 'catalog_pages', better: 'none' },
    { label: 'RSS idle after start (MiB)', metric: 'rss_idle_MiB', better: 'lower' },
    { label: 'RSS peak, whole run (MiB)', metric: 'rss_peak_MiB', better: 'lower', target: (b) => ({ text: '≤ 150 MiB', pass: b <= 150 }) },
  ];
}

export function buildRows(defs: RowDef[], samples: Samples, ceilings: Ceilings): Row[] {
  const med = (server: string) => Object.fromEntries(Object.entries(samples[server] ?? {}).map(([k, v]) => [k, median(v)]));
  const b = med('berth');
  const d = med('distribution');
  return defs.map((def) => {
    const bv = b[def.metric] ?? NaN;
    const dv = d[def.metric] ?? NaN;
    const ratio = def.better === 'higher' ? bv / dv : def.better === 'lower' ? dv / bv : NaN;
    const t = def.target && Number.isFinite(bv) ? def.target(bv, ratio, ceilings, b) : undefined;
    return { workload: def.label, berth: bv, distribution: dv, ratio, target: t?.text ?? (def.target ? '' : '—'), pass: t?.pass, beyond: t?.pass ? undefined : t?.beyond };
  });
}

export function fmt(v: number): string {
  if (!Number.isFinite(v)) return 'n/a';
  const a = Math.abs(v);
  return a >= 100 ? v.toFixed(0) : a >= 10 ? v.toFixed(1) : v.toFixed(2);
}

/** `extra`: more tables, printed right after the main one (the access-control comparison). */
export function markdown(rows: Row[], ceilings: Ceilings, header: string[], notes: string[], extra: string[] = []): string {
  const lines = [...header, ''];
  lines.push('| workload | Berth median | Distribution median | ratio, >1 = Berth better (rates: Berth/Distribution; times, latencies, memory: Distribution/Berth) | target | result |');
  lines.push('| --- | ---: | ---: | ---: | --- | --- |');
  for (const r of rows) {
    const ratio = Number.isFinite(r.ratio) ? `${fmt(r.ratio)}×` : '—';
    const result = r.pass === undefined ? (r.target === '—' ? '—' : 'n/a') : r.pass ? 'PASS' : r.beyond ? `FAIL, out of reach here: ${r.beyond}` : 'FAIL';
    lines.push(`| ${r.workload} | ${fmt(r.berth)} | ${fmt(r.distribution)} | ${ratio} | ${r.target} | ${result} |`);
  }
  lines.push(...extra);
  lines.push('', '**Machine ceilings (same run)**', '', '| ceiling | value |', '| --- | ---: |');
  lines.push(`| SHA-256, Node crypto, 256 MiB in 1 MiB chunks, best of 5 (MB/s) | ${fmt(ceilings.nodeSha256MBps)} |`);
  lines.push(`| SHA-256, openssl speed -evp sha256 -bytes 16384 (MB/s) | ${fmt(ceilings.opensslSha256MBps ?? NaN)} |`);
  lines.push(`| file write, 256 MiB in 1 MiB writes, each file deleted before the next, best of 3 (MB/s) | ${fmt(ceilings.fileWrite.write)} |`);
  lines.push(`| file write + fsync, the same, best of 3 (MB/s) | ${fmt(ceilings.fileWrite.writeFsync)} |`);
  const fw = ceilings.fileWrite;
  const keptRow = (what: string, all: number[], value: number) =>
    `| ${what}, new 256 MiB files kept, ${all.length} back to back, median of the last ${all.length - Math.floor(all.length / 2)} (MB/s; all: ${all.map(fmt).join(', ')}) | ${fmt(value)} |`;
  lines.push(keptRow('file write', fw.writeKeptAll, fw.writeKept));
  lines.push(keptRow('file write + fsync', fw.writeFsyncKeptAll, fw.writeFsyncKept));
  const budget = pushCpuBudgetMBps(ceilings);
  if (budget !== undefined) {
    const client = ceilings.nodeReceiver.push_client_cpu_ms_per_MB!;
    const sha = Math.max(ceilings.nodeSha256MBps, ceilings.opensslSha256MBps ?? 0);
    lines.push(`| push CPU budget: ${ceilings.cores} cores ÷ (client ${client.toFixed(2)} + new pages ${(1000 / fw.writeKept).toFixed(2)} + SHA-256 ${(1000 / sha).toFixed(2)} ms per MB) (MB/s) | ${fmt(budget)} |`);
  }
  const nginxLabels: Record<string, string> = {
    push_MBps: 'nginx WebDAV PUT of the blob into a file, same client (MB/s)',
    pull_1_MBps: 'nginx sendfile, pull by 1 client (MB/s)',
    pull_1_verify_MBps: 'nginx sendfile, pull by 1 client verifying digest (MB/s)',
    pull_4_MBps: 'nginx sendfile, pull by 4 clients, aggregate (MB/s)',
    pull_4_verify_MBps: 'nginx sendfile, pull by 4 clients verifying, aggregate (MB/s)',
  };
  for (const [k, v] of Object.entries(ceilings.nginx)) lines.push(`| ${nginxLabels[k] ?? `nginx ${k}`} | ${fmt(v)} |`);
  const receiverLabels: Record<string, string> = {
    push_discard_MBps: 'bare Node HTTP server, PUT body read and dropped, same client (MB/s)',
    push_client_cpu_ms_per_MB: 'the client sending that PUT: its CPU time per MB (ms)',
    push_discard_chunked_MBps: 'bare Node HTTP server, the blob as 8 MiB PUTs one after another, read and dropped, same client (MB/s)',
    push_hash_MBps: 'bare Node HTTP server, PUT body read + SHA-256 (MB/s)',
    push_store_MBps: 'bare Node HTTP server, PUT body read + SHA-256 + written to a new file (kept) + fdatasync (MB/s)',
    get_100_sequential_ms: 'bare Node HTTP server, 100 sequential GETs, same client as the page walks (ms)',
  };
  for (const [k, v] of Object.entries(ceilings.nodeReceiver)) lines.push(`| ${receiverLabels[k] ?? `node receiver ${k}`} | ${fmt(v)} |`);
  if (notes.length) lines.push('', ...notes.map((n) => `- ${n}`));
  return lines.join('\n') + '\n';
}

/** Writes `<stamp>.md` and `<stamp>.json` under `dir`; returns their paths. */
export function writeResults(dir: string, md: string, json: unknown): { md: string; json: string } {
  mkdirSync(dir, { recursive: true });
  const stamp = new Date().toISOString().replace(/:/g, '-').replace(/\.\d+Z$/, '');
  const paths = { md: join(dir, `${stamp}.md`), json: join(dir, `${stamp}.json`) };
  writeFileSync(paths.md, md);
  writeFileSync(paths.json, JSON.stringify(json, null, 2) + '\n');
  return paths;
}
