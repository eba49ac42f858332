import { describe, expect, it } from 'vitest';
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
