import type { NodeId } from '../src/common/ids.js';
import type { Rng } from '../src/common/random.js';
import type { SimClock } from '../src/common/sim-clock.js';
import type { RaftConfig } from '../src/consensus/config.js';
import { persistReady } from '../src/consensus/log-store.js';
import { MemoryStore } from '../src/consensus/memory-store.js';
import { RaftNode } from '../src/consensus/raft.js';
import type { Entry, Message, PersistedState } from '../src/consensus/types.js';
import type { SimNetwork } from '../src/peer/sim-network.js';
import type { InvariantChecker } from './invariants.js';
import { KvMachine, type KvResult } from './kv-machine.js';

/** What the node tells the client that proposed or read. */
export interface NodeHooks {
  /** An entry was applied here, with its result. */
  onApply(node: SimNode, entry: Entry, result: KvResult): void;
  /** A read may be served: the read state's index is applied here. */
  onRead(node: SimNode, requestId: number): void;
  onReadFailed(node: SimNode, requestId: number): void;
  /** The state machine was replaced by a snapshot from the leader. */
  onRestore(node: SimNode): void;
}

export interface SimNodeOptions {
  readonly id: NodeId;
  readonly clock: SimClock;
  readonly network: SimNetwork<Message>;
  readonly config: RaftConfig;
  readonly tickMs: number;
  readonly rng: Rng;
  /** How long this node's disk takes to sync, drawn per sync: slow disks draw long delays. */
  readonly diskDelayMs: () => number;
  /** Compact the log once this many applied entries sit above the last snapshot. */
  readonly compactAfterEntries: number;
  readonly initial: PersistedState | undefined;
  readonly checker: InvariantChecker;
  readonly hooks: NodeHooks;
}

/**
 * One simulated node: the Raft core, its in-memory disk and the key-value machine, driven the way the real
 * runtime will drive them: one Ready at a time, persisted and synced before anything is sent or applied.
 */
export class SimNode {
  readonly id: NodeId;
  readonly store: MemoryStore;
  raft!: RaftNode;
  kv = new KvMachine();
  up = false;
  private epoch = 0;
  private persisting = false;
  private readonly waitingReads: { requestId: number; index: number }[] = [];

  constructor(private readonly options: SimNodeOptions) {
    this.id = options.id;
    this.store = new MemoryStore(
      (callback) => options.clock.setTimer(options.diskDelayMs(), callback),
      options.initial,
    );
  }

  start(): void {
    const persisted = this.store.load();
    this.raft = new RaftNode({
      id: this.id,
      config: this.options.config,
      rng: this.options.rng.fork(),
      persisted,
    });
    this.kv = new KvMachine();
    const snapshot = persisted.snapshot;
    if (snapshot !== undefined) this.kv.restore(snapshot.data);
    this.options.checker.onRestart(this.id);
    this.options.checker.onRestore(this.id, snapshot?.meta.index ?? 0, snapshot?.meta.term ?? 0, this.now());
    this.up = true;
    this.persisting = false;
    this.waitingReads.length = 0;
    const epoch = ++this.epoch;
    this.options.network.attach(this.id, (_from, message) => {
      if (this.epoch !== epoch) return;
      this.raft.step(message);
      this.pump();
    });
    const tick = (): void => {
      if (this.epoch !== epoch) return;
      this.raft.tick();
      this.pump();
      this.options.clock.setTimer(this.options.tickMs, tick);
    };
    this.options.clock.setTimer(this.options.rng.between(1, this.options.tickMs), tick);
  }

  /** The process dies: its disk keeps only what was synced. */
  crash(): void {
    this.epoch++;
    this.up = false;
    this.options.network.detach(this.id);
    this.store.crash();
  }

  /** Handles the next Ready if none is being persisted. */
  pump(): void {
    if (!this.up || this.persisting || !this.raft.hasReady()) return;
    this.persisting = true;
    const epoch = this.epoch;
    const rd = this.raft.ready();
    persistReady(this.store, rd);
    this.options.checker.onWrite(this.raft, rd.entries, this.now());
    this.store.sync(() => {
      if (this.epoch !== epoch) return;
      for (const m of rd.messages) this.options.network.send(this.id, m.to, m);
      if (rd.restoreSnapshot && rd.snapshot !== undefined) {
        this.kv.restore(rd.snapshot.data);
        this.options.checker.onRestore(this.id, rd.snapshot.meta.index, rd.snapshot.meta.term, this.now());
        this.options.hooks.onRestore(this);
      }
      for (const entry of rd.committed) {
        this.options.checker.onApply(this.id, entry, this.now());
        const result = entry.type === 'normal' ? this.kv.apply(entry) : undefined;
        this.options.hooks.onApply(this, entry, result);
      }
      this.raft.advance(rd);
      for (const read of rd.readStates) this.waitingReads.push(read);
      for (const requestId of rd.failedReads) this.options.hooks.onReadFailed(this, requestId);
      this.serveReads();
      this.maybeCompact();
      this.persisting = false;
      this.pump();
    });
  }

  private serveReads(): void {
    const applied = this.raft.status().applied;
    for (let i = 0; i < this.waitingReads.length; ) {
      const read = this.waitingReads[i]!;
      if (read.index <= applied) {
        this.waitingReads.splice(i, 1);
        this.options.hooks.onRead(this, read.requestId);
      } else {
        i++;
      }
    }
  }

  private maybeCompact(): void {
    const { applied, firstIndex } = this.raft.status();
    if (applied - firstIndex + 1 >= this.options.compactAfterEntries)
      this.raft.compact(applied, this.kv.snapshot());
  }

  private now(): number {
    return this.options.clock.monotonicMs();
  }
}
