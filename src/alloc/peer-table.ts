/**
 * A node's peers as htools counts them: for each primary node, the memory of its instances that would fail
 * over to this node. Immutable: a trial move records its one change on top of a shared table instead of
 * copying a map (copying was half of a large group's balancing time). Changes pile up as a short overlay and
 * are folded into a new table past a few, so reads stay cheap along a long run of committed moves.
 */

/** Overlay changes kept before they are folded into a fresh base. */
const MAX_EDITS = 8;

export class PeerTable {
  private constructor(
    private readonly base: ReadonlyMap<number, number>,
    /** Changes over the base, oldest first, as primary and memory pairs; memory 0 means none. */
    private readonly edits: readonly number[],
  ) {}

  static from(memoryByPrimary: ReadonlyMap<number, number>): PeerTable {
    return new PeerTable(new Map([...memoryByPrimary].filter(([, memory]) => memory !== 0)), []);
  }

  /** The memory that would fail over from `primary`'s instances, 0 if none. */
  get(primary: number): number {
    const edited = this.edited(primary);
    return edited ?? this.base.get(primary) ?? 0;
  }

  /** The table with `primary`'s memory set (0 removes it). */
  with(primary: number, memory: number): PeerTable {
    if (this.edits.length < 2 * MAX_EDITS) return new PeerTable(this.base, [...this.edits, primary, memory]);
    const folded = new Map(this.base);
    for (let k = 0; k < this.edits.length; k += 2) setOrDelete(folded, this.edits[k]!, this.edits[k + 1]!);
    setOrDelete(folded, primary, memory);
    return new PeerTable(folded, []);
  }

  /** The largest memory of one primary (htools' reserved memory for N+1). */
  max(): number {
    let max = 0;
    this.forEach((memory) => {
      if (memory > max) max = memory;
    });
    return max;
  }

  total(): number {
    let total = 0;
    this.forEach((memory) => {
      total += memory;
    });
    return total;
  }

  private forEach(visit: (memory: number) => void): void {
    for (const [primary, memory] of this.base) visit(this.edited(primary) ?? memory);
    for (let k = 0; k < this.edits.length; k += 2) {
      const primary = this.edits[k]!;
      // A primary new to the base counts once, at its latest value.
      if (this.base.has(primary) || this.lastEdit(primary) !== k) continue;
      visit(this.edits[k + 1]!);
    }
  }

  private edited(primary: number): number | undefined {
    const k = this.lastEdit(primary);
    return k < 0 ? undefined : this.edits[k + 1];
  }

  /** Where the latest change of `primary` sits in the overlay, or -1. */
  private lastEdit(primary: number): number {
    for (let k = this.edits.length - 2; k >= 0; k -= 2) if (this.edits[k] === primary) return k;
    return -1;
  }
}

function setOrDelete(map: Map<number, number>, primary: number, memory: number): void {
  if (memory === 0) map.delete(primary);
  else map.set(primary, memory);
}
