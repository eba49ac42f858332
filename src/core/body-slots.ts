/**
 * How many upload bodies are read at once, process-wide. A body waiting for a slot
 * is not read, so its bytes wait in the kernel's socket buffer rather than in this
 * process: with hundreds of concurrent layer pushes, reading them all at once kept
 * ~200 MiB of 64 KiB socket chunks alive or awaiting collection, for no more
 * throughput (the disk takes them one batch at a time anyway).
 *
 * The cost: a client that sends its body very slowly holds a slot until it
 * finishes or the idle timeout drops it. Behind a proxy that buffers request
 * bodies (nginx's default) this does not arise.
 */
export class BodySlots {
  private used = 0;
  private readonly waiting: (() => void)[] = [];

  constructor(readonly max: number) {}

  async acquire(): Promise<void> {
    while (this.used >= this.max) await new Promise<void>((resolve) => this.waiting.push(resolve));
    this.used++;
  }

  release(): void {
    this.used--;
    this.waiting.shift()?.();
  }
}
