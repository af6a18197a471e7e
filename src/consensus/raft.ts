import type { NodeId } from '../common/ids.js';
import { invariant } from '../common/invariant.js';
import type { Rng } from '../common/random.js';
import { checkRaftConfig, type RaftConfig } from './config.js';
import { RaftLog } from './log.js';
import {
  applyChange,
  emptyMembership,
  isMember,
  isVoter,
  members,
  quorumValue,
  voteOutcome,
} from './membership.js';
import { Progress } from './progress.js';
import type {
  Entry,
  HardState,
  Membership,
  MembershipChange,
  Message,
  PersistedState,
  ReadConfirmation,
  ReadState,
  Ready,
  Role,
  Snapshot,
  SnapshotMeta,
} from './types.js';

export type ProposeResult =
  | { readonly ok: true; readonly index: number; readonly term: number }
  | {
      readonly ok: false;
      readonly reason: 'notLeader' | 'transferring' | 'overloaded' | 'membershipPending' | 'invalidChange';
      readonly leader: NodeId | undefined;
    };

export interface RaftStatus {
  readonly id: NodeId;
  readonly role: Role;
  readonly term: number;
  readonly leader: NodeId | undefined;
  readonly vote: NodeId | undefined;
  readonly commit: number;
  readonly applied: number;
  readonly firstIndex: number;
  readonly lastIndex: number;
  readonly membership: Membership;
}

export interface RaftNodeOptions {
  readonly id: NodeId;
  readonly config: RaftConfig;
  /** Draws the randomized election timeouts; the core has no randomness of its own. */
  readonly rng: Rng;
  /** What the store loaded; for a new cluster, a snapshot at index 0 that names the first voters. */
  readonly persisted: PersistedState;
}

interface PendingRead {
  readonly requestId: number;
  /** The follower that forwarded the read, or undefined when it was asked here. */
  readonly from: NodeId | undefined;
  readonly index: number;
  readonly seq: number;
}

interface SnapshotReceipt {
  readonly meta: SnapshotMeta;
  readonly totalBytes: number;
  readonly chunks: Uint8Array[];
  receivedBytes: number;
}

/**
 * The Raft protocol with no I/O (etcd's raft.go and rawnode.go in one): the caller feeds it messages, ticks,
 * proposals and reads, then takes a Ready, does what it says, and calls advance. Pre-vote and check-quorum are
 * always on. Membership takes effect when its entry is appended (dissertation §4.1), one change at a time.
 */
export class RaftNode {
  readonly id: NodeId;
  private readonly config: RaftConfig;
  private readonly rng: Rng;

  private term: number;
  private vote: NodeId | undefined;
  private role: Role = 'follower';
  private leader: NodeId | undefined;
  private readonly log: RaftLog;
  private commit: number;
  private membership: Membership;
  private snapshot: Snapshot | undefined;

  private electionElapsed = 0;
  private heartbeatElapsed = 0;
  private learnerHeartbeatElapsed = 0;
  private randomizedElectionTicks = 0;
  private readonly votes = new Map<NodeId, boolean>();
  private readonly progress = new Map<NodeId, Progress>();
  private transferee: NodeId | undefined;
  private transferElapsed = 0;
  /** The last membership entry a leader may not yet build on: changes go one at a time. */
  private pendingMembershipIndex = 0;
  private readSeq = 0;
  private pendingReads: PendingRead[] = [];
  private waitingReads: { requestId: number; from: NodeId | undefined }[] = [];
  private receipt: SnapshotReceipt | undefined;

  // What the caller has been given and has acknowledged.
  private applied: number;
  private applying: number;
  private stableIndex: number;
  private unstableFrom: number;
  private handedHardState: HardState;
  private snapshotToPersist: Snapshot | undefined;
  private restoreSnapshot = false;
  private messages: Message[] = [];
  /**
   * What a leader owes every follower, sent as one append each when the next Ready is taken: new entries, or
   * the new commit index too (sent even with no entries). Proposals and acknowledgements that come in
   * between Readies then cost one append per follower, not one each.
   */
  private broadcastDue: 'entries' | 'commit' | undefined;
  private readStates: ReadState[] = [];
  private failedReads: number[] = [];
  private awaitingAdvance = false;
  /** The commit index at the last check: it never goes back. */
  private checkedCommit: number;

  constructor(options: RaftNodeOptions) {
    this.id = options.id;
    this.config = checkRaftConfig(options.config);
    this.rng = options.rng;
    const { hardState, snapshot, entries } = options.persisted;
    this.term = hardState.term;
    this.vote = hardState.vote;
    this.snapshot = snapshot;
    const snapshotIndex = snapshot?.meta.index ?? 0;
    this.log = new RaftLog(snapshotIndex, snapshot?.meta.term ?? 0, entries);
    this.commit = Math.min(Math.max(hardState.commit, snapshotIndex), this.log.lastIndex());
    this.checkedCommit = this.commit;
    this.membership = emptyMembership;
    this.recomputeMembership();
    this.applied = snapshotIndex;
    this.applying = snapshotIndex;
    this.stableIndex = this.log.lastIndex();
    this.unstableFrom = this.log.lastIndex() + 1;
    this.handedHardState = hardState;
    this.resetElectionTimer();
  }

