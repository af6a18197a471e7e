import type { ClusterOutcome, ClusterState } from '../cluster/cluster-state.js';
import type { ClusterCommand } from '../cluster/commands.js';
import { nodeById } from '../cluster/config.js';
import { resolveRelativeDepends } from '../cluster/job-dependencies.js';
import { DEFAULT_HA_PARAMS, type HaParams, leaseGrant } from '../cluster/lease.js';
import type { InstanceUuid, JobId } from '../cluster/model.js';
import type { Opcode } from '../cluster/opcodes.js';
import type { RapiCertificate } from '../cluster/rapi-certificate.js';
import type { Clock, Timer } from '../common/clock.js';
import { timeoutSignal } from '../common/deadline.js';
import { asCorralError, CorralError } from '../common/errors.js';
import { asNodeId, type NodeId } from '../common/ids.js';
import type { Logger } from '../common/log.js';
import type { RaftStatus } from '../consensus/raft.js';
import type { MembershipChange, ReadConfirmation } from '../consensus/types.js';
import { AutoFailover, masterNodeView } from './auto-failover.js';
import { QUEUE_DRAINED } from './cluster-ops.js';
import { type HookRunner, JobQueue, type OpOrigin } from './job-queue.js';
import { LeaseTable } from './leases.js';
import { LockManager } from './locks.js';
import type { MasterRequest } from './master-protocol.js';
import type { MasterResponse } from './master-replies.js';
import type { OobRunner } from './oob-runner.js';
import type { HookSpec, MasterIpControl, NodeAgentClient, OpContext } from './op-context.js';
import { opDefinitions } from './op-defs.js';
import {
  candidatesToReplace,
  membershipSteps,
  type ObservedNode,
  raisesWantedRoles,
} from './raft-membership.js';
import type { ControlTimings } from './timings.js';
import { Watcher } from './watcher.js';

/** The parts of the Raft runtime the master uses. */
export interface RaftControl {
  readonly self: NodeId;
  status(): RaftStatus;
  changeMembership(change: MembershipChange, options: { readonly signal: AbortSignal }): Promise<void>;
  transferLeadership(target: NodeId): void;
  /**
   * Resolves once a quorum has confirmed, after the call, that this node still leads (ReadIndex); with
   * `confirm: 'next-heartbeat'`, by the next regular heartbeat rather than a round of its own.
   */
  readBarrier(options: { readonly signal: AbortSignal; readonly confirm?: ReadConfirmation }): Promise<void>;
}

export interface MasterRoleDeps {
  readonly raft: RaftControl;
  /** Commits a cluster command through Raft and resolves with its outcome once applied here. */
  propose(command: ClusterCommand, signal: AbortSignal): Promise<ClusterOutcome | undefined>;
  readonly state: ClusterState;
  readonly agent: NodeAgentClient;
  readonly hooks: HookRunner;
  /** Runs nodes' out-of-band programs on this host. */
  readonly oob: OobRunner;
  readonly masterIp: MasterIpControl;
  readonly clock: Clock;
  readonly log: Logger;
  /** What this node's gossip has observed of a peer; undefined for one it does not know yet. */
  observed(node: NodeId): ObservedNode | undefined;
  /** Tells every node, through gossip, what this master did on its own. */
  announce(name: string, payload: string): void;
  newUuid(): string;
  newRapiCertificate(clusterName: string): Promise<RapiCertificate>;
  /** How long commits, probes and node calls may take, and how often to reconcile and to watch instances. */
  readonly timings: ControlTimings;
}

/**
 * What the Raft leader does as master: it records its takeover, runs the job queue, answers what other nodes
 * forward, and keeps the Raft group in line with the candidate pool. One instance per leadership term; a
 * lost term stops it and a new one starts from the replicated records.
 */
export class MasterRole {
  private queue: JobQueue | undefined;
  private watcher: Watcher | undefined;
  private autoFailover: AutoFailover | undefined;
  private reconcileTimer: Timer | undefined;
  private reconciling = false;
  /** Set while a reconcile runs, when another should follow it at once. */
  private reconcileAgain = false;
  private stopFollowingConfig: (() => void) | undefined;
  private ended = false;
  /** The job queue's locks, which gnt-debug locks shows. */
  private readonly locks = new LockManager();
  /** Every grant of an earlier master was confirmed before this one was elected, so before now. */
  private readonly leases: LeaseTable;

