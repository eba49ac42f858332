import { createHash, randomBytes } from 'node:crypto';
import pg from 'pg';
import type { ChangeFeed } from '../../../core/change-feed.js';
import { checkSchemaName } from './pool.js';

export interface PgChangeFeedOptions {
  url: string;
  /** The schema Berth's tables are in: nodes of other installations in the same database don't hear these changes. */
  schema?: string;
  /** Told when the listening connection is lost (it is reopened). */
  onError?(err: Error): void;
  /** Wait between reconnection attempts (default 1 s). */
  reconnectMs?: number;
  /** Longest a publish waits for every listening node to acknowledge it (default 2 s). */
  echoTimeoutMs?: number;
}

/**
 * ChangeFeed over PostgreSQL LISTEN/NOTIFY, on one connection of its own per
 * node, named `bf:<installation>:<node>` so the listening nodes can be counted
 * in pg_stat_activity. Every node acknowledges each change after dropping it
 * from its caches; the writer waits for the acknowledgements of every node that
 * was listening when it published, so once a write is answered no node serves
 * what it replaced (a node that does not answer within the timeout is logged;
 * one whose connection is down serves nothing). While the connection is down the feed reports not
 * connected (this node's caches serve nothing), still announces its own changes
 * on a short-lived connection, and reconnects; after a reconnect listeners are
 * told to forget everything, since changes may have been missed meanwhile.
 */
export class PgChangeFeed implements ChangeFeed {
  connected = false;
  private client?: pg.Client;
  private readonly listeners: ((topic: string | undefined) => void)[] = [];
  /** Publications waiting for acknowledgements: the nodes still to answer. */
  private readonly pending = new Map<string, { waiting: Set<string>; done: () => void }>();
  private readonly channel: string;
  private readonly installation: string;
  private readonly node = randomBytes(6).toString('hex');
  private sequence = 0;
  private closed = false;
  private retry?: NodeJS.Timeout;

  constructor(private readonly options: PgChangeFeedOptions) {
    this.channel = `berth_changes_${checkSchemaName(options.schema ?? 'public')}`;
    this.installation = createHash('sha256').update(this.channel).digest('hex').slice(0, 12);
  }

  /** Connects and listens; rejects when the first connection cannot be made. */
  async start(): Promise<void> {
    await this.connect();
  }

  subscribe(listener: (topic: string | undefined) => void): void {
    this.listeners.push(listener);
  }

  async publish(topic: string): Promise<void> {
    const client = this.client;
    if (!this.connected || !client) return this.publishAlone(topic);
    const id = `${this.node}:${++this.sequence}`;
    let timer: NodeJS.Timeout | undefined;
    try {
      const listening = await client.query<{ name: string }>('select application_name as name from pg_stat_activity where application_name like $1', [`bf:${this.installation}:%`]);
      const waiting = new Set(listening.rows.map((r) => r.name.slice(r.name.lastIndexOf(':') + 1)));
      waiting.add(this.node);
      const acknowledged = new Promise<void>((resolve) => {
        this.pending.set(id, { waiting, done: resolve });
        timer = setTimeout(() => {
          this.options.onError?.(new Error(`nodes ${[...waiting].join(', ')} did not acknowledge change ${topic} in time`));
          resolve();
        }, this.options.echoTimeoutMs ?? 2000);
      });
      await client.query('select pg_notify($1, $2)', [this.channel, `${id} ${topic}`]);
      await acknowledged;
    } catch (err) {
      this.lost(client, err as Error);
    } finally {
      clearTimeout(timer);
      this.pending.delete(id);
    }
  }

  /** Without the listening connection: the other nodes must still hear of the change (this node's caches are off). */
  private async publishAlone(topic: string): Promise<void> {
    const client = new pg.Client({ connectionString: this.options.url, connectionTimeoutMillis: 5000 });
    try {
      await client.connect();
      await client.query('select pg_notify($1, $2)', [this.channel, `${this.node}:- ${topic}`]);
    } catch (err) {
      this.options.onError?.(err as Error);
    } finally {
      await client.end().catch(() => undefined);
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.retry);
    this.connected = false;
    const client = this.client;
    this.client = undefined;
    await client?.end().catch(() => undefined);
  }

  private async connect(): Promise<void> {
    const client = new pg.Client({ connectionString: this.options.url, application_name: `bf:${this.installation}:${this.node}` });
    client.on('notification', (message) => {
      if (message.channel === this.channel && message.payload) this.deliver(message.payload);
    });
    client.on('error', (err) => this.lost(client, err));
    client.on('end', () => this.lost(client));
    await client.connect();
    await client.query(`listen ${this.channel}`);
    if (this.closed) return void (await client.end());
    this.client = client;
    this.connected = true;
    this.emit(undefined); // anything cached before this connection may have been changed unheard
  }

  /** `<id> <topic>`: a change, dropped here, then acknowledged; `ack <id> <node>`: a node has dropped change <id>. */
  private deliver(payload: string): void {
    if (payload.startsWith('ack ')) {
      const [, id, node] = payload.split(' ');
      const publication = this.pending.get(id!);
      publication?.waiting.delete(node!);
      if (publication && publication.waiting.size === 0) publication.done();
      return;
    }
    const space = payload.indexOf(' ');
    if (space < 0) return;
    this.emit(payload.slice(space + 1));
    this.client?.query('select pg_notify($1, $2)', [this.channel, `ack ${payload.slice(0, space)} ${this.node}`]).catch(() => undefined);
  }

  private emit(topic: string | undefined): void {
    for (const listener of this.listeners) listener(topic);
  }

  private lost(client: pg.Client, err?: Error): void {
    if (this.client !== client) return;
    this.client = undefined;
    this.connected = false;
    this.emit(undefined);
    for (const publication of this.pending.values()) publication.done();
    this.pending.clear();
    if (err) this.options.onError?.(err);
    client.end().catch(() => undefined);
    this.scheduleReconnect();
  }

  private scheduleReconnect(): void {
    if (this.closed) return;
    this.retry = setTimeout(() => {
      this.connect().catch((err: Error) => {
        this.options.onError?.(err);
        this.scheduleReconnect();
      });
    }, this.options.reconnectMs ?? 1000);
    this.retry.unref();
  }
}
