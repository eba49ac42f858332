/** A webhook receiver for the tests: a real HTTP server on loopback that records what it is sent, and can go down and come back on the same port. */
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface Received {
  headers: IncomingHttpHeaders;
  /** The raw body, as signed. */
  raw: string;
  body: any;
  at: number;
}

export class Receiver {
  readonly received: Received[] = [];
  /** The status to answer with (200 by default). */
  answer: (r: Received) => number = () => 200;
  port = 0;
  private server?: Server;

  get url(): string {
    return `http://127.0.0.1:${this.port}/hooks`;
  }

  /** Listens on the port it had before (or a free one the first time). */
  async start(): Promise<void> {
    const server = createServer((req, res) => {
      let raw = '';
      req.on('data', (c: Buffer) => (raw += c.toString()));
      req.on('end', () => {
        const r: Received = { headers: req.headers, raw, body: JSON.parse(raw), at: Date.now() };
        const status = this.answer(r);
        if (status < 300) this.received.push(r);
        res.writeHead(status, { 'content-type': 'text/plain' }).end(status < 300 ? 'received' : 'unavailable');
      });
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.port, '127.0.0.1', () => resolve());
    });
    this.port = (server.address() as AddressInfo).port;
    this.server = server;
  }

  /** Goes down: connections are refused until start() again. */
  async stop(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  /** CloudEvents received of a type (`push`, not `berth.push`), optionally about one repository. */
  ofType(type: string, repository?: string): Received[] {
    return this.received.filter((r) => r.body.type === `berth.${type}` && (repository === undefined || r.body.data.repository === repository));
  }

  async waitFor(done: () => boolean, what: string, ms = 60_000): Promise<void> {
    const end = Date.now() + ms;
    while (!done()) {
      if (Date.now() > end) throw new Error(`timed out waiting for ${what}; received: ${JSON.stringify(this.received.map((r) => [r.body.type, r.body.subject]))}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}