  constructor(
    private readonly deps: MasterRoleDeps,
    private readonly term: number,
  ) {
    this.leases = new LeaseTable(deps.clock.monotonicMs(), () => this.haParams());
  }

  private haParams(): HaParams {
    return this.deps.state.config?.cluster.ha ?? DEFAULT_HA_PARAMS;
  }

  get ready(): boolean {
    return this.queue !== undefined && !this.ended;
  }

  async begin(): Promise<void> {
    const { deps } = this;
    const previous = deps.state.config?.master;
    for (;;) {
      const outcome = await this.commit({
        type: 'takeover',
        atMs: deps.clock.wallMs(),
        node: deps.raft.self,
        term: this.term,
      });
      if (this.ended) return;
      if (outcome?.ok) break;
      // A group founded a moment ago leads before `cluster init` has committed: take over once it has.
      if (outcome?.ok === false && outcome.code !== 'unavailable')
        throw new CorralError(
          'unavailable',
          `could not take the master role: ${outcome?.ok === false ? outcome.message : 'no outcome'}`,
        );
      await new Promise<void>((resolve) => {
        if (deps.state.config !== undefined) return resolve();
        const unsubscribe = deps.state.onChange((change) => {
          if (change.type === 'config') {
            unsubscribe();
            resolve();
          }
        });
      });
    }
    this.queue = new JobQueue({
      state: deps.state,
      commit: (command) => this.commit(command),
      locks: this.locks,
      defs: opDefinitions,
      hooks: skippingDeadNodes(deps.hooks, (node) => deps.observed(node)?.state === 'dead'),
      clock: deps.clock,
      log: deps.log.child({ part: 'jobs' }),
      context: (signal, log, origin) => this.context(signal, log, origin),
    });
    this.queue.start(previous);
    this.scheduleReconcile();
    // A node added, brought back online or made a candidate joins the Raft group (or gets its vote) now rather
    // than at the next round: until it is a learner it knows no master, and it holds the master's calls (the
    // next node add's hooks among them) until it learns the term. Removals keep to the rounds: no one waits
    // on them, and a node taken offline should still see the end of the job that did it.
    let lastConfig = deps.state.config;
    this.stopFollowingConfig = deps.state.onChange((change) => {
      if (change.type !== 'config') return;
      const raised = lastConfig === undefined || raisesWantedRoles(lastConfig, change.config);
      lastConfig = change.config;
      if (raised) void this.reconcile();
    });
    const submit = async (key: string, ops: readonly Opcode[]) => {
      if (deps.state.config?.cluster.queueDrained === true)
        throw new CorralError('unavailable', QUEUE_DRAINED);
      const outcome = await this.commit({
        type: 'submit',
        atMs: deps.clock.wallMs(),
        key,
        priority: 0,
        ops: [...ops],
      });
      if (!outcome?.ok) throw refusal(outcome);
    };
    this.watcher = new Watcher({
      state: deps.state,
      agent: deps.agent,
      clock: deps.clock,
      log: deps.log.child({ part: 'watcher' }),
      timings: deps.timings,
      submit,
    });
    this.watcher.start();
    this.autoFailover = new AutoFailover({
      state: deps.state,
      clock: deps.clock,
      log: deps.log.child({ part: 'auto-failover' }),
      intervalMs: deps.timings.autoFailoverIntervalMs,
      view: masterNodeView({
        clock: deps.clock,
        observed: (node) => deps.observed(node),
        leaseLapsesAtMs: (node) => this.leaseLapsesAtMs(node),
      }),
      submit,
      announce: (name, payload) => deps.announce(name, payload),
    });
    this.autoFailover.start();
  }

  end(): void {
    this.ended = true;
    this.watcher?.stop();
    this.autoFailover?.stop();
    this.queue?.stop();
    this.reconcileTimer?.cancel();
    this.stopFollowingConfig?.();
  }