  // ---- Inputs ----

  tick(): void {
    if (this.role === 'leader') {
      this.tickLeader();
    } else if (++this.electionElapsed >= this.randomizedElectionTicks) {
      this.electionElapsed = 0;
      this.campaign();
    }
    this.checkIndexes();
  }

  /** Starts an election now (a follower whose timer ran out does the same). Non-voters never campaign. */
  campaign(): void {
    if (this.role === 'leader' || !isVoter(this.membership, this.id)) return;
    this.becomePreCandidate();
  }

  /**
   * The transport saw its connection to `node` close, as a crashed process's connections close at once. When
   * that is our leader, its lease ends now instead of an election timeout later: the timer moves to where the
   * lease runs out, so this node grants pre-votes from now on and campaigns after the randomized rest of its
   * timeout, which keeps the survivors from all standing at once. It is a hint, never a verdict: voters that
   * still hear the leader stay in its lease and refuse our pre-vote, and the leader's next message restores
   * ours.
   */
  leaderConnectionLost(node: NodeId): void {
    if (this.role !== 'follower' || this.leader !== node) return;
    this.electionElapsed = Math.max(this.electionElapsed, this.config.electionTicks);
  }

  propose(data: Uint8Array): ProposeResult {
    const refused = this.refuseProposal();
    if (refused !== undefined) return refused;
    return this.appendAsLeader({ type: 'normal', index: 0, term: 0, data });
  }

  proposeMembership(change: MembershipChange): ProposeResult {
    const refused = this.refuseProposal();
    if (refused !== undefined) return refused;
    // One change at a time, and only once this leader has committed an entry of its own term: otherwise a
    // change left uncommitted by an earlier leader could combine with this one into two overlapping steps.
    if (this.pendingMembershipIndex > this.commit || this.log.term(this.commit) !== this.term) {
      return { ok: false, reason: 'membershipPending', leader: this.id };
    }
    if (!this.isValidChange(change)) return { ok: false, reason: 'invalidChange', leader: this.id };
    const result = this.appendAsLeader({ type: 'membership', index: 0, term: 0, change });
    if (result.ok) this.pendingMembershipIndex = result.index;
    return result;
  }

  /**
   * Asks for a linearizable read (§6.4 ReadIndex). A ReadState with this requestId comes out of a later Ready;
   * the read is served once the state machine has applied its index. A leader confirms it with a heartbeat
   * round of its own, or, when `confirm` is 'next-heartbeat', with the next regular one (up to heartbeatTicks
   * later): for callers that can wait, so that a steady stream of them adds no messages.
   */
  readIndex(requestId: number, confirm: ReadConfirmation = 'now'): void {
    if (this.role === 'leader') {
      this.leaderRead(requestId, undefined, confirm);
    } else if (this.leader !== undefined) {
      this.send({ type: 'readIndex', to: this.leader, term: this.term, requestId });
    } else {
      this.failedReads.push(requestId);
    }
  }

  /** §3.10: hands leadership to `target` once its log is caught up. */
  transferLeadership(target: NodeId): void {
    if (this.role !== 'leader' || target === this.id || !isVoter(this.membership, target)) return;
    if (this.transferee === target) return;
    this.transferee = target;
    this.transferElapsed = 0;
    const pr = this.progress.get(target)!;
    if (pr.match === this.log.lastIndex()) this.send({ type: 'timeoutNow', to: target, term: this.term });
    else this.sendAppend(target, true);
  }

  /**
   * Takes a snapshot the state machine made at `index` (at most the applied index) and drops the log before
   * it. The snapshot comes out of the next Ready to be persisted.
   */
  compact(index: number, data: Uint8Array): void {
    invariant(
      index <= this.applied,
      () => `only applied entries are compacted: compact to ${index} with applied ${this.applied}`,
    );
    if (index <= this.log.firstIndex() - 1) return;
    const meta: SnapshotMeta = { index, term: this.log.term(index)!, membership: this.membershipAt(index) };
    this.snapshot = { meta, data };
    this.log.compact(index, meta.term);
    this.snapshotToPersist = this.snapshot;
  }

  step(m: Message): void {
    this.receive(m);
    this.checkIndexes();
  }

