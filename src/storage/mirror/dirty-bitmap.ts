import { invariant } from '../../common/invariant.js';

/** A run of dirty bytes: granule-aligned, within the disk. */
export interface DirtyRun {
  readonly offset: number;
  readonly length: number;
}

/**
 * Which granules of a disk its peer may not hold (DRBD's bitmap): set when a write cannot be mirrored, cleared
 * when the resync has put the granule on the peer. One bit per granule (4 KiB by default, as DRBD), so that a
 * resync sends no more than what changed, rounded up to granules.
 */
export class DirtyBitmap {
  private readonly bits: Uint8Array;
  private dirtyCount = 0;
  readonly granules: number;

  constructor(
    readonly sizeBytes: number,
    readonly granuleBytes: number,
  ) {
    invariant(
      Number.isInteger(granuleBytes) && granuleBytes > 0 && (granuleBytes & (granuleBytes - 1)) === 0,
      () => `a granule is a power of two bytes, not ${granuleBytes}`,
    );
    this.granules = Math.ceil(sizeBytes / granuleBytes);
    this.bits = new Uint8Array(Math.ceil(this.granules / 8));
  }

  get dirtyGranules(): number {
    return this.dirtyCount;
  }

  /** Dirty bytes, counting a partial last granule whole. */
  get dirtyBytes(): number {
    return this.dirtyCount * this.granuleBytes;
  }

  isClean(): boolean {
    return this.dirtyCount === 0;
  }

  /** Marks every granule that [offset, offset + length) touches. */
  mark(offset: number, length: number): void {
    this.forGranules(offset, length, (granule) => this.setBit(granule, true));
  }

  markAll(): void {
    this.mark(0, this.sizeBytes);
  }

  /** Clears the granules that [offset, offset + length) covers whole; a partly covered one stays dirty. */
  clearCovered(offset: number, length: number): void {
    const first = Math.ceil(offset / this.granuleBytes);
    const end =
      offset + length >= this.sizeBytes ? this.granules : Math.floor((offset + length) / this.granuleBytes);
    for (let granule = first; granule < end; granule++) this.setBit(granule, false);
  }

  isDirty(granule: number): boolean {
    return ((this.bits[granule >> 3] ?? 0) & (1 << (granule & 7))) !== 0;
  }

  /** The first dirty run at or after `offset`, at most `maxBytes` long, or undefined when none is left. */
  nextRun(offset: number, maxBytes: number): DirtyRun | undefined {
    let granule = Math.floor(offset / this.granuleBytes);
    while (granule < this.granules && !this.isDirty(granule)) {
      // Skip clean bytes eight granules at a time.
      if ((granule & 7) === 0 && this.bits[granule >> 3] === 0) granule += 8;
      else granule++;
    }
    if (granule >= this.granules) return undefined;
    const maxGranules = Math.max(1, Math.floor(maxBytes / this.granuleBytes));
    let end = granule + 1;
    while (end < this.granules && end - granule < maxGranules && this.isDirty(end)) end++;
    const start = granule * this.granuleBytes;
    return { offset: start, length: Math.min(end * this.granuleBytes, this.sizeBytes) - start };
  }

  private forGranules(offset: number, length: number, visit: (granule: number) => void): void {
    if (length <= 0) return;
    invariant(
      offset >= 0 && offset + length <= this.sizeBytes,
      () => `range ${offset}+${length} is outside a disk of ${this.sizeBytes} bytes`,
    );
    const end = Math.ceil((offset + length) / this.granuleBytes);
    for (let granule = Math.floor(offset / this.granuleBytes); granule < end; granule++) visit(granule);
  }

  private setBit(granule: number, dirty: boolean): void {
    const byte = granule >> 3;
    const mask = 1 << (granule & 7);
    const was = (this.bits[byte]! & mask) !== 0;
    if (was === dirty) return;
    this.bits[byte] = dirty ? this.bits[byte]! | mask : this.bits[byte]! & ~mask;
    this.dirtyCount += dirty ? 1 : -1;
  }
}