  /** By this master's clock: when the node's guests are surely dead unless it renews its lease. */
  leaseLapsesAtMs(node: NodeId): number {
    return this.leases.lapsesAtMs(node);
  }

  /** Serves what a node forwarded; `from` is the node whose daemon sent it (this one for local calls). */
  async handle(request: MasterRequest, from: NodeId): Promise<MasterResponse<MasterRequest['op']>> {
    if (!this.ready) throw new CorralError('not_leader', 'this node is still taking over the master role');
    const { deps } = this;
    switch (request.op) {
      case 'submit': {
        refuseWhileDrained(deps.state.config?.cluster.queueDrained === true, request);
        const outcome = await this.commit({
          type: 'submit',
          atMs: deps.clock.wallMs(),
          key: request.key,
          priority: request.priority,
          // A job submitted alone has no batch for a relative dependency to count back in.
          ops: resolveRelativeDepends(request.ops, []),
        });
        if (!outcome?.ok || outcome.job === undefined) throw refusal(outcome);
        return { job: outcome.job };
      }
      case 'cancel': {
        const outcome = await this.commit({
          type: 'cancel',
          atMs: deps.clock.wallMs(),
          job: request.job,
          ...(request.kill === true && { kill: true }),
        });
        if (!outcome?.ok) throw refusal(outcome);
        return {};
      }
      case 'archive':
      case 'change-priority': {
        const atMs = deps.clock.wallMs();
        const outcome = await this.commit(
          request.op === 'archive'
            ? { type: 'archive', atMs, job: request.job }
            : { type: 'change-priority', atMs, job: request.job, priority: request.priority },
        );
        if (!outcome?.ok) throw refusal(outcome);
        return {};
      }
      case 'autoarchive': {
        const { ageS } = request;
        const command = { type: 'autoarchive' as const, atMs: deps.clock.wallMs() };
        const outcome = await this.commit(ageS === undefined ? command : { ...command, ageS });
        if (!outcome?.ok) throw refusal(outcome);
        return { archived: outcome.archived ?? 0, left: 0 };
      }
      case 'locks':
        return {
          locks: this.locks
            .holders()
            .map(({ lock, owners, pending }) => ({ lock, owners: [...owners], pending: [...pending] })),
        };
      case 'ping':
        return {};
      case 'cluster-flags': {
        const { queueDrained, watcherPauseMs } = request;
        const nowMs = deps.clock.wallMs();
        const outcome = await this.commit({
          type: 'config',
          atMs: nowMs,
          mutation: {
            type: 'cluster-flags',
            ...(queueDrained !== undefined && { queueDrained }),
            ...(watcherPauseMs !== undefined && {
              watcherPauseUntilMs: watcherPauseMs === null ? null : nowMs + watcherPauseMs,
            }),
          },
        });
        if (!outcome?.ok) throw refusal(outcome);
        return { watcherPauseUntilMs: deps.state.config?.cluster.watcherPauseUntilMs ?? null };
      }
      case 'probe': {
        const { peer, info } = await deps.agent.probe(
          request.address,
          timeoutSignal(deps.clock, deps.timings.dialTimeoutMs),
        );
        return {
          peer,
          name: info.name,
          version: info.version,
          ...(info.cluster && { cluster: info.cluster }),
        };
      }
      case 'transfer': {
        const to = asNodeId(request.to);
        const config = deps.state.config;
        const node = config === undefined ? undefined : nodeById(config, to);
        if (node === undefined)
          throw new CorralError('not_found', `${request.to} is not a node of the cluster`);
        if (!deps.raft.status().membership.voters.includes(to))
          throw new CorralError(
            'conflict',
            `${node.name} is not a voting master candidate; make it one first`,
          );
        deps.raft.transferLeadership(to);
        return {};
      }
      case 'mirror':
        return this.mirrorReport(request, from);
      case 'lease':
        return this.grantLease(from);
    }
  }

