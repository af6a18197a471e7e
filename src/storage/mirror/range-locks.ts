/**
 * Exclusive locks on byte ranges, granted in the order asked where ranges overlap. A mirrored write holds its
 * range from before it is sent to the peer until it is written here, and a resync holds the range it reads
 * until its copy is sent, so both copies see overlapping writes in one order.
 */
export class RangeLocks {
  private readonly held: { start: number; end: number; released: Promise<void> }[] = [];

  /** Resolves, once every earlier overlapping lock is released, to the function that releases this one. */
  async acquire(offset: number, length: number): Promise<() => void> {
    const start = offset;
    const end = offset + Math.max(length, 1);
    const earlier = this.held
      .filter((lock) => lock.start < end && start < lock.end)
      .map((lock) => lock.released);
    let release!: () => void;
    const entry = { start, end, released: new Promise<void>((resolve) => (release = resolve)) };
    this.held.push(entry);
    await Promise.all(earlier);
    return () => {
      const index = this.held.indexOf(entry);
      if (index >= 0) this.held.splice(index, 1);
      release();
    };
  }

  get size(): number {
    return this.held.length;
  }
}
