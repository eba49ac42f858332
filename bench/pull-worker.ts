// One pulling client, in its own worker thread so 4 concurrent clients (and their
// optional SHA-256 verification) can use both cores instead of sharing one event loop.
//
// It speaks HTTP/1.1 on a raw socket with `onread` into one reused 1 MiB buffer:
// node:http's IncomingMessage reads 64 KiB at a time into fresh buffers and measured
// about half of curl's speed against nginx here, which would make the client the
// bottleneck. With large reads this client matches curl.
import { createHash } from 'node:crypto';
import net from 'node:net';
import { parentPort } from 'node:worker_threads';

export interface PullJob {
  port: number;
  path: string;
  size: number;
  digest: string;
  verify: boolean;
}

export interface PullResult {
  bytes: number;
  ms: number;
  error?: string;
}

const readBuffer = Buffer.allocUnsafe(1 << 20);

function pull(job: PullJob): Promise<PullResult> {
  const t0 = performance.now();
  return new Promise((resolve) => {
    const hash = job.verify ? createHash('sha256') : undefined;
    let head: Buffer | undefined = Buffer.alloc(0); // undefined once the headers are parsed
    let length = -1;
    let bytes = 0;
    let settled = false;
    const finish = (error?: string) => {
      if (settled) return;
      settled = true;
      socket.destroy();
      clearTimeout(timer);
      const ms = performance.now() - t0;
      if (!error && hash && 'sha256:' + hash.digest('hex') !== job.digest) error = 'digest mismatch';
      resolve(error ? { bytes: 0, ms, error } : { bytes, ms });
    };
    const onBody = (body: Buffer) => {
      bytes += body.length;
      hash?.update(body); // copies synchronously, so the read buffer can be reused
      if (bytes >= length) finish(bytes === length ? undefined : `got ${bytes} bytes, expected ${length}`);
    };
    const onData = (data: Buffer) => {
      if (head === undefined) return onBody(data);
      head = Buffer.concat([head, data]);
      const end = head.indexOf('\r\n\r\n');
      if (end < 0) return head.length > 65536 ? finish('response headers too long') : undefined;
      const headers = head.subarray(0, end).toString('latin1');
      const status = Number(headers.match(/^HTTP\/1\.[01] (\d{3})/)?.[1]);
      const cl = headers.match(/\r\ncontent-length:\s*(\d+)/i)?.[1];
      const rest = head.subarray(end + 4);
      head = undefined;
      if (status !== 200) return finish(`status ${status}`);
      if (cl === undefined) return finish('no Content-Length in the response');
      length = Number(cl);
      if (length !== job.size) return finish(`Content-Length ${length}, expected ${job.size}`);
      onBody(rest);
    };
    const socket = net.connect({
      host: '127.0.0.1',
      port: job.port,
      onread: {
        buffer: readBuffer,
        callback(nread: number, buf: Uint8Array) {
          onData(Buffer.from(buf.buffer, buf.byteOffset, nread));
          return true; // keep reading
        },
      },
    });
    socket.on('connect', () => socket.write(`GET ${job.path} HTTP/1.1\r\nHost: 127.0.0.1:${job.port}\r\nAccept: */*\r\nConnection: close\r\n\r\n`));
    socket.on('error', (err) => finish(err.message));
    socket.on('close', () => finish(`connection closed after ${bytes} bytes`));
    const timer = setTimeout(() => finish('timed out after 120 s'), 120_000);
  });
}

parentPort?.on('message', (job: PullJob) => {
  void pull(job).then((result) => parentPort?.postMessage(result));
});
