import { untilAborted } from '../common/abort.js';
import type { Clock, Timer } from '../common/clock.js';
import { CorralError } from '../common/errors.js';
import type { NodeId } from '../common/ids.js';
import { invariant } from '../common/invariant.js';
import type { Logger } from '../common/log.js';
import type { Rng } from '../common/random.js';
import type { Transport } from '../peer/transport.js';
import { defaultRaftConfig, type RaftConfig } from './config.js';
import { type LogStore, persistReady } from './log-store.js';
import { type ProposeResult, RaftNode, type RaftStatus } from './raft.js';
import type { StateMachine } from './state-machine.js';
import type {
  Entry,
  HardState,
  MembershipChange,
  Message,
  PersistedState,
  ReadConfirmation,
  ReadState,
  Ready,
  SnapshotMeta,
} from './types.js';
import { raftProtocol } from './wire.js';

/** Messages only a leader sends: they carry its log, never a promise about this node's own disk. */
const leaderOnly: ReadonlySet<Message['type']> = new Set(['append', 'heartbeat', 'snapshot']);

/** What Raft needs of the network: one-way messages to its peers, and word of a peer's connection dropping. */
export type RaftTransport = Pick<Transport, 'self' | 'send' | 'onMessage' | 'onPeer'>;

export interface RaftRuntimeOptions<Result> {
  readonly transport: RaftTransport;
  readonly store: LogStore;
  readonly persisted: PersistedState;
  readonly machine: StateMachine<Result>;
  readonly clock: Clock;
  readonly rng: Rng;
  readonly log: Logger;
  readonly config?: RaftConfig;
  /** One tick of the core; with the default config, heartbeats every tick and elections after ten. */
  readonly tickMs: number;
  /** A failed sync leaves the node unable to promise anything: the owner should stop the process. */
  readonly onFatal?: (error: Error) => void;
  /** What the simulator's invariant checker watches; nothing in production needs it. */
  readonly observer?: RaftObserver<Result>;
}

export interface RaftObserver<Result> {
  /** A Ready's writes were handed to the store, before its sync. */
  persisting(rd: Ready, core: RaftNode): void;
  restored(meta: SnapshotMeta): void;
  applied(entry: Entry, result: Result | undefined): void;
  readServed(requestId: number): void;
  readFailed(requestId: number): void;
}

interface Waiter<T> {
  readonly resolve: (value: T) => void;
  readonly reject: (error: CorralError) => void;
}

export interface WaitOptions {
  readonly signal?: AbortSignal;
}

export type LeaderChange = { readonly leader: NodeId | undefined; readonly term: number };

/**
 * Drives the pure Raft core over the Transport, a LogStore and a Clock: one Ready at a time, persisted and
 * synced before anything is sent or applied. Proposals made while a sync is running wait in the core and
 * go out together in the next Ready, so appends and fsyncs batch by themselves under load.
 */
export class RaftRuntime<Result> {
  private readonly raft: RaftNode;
  private readonly proposals = new Map<number, Waiter<Result | undefined> & { readonly term: number }>();
  private readonly reads = new Map<number, Waiter<void>>();
  private readyReads: ReadState[] = [];
  private nextReadId = 1;
  private persisting = false;
  private stopped = false;
  private tickTimer: Timer | undefined;
  private lastLeader: LeaderChange = { leader: undefined, term: 0 };
  private readonly leaderHandlers = new Set<(change: LeaderChange) => void>();
  private readonly compactAfterEntries: number;
  /** The last entry the machine has: each committed entry goes to it once, in order, with no gap. */
  private machineIndex: number;
  private durableHardState: HardState;
  private readonly unsubscribePeers: () => void;

