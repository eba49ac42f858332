import { describe, expect, it } from 'vitest';
import { POSTGRES_URL, adminQuery, skipPostgres, uniqueSchema } from '../../../../test/support/postgres.js';
import { PgChangeFeed } from './pg-change-feed.js';

const until = async (check: () => boolean, ms = 10_000) => {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 20));
  }
};

describe.skipIf(skipPostgres)('PgChangeFeed (PostgreSQL LISTEN/NOTIFY between nodes)', () => {
  it('delivers a change to every node, and publish resolves only after every listening node acknowledged it', async () => {
    const schema = uniqueSchema();
    const nodes = [new PgChangeFeed({ url: POSTGRES_URL, schema }), new PgChangeFeed({ url: POSTGRES_URL, schema })];
    const otherInstallation = new PgChangeFeed({ url: POSTGRES_URL, schema: uniqueSchema() });
    const heard: (string | undefined)[][] = [[], [], []];
    [...nodes, otherInstallation].forEach((feed, i) => feed.subscribe((topic) => heard[i]!.push(topic)));
    try {
      await Promise.all([...nodes, otherInstallation].map((f) => f.start()));
      expect(heard.map((h) => h.length)).toEqual([1, 1, 1]); // each was told to forget anything from before it listened
      for (let i = 0; i < 20; i++) {
        await nodes[i % 2]!.publish(`repo:team/app${i}`);
        // Acknowledged by every listening node before publish resolved: both have dropped it already.
        expect(heard[0]).toContain(`repo:team/app${i}`);
        expect(heard[1]).toContain(`repo:team/app${i}`);
      }
      await new Promise((r) => setTimeout(r, 100));
      expect(heard[2]).toEqual([undefined]); // another schema is another installation: it hears nothing
    } finally {
      await Promise.all([...nodes, otherInstallation].map((f) => f.close()));
    }
  });

  it('reports itself disconnected when its connection is killed, then reconnects and says to forget everything', async () => {
    const schema = uniqueSchema();
    const errors: Error[] = [];
    const feed = new PgChangeFeed({ url: POSTGRES_URL, schema, reconnectMs: 100, onError: (e) => errors.push(e) });
    const heard: (string | undefined)[] = [];
    feed.subscribe((t) => heard.push(t));
    await feed.start();
    try {
      expect(feed.connected).toBe(true);
      await adminQuery(`select pg_terminate_backend(pid) from pg_stat_activity where query = $1`, [`listen berth_changes_${schema}`]);
      await until(() => !feed.connected);
      expect(heard.filter((t) => t === undefined).length).toBeGreaterThanOrEqual(2);
      await until(() => feed.connected);
      const before = heard.length;
      await feed.publish('auth');
      expect(heard.slice(before)).toEqual(['auth']);
      expect(errors.length).toBeGreaterThan(0);
    } finally {
      await feed.close();
    }
  });
});
