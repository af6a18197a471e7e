import type { NodeId } from '../src/common/ids.js';
import { silentLogger } from '../src/common/log.js';
import type { Rng } from '../src/common/random.js';
import type { SimClock } from '../src/common/sim-clock.js';
import type { RaftConfig } from '../src/consensus/config.js';
import { MemoryStore } from '../src/consensus/memory-store.js';
import type { RaftNode } from '../src/consensus/raft.js';
import { RaftRuntime } from '../src/consensus/runtime.js';
import type { Entry, PersistedState } from '../src/consensus/types.js';
import type { MemoryHub } from '../src/peer/memory-transport.js';
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
  readonly hub: MemoryHub;
  readonly config: RaftConfig;
  readonly tickMs: number;
  readonly rng: Rng;
  /** How long this node's disk takes to sync, drawn per sync: slow disks draw long delays. */
  readonly diskDelayMs: () => number;
  readonly initial: PersistedState | undefined;
  readonly checker: InvariantChecker;
  readonly hooks: NodeHooks;
}

/**
 * One simulated node: the real Raft runtime (the same code a daemon runs) over the in-memory transport, with an
 * in-memory disk and the key-value machine. The runtime's observer feeds the invariant checker and the clients.
 */
export class SimNode {
  readonly id: NodeId;
  readonly store: MemoryStore;
  kv = new KvMachine();
  up = false;
  private runtime: RaftRuntime<KvResult> | undefined;

  constructor(private readonly options: SimNodeOptions) {
    this.id = options.id;
    this.store = new MemoryStore(
      (callback) => options.clock.setTimer(options.diskDelayMs(), callback),
      options.initial,
    );
  }

  /** The core, for clients that propose and read by index and request ID; call pump() afterwards. */
  get raft(): RaftNode {
    if (this.runtime === undefined) throw new Error(`${this.id} has not started`);
    return this.runtime.core;
  }

  start(): void {
    const persisted = this.store.load();
    const { checker, hooks, clock } = this.options;
    this.kv = new KvMachine();
    const now = () => clock.monotonicMs();
    this.runtime = new RaftRuntime<KvResult>({
      transport: this.options.hub.join(this.id),
      store: this.store,
      persisted,
      machine: this.kv,
      clock,
      rng: this.options.rng.fork(),
      log: silentLogger,
      config: this.options.config,
      tickMs: this.options.tickMs,
      observer: {
        persisting: (rd, core) => checker.onWrite(core, rd.entries, now()),
        restored: (meta) => {
          checker.onRestore(this.id, meta.index, meta.term, now());
          hooks.onRestore(this);
        },
        applied: (entry, result) => {
          checker.onApply(this.raft, entry, now());
          hooks.onApply(this, entry, result);
        },
        readServed: (requestId) => hooks.onRead(this, requestId),
        readFailed: (requestId) => hooks.onReadFailed(this, requestId),
      },
    });
    checker.onRestart(this.id);
    checker.onRestore(
      this.id,
      persisted.snapshot?.meta.index ?? 0,
      persisted.snapshot?.meta.term ?? 0,
      now(),
    );
    this.up = true;
  }

  /** The process dies: its disk keeps only what was synced. */
  crash(): void {
    this.up = false;
    this.runtime?.stop();
    this.runtime = undefined;
    this.options.hub.leave(this.id);
    this.store.crash();
  }

  /** Lets the runtime handle what the core has ready after a client called it directly. */
  pump(): void {
    if (this.up) this.runtime?.flush();
  }
}
