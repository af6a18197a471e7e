/**
 * The bytes of one copy of a mirrored disk on one node. The file form is the real one; the memory form lets
 * the simulator lose what was not flushed when a node crashes.
 */
export interface BlockStore {
  readonly sizeBytes: number;
  read(offset: number, length: number): Promise<Uint8Array>;
  write(offset: number, data: Uint8Array): Promise<void>;
  /** A write that is durable once it resolves (a FUA write), leaving the others as they are. */
  writeDurably(offset: number, data: Uint8Array): Promise<void>;
  writeZeroes(offset: number, length: number): Promise<void>;
  /** Makes every completed write durable. */
  flush(): Promise<void>;
  close(): Promise<void>;
}

/** A copy held in memory; `crash()` forgets what was written since the last flush, as a power cut would. */
export class MemoryBlockStore implements BlockStore {
  private durable: Uint8Array;
  private current: Uint8Array;

  constructor(readonly sizeBytes: number) {
    this.durable = new Uint8Array(sizeBytes);
    this.current = new Uint8Array(sizeBytes);
  }

  async read(offset: number, length: number): Promise<Uint8Array> {
    return this.current.slice(offset, offset + length);
  }

  async write(offset: number, data: Uint8Array): Promise<void> {
    this.current.set(data, offset);
  }

  async writeDurably(offset: number, data: Uint8Array): Promise<void> {
    this.current.set(data, offset);
    this.durable.set(data, offset);
  }

  async writeZeroes(offset: number, length: number): Promise<void> {
    this.current.fill(0, offset, offset + length);
  }

  async flush(): Promise<void> {
    this.durable = this.current.slice();
  }

  async close(): Promise<void> {}

  crash(): void {
    this.current = this.durable.slice();
  }

  /** The bytes as they are now, for comparing copies in tests. */
  snapshot(): Uint8Array {
    return this.current.slice();
  }
}
