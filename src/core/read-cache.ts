/**
 * A small in-process cache for the hottest reads (manifest by tag or digest,
 * blob size by repository), kept per repository so that a change to a
 * repository drops everything cached for it. Bounded by total bytes: when full
 * it starts over rather than tracking recency, which keeps hits cheap.
 *
 * It is correct only while this process is the one writer of the metadata
 * (the embedded default, which holds a lock on its data directory). A
 * deployment with several nodes must not enable it.
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

  constructor(
    private readonly maxBytes: number,
    private readonly sizeOf: (value: V) => number,
  ) {}

  get(repository: string, key: string): V | undefined {
    return this.repos.get(repository)?.get(key);
  }

  /** Take this before reading the store; pass it to `set`. */
  generation(): number {
    return this.epoch;
  }

  set(repository: string, key: string, value: V, generationAtRead: number): void {
    if (this.epoch !== generationAtRead) return;
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

  /** Forgets everything about a repository: called before and after every change to it. */
  invalidate(repository: string): void {
    this.epoch++;
    this.repos.delete(repository);
  }

  private clearEntries(): void {
    this.repos.clear();
    this.bytes = 0;
  }
}
