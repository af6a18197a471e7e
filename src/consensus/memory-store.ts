import type { LogStore } from './log-store.js';
import { type Entry, emptyHardState, type HardState, type PersistedState, type Snapshot } from './types.js';

interface StoreState {
  hardState: HardState;
  snapshot: Snapshot | undefined;
  entries: Entry[];
}

/** Runs `callback` when a simulated disk has finished a sync: later for a slow disk. */
export type SyncScheduler = (callback: () => void) => void;

/**
 * A LogStore in memory for the simulator, with a disk's failure model: writes are volatile until a sync
 * completes, and `crash` throws away everything not yet synced, syncs in flight included.
 */
export class MemoryStore implements LogStore {
  private volatile: StoreState;
  private durable: StoreState;
  private epoch = 0;
  private syncSeq = 0;
  private durableSeq = 0;

  constructor(
    private readonly schedule: SyncScheduler,
    initial: PersistedState = { hardState: emptyHardState, snapshot: undefined, entries: [] },
  ) {
    this.durable = {
      hardState: initial.hardState,
      snapshot: initial.snapshot,
      entries: [...initial.entries],
    };
    this.volatile = copy(this.durable);
  }

  append(entries: readonly Entry[]): void {
    const first = entries[0];
    if (first === undefined) return;
    this.truncateSuffix(first.index);
    const expected = this.lastIndex() + 1;
    if (first.index !== expected)
      throw new RangeError(`append at ${first.index} leaves a gap after ${expected - 1}`);
    this.volatile.entries.push(...entries);
  }

  truncateSuffix(fromIndex: number): void {
    const keep = this.volatile.entries.findIndex((entry) => entry.index >= fromIndex);
    if (keep >= 0) this.volatile.entries.length = keep;
  }

  compactPrefix(throughIndex: number): void {
    this.volatile.entries = this.volatile.entries.filter((entry) => entry.index > throughIndex);
  }

  saveHardState(hardState: HardState): void {
    this.volatile.hardState = hardState;
  }

  saveSnapshot(snapshot: Snapshot): void {
    this.volatile.snapshot = snapshot;
  }

  sync(done: (error: Error | undefined) => void): void {
    const captured = copy(this.volatile);
    const epoch = this.epoch;
    const seq = ++this.syncSeq;
    this.schedule(() => {
      if (epoch !== this.epoch) return;
      if (seq > this.durableSeq) {
        this.durable = captured;
        this.durableSeq = seq;
      }
      done(undefined);
    });
  }

  /** The power goes out: unsynced writes and syncs in flight are lost, and their callbacks never run. */
  crash(): void {
    this.epoch++;
    this.volatile = copy(this.durable);
  }

  /** The disk is wiped (the node left its cluster): nothing remains, and syncs in flight are lost. */
  reset(): void {
    this.epoch++;
    this.durable = { hardState: emptyHardState, snapshot: undefined, entries: [] };
    this.volatile = copy(this.durable);
  }

  /** What a node restarting on this disk finds. */
  load(): PersistedState {
    const state = copy(this.durable);
    return { hardState: state.hardState, snapshot: state.snapshot, entries: state.entries };
  }

  private lastIndex(): number {
    return this.volatile.entries.at(-1)?.index ?? this.volatile.snapshot?.meta.index ?? 0;
  }
}

function copy(state: StoreState): StoreState {
  return { hardState: state.hardState, snapshot: state.snapshot, entries: [...state.entries] };
}
