import { repositoryTopic, type ChangeFeed } from './change-feed.js';

/**
 * With several nodes, everything cached is dropped this often, whatever the
 * feed says: a node that dies between committing a change and announcing it
 * leaves the others stale for at most this long.
 */
const FEED_MAX_AGE_MS = 10_000;

/**
 * A small in-process cache for the hottest reads (manifest by tag or digest,
 * blob size by repository), kept per repository so that a change to a
 * repository drops everything cached for it. Bounded by total bytes: when full
 * it starts over rather than tracking recency, which keeps hits cheap.
 *
 * Without a feed it is correct only while this process is the one writer of
 * the metadata (the embedded default, which holds a lock on its data
 * directory). With several nodes, every change is announced on a ChangeFeed and
 * each node's cache drops what the change touched; while a node's feed is down
 * its cache serves nothing.
 */
export class ReadCache<V> {
  private readonly repos = new Map<string, Map<string, V>>();
  /**
   * Bumped by every invalidation. A read takes it before asking the store and
   * may only cache its answer if nothing changed meanwhile: otherwise a read
   * that raced a change could cache what the change replaced.
   */
  private epoch = 0;
  private bytes = 0;
  /** With a feed: when the entries were last all dropped (see FEED_MAX_AGE_MS). */
  private era = Date.now();

  constructor(
    private readonly maxBytes: number,
    private readonly sizeOf: (value: V) => number,
    private readonly feed?: ChangeFeed,
  ) {
    feed?.subscribe((topic) => {
      if (topic === undefined) this.forgetAll();
      else if (topic.startsWith('repo:')) this.invalidate(topic.slice('repo:'.length));
    });
  }

  get(repository: string, key: string): V | undefined {
    if (this.feed) {
      if (!this.feed.connected) return undefined;
      if (Date.now() - this.era > FEED_MAX_AGE_MS) this.forgetAll();
    }
    return this.repos.get(repository)?.get(key);
  }

  /** Take this before reading the store; pass it to `set`. */
  generation(): number {
    return this.epoch;
  }

  set(repository: string, key: string, value: V, generationAtRead: number): void {
    if (this.epoch !== generationAtRead || (this.feed && !this.feed.connected)) return;
    const size = this.sizeOf(value) + key.length + 64;
    if (size > this.maxBytes / 16) return; // never let one entry crowd out the rest
    if (this.bytes + size > this.maxBytes) this.clearEntries();
    let entries = this.repos.get(repository);
    if (!entries) {
      entries = new Map();
      this.repos.set(repository, entries);
    }
    entries.set(key, value);
    this.bytes += size;
  }

  /** Forgets everything about a repository on this node: called before every change to it. */
  invalidate(repository: string): void {
    this.epoch++;
    this.repos.delete(repository);
  }

  /** After a change is committed: forgets the repository here and, through the feed, on every other node. */
  async changed(repository: string): Promise<void> {
    this.invalidate(repository);
    await this.feed?.publish(repositoryTopic(repository));
  }

  private forgetAll(): void {
    this.epoch++;
    this.era = Date.now();
    this.clearEntries();
  }

  private clearEntries(): void {
    this.repos.clear();
    this.bytes = 0;
  }
}