  private receive(m: Message): void {
    if (m.to !== this.id || m.from === this.id) return;
    if (m.term > this.term) {
      if (m.type === 'preVote' || m.type === 'vote') {
        // Check-quorum's lease: while we hear from a leader, a node that was cut off cannot unseat it.
        const inLease = this.leader !== undefined && this.electionElapsed < this.config.electionTicks;
        if (inLease && !m.transfer) return;
      }
      if (m.type === 'preVote') {
        // A pre-vote never changes our term.
      } else if (m.type === 'preVoteResp' && m.granted) {
        // A grant echoes the term we would stand in; our term moves only when we campaign for real.
      } else {
        const fromLeader = m.type === 'append' || m.type === 'heartbeat' || m.type === 'snapshot';
        this.becomeFollower(m.term, fromLeader ? m.from : undefined);
      }
    } else if (m.term < this.term) {
      if (m.type === 'append' || m.type === 'heartbeat') {
        // A leader cut off by check-quorum elsewhere learns the new term from this reply and steps down.
        this.send({
          type: 'appendResp',
          to: m.from,
          term: this.term,
          index: 0,
          reject: true,
          hintIndex: 0,
          hintTerm: 0,
        });
      } else if (m.type === 'preVote') {
        this.send({ type: 'preVoteResp', to: m.from, term: this.term, granted: false });
      }
      return;
    }

    if (m.type === 'preVote' || m.type === 'vote') {
      this.handleVoteRequest(m);
      return;
    }
    switch (this.role) {
      case 'leader':
        this.stepLeader(m);
        return;
      case 'candidate':
      case 'preCandidate':
        this.stepCandidate(m);
        return;
      case 'follower':
        this.stepFollower(m);
        return;
    }
  }

  /** A node that cannot serve a forwarded read says so, so that the asker retries elsewhere. */
  private refuseRead(to: NodeId, requestId: number): void {
    this.send({ type: 'readIndexResp', to, term: this.term, requestId, index: undefined });
  }

  // ---- Ready / advance ----

  hasReady(): boolean {
    return (
      this.snapshotToPersist !== undefined ||
      this.unstableFrom <= this.log.lastIndex() ||
      !sameHardState(this.hardState(), this.handedHardState) ||
      this.messages.length > 0 ||
      this.broadcastDue !== undefined ||
      this.commit > this.applying ||
      this.readStates.length > 0 ||
      this.failedReads.length > 0
    );
  }

  ready(): Ready {
    invariant(!this.awaitingAdvance, () => 'one Ready at a time: ready() called again before advance()');
    this.awaitingAdvance = true;
    this.flushBroadcast();
    const hardState = this.hardState();
    const snapshot = this.snapshotToPersist;
    const firstUnstable = Math.max(this.unstableFrom, this.log.firstIndex());
    const rd: Ready = {
      snapshot,
      restoreSnapshot: this.restoreSnapshot,
      entries: this.log.slice(firstUnstable, this.log.lastIndex() + 1) ?? [],
      hardState: sameHardState(hardState, this.handedHardState) ? undefined : hardState,
      messages: this.messages,
      committed:
        this.log.slice(Math.max(this.applying, this.log.firstIndex() - 1) + 1, this.commit + 1) ?? [],
      readStates: this.readStates,
      failedReads: this.failedReads,
    };
    this.snapshotToPersist = undefined;
    this.restoreSnapshot = false;
    this.unstableFrom = this.log.lastIndex() + 1;
    this.handedHardState = hardState;
    this.messages = [];
    this.readStates = [];
    this.failedReads = [];
    this.applying = Math.max(this.applying, this.commit);
    return rd;
  }

  /** The caller has persisted, sent and applied everything in `rd`. */
  advance(rd: Ready): void {
    invariant(this.awaitingAdvance, () => 'one Ready at a time: advance() without a ready()');
    this.awaitingAdvance = false;
    if (rd.snapshot !== undefined) this.stableIndex = Math.max(this.stableIndex, rd.snapshot.meta.index);
    const last = rd.entries.at(-1);
    if (last !== undefined && this.log.matchTerm(last.index, last.term)) {
      this.stableIndex = Math.max(this.stableIndex, last.index);
    }
    const lastApplied = rd.committed.at(-1)?.index ?? 0;
    const restored = rd.restoreSnapshot && rd.snapshot !== undefined ? rd.snapshot.meta.index : 0;
    this.applied = Math.max(this.applied, lastApplied, restored);
    if (this.role === 'leader' && this.maybeCommit()) this.oweBroadcast('commit');
    this.checkIndexes();
  }

  /** Checked after each message, tick and advance, where the indexes move, so a bug stops the run at its step. */
  private checkIndexes(): void {
    assertIndexOrder(this.id, this.checkedCommit, {
      snapshot: this.log.firstIndex() - 1,
      applied: this.applied,
      commit: this.commit,
      last: this.log.lastIndex(),
    });
    this.checkedCommit = this.commit;
  }

  // ---- Read-only views (status, invariant checks) ----