  /**
   * Renews a node's lease once a quorum confirms this master still leads, so that no master elected later
   * can miss the grant: it counts every node as granted at its own takeover. An offline node gets none.
   */
  private async grantLease(from: NodeId): Promise<MasterResponse<'lease'>> {
    const { deps } = this;
    const node = deps.state.config === undefined ? undefined : nodeById(deps.state.config, from);
    if (node === undefined) throw new CorralError('not_member', `${from} is not a node of the cluster`);
    if (node.offline)
      throw new CorralError(
        'conflict',
        `${node.name} is declared offline; it gets no lease to run instances`,
      );
    // Every node renews every quarter lease: a heartbeat round each would be most of an idle leader's
    // messages. The grant counts from after the confirmation, so waiting for the next heartbeat costs nothing.
    await deps.raft.readBarrier({
      signal: timeoutSignal(deps.clock, deps.timings.commitTimeoutMs),
      confirm: 'next-heartbeat',
    });
    if (this.ended) throw new CorralError('not_leader', 'this node is no longer the master');
    const grant = leaseGrant(this.haParams());
    this.leases.granted(from, deps.clock.monotonicMs(), grant);
    return grant;
  }

  /** Records a primary's report on its mirror; the state machine checks that the caller is that primary. */
  private async mirrorReport(
    request: Extract<MasterRequest, { op: 'mirror' }>,
    from: NodeId,
  ): Promise<MasterResponse<'mirror'>> {
    const config = this.deps.state.config;
    const node = config === undefined ? undefined : nodeById(config, from);
    if (node === undefined) throw new CorralError('not_member', `${from} is not a node of the cluster`);
    const outcome = await this.commit({
      type: 'config',
      atMs: this.deps.clock.wallMs(),
      mutation: {
        type: request.report === 'outdate' ? 'mirror-outdate' : 'mirror-synced',
        uuid: request.instance,
        by: node.uuid,
        generation: request.generation,
      },
    });
    if (!outcome?.ok) throw refusal(outcome);
    const generation = this.deps.state.config?.instances.get(request.instance as InstanceUuid)?.mirror
      ?.generation;
    if (generation === undefined) throw new CorralError('not_found', `instance ${request.instance} is gone`);
    return { generation };
  }

  private context(signal: AbortSignal, log: (message: string) => void, origin: OpOrigin): OpContext {
    const { deps } = this;
    return {
      config: () => {
        const config = deps.state.config;
        if (config === undefined) throw new CorralError('unavailable', 'the cluster is not initialised');
        return config;
      },
      self: deps.raft.self,
      signal,
      clock: deps.clock,
      timings: deps.timings,
      agent: deps.agent,
      oob: deps.oob,
      masterIp: deps.masterIp,
      raft: () => {
        const status = deps.raft.status();
        return { term: status.term, voters: status.membership.voters, learners: status.membership.learners };
      },
      observed: (node) => deps.observed(node),
      leaseLapsesAtMs: (node) => this.leaseLapsesAtMs(node),
      confirmLeadership: async () => {
        await deps.raft.readBarrier({
          signal: timeoutSignal(deps.clock, deps.timings.commitTimeoutMs, signal),
        });
        if (this.ended) throw new CorralError('not_leader', 'this node is no longer the master');
      },
      log,
      newUuid: deps.newUuid,
      newRapiCertificate: deps.newRapiCertificate,
      commit: async (mutation) => {
        const outcome = await this.commit({ type: 'config', atMs: deps.clock.wallMs(), mutation });
        if (!outcome?.ok) throw refusal(outcome);
      },
      submitJobs: async (jobs) => {
        const ids: JobId[] = [];
        for (const [i, ops] of jobs.entries()) {
          const outcome = await this.commit({
            type: 'submit',
            atMs: deps.clock.wallMs(),
            key: `job-${origin.job}-op-${origin.op}-child-${i}`,
            priority: 0,
            ops: resolveRelativeDepends(ops, ids),
          });
          if (!outcome?.ok || outcome.job === undefined) throw refusal(outcome);
          ids.push(outcome.job);
        }
        return ids;
      },
    };
  }

  private async commit(command: ClusterCommand): Promise<ClusterOutcome | undefined> {
    if (this.ended) throw new CorralError('not_leader', 'this node is no longer the master');
    return this.deps.propose(command, timeoutSignal(this.deps.clock, this.deps.timings.commitTimeoutMs));
  }

