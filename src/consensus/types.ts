import type { NodeId } from '../common/ids.js';

/** Who votes and who only follows. Voters and learners are disjoint. */
export interface Membership {
  readonly voters: readonly NodeId[];
  readonly learners: readonly NodeId[];
}

/**
 * One membership step at a time (Raft dissertation §4.1): the voter set changes by at most one server per
 * committed change, so any two consecutive majorities overlap. A voter joins as a learner, catches up, and is
 * then promoted.
 */
export type MembershipChange =
  | { readonly type: 'addLearner'; readonly node: NodeId }
  | { readonly type: 'promote'; readonly node: NodeId }
  | { readonly type: 'remove'; readonly node: NodeId };

export type Entry =
  | { readonly type: 'normal'; readonly index: number; readonly term: number; readonly data: Uint8Array }
  | {
      readonly type: 'membership';
      readonly index: number;
      readonly term: number;
      readonly change: MembershipChange;
    };

/** What must survive a crash besides the log: the vote is only safe if it is on disk before it is sent. */
export interface HardState {
  readonly term: number;
  readonly vote: NodeId | undefined;
  readonly commit: number;
}

export interface SnapshotMeta {
  readonly index: number;
  readonly term: number;
  /** The membership as of `index`, so a node restored from the snapshot knows its peers. */
  readonly membership: Membership;
}

export interface Snapshot {
  readonly meta: SnapshotMeta;
  readonly data: Uint8Array;
}

interface Envelope {
  readonly from: NodeId;
  readonly to: NodeId;
  readonly term: number;
}

/** Every message between Raft peers. `term` is the sender's term (for a pre-vote: the term it would stand in). */
export type Message =
  | (Envelope & {
      readonly type: 'preVote' | 'vote';
      readonly lastIndex: number;
      readonly lastTerm: number;
      /** Set when the leader asked for this election (TimeoutNow): voters skip their leader-lease check. */
      readonly transfer: boolean;
    })
  | (Envelope & { readonly type: 'preVoteResp' | 'voteResp'; readonly granted: boolean })
  | (Envelope & {
      readonly type: 'append';
      readonly prevIndex: number;
      readonly prevTerm: number;
      readonly entries: readonly Entry[];
      readonly commit: number;
    })
  | (Envelope & {
      readonly type: 'appendResp';
      /** On success the last index now matching the leader; on rejection the prevIndex that did not match. */
      readonly index: number;
      readonly reject: boolean;
      /** On rejection: the highest index at or below `index` whose term is at most `hintTerm`. */
      readonly hintIndex: number;
      readonly hintTerm: number;
    })
  | (Envelope & { readonly type: 'heartbeat'; readonly commit: number; readonly readSeq: number })
  | (Envelope & { readonly type: 'heartbeatResp'; readonly readSeq: number })
  | (Envelope & {
      readonly type: 'snapshot';
      readonly meta: SnapshotMeta;
      readonly totalBytes: number;
      readonly offsetBytes: number;
      readonly chunk: Uint8Array;
    })
  | (Envelope & {
      readonly type: 'snapshotResp';
      readonly snapshotIndex: number;
      /** How many bytes of that snapshot the follower holds; the leader continues from there. */
      readonly receivedBytes: number;
    })
  | (Envelope & { readonly type: 'timeoutNow' })
  | (Envelope & { readonly type: 'readIndex'; readonly requestId: number })
  | (Envelope & {
      readonly type: 'readIndexResp';
      readonly requestId: number;
      /** undefined when the leader could not serve the read (it is stepping down or not yet ready). */
      readonly index: number | undefined;
    });

export type MessageType = Message['type'];

export type Role = 'follower' | 'preCandidate' | 'candidate' | 'leader';

/** How a leader confirms a read: with a heartbeat round now, or with the next regular heartbeat. */
export type ReadConfirmation = 'now' | 'next-heartbeat';

/** A linearizable read is safe once the local state machine has applied `index`. */
export interface ReadState {
  readonly requestId: number;
  readonly index: number;
}

/**
 * What the caller must do, in this order: persist `snapshot` (if any), then `entries` (they replace the log
 * from `entries[0].index` on), then `hardState`, and sync; only then send `messages`, restore `snapshot` into
 * the state machine when `restoreSnapshot` is set, apply `committed`, serve `readStates` whose index is
 * applied, and call `advance(ready)`.
 */
export interface Ready {
  readonly snapshot: Snapshot | undefined;
  readonly restoreSnapshot: boolean;
  readonly entries: readonly Entry[];
  readonly hardState: HardState | undefined;
  readonly messages: readonly Message[];
  readonly committed: readonly Entry[];
  readonly readStates: readonly ReadState[];
  /** Reads that cannot be served here (no leader, or leadership lost); the caller retries elsewhere. */
  readonly failedReads: readonly number[];
}

/** What a node loads from its store on start. */
export interface PersistedState {
  readonly hardState: HardState;
  readonly snapshot: Snapshot | undefined;
  readonly entries: readonly Entry[];
}

export const emptyHardState: HardState = { term: 0, vote: undefined, commit: 0 };