  status(): RaftStatus {
    return {
      id: this.id,
      role: this.role,
      term: this.term,
      leader: this.leader,
      vote: this.vote,
      commit: this.commit,
      applied: this.applied,
      firstIndex: this.log.firstIndex(),
      lastIndex: this.log.lastIndex(),
      membership: this.membership,
    };
  }

  entryAt(index: number): Entry | undefined {
    return this.log.entry(index);
  }

  termAt(index: number): number | undefined {
    return this.log.term(index);
  }

  progressOf(node: NodeId): Progress | undefined {
    return this.progress.get(node);
  }

  // ---- Roles ----

  private becomeFollower(term: number, leader: NodeId | undefined): void {
    if (term > this.term) {
      this.term = term;
      this.vote = undefined;
    }
    if (this.role === 'leader') this.abortReads();
    this.role = 'follower';
    this.leader = leader;
    this.resetTimers();
  }

  private becomePreCandidate(): void {
    if (this.role === 'leader') this.abortReads();
    this.role = 'preCandidate';
    this.leader = undefined;
    this.votes.clear();
    this.resetTimers();
    this.requestVotes('preVote', false);
  }

  private becomeCandidate(transfer: boolean): void {
    this.term++;
    this.vote = this.id;
    this.role = 'candidate';
    this.leader = undefined;
    this.votes.clear();
    this.resetTimers();
    this.requestVotes('vote', transfer);
  }

  private becomeLeader(): void {
    this.role = 'leader';
    this.leader = this.id;
    this.resetTimers();
    this.progress.clear();
    this.syncProgress();
    for (const pr of this.progress.values()) pr.recentActive = true;
    this.readSeq = 0;
    // Entries left by earlier leaders may hold an uncommitted membership change: no new change until they commit.
    this.pendingMembershipIndex = this.log.lastIndex();
    // §8: an empty entry of the new term lets the leader commit (Figure 8) and learn the commit index.
    this.appendAsLeader({ type: 'normal', index: 0, term: 0, data: new Uint8Array(0) });
  }

  private resetTimers(): void {
    this.electionElapsed = 0;
    this.heartbeatElapsed = 0;
    this.learnerHeartbeatElapsed = 0;
    this.transferee = undefined;
    this.transferElapsed = 0;
    this.resetElectionTimer();
  }

  private resetElectionTimer(): void {
    this.randomizedElectionTicks = this.config.electionTicks + this.rng.int(this.config.electionTicks);
  }

  private requestVotes(type: 'preVote' | 'vote', transfer: boolean): void {
    const term = type === 'preVote' ? this.term + 1 : this.term;
    this.votes.set(this.id, true);
    if (this.tallyVotes(type)) return;
    for (const voter of this.membership.voters) {
      if (voter === this.id) continue;
      this.send({
        type,
        to: voter,
        term,
        lastIndex: this.log.lastIndex(),
        lastTerm: this.log.lastTerm(),
        transfer,
      });
    }
  }

  /** Returns true when the election is decided. */
  private tallyVotes(type: 'preVote' | 'vote'): boolean {
    const outcome = voteOutcome(this.membership.voters, this.votes);
    if (outcome === 'won') {
      if (type === 'preVote') this.becomeCandidate(false);
      else this.becomeLeader();
      return true;
    }
    if (outcome === 'lost') {
      this.becomeFollower(this.term, undefined);
      return true;
    }
    return false;
  }

  private handleVoteRequest(m: Message & { type: 'preVote' | 'vote' }): void {
    const canVote =
      this.vote === m.from ||
      (this.vote === undefined && this.leader === undefined) ||
      (m.type === 'preVote' && m.term > this.term);
    const granted = canVote && this.log.isUpToDate(m.lastIndex, m.lastTerm);
    const respType = m.type === 'preVote' ? 'preVoteResp' : 'voteResp';
    // A granted pre-vote echoes the candidate's prospective term; anything else carries ours.
    this.send({ type: respType, to: m.from, term: granted ? m.term : this.term, granted });
    if (granted && m.type === 'vote') {
      this.vote = m.from;
      this.electionElapsed = 0;
    }
  }

  // ---- Leader ----

  private tickLeader(): void {
    this.heartbeatElapsed++;
    this.learnerHeartbeatElapsed++;
    this.electionElapsed++;
    if (this.electionElapsed >= this.config.electionTicks) {
      this.electionElapsed = 0;
      if (!this.quorumActive()) {
        // Check-quorum: a leader that has not heard from a majority for an election timeout steps down.
        this.becomeFollower(this.term, undefined);
        return;
      }
    }
    if (this.transferee !== undefined && ++this.transferElapsed >= this.config.electionTicks) {
      this.transferee = undefined;
    }
    if (this.heartbeatElapsed >= this.config.heartbeatTicks) {
      this.heartbeatElapsed = 0;
      const learnersDue = this.learnerHeartbeatElapsed >= this.config.learnerHeartbeatTicks;
      if (learnersDue) this.learnerHeartbeatElapsed = 0;
      this.broadcastHeartbeat(learnersDue);
    }
  }

