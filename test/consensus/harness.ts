import { asNodeId, type NodeId } from '../../src/common/ids.js';
import { seededRng } from '../../src/common/random.js';
import { defaultRaftConfig, type RaftConfig } from '../../src/consensus/config.js';
import { persistReady } from '../../src/consensus/log-store.js';
import { MemoryStore } from '../../src/consensus/memory-store.js';
import { RaftNode } from '../../src/consensus/raft.js';
import type { Message, ReadState } from '../../src/consensus/types.js';

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export const testConfig: RaftConfig = {
  ...defaultRaftConfig,
  electionTicks: 10,
  heartbeatTicks: 1,
  maxEntriesPerAppend: 4,
  maxInflightAppends: 4,
  snapshotChunkBytes: 16,
};

interface Member {
  raft: RaftNode;
  readonly store: MemoryStore;
  /** The data of every applied normal entry with data, in order; the state machine of these tests. */
  applied: string[];
  readStates: ReadState[];
  failedReads: number[];
}

/**
 * A Raft group in one test with a hand-driven network: messages wait in a queue until delivered, and the
 * test decides what is lost. Stores sync at once, so a crash loses nothing that was handed out.
 */
export class Group {
  readonly members = new Map<NodeId, Member>();
  queue: Message[] = [];
  /** Messages for which this returns true are lost on delivery. */
  lose: (m: Message) => boolean = () => false;
  private readonly blocked = new Set<string>();
  private readonly rng;

  constructor(
    ids: readonly string[],
    private readonly raftConfig: RaftConfig = testConfig,
    seed = 1,
    voters: readonly string[] = ids,
  ) {
    this.rng = seededRng(seed);
    const membership = { voters: voters.map(asNodeId), learners: [] };
    for (const id of ids) {
      const initial = voters.includes(id)
        ? {
            hardState: { term: 0, vote: undefined, commit: 0 },
            snapshot: { meta: { index: 0, term: 0, membership }, data: encoder.encode('[]') },
            entries: [],
          }
        : undefined;
      const store = new MemoryStore((callback) => callback(), initial);
      this.members.set(asNodeId(id), this.start(asNodeId(id), store));
    }
  }

  config(): RaftConfig {
    return this.raftConfig;
  }

  node(id: string): RaftNode {
    return this.member(id).raft;
  }

  member(id: string): Member {
    const member = this.members.get(asNodeId(id));
    if (member === undefined) throw new Error(`no node ${id}`);
    return member;
  }

  /** Adds a node with an empty disk: it learns everything from the leader. */
  addEmpty(id: string): void {
    const store = new MemoryStore((callback) => callback());
    this.members.set(asNodeId(id), this.start(asNodeId(id), store));
  }

  /** Crashes a node and starts it again from its disk. */
  restart(id: string): void {
    const member = this.member(id);
    member.store.crash();
    this.queue = this.queue.filter((m) => m.to !== id && m.from !== id);
    this.members.set(asNodeId(id), this.start(asNodeId(id), member.store));
  }

  tick(id: string, times = 1): void {
    for (let i = 0; i < times; i++) this.node(id).tick();
    this.process(id);
  }

  /** Ticks a node until its election timer fires (at most twice the election timeout). */
  tickElection(id: string): void {
    this.tick(id, 2 * this.raftConfig.electionTicks);
  }

  /** Lets a node's leader lease run out without an election of its own: it will grant votes again. */
  forgetLeader(id: string): void {
    this.tick(id, this.raftConfig.electionTicks);
    this.queue = this.queue.filter((m) => m.from !== id);
  }

  campaign(id: string): void {
    this.node(id).campaign();
    this.process(id);
  }

  propose(id: string, text: string): ReturnType<RaftNode['propose']> {
    const result = this.node(id).propose(encoder.encode(text));
    this.process(id);
    return result;
  }

  isolate(id: string): void {
    for (const other of this.members.keys()) {
      if (other === id) continue;
      this.block(id, other);
      this.block(other, id);
    }
  }

  block(from: string, to: string): void {
    this.blocked.add(`${from}>${to}`);
  }

  heal(): void {
    this.blocked.clear();
  }

  /** Delivers what is queued now (not what it causes); returns how many were delivered. */
  deliverOnce(filter: (m: Message) => boolean = () => true): number {
    const batch = this.queue.filter(filter);
    this.queue = this.queue.filter((m) => !filter(m));
    for (const m of batch) {
      const target = this.members.get(m.to);
      if (target === undefined || this.blocked.has(`${m.from}>${m.to}`) || this.lose(m)) continue;
      target.raft.step(m);
      this.process(m.to);
    }
    return batch.length;
  }

  /** Delivers until no message is left. */
  stabilize(): void {
    for (let round = 0; round < 1000; round++) {
      for (const id of this.members.keys()) this.process(id);
      if (this.queue.length === 0) return;
      this.deliverOnce();
    }
    throw new Error('the group did not settle');
  }

  /** Lets heartbeats run for `ticks` rounds with delivery in between. */
  run(ticks: number): void {
    for (let i = 0; i < ticks; i++) {
      for (const id of this.members.keys()) this.tick(id);
      this.stabilize();
    }
  }

  leader(): string | undefined {
    let best: RaftNode | undefined;
    for (const { raft } of this.members.values()) {
      const status = raft.status();
      if (status.role === 'leader' && (best === undefined || status.term > best.status().term)) best = raft;
    }
    return best?.id;
  }

  /** Runs every pending Ready of a node: persist, sync, queue messages, apply, advance. */
  process(id: string): void {
    const member = this.member(id);
    while (member.raft.hasReady()) {
      const rd = member.raft.ready();
      persistReady(member.store, rd);
      member.store.sync(() => {});
      this.queue.push(...rd.messages);
      if (rd.restoreSnapshot && rd.snapshot !== undefined) {
        member.applied = JSON.parse(decoder.decode(rd.snapshot.data)) as string[];
      }
      for (const entry of rd.committed) {
        if (entry.type === 'normal' && entry.data.byteLength > 0)
          member.applied.push(decoder.decode(entry.data));
      }
      member.readStates.push(...rd.readStates);
      member.failedReads.push(...rd.failedReads);
      member.raft.advance(rd);
    }
  }

  /** Snapshots a node's state machine at its applied index and compacts its log. */
  compact(id: string): void {
    const member = this.member(id);
    member.raft.compact(member.raft.status().applied, encoder.encode(JSON.stringify(member.applied)));
    this.process(id);
  }

  private start(id: NodeId, store: MemoryStore): Member {
    const persisted = store.load();
    const raft = new RaftNode({ id, config: this.raftConfig, rng: this.rng.fork(), persisted });
    const applied =
      persisted.snapshot === undefined
        ? []
        : (JSON.parse(decoder.decode(persisted.snapshot.data)) as string[]);
    // Committed entries after the snapshot are applied again from the log.
    return { raft, store, applied, readStates: [], failedReads: [] };
  }
}

export const ids = (n: number): string[] => Array.from({ length: n }, (_, i) => `n${i + 1}`);
