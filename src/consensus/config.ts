import { CorralError } from '../common/errors.js';
import { raftProtocol } from './wire.js';

/**
 * The knobs of one Raft node. Time is counted in ticks: the runtime calls `tick()` every tickMs, so the core
 * needs no clock. Every queue or batch that can grow has its limit here.
 */
export interface RaftConfig {
  /** A follower that hears from no leader for a random time in [electionTicks, 2 × electionTicks) campaigns. */
  readonly electionTicks: number;
  /**
   * A leader sends heartbeats every heartbeatTicks; at most electionTicks / MIN_HEARTBEATS_PER_ELECTION, so that
   * one lost or late heartbeat never starts an election.
   */
  readonly heartbeatTicks: number;
  /**
   * Learners (non-voters) hear a heartbeat every learnerHeartbeatTicks, at least heartbeatTicks: they never
   * campaign and count in no quorum, so a heartbeat only repeats the commit index that every append already
   * carries. In a 20-node cluster with 10 voters, the 100 ms heartbeats to learners were half of the leader's
   * messages and a third of a learner's.
   */
  readonly learnerHeartbeatTicks: number;
  readonly maxEntriesPerAppend: number;
  /** About this many bytes of entries per append (one entry always goes, whatever its size); fits in a raft frame. */
  readonly maxBytesPerAppend: number;
  /** Appends in flight to one follower in the replicate state before the leader waits for acknowledgements. */
  readonly maxInflightAppends: number;
  /** Entries a leader accepts beyond its commit index; later proposals are refused until the log commits. */
  readonly maxUncommittedEntries: number;
  /** A snapshot travels in chunks of this size, each in one raft frame. */
  readonly snapshotChunkBytes: number;
  /** A snapshot larger than this is refused on receipt, so a bad leader cannot exhaust a follower's memory. */
  readonly maxSnapshotBytes: number;
  /** Reads queued at a leader that has not yet committed an entry of its term, or awaiting a quorum. */
  readonly maxPendingReads: number;
  /** A learner is promoted only once its log is within this many entries of the leader's commit index. */
  readonly promoteLagEntries: number;
  /** The runtime snapshots the machine and compacts the log once this many applied entries have piled up. */
  readonly compactAfterEntries: number;
}

/**
 * etcd's defaults: a heartbeat every tick and elections after ten (with 100 ms ticks, 100 ms and 1 s); learners
 * hear one every election timeout.
 */
export const defaultRaftConfig: RaftConfig = {
  electionTicks: 10,
  heartbeatTicks: 1,
  learnerHeartbeatTicks: 10,
  maxEntriesPerAppend: 64,
  maxBytesPerAppend: 1024 * 1024,
  maxInflightAppends: 16,
  maxUncommittedEntries: 4096,
  snapshotChunkBytes: 256 * 1024,
  maxSnapshotBytes: 512 * 1024 * 1024,
  maxPendingReads: 1024,
  promoteLagEntries: 16,
  compactAfterEntries: 10_000,
};

/**
 * Heartbeats a leader sends at least within one election timeout: a follower campaigns only after about this
 * many in a row are lost, and check-quorum deposes a leader only when a majority missed as many replies.
 */
export const MIN_HEARTBEATS_PER_ELECTION = 4;

/** Room in a raft frame for what an append or a snapshot chunk carries besides its entries or bytes. */
const FRAME_HEADROOM_BYTES = 64 * 1024;

/** Refuses settings under which Raft cannot work as config.ts describes, naming the knob to fix. */
export function checkRaftConfig(config: RaftConfig): RaftConfig {
  const batchBytesMax = raftProtocol.maxFrameBytes - FRAME_HEADROOM_BYTES;
  const counts = [
    config.electionTicks,
    config.heartbeatTicks,
    config.learnerHeartbeatTicks,
    config.maxEntriesPerAppend,
    config.maxBytesPerAppend,
    config.maxInflightAppends,
    config.maxUncommittedEntries,
    config.snapshotChunkBytes,
    config.maxSnapshotBytes,
    config.maxPendingReads,
    config.compactAfterEntries,
  ];
  const problem = counts.some((n) => !Number.isInteger(n) || n < 1)
    ? 'electionTicks, heartbeatTicks and every limit, size and count but promoteLagEntries must be whole numbers, 1 or more'
    : !Number.isInteger(config.promoteLagEntries) || config.promoteLagEntries < 0
      ? 'promoteLagEntries must be a whole number, 0 or more'
      : config.heartbeatTicks * MIN_HEARTBEATS_PER_ELECTION > config.electionTicks
        ? `heartbeatTicks (${config.heartbeatTicks}) must be at most electionTicks / ${MIN_HEARTBEATS_PER_ELECTION} (${config.electionTicks / MIN_HEARTBEATS_PER_ELECTION}), so that a lost heartbeat does not start an election`
        : config.learnerHeartbeatTicks < config.heartbeatTicks
          ? `learnerHeartbeatTicks (${config.learnerHeartbeatTicks}) must be at least heartbeatTicks (${config.heartbeatTicks})`
          : config.maxBytesPerAppend > batchBytesMax || config.snapshotChunkBytes > batchBytesMax
            ? `maxBytesPerAppend and snapshotChunkBytes must be at most ${batchBytesMax} bytes, to fit in one raft frame`
            : undefined;
  if (problem !== undefined) throw new CorralError('bad_request', `bad raft setting: ${problem}`);
  return config;
}