  private quorumActive(): boolean {
    let active = 0;
    for (const voter of this.membership.voters) {
      if (voter === this.id || this.progress.get(voter)?.recentActive) active++;
    }
    for (const pr of this.progress.values()) pr.recentActive = false;
    return active >= Math.floor(this.membership.voters.length / 2) + 1;
  }

  private stepLeader(m: Message): void {
    const pr = this.progress.get(m.from);
    if (m.type === 'readIndex') {
      this.leaderRead(m.requestId, m.from);
      return;
    }
    if (pr === undefined) return;
    switch (m.type) {
      case 'appendResp':
        pr.recentActive = true;
        this.handleAppendResp(m, pr);
        return;
      case 'heartbeatResp':
        pr.recentActive = true;
        pr.probeSent = false;
        if (m.readSeq > pr.readSeqAcked) {
          pr.readSeqAcked = m.readSeq;
          this.releaseReads();
        }
        if (pr.state === 'snapshot') {
          this.resendSnapshot(m.from, pr);
        } else if (pr.match < this.log.lastIndex()) {
          // Appends may have been lost: an append (empty if need be) at `next` either extends the follower's
          // log or is rejected, which sends the follower back to probing.
          if (pr.state === 'replicate' && pr.isPaused()) pr.freeOldestInflight();
          this.sendAppend(m.from, true);
        }
        return;
      case 'snapshotResp':
        pr.recentActive = true;
        if (
          pr.state === 'snapshot' &&
          m.snapshotIndex === pr.pendingSnapshot &&
          this.snapshot !== undefined
        ) {
          if (m.receivedBytes < this.snapshot.data.byteLength)
            this.sendSnapshotChunk(m.from, m.receivedBytes);
        }
        return;
      default:
        // Votes for a finished election, a second leader's traffic (impossible in one term), timeoutNow: nothing to do.
        return;
    }
  }

  private handleAppendResp(m: Message & { type: 'appendResp' }, pr: Progress): void {
    if (m.reject) {
      const hint = m.hintTerm > 0 ? this.log.findConflictByTerm(m.hintIndex, m.hintTerm) : m.hintIndex;
      if (pr.maybeDecrease(m.index, hint)) {
        if (pr.state === 'replicate') pr.becomeProbe();
        this.sendAppend(m.from, false);
      }
      return;
    }
    const wasPaused = pr.isPaused();
    if (!pr.maybeUpdate(m.index)) {
      if (wasPaused && !pr.isPaused()) this.fillWindow(m.from);
      return;
    }
    if (pr.state === 'probe') pr.becomeReplicate();
    else if (pr.state === 'snapshot' && pr.match >= pr.pendingSnapshot) pr.becomeProbe();
    if (this.maybeCommit()) {
      this.oweBroadcast('commit');
    } else {
      // A follower that was paused missed the last commit broadcast: tell it, with entries if there are any.
      if (wasPaused) this.sendAppend(m.from, true);
      this.fillWindow(m.from);
    }
    if (m.from === this.transferee && pr.match === this.log.lastIndex()) {
      this.send({ type: 'timeoutNow', to: m.from, term: this.term });
    }
  }

  /** Pipelining: keep sending appends while the follower's window has room and there is something to send. */
  private fillWindow(to: NodeId): void {
    while (this.sendAppend(to, false)) {
      // each call sends one append
    }
  }

  private appendAsLeader(template: Entry): ProposeResult {
    const index = this.log.lastIndex() + 1;
    const entry: Entry = { ...template, index, term: this.term };
    this.log.append([entry]);
    if (entry.type === 'membership') this.recomputeMembership();
    this.oweBroadcast('entries');
    return { ok: true, index, term: this.term };
  }

  private refuseProposal(): ProposeResult | undefined {
    if (this.role !== 'leader') return { ok: false, reason: 'notLeader', leader: this.leader };
    if (this.transferee !== undefined) return { ok: false, reason: 'transferring', leader: this.id };
    if (this.log.lastIndex() - this.commit >= this.config.maxUncommittedEntries) {
      return { ok: false, reason: 'overloaded', leader: this.id };
    }
    return undefined;
  }

  private isValidChange(change: MembershipChange): boolean {
    switch (change.type) {
      case 'addLearner':
        return !isMember(this.membership, change.node);
      case 'promote': {
        if (!this.membership.learners.includes(change.node)) return false;
        const match = this.progress.get(change.node)?.match ?? 0;
        return match + this.config.promoteLagEntries >= this.commit;
      }
      case 'remove':
        return (
          isMember(this.membership, change.node) &&
          !(this.membership.voters.length === 1 && this.membership.voters[0] === change.node)
        );
    }
  }

