import { rm } from 'node:fs/promises';
import type { LogStore } from '../consensus/log-store.js';
import type { MemoryStore } from '../consensus/memory-store.js';
import type { PersistedState } from '../consensus/types.js';
import { WalStore } from '../consensus/wal-store.js';

/**
 * The durable Raft log a node keeps while it belongs to a cluster: a write-ahead log on disk in the daemon, a
 * store in memory in the simulator (which keeps it across a simulated crash, as a disk would).
 */
export interface ReplicaLog {
  /** Opens the log, empty the first time; resolves with the store and what it held. */
  open(): Promise<{ readonly store: LogStore; readonly state: PersistedState }>;
  close(): Promise<void>;
  /** Forgets everything in it: the node has left its cluster. */
  wipe(): Promise<void>;
}

/** The daemon's log: a segmented write-ahead log in `dir`. */
export function walReplicaLog(dir: string): ReplicaLog {
  let opened: WalStore | undefined;
  return {
    async open() {
      const { store, state } = await WalStore.open(dir);
      opened = store;
      return { store, state };
    },
    async close() {
      await opened?.close();
    },
    async wipe() {
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** The simulator's log: the node's in-memory store, whose synced part outlives a simulated crash. */
export function memoryReplicaLog(store: MemoryStore): ReplicaLog {
  return {
    async open() {
      return { store, state: store.load() };
    },
    async close() {},
    async wipe() {
      store.reset();
    },
  };
}
