// A pool of pulling clients (worker threads), started once and reused, so thread
// start-up never lands inside a timed pull.
import { Worker } from 'node:worker_threads';
import type { PullJob, PullResult } from './pull-worker.js';

export interface PullPool {
  /** Runs one job per client concurrently; aggregate MB/s over the wall time of all. */
  run(clients: number, job: PullJob): Promise<{ mbps: number; errors: string[] }>;
  close(): Promise<void>;
}

export function createPullPool(size: number): PullPool {
  // The worker is TypeScript too. On Node 20 a worker doesn't inherit tsx's loader
  // hooks for its entry file, so a tiny JS entry loads the .ts file through tsx's API.
  const entry = new URL('./pull-worker.ts', import.meta.url).href;
  const boot = `import('tsx/esm/api').then((api) => api.tsImport(${JSON.stringify(entry)}, ${JSON.stringify(import.meta.url)}))`;
  let broken: Error | undefined;
  const workers = Array.from({ length: size }, () => {
    const w = new Worker(boot, { eval: true });
    w.on('error', (err) => (broken ??= err)); // never an unhandled 'error' event
    return w;
  });
  const once = (w: Worker, job: PullJob) =>
    new Promise<PullResult>((resolve, reject) => {
      const onError = (err: Error) => reject(err);
      w.once('error', onError);
      w.once('message', (r: PullResult) => {
        w.off('error', onError);
        resolve(r);
      });
      w.postMessage(job);
    });
  return {
    async run(clients, job) {
      if (broken) throw broken;
      if (clients > workers.length) throw new Error(`pool has ${workers.length} clients, asked for ${clients}`);
      const t0 = performance.now();
      const results = await Promise.all(workers.slice(0, clients).map((w) => once(w, job)));
      const seconds = (performance.now() - t0) / 1000;
      const bytes = results.reduce((sum, r) => sum + r.bytes, 0);
      return { mbps: bytes / 1e6 / seconds, errors: results.flatMap((r) => (r.error ? [r.error] : [])) };
    },
    async close() {
      await Promise.all(workers.map((w) => w.terminate()));
    },
  };
}