  /** Commits the highest index a quorum holds, but only if it is of this term (§5.4.2, Figure 8). */
  private maybeCommit(): boolean {
    const index = quorumValue(this.membership.voters, (node) =>
      node === this.id ? this.stableIndex : (this.progress.get(node)?.match ?? 0),
    );
    if (index <= this.commit || this.log.term(index) !== this.term) return false;
    this.commitTo(index);
    return true;
  }

  private oweBroadcast(what: 'entries' | 'commit'): void {
    if (this.broadcastDue !== 'commit') this.broadcastDue = what;
  }

  /** Sends what is owed: to each follower whatever its window takes, and the commit index even alone. */
  private flushBroadcast(): void {
    const due = this.broadcastDue;
    this.broadcastDue = undefined;
    if (due === undefined || this.role !== 'leader') return;
    for (const node of this.progress.keys()) {
      this.sendAppend(node, due === 'commit');
      this.fillWindow(node);
    }
  }

  /** Heartbeats to the voters, and to the learners too when `learnersToo` (no read waits on a learner). */
  private broadcastHeartbeat(learnersToo: boolean): void {
    for (const [node, pr] of this.progress) {
      if (!learnersToo && !isVoter(this.membership, node)) continue;
      // Only what the follower is known to hold may be committed there: its log past `match` may differ.
      const commit = Math.min(pr.match, this.commit);
      this.send({ type: 'heartbeat', to: node, term: this.term, commit, readSeq: this.readSeq });
    }
  }

  /** Sends the next append to `to`; returns whether one was sent. */
  private sendAppend(to: NodeId, sendIfEmpty: boolean): boolean {
    const pr = this.progress.get(to);
    if (pr === undefined || pr.isPaused()) return false;
    const prevIndex = pr.next - 1;
    const prevTerm = this.log.term(prevIndex);
    const entries = this.log.slice(
      pr.next,
      this.log.lastIndex() + 1,
      this.config.maxEntriesPerAppend,
      this.config.maxBytesPerAppend,
    );
    if (prevTerm === undefined || entries === undefined) {
      this.startSnapshot(to, pr);
      return false;
    }
    if (entries.length === 0 && !sendIfEmpty) return false;
    this.send({ type: 'append', to, term: this.term, prevIndex, prevTerm, entries, commit: this.commit });
    pr.sentAppend(entries.at(-1)?.index ?? prevIndex, entries.length);
    return true;
  }

  private startSnapshot(to: NodeId, pr: Progress): void {
    invariant(this.snapshot !== undefined, () => `log compacted without a snapshot on ${this.id}`);
    pr.becomeSnapshot(this.snapshot.meta.index);
    this.sendSnapshotChunk(to, 0);
  }

  /** A heartbeat reply from a follower in snapshot state: the chunk may have been lost, or the snapshot replaced. */
  private resendSnapshot(to: NodeId, pr: Progress): void {
    if (this.snapshot === undefined) return;
    if (pr.pendingSnapshot !== this.snapshot.meta.index) pr.becomeSnapshot(this.snapshot.meta.index);
    this.sendSnapshotChunk(to, 0);
  }

  private sendSnapshotChunk(to: NodeId, offsetBytes: number): void {
    const snapshot = this.snapshot!;
    const chunk = snapshot.data.subarray(offsetBytes, offsetBytes + this.config.snapshotChunkBytes);
    this.send({
      type: 'snapshot',
      to,
      term: this.term,
      meta: snapshot.meta,
      totalBytes: snapshot.data.byteLength,
      offsetBytes,
      chunk,
    });
  }

  private leaderRead(requestId: number, from: NodeId | undefined, confirm: ReadConfirmation = 'now'): void {
    if (this.pendingReads.length + this.waitingReads.length >= this.config.maxPendingReads) {
      this.failRead(requestId, from);
      return;
    }
    // §6.4: the commit index is only known to be current once an entry of this term has committed.
    if (this.log.term(this.commit) !== this.term) {
      this.waitingReads.push({ requestId, from });
      return;
    }
    this.startRead(requestId, from, confirm);
  }

  private startRead(requestId: number, from: NodeId | undefined, confirm: ReadConfirmation = 'now'): void {
    // Every heartbeat carries readSeq, so the next one sent (now or at its tick) confirms this read.
    this.readSeq++;
    this.pendingReads.push({ requestId, from, index: this.commit, seq: this.readSeq });
    if (this.membership.voters.length === 1) this.releaseReads();
    else if (confirm === 'now') this.broadcastHeartbeat(false);
  }

  /** Serves the reads a quorum has confirmed this node still leads for. */
  private releaseReads(): void {
    const confirmed = quorumValue(this.membership.voters, (node) =>
      node === this.id ? this.readSeq : (this.progress.get(node)?.readSeqAcked ?? 0),
    );
    while (this.pendingReads.length > 0 && this.pendingReads[0]!.seq <= confirmed) {
      const read = this.pendingReads.shift()!;
      if (read.from === undefined) this.readStates.push({ requestId: read.requestId, index: read.index });
      else
        this.send({
          type: 'readIndexResp',
          to: read.from,
          term: this.term,
          requestId: read.requestId,
          index: read.index,
        });
    }
  }

