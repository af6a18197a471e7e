/**
 * A node's peers as htools counts them: for each primary node, the memory of its instances that would fail
 * over to this node. Immutable: a trial move records its one change on top of a shared table instead of
 * copying a map (copying was half of a large group's balancing time). A change is one small link on the
 * table it changes; past a few links they are folded into a new base, so reads stay cheap along a long run
 * of committed moves.
 */

/** Links kept over a base before they are folded into a fresh one. */
const MAX_EDITS = 8;

export class PeerTable {
  /** The base's largest memory and its primary: a change of another primary leaves it standing. */
  private readonly baseMax: number;
  private readonly baseMaxPrimary: number;

  private constructor(
    private readonly base: ReadonlyMap<number, number>,
    /** The table this one changes, or null for a bare base. */
    private readonly parent: PeerTable | null,
    /** The change: `primary`'s memory set to `memory` (0 means none). */
    private readonly primary: number,
    private readonly memory: number,
    private readonly depth: number,
  ) {
    if (parent !== null) {
      this.baseMax = parent.baseMax;
      this.baseMaxPrimary = parent.baseMaxPrimary;
      return;
    }
    let max = 0;
    let maxPrimary = -1;
    for (const [primary, memory] of base) {
      if (memory <= max) continue;
      max = memory;
      maxPrimary = primary;
    }
    this.baseMax = max;
    this.baseMaxPrimary = maxPrimary;
  }

  static from(memoryByPrimary: ReadonlyMap<number, number>): PeerTable {
    return new PeerTable(new Map([...memoryByPrimary].filter(([, memory]) => memory !== 0)), null, 0, 0, 0);
  }

  /** The memory that would fail over from `primary`'s instances, 0 if none. */
  get(primary: number): number {
    const edit = this.lastEdit(primary);
    return edit === null ? (this.base.get(primary) ?? 0) : edit.memory;
  }

  /** The table with `primary`'s memory set (0 removes it). */
  with(primary: number, memory: number): PeerTable {
    if (this.depth < MAX_EDITS) return new PeerTable(this.base, this, primary, memory, this.depth + 1);
    const folded = this.foldedBase();
    setOrDelete(folded, primary, memory);
    return new PeerTable(folded, null, 0, 0, 0);
  }

  /**
   * The same table with its changes folded into its base: for a table that many trial moves will change
   * (a balancing search's committed nodes), so that their changes stay short links and never fold.
   */
  compact(): PeerTable {
    return this.parent === null ? this : new PeerTable(this.foldedBase(), null, 0, 0, 0);
  }

  private foldedBase(): Map<number, number> {
    const folded = new Map(this.base);
    const edits: PeerTable[] = [];
    for (let t: PeerTable = this; t.parent !== null; t = t.parent) edits.push(t);
    for (let k = edits.length - 1; k >= 0; k--) setOrDelete(folded, edits[k]!.primary, edits[k]!.memory);
    return folded;
  }

  /** The largest memory of one primary (htools' reserved memory for N+1). */
  max(): number {
    let changed = 0;
    for (let t: PeerTable = this; t.parent !== null; t = t.parent) {
      if (t.primary === this.baseMaxPrimary) return this.scanMax();
      if (this.lastEdit(t.primary) === t && t.memory > changed) changed = t.memory;
    }
    return Math.max(changed, this.baseMax);
  }

  private scanMax(): number {
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
    for (const [primary, memory] of this.base) visit(this.lastEdit(primary)?.memory ?? memory);
    this.visitNew(this, visit);
  }

  /** The primaries new to the base, oldest change first, once each at its latest value. */
  private visitNew(link: PeerTable, visit: (memory: number) => void): void {
    if (link.parent === null) return;
    this.visitNew(link.parent, visit);
    if (!this.base.has(link.primary) && this.lastEdit(link.primary) === link) visit(link.memory);
  }

  /** The latest change of `primary` over the base, or null. */
  private lastEdit(primary: number): PeerTable | null {
    for (let t: PeerTable = this; t.parent !== null; t = t.parent) if (t.primary === primary) return t;
    return null;
  }
}

function setOrDelete(map: Map<number, number>, primary: number, memory: number): void {
  if (memory === 0) map.delete(primary);
  else map.set(primary, memory);
}
