import { asNodeId, type NodeId } from '../src/common/ids.js';
import { type Rng, seededRng } from '../src/common/random.js';
import { SimClock } from '../src/common/sim-clock.js';
import { defaultRaftConfig, type RaftConfig } from '../src/consensus/config.js';
import type { MembershipChange } from '../src/consensus/types.js';
import { MemoryHub, type Packet } from '../src/peer/memory-transport.js';
import { healthyNetwork, type NetworkFaults, SimNetwork } from '../src/peer/sim-network.js';
import { InvariantChecker } from './invariants.js';
import { SimNode } from './sim-node.js';
import { Workload } from './workload.js';

export interface WorldOptions {
  readonly seed: number;
  readonly nodes: number;
  /** Nodes that start as voters; the others start empty, outside the cluster, ready to be added. */
  readonly voters?: number;
  readonly clients?: number;
  /** Overrides of the Raft configuration; otherwise batch and window sizes are drawn from the seed. */
  readonly config?: Partial<RaftConfig>;
}

/** A healthy run takes some tens of thousands of events. */
const maxEventsPerRun = 2_000_000;

/**
 * Raft timing in the simulator: 10 ms ticks, elections after 100–200 ms, heartbeats every 20 ms; small
 * batches, chunks and a short log, so that snapshots and compaction happen in short runs.
 */
export const simTickMs = 10;
export const simRaftConfig: RaftConfig = {
  ...defaultRaftConfig,
  electionTicks: 10,
  heartbeatTicks: 2,
  maxEntriesPerAppend: 8,
  maxInflightAppends: 4,
  snapshotChunkBytes: 64,
  promoteLagEntries: 8,
  compactAfterEntries: 64,
};

/**
 * A whole simulated cluster in one process: nodes, network, disks, clients, one clock, one seed. Faults are
 * applied through its methods, by the random nemesis or by a named scenario.
 */
export class World {
  readonly clock = new SimClock();
  readonly rng: Rng;
  readonly network: SimNetwork<Packet>;
  private readonly hub: MemoryHub;
  readonly checker = new InvariantChecker();
  readonly nodes: SimNode[] = [];
  readonly workload: Workload;
  readonly slowDisks = new Set<NodeId>();
  crashes = 0;
  snapshotsRestored = 0;
  /** Nodes that installed a snapshot from a leader, by how many times. */
  readonly restoredBy = new Map<NodeId, number>();
  private events = 0;

  constructor(readonly options: WorldOptions) {
    this.rng = seededRng(options.seed);
    this.network = new SimNetwork<Packet>(this.clock, this.rng.fork());
    this.hub = new MemoryHub(this.network);
    const ids = Array.from({ length: options.nodes }, (_, i) => asNodeId(`n${i + 1}`));
    const voters = ids.slice(0, options.voters ?? options.nodes);
    const diskRng = this.rng.fork();
    // Small batches in some runs, so old-term entries travel apart from the new leader's entry.
    const config: RaftConfig = {
      ...simRaftConfig,
      maxEntriesPerAppend: this.rng.pick([1, 2, 8]),
      maxInflightAppends: this.rng.pick([1, 4, 16]),
      ...options.config,
    };
    for (const id of ids) {
      const initial = voters.includes(id)
        ? {
            hardState: { term: 0, vote: undefined, commit: 0 },
            snapshot: {
              meta: { index: 0, term: 0, membership: { voters, learners: [] } },
              data: new Uint8Array(0),
            },
            entries: [],
          }
        : undefined;
      const node: SimNode = new SimNode({
        id,
        clock: this.clock,
        hub: this.hub,
        config,
        tickMs: simTickMs,
        rng: this.rng.fork(),
        diskDelayMs: () => (this.slowDisks.has(id) ? diskRng.between(5, 80) : diskRng.between(0, 2)),
        initial,
        checker: this.checker,
        hooks: {
          onApply: (n, entry, result) => this.workload.onApply(n, entry, result),
          onRead: (n, requestId) => this.workload.onRead(n, requestId),
          onReadFailed: (n, requestId) => this.workload.onReadFailed(n, requestId),
          onRestore: (n) => {
            this.snapshotsRestored++;
            this.restoredBy.set(n.id, (this.restoredBy.get(n.id) ?? 0) + 1);
          },
        },
      });
      this.nodes.push(node);
    }
    this.workload = new Workload(this.clock, this.rng.fork(), () => this.nodes, {
      clients: options.clients ?? 3,
      keys: 3,
      clientTimeoutMs: 1000,
      thinkMaxMs: 30,
    });
    for (const node of this.nodes) node.start();
  }

  node(id: string): SimNode {
    const node = this.nodes.find((n) => n.id === id);
    if (node === undefined) throw new RangeError(`no node ${id}`);
    return node;
  }

  /** Runs every event due up to `untilMs`, checking the invariants after each one. */
  runUntil(untilMs: number, stop: () => boolean = () => false): void {
    for (;;) {
      if (stop()) return;
      if (this.events >= maxEventsPerRun) {
        // A run that stops making progress in simulated time (a message storm) must still end, and say so.
        this.checker.report(
          this.clock.monotonicMs(),
          `more than ${maxEventsPerRun} events: the cluster is stuck in a loop`,
        );
        return;
      }
      const due = this.clock.nextDueMs();
      if (due === undefined || due > untilMs) break;
      this.clock.step();
      this.events++;
      const now = this.clock.monotonicMs();
      const rafts = this.nodes.filter((n) => n.up).map((n) => n.raft);
      this.checker.afterStep(rafts, now);
      if (this.events % 64 === 0) this.checker.checkLogMatching(rafts, now);
    }
    this.clock.advanceTo(untilMs);
  }

  runFor(durationMs: number): void {
    this.runUntil(this.clock.monotonicMs() + durationMs);
  }

  eventCount(): number {
    return this.events;
  }

  /** The up node that leads in the highest term, if any. */
  leader(): SimNode | undefined {
    let best: SimNode | undefined;
    for (const node of this.nodes) {
      if (!node.up || node.raft.status().role !== 'leader') continue;
      if (best === undefined || node.raft.status().term > best.raft.status().term) best = node;
    }
    return best;
  }

  setNetwork(faults: NetworkFaults): void {
    this.network.setFaults(faults);
  }

  partition(...sides: readonly (readonly NodeId[])[]): void {
    this.network.partition(...sides);
  }

  isolate(id: NodeId): void {
    const others = this.nodes.map((n) => n.id).filter((other) => other !== id);
    this.network.partition([id], others);
  }

  heal(): void {
    this.network.heal();
  }

  crash(id: NodeId): void {
    const node = this.node(id);
    if (!node.up) return;
    node.crash();
    this.workload.onCrash(id);
    this.crashes++;
  }

  restart(id: NodeId): void {
    const node = this.node(id);
    if (!node.up) node.start();
  }

  /** Asks the current leader for a membership change; returns whether it accepted it. */
  changeMembership(change: MembershipChange): boolean {
    const leader = this.leader();
    if (leader === undefined) return false;
    const accepted = leader.raft.proposeMembership(change).ok;
    leader.pump();
    return accepted;
  }

  /** The end of a run: the network and disks healthy, every node up. */
  healEverything(): void {
    this.heal();
    this.setNetwork(healthyNetwork);
    this.slowDisks.clear();
    for (const node of this.nodes) this.restart(node.id);
  }
}
