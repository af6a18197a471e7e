import { CorralError } from '../common/errors.js';
import { checkRaftConfig, defaultRaftConfig, type RaftConfig } from '../consensus/config.js';

/**
 * The control plane's clocks: Raft's tick, how long its changes and reads may take, and how long the master
 * and the cluster service wait for nodes. One record, passed down from the daemon (or the simulator), so that
 * the timings that depend on one another are set and checked together. Formulas use E, the shortest election
 * timeout (raft.electionTicks × raftTickMs), and H, the longest heartbeat interval, a learner's
 * (raft.learnerHeartbeatTicks × raftTickMs).
 */
export interface ControlTimings {
  /** One tick of the Raft core. Default 100 ms: with the default ticks, a heartbeat every 100 ms and E = 1 s, as etcd. */
  readonly raftTickMs: number;
  /** The Raft core's knobs, its timeouts counted in ticks of raftTickMs (consensus/config.ts). */
  readonly raft: RaftConfig;
  /**
   * How long a change committed through Raft (a job record, a configuration change, a membership step) may take
   * to commit and apply here before its caller gives up; it may still take effect. Above 2 × E, the longest
   * election, so that a change in flight outlasts a leader change. Default 30 s.
   */
  readonly commitTimeoutMs: number;
  /**
   * How long a request forwarded to the master keeps looking for one, through elections, before it says there
   * is none; each attempt may take as long. Above 2 × E, so that it finds the next master. Default 30 s.
   */
  readonly forwardDeadlineMs: number;
  /** The pause between two attempts of a forwarded request, while the master moves. Below forwardDeadlineMs. Default 50 ms. */
  readonly forwardRetryMs: number;
  /**
   * How long a read waits for the master to confirm that this node's replica is current before the replica
   * answers anyway, saying how old it may be; short, since an answer comes either way. Default 3 s.
   */
  readonly readConfirmTimeoutMs: number;
  /**
   * How long `job wait` on a node that does not have the job waits for the master to confirm whether it exists;
   * longer than readConfirmTimeoutMs, since without a confirmation the caller gets only "try again". Default 5 s.
   */
  readonly jobConfirmTimeoutMs: number;
  /**
   * How long this node waits for a role it asked for: to lead its own group at `cluster init`, or to take the
   * master role at `cluster master-failover`. Above 2 × E, the longest a lone voter waits to campaign. Default 10 s.
   */
  readonly roleWaitTimeoutMs: number;
  /**
   * How long a node holds a call from a master of a term it has not heard of, waiting for its own log to learn
   * that term. Above H, since the new leader's first append brings it or, if that is lost, its next heartbeat;
   * below nodeCallTimeoutMs, since the wait runs inside the master's call. Default 3 s.
   */
  readonly awaitTermMs: number;
  /**
   * A short call to one node (its status, its clock for cluster verify, its eviction, its list of exports, the
   * check that it runs an instance whose console is asked for); a node that does not answer in time is shown
   * as unanswered, and the watcher leaves its instances alone. Default 5 s.
   */
  readonly nodeCallTimeoutMs: number;
  /**
   * Connecting to an address that is not yet a node of the cluster and asking who answers there (node add's
   * probe), and, on a joining node, reaching the member it was pointed at. Default 10 s.
   */
  readonly dialTimeoutMs: number;
  /** How often the master brings the Raft voters in line with the candidate pool and replaces dead candidates. Default 500 ms. */
  readonly reconcileIntervalMs: number;
  /**
   * How long the master's watcher rests between passes that restart instances that should run. Ganeti's runs
   * every 5 minutes from cron; ours runs in the master, so it can look more often. Default 30 s;
   * `corral daemon --watcher-interval` sets it.
   */
  readonly watcherIntervalMs: number;
  /**
   * How often the master looks for instances of dead, fenced nodes to fail over (no node is called: it reads
   * the config, gossip and its lease table). Default 1 s, a small part of the lease it waits out anyway.
   */
  readonly autoFailoverIntervalMs: number;
  /**
   * The diagnostic key-value space's writes and linearizable reads (the Raft benchmark's workload): a failure
   * there is counted, not waited out, so it gives up sooner than commitTimeoutMs. Default 10 s.
   */
  readonly kvTimeoutMs: number;
  /**
   * How long instance add (without --no-wait-for-sync) waits for a new mirrored instance's disks to sync
   * before it reports a timeout; the resync goes on. Default 1 hour, as a full copy of a large disk takes.
   */
  readonly mirrorSyncTimeoutMs: number;
}

export const defaultControlTimings: ControlTimings = {
  raftTickMs: 100,
  raft: defaultRaftConfig,
  commitTimeoutMs: 30_000,
  forwardDeadlineMs: 30_000,
  forwardRetryMs: 50,
  readConfirmTimeoutMs: 3_000,
  jobConfirmTimeoutMs: 5_000,
  roleWaitTimeoutMs: 10_000,
  awaitTermMs: 3_000,
  nodeCallTimeoutMs: 5_000,
  dialTimeoutMs: 10_000,
  reconcileIntervalMs: 500,
  watcherIntervalMs: 30_000,
  autoFailoverIntervalMs: 1_000,
  kvTimeoutMs: 10_000,
  mirrorSyncTimeoutMs: 3_600_000,
};

/** The waits an election must fit in, and what goes wrong when one does not. */
const outlastElection = {
  commitTimeoutMs: 'a leader change fails every change in flight',
  forwardDeadlineMs: 'a forwarded request gives up before there is a new master',
  roleWaitTimeoutMs: 'cluster init gives up before the node elects itself',
} as const satisfies Partial<Record<keyof ControlTimings, string>>;

/** Refuses timings that contradict one another or Raft's, naming the knob to fix; checks the Raft knobs too. */
export function checkControlTimings(timings: ControlTimings): ControlTimings {
  checkRaftConfig(timings.raft);
  const electionMaxMs = 2 * timings.raft.electionTicks * timings.raftTickMs;
  // A learner hears the leader less often than a voter; a call waiting on its term must outlast that too.
  const heartbeatMs = timings.raft.learnerHeartbeatTicks * timings.raftTickMs;
  const { raft: _, ...durations } = timings;
  const notPositive = Object.entries(durations).find(([, ms]) => !Number.isFinite(ms) || ms <= 0);
  const tooShort = (Object.keys(outlastElection) as (keyof typeof outlastElection)[]).find(
    (knob) => timings[knob] <= electionMaxMs,
  );
  const problem =
    notPositive !== undefined
      ? `${notPositive[0]} must be a positive number of milliseconds, not ${notPositive[1]}`
      : tooShort !== undefined
        ? `${tooShort} (${timings[tooShort]}) must exceed the longest election, 2 × electionTicks × raftTickMs (${electionMaxMs}), or ${outlastElection[tooShort]}`
        : timings.forwardRetryMs >= timings.forwardDeadlineMs
          ? `forwardRetryMs (${timings.forwardRetryMs}) must be below forwardDeadlineMs (${timings.forwardDeadlineMs})`
          : timings.awaitTermMs <= heartbeatMs || timings.awaitTermMs >= timings.nodeCallTimeoutMs
            ? `awaitTermMs (${timings.awaitTermMs}) must exceed a learner's heartbeat, learnerHeartbeatTicks × raftTickMs (${heartbeatMs}), and be below nodeCallTimeoutMs (${timings.nodeCallTimeoutMs}), whose calls it holds`
            : undefined;
  if (problem !== undefined) throw new CorralError('bad_request', `bad control-plane timing: ${problem}`);
  return timings;
}
