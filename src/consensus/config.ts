/**
 * The knobs of one Raft node. Time is counted in ticks: the runtime calls `tick()` every tickMs, so the core
 * needs no clock. Every queue or batch that can grow has its limit here.
 */
export interface RaftConfig {
  /** A follower that hears from no leader for a random time in [electionTicks, 2 × electionTicks) campaigns. */
  readonly electionTicks: number;
  /** A leader sends heartbeats every heartbeatTicks; must be well below electionTicks. */
  readonly heartbeatTicks: number;
  readonly maxEntriesPerAppend: number;
  readonly maxBytesPerAppend: number;
  /** Appends in flight to one follower in the replicate state before the leader waits for acknowledgements. */
  readonly maxInflightAppends: number;
  /** Entries a leader accepts beyond its commit index; later proposals are refused until the log commits. */
  readonly maxUncommittedEntries: number;
  readonly snapshotChunkBytes: number;
  /** A snapshot larger than this is refused on receipt, so a bad leader cannot exhaust a follower's memory. */
  readonly maxSnapshotBytes: number;
  /** Reads queued at a leader that has not yet committed an entry of its term, or awaiting a quorum. */
  readonly maxPendingReads: number;
  /** A learner is promoted only once its log is within this many entries of the leader's commit index. */
  readonly promoteLagEntries: number;
}

export const defaultRaftConfig: RaftConfig = {
  electionTicks: 10,
  heartbeatTicks: 1,
  maxEntriesPerAppend: 64,
  maxBytesPerAppend: 1024 * 1024,
  maxInflightAppends: 16,
  maxUncommittedEntries: 4096,
  snapshotChunkBytes: 256 * 1024,
  maxSnapshotBytes: 512 * 1024 * 1024,
  maxPendingReads: 1024,
  promoteLagEntries: 16,
};