  constructor(private readonly options: RaftRuntimeOptions<Result>) {
    const { transport, persisted } = options;
    const config = options.config ?? defaultRaftConfig;
    this.raft = new RaftNode({ id: transport.self, config, rng: options.rng, persisted });
    this.compactAfterEntries = config.compactAfterEntries;
    this.durableHardState = persisted.hardState;
    this.machineIndex = persisted.snapshot?.meta.index ?? 0;
    if (persisted.snapshot !== undefined) options.machine.restore(persisted.snapshot.data);
    transport.onMessage(raftProtocol, (from, message) => {
      if (this.stopped || message.to !== transport.self) return;
      // The transport authenticated the sender; a message claiming to be from someone else is dropped.
      if (message.from !== from) {
        options.log.warn(
          { peer: from, claimed: message.from },
          'dropped a raft message with a forged sender',
        );
        return;
      }
      this.raft.step(message);
      this.pump();
    });
    this.unsubscribePeers = transport.onPeer((event) => {
      if (this.stopped || event.type !== 'disconnected') return;
      this.raft.leaderConnectionLost(event.peer);
      this.pump();
    });
    this.scheduleTick();
  }

  get self(): NodeId {
    return this.options.transport.self;
  }

  /**
   * The core itself, for the simulator's clients, which propose and read by raw index and request ID and
   * learn the outcome through the observer; call flush() after using it.
   */
  get core(): RaftNode {
    return this.raft;
  }

  /** Processes whatever the core has ready (after direct calls on core). */
  flush(): void {
    this.pump();
  }

  status(): RaftStatus {
    return this.raft.status();
  }

  isLeader(): boolean {
    return this.raft.status().role === 'leader';
  }

  /** Called whenever the known leader or the term changes. */
  onLeaderChange(handler: (change: LeaderChange) => void): () => void {
    this.leaderHandlers.add(handler);
    return () => this.leaderHandlers.delete(handler);
  }

  /** Replicates data; resolves with the machine's result once it is applied here. Only the leader accepts. */
  propose(data: Uint8Array, options: WaitOptions = {}): Promise<Result | undefined> {
    return this.waitForEntry(this.raft.propose(data), options);
  }

  /** Adds a learner, promotes one to voter, or removes a node; resolves once the change is applied. */
  changeMembership(change: MembershipChange, options: WaitOptions = {}): Promise<void> {
    return this.waitForEntry(this.raft.proposeMembership(change), options).then(() => undefined);
  }

  /**
   * Makes a node a voter the safe way: as a learner first, promoted once it has caught up (the core refuses
   * the promotion until then, and while another change is pending, so this retries every tick).
   */
  async addVoter(node: NodeId, options: WaitOptions & { readonly signal: AbortSignal }): Promise<void> {
    const known = (): { voter: boolean; learner: boolean } => {
      const { voters, learners } = this.raft.status().membership;
      return { voter: voters.includes(node), learner: learners.includes(node) };
    };
    for (;;) {
      const { voter, learner } = known();
      if (voter) return;
      try {
        await this.changeMembership({ type: learner ? 'promote' : 'addLearner', node }, options);
      } catch (error) {
        if (!(error instanceof CorralError) || error.code !== 'conflict') throw error;
        await new Promise<void>((resolve) => this.options.clock.setTimer(this.options.tickMs, resolve));
        if (options.signal.aborted)
          throw new CorralError('timeout', `${node} did not catch up in time to become a voter`);
      }
    }
  }

  /**
   * Resolves once this node's machine reflects every write committed before the call (ReadIndex). On the
   * leader, `confirm: 'next-heartbeat'` waits for the next regular heartbeat instead of sending a round.
   */
  readBarrier(options: WaitOptions & { readonly confirm?: ReadConfirmation } = {}): Promise<void> {
    if (this.stopped) return Promise.reject(new CorralError('closed', 'raft is stopped'));
    const requestId = this.nextReadId++;
    const done = this.wait(this.reads, requestId, options, 'the read');
    this.raft.readIndex(requestId, options.confirm);
    this.pump();
    return done;
  }