  private failRead(requestId: number, from: NodeId | undefined): void {
    if (from === undefined) this.failedReads.push(requestId);
    else this.send({ type: 'readIndexResp', to: from, term: this.term, requestId, index: undefined });
  }

  private abortReads(): void {
    for (const read of [...this.pendingReads, ...this.waitingReads]) this.failRead(read.requestId, read.from);
    this.pendingReads = [];
    this.waitingReads = [];
  }

  // ---- Candidates ----

  private stepCandidate(m: Message): void {
    switch (m.type) {
      case 'append':
      case 'heartbeat':
      case 'snapshot':
        // A leader of our term exists: §5.2, return to follower.
        this.becomeFollower(m.term, m.from);
        this.stepFollower(m);
        return;
      case 'preVoteResp':
        if (this.role !== 'preCandidate') return;
        this.votes.set(m.from, m.granted);
        this.tallyVotes('preVote');
        return;
      case 'voteResp':
        if (this.role !== 'candidate') return;
        this.votes.set(m.from, m.granted);
        this.tallyVotes('vote');
        return;
      case 'readIndex':
        this.refuseRead(m.from, m.requestId);
        return;
      case 'readIndexResp':
        this.failedReads.push(m.requestId);
        return;
      default:
        return;
    }
  }

  // ---- Followers ----

  private stepFollower(m: Message): void {
    switch (m.type) {
      case 'append':
        this.electionElapsed = 0;
        this.leader = m.from;
        this.handleAppend(m);
        return;
      case 'heartbeat':
        this.electionElapsed = 0;
        this.leader = m.from;
        this.commitTo(Math.min(m.commit, this.log.lastIndex()));
        this.send({ type: 'heartbeatResp', to: m.from, term: this.term, readSeq: m.readSeq });
        return;
      case 'snapshot':
        this.electionElapsed = 0;
        this.leader = m.from;
        this.handleSnapshotChunk(m);
        return;
      case 'timeoutNow':
        // The leader hands over: campaign at once, skipping pre-vote, with voters skipping their lease check.
        if (isVoter(this.membership, this.id)) this.becomeCandidate(true);
        return;
      case 'readIndexResp':
        if (m.index === undefined) this.failedReads.push(m.requestId);
        else this.readStates.push({ requestId: m.requestId, index: m.index });
        return;
      case 'readIndex':
        this.refuseRead(m.from, m.requestId);
        return;
      default:
        return;
    }
  }

  private handleAppend(m: Message & { type: 'append' }): void {
    if (m.prevIndex < this.commit) {
      // Everything up to our commit index already matches: tell the leader where we are.
      this.sendAppendResp(m.from, this.commit);
      return;
    }
    if (!this.log.matchTerm(m.prevIndex, m.prevTerm)) {
      const hintIndex = this.log.findConflictByTerm(Math.min(m.prevIndex, this.log.lastIndex()), m.prevTerm);
      this.send({
        type: 'appendResp',
        to: m.from,
        term: this.term,
        index: m.prevIndex,
        reject: true,
        hintIndex,
        hintTerm: this.log.term(hintIndex) ?? 0,
      });
      return;
    }
    const changedFrom = this.log.appendAfter(m.prevIndex, m.entries, this.commit);
    if (changedFrom <= this.log.lastIndex() || changedFrom < this.unstableFrom) {
      this.unstableFrom = Math.min(this.unstableFrom, changedFrom);
      this.stableIndex = Math.min(this.stableIndex, changedFrom - 1);
      this.recomputeMembership();
    }
    const lastNew = m.prevIndex + m.entries.length;
    this.commitTo(Math.min(m.commit, lastNew));
    this.sendAppendResp(m.from, lastNew);
  }

  private sendAppendResp(to: NodeId, index: number): void {
    this.send({ type: 'appendResp', to, term: this.term, index, reject: false, hintIndex: 0, hintTerm: 0 });
  }

