import type { Entry, HardState, Ready, Snapshot } from './types.js';

/**
 * Durable Raft state. Writes are buffered and become durable together at `sync`; nothing may be acknowledged
 * (messages sent, entries applied) before the sync that covers it has completed. A store holds one contiguous
 * run of entries after its snapshot.
 */
export interface LogStore {
  /** Writes entries, replacing whatever the log held from entries[0].index on. */
  append(entries: readonly Entry[]): void;
  /** Drops every entry at or after `fromIndex`. */
  truncateSuffix(fromIndex: number): void;
  /** Drops every entry at or before `throughIndex` (they are covered by a snapshot). */
  compactPrefix(throughIndex: number): void;
  saveHardState(hardState: HardState): void;
  saveSnapshot(snapshot: Snapshot): void;
  /** Makes every write so far durable, then calls `done`; the runtime calls it once per Ready. */
  sync(done: (error: Error | undefined) => void): void;
}

/** Writes what a Ready asks to persist, in the order the core requires; the caller then calls sync. */
export function persistReady(store: LogStore, rd: Ready): void {
  if (rd.snapshot !== undefined) {
    store.saveSnapshot(rd.snapshot);
    // A snapshot received from the leader replaces our log; a local one only shortens it.
    if (rd.restoreSnapshot) store.truncateSuffix(rd.snapshot.meta.index + 1);
    store.compactPrefix(rd.snapshot.meta.index);
  }
  if (rd.entries.length > 0) store.append(rd.entries);
  if (rd.hardState !== undefined) store.saveHardState(rd.hardState);
}