  transferLeadership(target: NodeId): void {
    this.raft.transferLeadership(target);
    this.pump();
  }

  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    this.tickTimer?.cancel();
    this.unsubscribePeers();
    const closed = new CorralError(
      'closed',
      'raft stopped before the operation completed; its outcome is unknown',
    );
    for (const waiter of [...this.proposals.values(), ...this.reads.values()]) waiter.reject(closed);
    this.proposals.clear();
    this.reads.clear();
  }

  private waitForEntry(result: ProposeResult, options: WaitOptions): Promise<Result | undefined> {
    if (this.stopped) return Promise.reject(new CorralError('closed', 'raft is stopped'));
    if (!result.ok) {
      const leader = result.leader ? `; the leader is ${result.leader}` : '; no leader is known';
      const code =
        result.reason === 'notLeader'
          ? 'not_leader'
          : result.reason === 'membershipPending' || result.reason === 'invalidChange'
            ? 'conflict'
            : 'unavailable';
      return Promise.reject(new CorralError(code, `proposal refused (${result.reason})${leader}`));
    }
    const done = new Promise<Result | undefined>((resolve, reject) => {
      this.proposals.set(result.index, { term: result.term, resolve, reject });
    });
    this.pump();
    return this.withAbort(done, options.signal, () => this.proposals.delete(result.index), 'the proposal');
  }

  private wait<T>(map: Map<number, Waiter<T>>, key: number, options: WaitOptions, what: string): Promise<T> {
    const done = new Promise<T>((resolve, reject) => map.set(key, { resolve, reject }));
    return this.withAbort(done, options.signal, () => map.delete(key), what);
  }

  /** Gives up on waiting when the signal aborts; the operation itself may still take effect. */
  private withAbort<T>(
    done: Promise<T>,
    signal: AbortSignal | undefined,
    forget: () => void,
    what: string,
  ): Promise<T> {
    return untilAborted(done, signal, () => {
      forget();
      return new CorralError('timeout', `gave up waiting for ${what}; it may still take effect`);
    });
  }

  private scheduleTick(): void {
    this.tickTimer = this.options.clock.setTimer(this.options.tickMs, () => {
      if (this.stopped) return;
      this.raft.tick();
      this.pump();
      this.scheduleTick();
    });
  }

  /** Handles the next Ready, unless one is still being synced. */
  private pump(): void {
    if (this.stopped || this.persisting || !this.raft.hasReady()) return;
    this.persisting = true;
    const rd = this.raft.ready();
    persistReady(this.options.store, rd);
    this.options.observer?.persisting(rd, this.raft);
    if (!this.needsSync(rd)) {
      // Only the commit index moved: Raft recovers it from the leader after a crash, so it need not be on
      // disk before we act (it becomes durable with the next sync). This saves an fsync per round trip.
      this.afterSync(rd);
      this.persisting = false;
      this.pump();
      return;
    }
    // A leader's appends may leave before its own write is durable (Raft thesis §10.2.1): the core counts the
    // leader toward a commit only at its stable index, so what commits is still on a durable majority.
    const early = this.sendsEarly(rd) ? rd.messages.filter((m) => leaderOnly.has(m.type)) : [];
    for (const message of early) this.options.transport.send(message.to, raftProtocol, message);
    this.options.store.sync((error) => {
      if (this.stopped) return;
      if (error !== undefined) {
        this.options.log.error({ err: error }, 'raft log sync failed; stopping raft');
        this.stop();
        this.options.onFatal?.(error);
        return;
      }
      if (rd.hardState !== undefined) this.durableHardState = rd.hardState;
      this.afterSync(rd, early.length > 0 ? new Set(early) : undefined);
      this.persisting = false;
      this.pump();
    });
  }

  /** Early sending is for a leader in a settled term: a Ready that changes term or vote waits for the disk. */
  private sendsEarly(rd: Ready): boolean {
    const hard = rd.hardState;
    return (
      hard === undefined ||
      (hard.term === this.durableHardState.term && hard.vote === this.durableHardState.vote)
    );
  }

  /** Entries, snapshots, a new term and a vote must be on disk before anyone hears of them. */
  private needsSync(rd: Ready): boolean {
    if (rd.snapshot !== undefined || rd.entries.length > 0) return true;
    const hard = rd.hardState;
    return (
      hard !== undefined &&
      (hard.term !== this.durableHardState.term || hard.vote !== this.durableHardState.vote)
    );
  }

  private afterSync(rd: Ready, alreadySent?: ReadonlySet<Message>): void {
    const { transport, machine } = this.options;
    for (const message of rd.messages) {
      if (!alreadySent?.has(message)) transport.send(message.to, raftProtocol, message);
    }
    const observer = this.options.observer;
    if (rd.restoreSnapshot && rd.snapshot !== undefined) {
      machine.restore(rd.snapshot.data);
      this.machineIndex = rd.snapshot.meta.index;
      observer?.restored(rd.snapshot.meta);
    }
    for (const entry of rd.committed) {
      invariant(
        entry.index === this.machineIndex + 1,
        () =>
          `committed entries are applied once, in order: ${this.self} was given ${entry.index} after ${this.machineIndex}`,
      );
      this.machineIndex = entry.index;
      const result = entry.type === 'normal' ? machine.apply(entry) : undefined;
      observer?.applied(entry, result);
      const waiter = this.proposals.get(entry.index);
      if (waiter === undefined) continue;
      this.proposals.delete(entry.index);
      if (entry.term === waiter.term) waiter.resolve(result);
      else {
        waiter.reject(
          new CorralError(
            'unavailable',
            'leadership changed before the proposal committed; it was not applied',
          ),
        );
      }
    }
    this.raft.advance(rd);
    this.readyReads.push(...rd.readStates);
    for (const requestId of rd.failedReads) {
      this.settleRead(requestId)?.reject(
        new CorralError('not_leader', 'no leader could confirm the read; retry'),
      );
    }
    const { applied, firstIndex, leader, term } = this.raft.status();
    this.readyReads = this.readyReads.filter((read) => {
      if (read.index > applied) return true;
      this.settleRead(read.requestId)?.resolve();
      observer?.readServed(read.requestId);
      return false;
    });
    if (applied - firstIndex + 1 >= this.compactAfterEntries) this.raft.compact(applied, machine.snapshot());
    if (leader !== this.lastLeader.leader || term !== this.lastLeader.term) {
      this.lastLeader = { leader, term };
      for (const handler of this.leaderHandlers) handler(this.lastLeader);
    }
  }

  private settleRead(requestId: number): Waiter<void> | undefined {
    const waiter = this.reads.get(requestId);
    this.reads.delete(requestId);
    return waiter;
  }
}

/**
 * What a brand-new group's first voters start from: an empty snapshot that names them, at index 1 and term 1
 * as etcd bootstraps. At index 0 a node that joins later would match the leader's log at index 0 without
 * ever receiving the snapshot, and so would never learn of the founding voters.
 */
export function bootstrapState(voters: readonly NodeId[]): PersistedState {
  return {
    hardState: { term: 1, vote: undefined, commit: 1 },
    snapshot: { meta: { index: 1, term: 1, membership: { voters, learners: [] } }, data: new Uint8Array(0) },
    entries: [],
  };
}

/** Writes a new group's bootstrap state into its store and waits for it to be durable. */
export async function bootstrapStore(store: LogStore, voters: readonly NodeId[]): Promise<PersistedState> {
  const state = bootstrapState(voters);
  if (state.snapshot !== undefined) store.saveSnapshot(state.snapshot);
  store.saveHardState(state.hardState);
  await new Promise<void>((resolve, reject) => store.sync((error) => (error ? reject(error) : resolve())));
  return state;
}