  private handleSnapshotChunk(m: Message & { type: 'snapshot' }): void {
    if (m.meta.index <= this.commit) {
      this.sendAppendResp(m.from, this.commit);
      return;
    }
    const sameSnapshot = (r: SnapshotReceipt | undefined): r is SnapshotReceipt =>
      r !== undefined && r.meta.index === m.meta.index && r.meta.term === m.meta.term;
    if (m.offsetBytes === 0 && !(sameSnapshot(this.receipt) && this.receipt.receivedBytes > 0)) {
      if (m.totalBytes > this.config.maxSnapshotBytes) return;
      this.receipt = { meta: m.meta, totalBytes: m.totalBytes, chunks: [], receivedBytes: 0 };
    }
    const receipt = this.receipt;
    if (!sameSnapshot(receipt) || m.offsetBytes !== receipt.receivedBytes) {
      const receivedBytes = sameSnapshot(receipt) ? receipt.receivedBytes : 0;
      this.send({
        type: 'snapshotResp',
        to: m.from,
        term: this.term,
        snapshotIndex: m.meta.index,
        receivedBytes,
      });
      return;
    }
    receipt.chunks.push(m.chunk);
    receipt.receivedBytes += m.chunk.byteLength;
    if (receipt.receivedBytes < receipt.totalBytes) {
      this.send({
        type: 'snapshotResp',
        to: m.from,
        term: this.term,
        snapshotIndex: m.meta.index,
        receivedBytes: receipt.receivedBytes,
      });
      return;
    }
    this.receipt = undefined;
    this.restore({ meta: receipt.meta, data: Buffer.concat(receipt.chunks) });
    this.sendAppendResp(m.from, this.log.lastIndex());
  }

  private restore(snapshot: Snapshot): void {
    const { index, term } = snapshot.meta;
    if (this.log.matchTerm(index, term)) {
      // Our log already holds the snapshot's last entry: the leader's commit index is all we learn.
      this.commitTo(index);
      return;
    }
    this.log.reset(index, term);
    this.snapshot = snapshot;
    this.snapshotToPersist = snapshot;
    this.restoreSnapshot = true;
    this.commit = index;
    this.applying = Math.max(this.applying, index);
    this.unstableFrom = index + 1;
    this.stableIndex = Math.min(this.stableIndex, index);
    this.recomputeMembership();
  }

  // ---- Shared ----

  private commitTo(index: number): void {
    if (index <= this.commit) return;
    this.commit = index;
    if (this.role !== 'leader') return;
    if (this.log.term(index) === this.term && this.waitingReads.length > 0) {
      const waiting = this.waitingReads;
      this.waitingReads = [];
      for (const read of waiting) this.startRead(read.requestId, read.from);
    }
    // A leader removed from the voters steps down once its removal is committed (dissertation §4.2.2).
    if (!isVoter(this.membership, this.id) && this.commit >= this.pendingMembershipIndex) {
      this.becomeFollower(this.term, undefined);
    }
  }

  private hardState(): HardState {
    return { term: this.term, vote: this.vote, commit: this.commit };
  }

  private send(m: Outgoing): void {
    this.messages.push({ ...m, from: this.id } as Message);
  }

  /** The membership is that of the last membership entry in the log, or of the snapshot. */
  private recomputeMembership(): void {
    let membership = this.snapshot?.meta.membership ?? emptyMembership;
    for (const entry of this.log.membershipEntries()) membership = applyChange(membership, entry.change);
    this.membership = membership;
    if (this.role === 'leader') this.syncProgress();
  }

  private membershipAt(index: number): Membership {
    let membership = this.snapshot?.meta.membership ?? emptyMembership;
    for (const entry of this.log.membershipEntries()) {
      if (entry.index > index) break;
      membership = applyChange(membership, entry.change);
    }
    return membership;
  }

  /** A leader tracks exactly the other members of its current membership. */
  private syncProgress(): void {
    const wanted = new Set(members(this.membership).filter((node) => node !== this.id));
    for (const node of this.progress.keys()) if (!wanted.has(node)) this.progress.delete(node);
    for (const node of wanted) {
      if (!this.progress.has(node)) {
        this.progress.set(node, new Progress(this.log.lastIndex() + 1, this.config.maxInflightAppends));
      }
    }
  }
}

/** Where a node's log stands: its snapshot's last index, what it applied, committed, and holds last. */
export interface RaftIndexes {
  readonly snapshot: number;
  readonly applied: number;
  readonly commit: number;
  readonly last: number;
}

/**
 * What every input must leave true: a snapshot holds only committed entries, only committed entries are
 * applied, the commit index is in the log, and it never goes back (`commitBefore` is its last checked value).
 */
export function assertIndexOrder(node: NodeId, commitBefore: number, at: RaftIndexes): void {
  invariant(
    at.snapshot <= at.commit && at.applied <= at.commit && at.commit <= at.last && at.commit >= commitBefore,
    () =>
      `raft indexes out of order on ${node}: need snapshot ≤ commit, applied ≤ commit ≤ last, commit never ` +
      `back; have snapshot ${at.snapshot}, applied ${at.applied}, commit ${at.commit} (was ${commitBefore}), last ${at.last}`,
  );
}

/** A message before the core stamps its sender. */
type Outgoing = Message extends infer M ? (M extends Message ? Omit<M, 'from'> : never) : never;

function sameHardState(a: HardState, b: HardState): boolean {
  return a.term === b.term && a.vote === b.vote && a.commit === b.commit;
}
