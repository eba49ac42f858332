// A bare node:http server that takes a PUT body and does only what the path says:
//   /discard  reads the body and drops it          (the runtime's ceiling for one HTTP upload)
//   /hash     reads and SHA-256s it                 (+ the hashing every push must do)
//   /store    reads, SHA-256s, writes it to a new file with a few writes in flight, fdatasyncs,
//             and keeps the file (as a registry keeps a pushed blob; DIR is removed by the run)
// It shows how close a registry on this runtime can get on a push: Berth does /store's work
// plus parsing, metadata and the atomic commit. Run as its own process: PORT DIR on argv.
import { createHash } from 'node:crypto';
import { open } from 'node:fs/promises';
import { createServer } from 'node:http';
import { join } from 'node:path';

const [port, dir] = [Number(process.argv[2]), process.argv[3]!];
let n = 0;

createServer(async (req, res) => {
  try {
    if (req.method === 'GET') return void res.end('ok');
    const hash = req.url === '/discard' ? undefined : createHash('sha256');
    const file = req.url === '/store' ? join(dir, `received-${n++}`) : undefined;
    const handle = file ? await open(file, 'w') : undefined;
    const inFlight: Promise<unknown>[] = [];
    let position = 0;
    for await (const chunk of req as AsyncIterable<Buffer>) {
      hash?.update(chunk);
      if (handle) {
        inFlight.push(handle.write(chunk, 0, chunk.length, position));
        position += chunk.length;
        if (inFlight.length >= 8) await inFlight.shift();
      }
    }
    await Promise.all(inFlight);
    if (handle) {
      await handle.datasync();
      await handle.close();
    }
    res.statusCode = 201;
    res.end(hash?.digest('hex') ?? '');
  } catch (err) {
    res.statusCode = 500;
    res.end(String(err));
  }
}).listen(port, '127.0.0.1');