  private scheduleReconcile(): void {
    if (this.ended) return;
    this.reconcileTimer = this.deps.clock.setTimer(this.deps.timings.reconcileIntervalMs, () => {
      void this.reconcile().finally(() => this.scheduleReconcile());
    });
  }

  /**
   * Reconciles until a round changes nothing, one round at a time: a call while one runs asks for another
   * after it, since what it reacts to may have come too late for the round under way.
   */
  private async reconcile(): Promise<void> {
    if (this.reconciling) {
      this.reconcileAgain = true;
      return;
    }
    this.reconciling = true;
    try {
      do {
        this.reconcileAgain = false;
        // A membership step done: the next (a promotion after the learner's addition) may be possible at once.
        if (await this.reconcileRound()) this.reconcileAgain = true;
      } while (this.reconcileAgain && !this.ended);
    } finally {
      this.reconciling = false;
    }
  }

  /**
   * One round: replace dead candidates in the config, then bring Raft's membership one step closer to it.
   * Returns whether a membership step was taken.
   */
  private async reconcileRound(): Promise<boolean> {
    const { deps } = this;
    const config = deps.state.config;
    if (this.ended || config === undefined) return false;
    try {
      const self = deps.raft.self;
      const nowMs = deps.clock.wallMs();
      for (const node of candidatesToReplace(config, (id) => deps.observed(id), self)) {
        deps.log.warn(
          { node: node.name },
          'gossip has held a master candidate dead past the grace period; replacing it',
        );
        await this.commit({
          type: 'config',
          atMs: nowMs,
          mutation: {
            type: 'node-set',
            uuid: node.uuid,
            changes: { masterCandidate: false },
            autoPromote: true,
          },
        });
      }
      const latest = deps.state.config ?? config;
      for (const step of membershipSteps(latest, deps.raft.status().membership, self)) {
        try {
          await deps.raft.changeMembership(step, {
            signal: timeoutSignal(deps.clock, deps.timings.commitTimeoutMs),
          });
          deps.log.info({ step }, 'raft membership follows the candidate pool');
          return true;
        } catch (error) {
          // Refused for now (a change pending, a learner still catching up): try the next step.
          if (asCorralError(error).code !== 'conflict') throw error;
        }
      }
    } catch (error) {
      if (!this.ended)
        deps.log.warn({ err: asCorralError(error) }, 'reconciling the raft group failed; retrying');
    }
    return false;
  }
}

/**
 * Ganeti's drained queue: user jobs are refused, but for redist-conf submitted to the drained queue on
 * purpose (--yes-do-it). Jobs that running jobs submit (a multi-allocation's creates) still go in.
 */
function refuseWhileDrained(drained: boolean, request: Extract<MasterRequest, { op: 'submit' }>): void {
  if (request.toDrainedQueue === true && request.ops.some((op) => op.OP_ID !== 'OP_CLUSTER_REDIST_CONF'))
    throw new CorralError('bad_request', 'only redist-conf may be submitted to a drained queue');
  if (drained && request.toDrainedQueue !== true) throw new CorralError('unavailable', QUEUE_DRAINED);
}

function refusal(outcome: ClusterOutcome | undefined): CorralError {
  return outcome?.ok === false
    ? new CorralError(outcome.code, outcome.message)
    : new CorralError('internal', 'the state machine gave no outcome');
}

/**
 * Hooks skip the nodes gossip holds dead, as Ganeti's skip offline nodes: their scripts cannot run, and a
 * call to a hung or cut node waits out the hooks' whole timeout (two minutes) before the operation goes on,
 * which held automatic failovers out of such a node that long (bench:ha).
 */
function skippingDeadNodes(hooks: HookRunner, dead: (node: NodeId) => boolean): HookRunner {
  const alive = (spec: HookSpec): HookSpec => ({
    ...spec,
    preNodes: spec.preNodes.filter((node) => !dead(node)),
    postNodes: spec.postNodes.filter((node) => !dead(node)),
  });
  return {
    run: (spec, phase, op, config, signal, after) =>
      hooks.run(alive(spec), phase, op, config, signal, after === undefined ? undefined : alive(after)),
  };
}
