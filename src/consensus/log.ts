import { invariant } from '../common/invariant.js';
import type { Entry } from './types.js';

/** Rough wire size of an entry, for the byte limits on appends. */
export function entrySizeBytes(entry: Entry): number {
  return entry.type === 'normal' ? entry.data.byteLength + 16 : 64;
}

/**
 * The in-memory view of a node's log: the entries after the last snapshot, whose index and term stand in for
 * everything compacted. The log is bounded by compaction; the durable copy lives in the LogStore.
 */
type MembershipEntry = Entry & { type: 'membership' };
const isMembership = (entry: Entry): entry is MembershipEntry => entry.type === 'membership';

export class RaftLog {
  private entries: Entry[];
  /** The membership entries among them, oldest first: a follower recomputes its membership on every append. */
  private membership: MembershipEntry[];

  constructor(
    private snapshotIndex: number,
    private snapshotTerm: number,
    entries: readonly Entry[],
  ) {
    this.entries = entries.filter((entry) => entry.index > snapshotIndex);
    for (const [i, entry] of this.entries.entries()) {
      if (entry.index !== snapshotIndex + 1 + i)
        throw new RangeError(`log gap at index ${snapshotIndex + 1 + i}`);
    }
    this.membership = this.entries.filter(isMembership);
  }

  firstIndex(): number {
    return this.snapshotIndex + 1;
  }

  lastIndex(): number {
    return this.snapshotIndex + this.entries.length;
  }

  lastTerm(): number {
    return this.term(this.lastIndex()) ?? 0;
  }

  /** The term of the entry at `index`, or undefined when it is compacted away or not yet written. */
  term(index: number): number | undefined {
    if (index === this.snapshotIndex) return this.snapshotTerm;
    return this.entry(index)?.term;
  }

  entry(index: number): Entry | undefined {
    if (index <= this.snapshotIndex) return undefined;
    return this.entries[index - this.snapshotIndex - 1];
  }

  matchTerm(index: number, term: number): boolean {
    return this.term(index) === term;
  }

  /** §5.4.1: a log is at least as up to date if its last term is higher, or equal with an index as long. */
  isUpToDate(lastIndex: number, lastTerm: number): boolean {
    const myLastTerm = this.lastTerm();
    return lastTerm > myLastTerm || (lastTerm === myLastTerm && lastIndex >= this.lastIndex());
  }

  /**
   * Entries in [from, to), at most maxEntries and about maxBytes, but always at least one when any is asked
   * for. Undefined when `from` is compacted.
   */
  slice(
    from: number,
    to: number,
    maxEntries = Number.POSITIVE_INFINITY,
    maxBytes = Number.POSITIVE_INFINITY,
  ) {
    if (from <= this.snapshotIndex) return undefined;
    const end = Math.min(to, this.lastIndex() + 1);
    const out: Entry[] = [];
    let sizeBytes = 0;
    for (let index = from; index < end && out.length < maxEntries; index++) {
      const entry = this.entry(index)!;
      sizeBytes += entrySizeBytes(entry);
      if (out.length > 0 && sizeBytes > maxBytes) break;
      out.push(entry);
    }
    return out;
  }

  /** Appends at the end of the log (leader). */
  append(entries: readonly Entry[]): void {
    for (const entry of entries) {
      if (entry.index !== this.lastIndex() + 1) throw new RangeError(`append out of order at ${entry.index}`);
      this.entries.push(entry);
      if (isMembership(entry)) this.membership.push(entry);
    }
  }

  /**
   * §5.3: entries after prevIndex from a leader. Entries already present with the same term are kept; the
   * first that conflicts and everything after it is replaced. Returns the index from which the log changed
   * (lastIndex + 1 when nothing changed). The caller has checked that prevIndex matches. Nothing at or below
   * `commit` is ever replaced: a leader holds every committed entry (§5.4), so a conflict there is a bug.
   */
  appendAfter(prevIndex: number, entries: readonly Entry[], commit: number): number {
    let i = 0;
    while (i < entries.length) {
      const entry = entries[i]!;
      if (entry.index <= this.snapshotIndex) {
        i++;
        continue;
      }
      const existing = this.term(entry.index);
      if (existing === undefined || existing !== entry.term) break;
      i++;
    }
    if (i === entries.length) return this.lastIndex() + 1;
    const firstNew = entries[i]!.index;
    if (firstNew !== prevIndex + 1 + i) throw new RangeError('entries are not contiguous');
    invariant(
      firstNew > commit,
      () =>
        `committed entries are never replaced: entry ${firstNew} (term ${entries[i]!.term}) conflicts with ` +
        `term ${this.term(firstNew)} there, at or below commit ${commit}`,
    );
    this.entries.length = firstNew - this.snapshotIndex - 1;
    this.membership = this.membership.filter((entry) => entry.index < firstNew);
    for (const entry of entries.slice(i)) {
      this.entries.push(entry);
      if (isMembership(entry)) this.membership.push(entry);
    }
    return firstNew;
  }

  /**
   * The fast-backtracking hint: the highest index at or below `index` whose term is at most `term`. A leader
   * whose entry at prevIndex has term T can skip every follower entry of a term above T in one round trip.
   */
  findConflictByTerm(index: number, term: number): number {
    let i = Math.min(index, this.lastIndex());
    while (i > this.snapshotIndex) {
      const t = this.term(i);
      if (t !== undefined && t <= term) break;
      i--;
    }
    return i;
  }

  /** Drops the entries up to `index`, which becomes the snapshot boundary. */
  compact(index: number, term: number): void {
    if (index <= this.snapshotIndex) return;
    this.entries = this.entries.slice(index - this.snapshotIndex);
    this.membership = this.membership.filter((entry) => entry.index > index);
    this.snapshotIndex = index;
    this.snapshotTerm = term;
  }

  /** Replaces the log with a snapshot boundary (the follower's log did not contain the snapshot's last entry). */
  reset(index: number, term: number): void {
    this.entries = [];
    this.membership = [];
    this.snapshotIndex = index;
    this.snapshotTerm = term;
  }

  /** The membership entries, oldest first, to recompute the membership after a truncation. */
  membershipEntries(): readonly MembershipEntry[] {
    return this.membership;
  }
}
