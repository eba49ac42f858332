import { describe, expect, it } from 'vitest';
import type { ChangeFeed } from './change-feed.js';
import { ReadCache } from './read-cache.js';

describe('ReadCache', () => {
  it('serves what was set and forgets a repository on invalidation', () => {
    const cache = new ReadCache<string>(1024 * 1024, (v) => v.length);
    cache.set('a', 'latest', 'one', cache.generation());
    cache.set('b', 'latest', 'two', cache.generation());
    expect(cache.get('a', 'latest')).toBe('one');
    cache.invalidate('a');
    expect(cache.get('a', 'latest')).toBeUndefined();
    expect(cache.get('b', 'latest')).toBe('two');
  });

  it('refuses an answer read before a change, so a racing read cannot cache the old value', () => {
    const cache = new ReadCache<string>(1024 * 1024, (v) => v.length);
    const before = cache.generation();
    cache.invalidate('a'); // a write happened while the read was at the store
    cache.set('a', 'latest', 'stale', before);
    expect(cache.get('a', 'latest')).toBeUndefined();
  });

  it('stays within its byte budget', () => {
    const cache = new ReadCache<string>(16 * 1024, (v) => v.length);
    for (let i = 0; i < 100; i++) cache.set('r', `k${i}`, 'x'.repeat(900), cache.generation());
    let held = 0;
    for (let i = 0; i < 100; i++) if (cache.get('r', `k${i}`)) held++;
    expect(held).toBeGreaterThan(0);
    expect(held * 900).toBeLessThanOrEqual(16 * 1024);
    cache.set('r', 'huge', 'x'.repeat(8 * 1024), cache.generation());
    expect(cache.get('r', 'huge')).toBeUndefined();
  });
});

/** A feed within one process: what PgChangeFeed does across nodes, without the network. */
class LocalFeed implements ChangeFeed {
  connected = true;
  private readonly listeners: ((topic: string | undefined) => void)[] = [];
  subscribe(listener: (topic: string | undefined) => void): void {
    this.listeners.push(listener);
  }
  async publish(topic: string): Promise<void> {
    this.emit(topic);
  }
  emit(topic: string | undefined): void {
    for (const l of this.listeners) l(topic);
  }
}

describe('ReadCache with a change feed (several nodes)', () => {
  it("drops a repository when another node announces a change, and a racing read can't cache the old value", async () => {
    const feed = new LocalFeed();
    const nodeA = new ReadCache<string>(1024 * 1024, (v) => v.length, feed);
    const nodeB = new ReadCache<string>(1024 * 1024, (v) => v.length, feed);
    nodeB.set('r', 'latest', 'old', nodeB.generation());
    nodeB.set('other', 'latest', 'kept', nodeB.generation());
    const readStarted = nodeB.generation();
    await nodeA.changed('r'); // node A moved the tag
    expect(nodeB.get('r', 'latest')).toBeUndefined();
    expect(nodeB.get('other', 'latest')).toBe('kept');
    nodeB.set('r', 'latest', 'old', readStarted); // B's read from before the change finishes late
    expect(nodeB.get('r', 'latest')).toBeUndefined();
  });

  it('serves nothing while the feed is down and forgets everything when it was interrupted', () => {
    const feed = new LocalFeed();
    const cache = new ReadCache<string>(1024 * 1024, (v) => v.length, feed);
    cache.set('r', 'latest', 'one', cache.generation());
    feed.connected = false;
    expect(cache.get('r', 'latest')).toBeUndefined();
    cache.set('r', 'other', 'two', cache.generation());
    feed.connected = true;
    expect(cache.get('r', 'other')).toBeUndefined();
    feed.emit(undefined);
    expect(cache.get('r', 'latest')).toBeUndefined();
  });
});
