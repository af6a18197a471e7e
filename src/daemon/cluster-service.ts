import { type AgentRequest, type AgentResponse, agentProtocol } from '../cluster/agent-protocols.js';
import { type ClusterOutcome, ClusterState } from '../cluster/cluster-state.js';
import { type ClusterCommand, encodeClusterCommand } from '../cluster/commands.js';
import { type ConfigData, sortedNodes } from '../cluster/config.js';
import type { CorralDiskTemplate } from '../cluster/disk-templates.js';
import type { HypervisorName } from '../cluster/hypervisors.js';
import { isFinished, type JobRecord } from '../cluster/jobs.js';
import { encodeKvCommand, type KvOutcome, KvStore } from '../cluster/kv-store.js';
import type { MasterIpSpec } from '../cluster/master-ip.js';
import { DEFAULT_CANDIDATE_POOL_SIZE, DEFAULT_GROUP_NAME, type JobId } from '../cluster/model.js';
import {
  admitProtocol,
  evictProtocol,
  type HookResult,
  hooksProtocol,
  nodeInfoProtocol,
} from '../cluster/node-protocols.js';
import type { RapiCertificate } from '../cluster/rapi-certificate.js';
import { type Clock, pause } from '../common/clock.js';
import { timeoutSignal } from '../common/deadline.js';
import { asCorralError, CorralError } from '../common/errors.js';
import { asNodeId, type NodeId } from '../common/ids.js';
import type { Logger } from '../common/log.js';
import type { Rng } from '../common/random.js';
import { CORRAL_VERSION } from '../common/version.js';
import { bootstrapStore, RaftRuntime } from '../consensus/runtime.js';
import type { HookRunner } from '../master/job-queue.js';
import { type MasterRequest, masterProtocol } from '../master/master-protocol.js';
import type { MasterResponse } from '../master/master-replies.js';
import { MasterRole } from '../master/master-role.js';
import type { OobRunner } from '../master/oob-runner.js';
import type { NodeAgentClient, NodeInfo } from '../master/op-context.js';
import type { ObservedNode } from '../master/raft-membership.js';
import { type ControlTimings, checkControlTimings } from '../master/timings.js';
import type { RaftRoleSeen } from '../membership/health.js';
import type { MemberStore } from '../membership/member-store.js';
import { type Credentials, NO_CREDENTIALS } from '../peer/callers.js';
import type { Enrolment } from '../peer/enrolment.js';
import type { Transport } from '../peer/transport.js';
import { type MasterIpDevice, MasterIpKeeper } from './master-ip.js';
import type { NodeAgent } from './node-agent.js';
import type { ReplicaLog } from './replica-log.js';
import { ReplicaMachine, type ReplicaOutcome } from './replica-machine.js';

export interface ClusterInitParams {
  readonly name: string;
  readonly secondaryIp?: string;
  readonly enabledHypervisors?: readonly HypervisorName[];
  readonly enabledDiskTemplates?: readonly CorralDiskTemplate[];
  readonly candidatePoolSize?: number;
}

/** The hooks of one node: its own scripts, and the runner its master role uses on every node. */
export interface NodeHooks {
  runLocal(hpath: string, phase: 'pre' | 'post', env: Record<string, string>): Promise<HookResult[]>;
  /** The runner a master acting in the term `credentials` name uses for an opcode's hooks. */
  asMaster(credentials: Credentials): HookRunner;
}

export interface ClusterServiceDeps {
  readonly transport: Transport;
  readonly members: MemberStore;
  /** The node's Raft log, opened when it founds or joins a cluster. */
  readonly raftLog: ReplicaLog;
  readonly name: string;
  readonly hooks: NodeHooks;
  /** Runs nodes' out-of-band programs while this node is the master. */
  readonly oob: OobRunner;
  /** Sets the floating master IP up and down on this host. */
  readonly masterIpDevice: (spec: MasterIpSpec) => MasterIpDevice;
  /** Raft's tick and every wait of the replica and the master role; checked at start. */
  readonly timings: ControlTimings;
  /** This node's agent: disks, OS scripts and hypervisors, driven by the master. */
  readonly agent: NodeAgent;
  readonly clock: Clock;
  readonly log: Logger;
  /** Called when the Raft log cannot be written: the node must stop rather than go on without it. */
  readonly onFatal: () => void;
  /** Called when this node is removed from its cluster: the daemon stops, as Ganeti's do on node remove. */
  readonly onEvicted: () => void;
  /** What gossip observes of a node: replaces dead candidates and says which voters are reachable. */
  readonly observed: (node: NodeId) => ObservedNode | undefined;
  /** Tells every node something the master did on its own (an automatic failover), as a gossip event. */
  readonly announce?: (name: string, payload: string) => void;
  /** This node's enrolment code, drawn anew when the node leaves its cluster. */
  readonly enrolment: Pick<Enrolment, 'renew'>;
  /** Election timeouts are drawn from it: the daemon seeds it at random, the simulator from its seed. */
  readonly rng: Rng;
  /** UUIDs of new objects (the cluster, groups, nodes, instances): random, or seeded in the simulator. */
  newUuid(): string;
  /** RAPI's key and self-signed certificate, made at init and by renew-crypto; a fixed one in the simulator. */
  newRapiCertificate(clusterName: string): Promise<RapiCertificate>;
}

/** The local view of the replicated state and how old it may be. */
export interface LocalView {
  readonly config: ConfigData | undefined;
  readonly jobs: ClusterState;
  readonly master: NodeId | undefined;
  /** undefined when the read went through the leader; otherwise ms since this node last knew a leader. */
  readonly staleMs: number | undefined;
}

/**
 * How long a job-wait for a job this replica has not applied yet waits for it before asking the master: a
 * job submitted through this node normally arrives within a few milliseconds.
 */
const JOB_ARRIVAL_GRACE_MS = 200;

/**
 * This node's part in the cluster: its replica of the configuration and job table (a Raft voter if it is a
 * master candidate, a learner otherwise), the master role while it leads, the answers a master asks of any
 * node (who are you, join, leave, run hooks), and the forwarding of every change to whoever is master now.
 */
export class ClusterService {
  private raft: RaftRuntime<ReplicaOutcome> | undefined;
  private readonly state = new ClusterState();
  private readonly machine = new ReplicaMachine(this.state, new KvStore());
  private role: MasterRole | undefined;
  private leaderSeenMs: number;
  /** Checks waiting for this node to take the master role (see until). */
  private readonly masterWaiters = new Set<() => void>();
  private stopped = false;
  private readonly masterIp: MasterIpKeeper;
  /** deactivate-master-ip's hold, for this node's term as master. */
  private masterIpDown = false;

  private constructor(private readonly deps: ClusterServiceDeps) {
    this.leaderSeenMs = deps.clock.wallMs();
    this.masterIp = new MasterIpKeeper({
      device: deps.masterIpDevice,
      log: deps.log.child({ part: 'master-ip' }),
    });
  }

  static async start(deps: ClusterServiceDeps): Promise<ClusterService> {
    checkControlTimings(deps.timings);
    const service = new ClusterService(deps);
    service.serveNodeProtocols();
    service.state.onChange((change) => {
      if (change.type === 'config') void service.followConfig(change.config);
    });
    if (deps.members.cluster !== undefined) await service.startReplica(false);
    return service;
  }

  /** Asks every online node of the configuration for its live view, in parallel; a silent node gets an error line. */
  async nodesLive(): Promise<{ name: string; status?: AgentResponse<'status'>; error?: string }[]> {
    return (await this.askEveryNode('status')).map(({ name, answer, error }) => ({
      name,
      ...(answer !== undefined && { status: answer }),
      ...(error !== undefined && { error }),
    }));
  }

  async osDiagnose(): Promise<
    { name: string; oses?: AgentResponse<'osDiagnose'>['oses']; error?: string }[]
  > {
    return (await this.askEveryNode('osDiagnose')).map(({ name, answer, error }) => ({
      name,
      ...(answer !== undefined && { oses: answer.oses }),
      ...(error !== undefined && { error }),
    }));
  }

  private async askEveryNode<K extends 'status' | 'osDiagnose'>(
    kind: K,
  ): Promise<{ name: string; answer?: AgentResponse<K>; error?: string }[]> {
    const config = this.state.config;
    if (config === undefined) throw new CorralError('unavailable', 'this node belongs to no cluster yet');
    const client = this.agentClient(NO_CREDENTIALS);
    const nodes = sortedNodes(config).filter((node) => !node.offline);
    const answers = await Promise.allSettled(
      nodes.map((node) =>
        client.call(node.id, kind, (kind === 'status' ? { storage: true } : {}) as AgentRequest<K>, {
          signal: timeoutSignal(this.deps.clock, this.deps.timings.nodeCallTimeoutMs),
        }),
      ),
    );
    return nodes.map((node, i) => {
      const answer = answers[i]!;
      return answer.status === 'fulfilled'
        ? { name: node.name, answer: answer.value }
        : { name: node.name, error: asCorralError(answer.reason).message };
    });
  }

  /**
   * While this node is the master: by this node's clock, when it counts the node's lease as surely run out
   * (the simulator checks that the node has stopped holding it by then).
   */
  leaseLapsesAtMs(node: NodeId): number | undefined {
    return this.role?.ready ? this.role.leaseLapsesAtMs(node) : undefined;
  }

  raftStatus() {
    return this.raft?.status();
  }

  /** The newest term this node knows and that term's leader, for judging a master's calls. */
  raftTerm(): { readonly term: number; readonly leader: NodeId | undefined } | undefined {
    const status = this.raft?.status();
    return status === undefined ? undefined : { term: status.term, leader: status.leader };
  }

  /** Resolves once this node knows the leader of `term` or has seen a newer term, or after awaitTermMs. */
  awaitTerm(term: number): Promise<void> {
    const raft = this.raft;
    if (raft === undefined) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        unsubscribe();
        timer.cancel();
        resolve();
      };
      const unsubscribe = raft.onLeaderChange((change) => {
        if (change.term > term || (change.term === term && change.leader !== undefined)) done();
      });
      const timer = this.deps.clock.setTimer(this.deps.timings.awaitTermMs, done);
    });
  }

  /** This node's replica of the configuration, as applied here; undefined before it joins a cluster. */
  localConfig(): ConfigData | undefined {
    return this.state.config;
  }

  /** Calls `listener` whenever this node's replica applies a new configuration. */
  onConfigChange(listener: (config: ConfigData) => void): () => void {
    return this.state.onChange((change) => {
      if (change.type === 'config') listener(change.config);
    });
  }

  /** This node's Raft role as health reports it: `none` unless it votes. */
  raftRole(): RaftRoleSeen {
    const status = this.raft?.status();
    return status === undefined || !status.membership.voters.includes(status.id) ? 'none' : status.role;
  }

  /** `cluster init`: founds a cluster with this node as its only member and master. */
  async init(params: ClusterInitParams): Promise<void> {
    const { deps } = this;
    if (deps.members.cluster !== undefined)
      throw new CorralError('conflict', `this node already belongs to cluster ${deps.members.cluster.name}`);
    const uuid = deps.newUuid();
    const addrs = deps.transport.listenAddresses().slice(0, 16);
    await deps.members.join({ name: params.name, uuid }, deps.members.clusterSecret(), [], 0);
    await this.startReplica(true);
    const primaryIp = /^\/ip[46]\/([^/]+)/.exec(addrs[0] ?? '')?.[1] ?? '127.0.0.1';
    const raft = this.raft!;
    const rapiCertificate = await deps.newRapiCertificate(params.name);
    await this.until(() => raft.status().role === 'leader', 'this node to lead its own group');
    const outcome = await this.propose({
      type: 'init',
      atMs: deps.clock.wallMs(),
      cluster: {
        name: params.name,
        uuid,
        candidatePoolSize: params.candidatePoolSize ?? DEFAULT_CANDIDATE_POOL_SIZE,
        enabledHypervisors: [...(params.enabledHypervisors ?? ['kvm', 'fake'])],
        enabledDiskTemplates: [...(params.enabledDiskTemplates ?? ['diskless', 'file', 'sharedfile'])],
      },
      group: { uuid: deps.newUuid(), name: DEFAULT_GROUP_NAME },
      node: {
        uuid: deps.newUuid(),
        name: deps.name,
        id: deps.transport.self,
        addrs,
        primaryIp,
        secondaryIp: params.secondaryIp ?? primaryIp,
      },
      rapiCertificate,
    });
    if (!outcome?.ok)
      throw new CorralError(
        'internal',
        `cluster init failed: ${outcome?.ok === false ? outcome.message : 'no outcome'}`,
      );
  }

  /**
   * Sends a change to the master, wherever it is now. A call that fails because the master moved or went
   * away is retried on the next one until the deadline; submissions carry a key, so a retry never makes a
   * second job.
   */
  async forward<Op extends MasterRequest['op']>(
    request: Extract<MasterRequest, { op: Op }>,
    options: { readonly deadlineMs?: number } = {},
  ): Promise<MasterResponse<Op>> {
    const raft = this.requireReplica();
    const { forwardRetryMs } = this.deps.timings;
    const forwardDeadlineMs = options.deadlineMs ?? this.deps.timings.forwardDeadlineMs;
    const deadline = this.deps.clock.monotonicMs() + forwardDeadlineMs;
    let lastError: CorralError | undefined;
    for (;;) {
      const leader = raft.status().leader;
      try {
        if (leader === raft.self) return (await this.handleMaster(request, raft.self)) as MasterResponse<Op>;
        if (leader !== undefined) {
          return (await this.deps.transport.request(leader, masterProtocol, request, {
            timeoutMs: forwardDeadlineMs,
          })) as MasterResponse<Op>;
        }
      } catch (error) {
        lastError = asCorralError(error);
        if (!retryable(lastError)) throw lastError;
      }
      if (this.deps.clock.monotonicMs() >= deadline) throw this.noMaster(lastError);
      await pause(this.deps.clock, forwardRetryMs);
    }
  }

  /** The replicated state as this node has it: fresh when a leader confirmed it, else with its age. */
  async view(consistent: boolean): Promise<LocalView> {
    const raft = this.raft;
    let staleMs: number | undefined = this.deps.clock.wallMs() - this.leaderSeenMs;
    if (raft !== undefined && consistent) {
      try {
        await raft.readBarrier({
          signal: timeoutSignal(this.deps.clock, this.deps.timings.readConfirmTimeoutMs),
        });
        staleMs = undefined;
      } catch {
        // No quorum: the local replica answers, saying how old it may be.
      }
    }
    if (raft?.status().leader !== undefined) staleMs = undefined;
    return { config: this.state.config, jobs: this.state, master: raft?.status().leader, staleMs };
  }

  /**
   * Waits until the job has changed past `afterVersion` or `waitMs` passed. Served from this node's replica,
   * so `job watch` keeps following a job while the master changes.
   */
  async waitJob(id: JobId, afterVersion: number, waitMs: number): Promise<JobRecord> {
    const current = this.state.job(id) ?? (await this.unknownJob(id));
    if (current.version > afterVersion || isFinished(current.status)) return current;
    const changed = await this.jobChange(id, waitMs);
    // The same apply may have changed the job again after the change that woke us.
    return this.state.job(id) ?? changed ?? current;
  }

  /** A job this replica does not hold: archived, on its way here, or never submitted. */
  private async unknownJob(id: JobId): Promise<JobRecord> {
    const notFound = () => new CorralError('not_found', `job ${id} does not exist or was archived`);
    // IDs are given in commit order: one this replica has given and no longer holds was archived.
    if (this.state.issuedJob(id)) throw notFound();
    // A job just submitted through this node reaches its replica within a round trip or so: waiting for it
    // spares the master the heartbeat round that confirming a read costs, once for every submission.
    const arrived = await this.jobChange(id, JOB_ARRIVAL_GRACE_MS);
    if (arrived !== undefined) return this.state.job(id) ?? arrived;
    // Still not here: only a read the master confirms tells a late job from one that never was.
    const confirmed = await this.requireReplica()
      .readBarrier({ signal: timeoutSignal(this.deps.clock, this.deps.timings.jobConfirmTimeoutMs) })
      .then(
        () => true,
        () => false,
      );
    const seen = this.state.job(id);
    if (seen !== undefined) return seen;
    if (!confirmed)
      throw new CorralError(
        'unavailable',
        `this node cannot confirm with the master whether job ${id} exists yet; try again, or ask another node`,
      );
    throw notFound();
  }

  /** The job as this replica next changes it, or undefined if it does not change within waitMs. */
  private jobChange(id: JobId, waitMs: number): Promise<JobRecord | undefined> {
    return new Promise((resolve) => {
      const done = (job: JobRecord | undefined) => {
        unsubscribe();
        timer.cancel();
        resolve(job);
      };
      const unsubscribe = this.state.onChange((change) => {
        if (change.type === 'job' && change.job.id === id) done(change.job);
      });
      const timer = this.deps.clock.setTimer(waitMs, () => done(undefined));
    });
  }

  /**
   * `cluster destroy`, as Ganeti refuses it: only on the master, only once it is the cluster's last node,
   * with no instance and no unfinished job. Then this node forgets the cluster, as a removed node does, and
   * its daemon stops (Ganeti stops its daemons); the answer goes out first. Returns the cluster's name.
   */
  async destroy(): Promise<string> {
    const raft = this.requireReplica();
    const view = await this.view(true);
    const config = view.config;
    if (config === undefined) throw new CorralError('unavailable', 'this node belongs to no cluster yet');
    if (raft.status().leader !== raft.self)
      throw new CorralError('conflict', 'run cluster destroy on the master (cluster getmaster names it)');
    const others = config.nodes.size - 1;
    if (others > 0)
      throw new CorralError(
        'conflict',
        `There are still ${others} other node(s) in this cluster: remove them first (node remove)`,
      );
    if (config.instances.size > 0)
      throw new CorralError(
        'conflict',
        `There are still ${config.instances.size} instance(s) in this cluster: remove them first (instance remove)`,
      );
    const unfinished = this.state.jobs().filter((job) => !isFinished(job.status));
    if (unfinished.length > 0)
      throw new CorralError(
        'conflict',
        `job ${unfinished.map((job) => job.id).join(', ')} has not ended yet: wait for it, or cancel it (job cancel)`,
      );
    this.deps.log.warn({ cluster: config.cluster.name }, 'cluster destroyed; forgetting it and stopping');
    setImmediate(() => void this.forget());
    return config.cluster.name;
  }

  /** `cluster master-failover`: asks the master to hand its role to this node and waits until it has. */
  async takeMasterRole(): Promise<void> {
    const raft = this.requireReplica();
    if (raft.status().leader === raft.self)
      throw new CorralError('conflict', 'this node is already the master');
    await this.forward({ op: 'transfer', to: raft.self });
    await this.until(
      () => raft.status().leader === raft.self && this.role?.ready === true,
      'the master role to arrive; run cluster verify',
    );
  }

  /** Resolves once `holds()` is true, checking again whenever the leader changes or this node takes the master role. */
  private until(holds: () => boolean, what: string): Promise<void> {
    const timeoutMs = this.deps.timings.roleWaitTimeoutMs;
    const raft = this.requireReplica();
    return new Promise((resolve, reject) => {
      const check = () => {
        if (!holds()) return;
        done();
        resolve();
      };
      const unsubscribe = raft.onLeaderChange(check);
      this.masterWaiters.add(check);
      const timer = this.deps.clock.setTimer(timeoutMs, () => {
        done();
        reject(new CorralError('timeout', `gave up after ${timeoutMs / 1000} s waiting for ${what}`));
      });
      const done = () => {
        unsubscribe();
        this.masterWaiters.delete(check);
        timer.cancel();
      };
      check();
    });
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.role?.end();
    this.role = undefined;
    // A master stopped in order hands its IP on at once: the next master need not wait for ARP caches.
    await this.syncMasterIp().catch(() => undefined);
    this.raft?.stop();
    await this.deps.raftLog.close();
  }

  /**
   * Holds the cluster's master IP while this node is a master that has taken over (and it was not
   * deactivated), drops it otherwise; the keeper logs what fails, and the next change tries again.
   */
  private syncMasterIp(): Promise<string[]> {
    const configured = this.state.config?.cluster.masterIp;
    const master = this.role?.ready === true && !this.stopped && !this.masterIpDown;
    return this.masterIp.reconcile(master ? configured : undefined, configured);
  }

  private async startReplica(founding: boolean): Promise<void> {
    const { deps } = this;
    const opened = await deps.raftLog.open();
    const persisted = founding ? await bootstrapStore(opened.store, [deps.transport.self]) : opened.state;
    const raft = new RaftRuntime<ReplicaOutcome>({
      transport: deps.transport,
      store: opened.store,
      persisted,
      machine: this.machine,
      clock: deps.clock,
      rng: deps.rng.fork(),
      log: deps.log.child({ part: 'raft' }),
      config: deps.timings.raft,
      tickMs: deps.timings.raftTickMs,
      onFatal: () => deps.onFatal(),
    });
    this.raft = raft;
    raft.onLeaderChange(({ leader, term }) => {
      deps.log.info({ leader, term }, 'raft leader changed');
      // Either a leader is known from now on, or this is the last moment one was.
      this.leaderSeenMs = deps.clock.wallMs();
      this.role?.end();
      this.role = undefined;
      void this.syncMasterIp().catch(() => undefined);
      if (leader === raft.self) this.becomeMaster(raft, term);
    });
  }

  private becomeMaster(raft: RaftRuntime<ReplicaOutcome>, term: number): void {
    const { deps } = this;
    // Every call this master makes shows its term, so that no node obeys it once a newer master is elected.
    const credentials: Credentials = { term };
    this.masterIpDown = false;
    const role = new MasterRole(
      {
        masterIp: {
          set: (up) => {
            this.masterIpDown = !up;
            return this.syncMasterIp();
          },
        },
        raft,
        propose: (command, signal) => this.propose(command, signal),
        state: this.state,
        agent: this.agentClient(credentials),
        hooks: deps.hooks.asMaster(credentials),
        oob: deps.oob,
        clock: deps.clock,
        log: deps.log.child({ part: 'master' }),
        observed: (node) => deps.observed(node),
        announce: (name, payload) => deps.announce?.(name, payload),
        newUuid: () => deps.newUuid(),
        newRapiCertificate: (name) => deps.newRapiCertificate(name),
        timings: deps.timings,
      },
      term,
    );
    this.role = role;
    role.begin().then(
      () => {
        deps.log.info({ term }, 'this node is the master');
        void this.syncMasterIp().catch(() => undefined);
        for (const waiter of [...this.masterWaiters]) waiter();
      },
      (error: unknown) => {
        if (this.role === role)
          deps.log.warn({ err: asCorralError(error) }, 'could not take the master role');
      },
    );
  }

  private async handleMaster(
    request: MasterRequest,
    from: NodeId,
  ): Promise<MasterResponse<MasterRequest['op']>> {
    const role = this.role;
    if (role === undefined) {
      const leader = this.raft?.status().leader;
      throw new CorralError(
        'not_leader',
        leader ? `the master is ${leader}` : 'there is no master right now',
      );
    }
    return role.handle(request, from);
  }

  private serveNodeProtocols(): void {
    const { transport, members, log } = this.deps;
    transport.handle(nodeInfoProtocol, async (_request, { from }) =>
      members.isMember(from) ? this.nodeInfo() : this.publicNodeInfo(),
    );
    transport.handle(masterProtocol, async (request, { from }) => this.handleMaster(request, from));
    transport.handle(admitProtocol, async ({ cluster, secret, members: list, serial }, { from }) => {
      const current = members.cluster;
      const listed = list.map((member) => ({ id: asNodeId(member.id), addrs: member.addrs }));
      if (current !== undefined) {
        if (current.uuid !== cluster.uuid)
          throw new CorralError('conflict', `this node already belongs to cluster ${current.name}`);
        // Added back after a removal it missed while down: it must take the members of now to hear from them.
        await members.replace(listed, serial);
        return {};
      }
      await members.join(cluster, secret, listed, serial);
      log.info({ cluster: cluster.name, by: from }, 'admitted to the cluster');
      await this.startReplica(false);
      return {};
    });
    transport.handle(evictProtocol, async ({ cluster }) => {
      const current = members.cluster;
      if (current === undefined || current.uuid !== cluster.uuid)
        throw new CorralError('conflict', 'this node is not a member of that cluster');
      log.warn({ cluster: cluster.name }, 'removed from the cluster; forgetting it and stopping');
      // Answer first, then wipe: the master is waiting for the reply.
      setImmediate(() => void this.forget());
      return {};
    });
    transport.handle(hooksProtocol, async (request) => ({
      results: await this.deps.hooks.runLocal(request.hpath, request.phase, request.env),
    }));
  }

  private async forget(): Promise<void> {
    await this.stop();
    await this.deps.raftLog.wipe();
    await this.deps.members.leave();
    // The code the master was shown is in its job records: the node must not be taken over with it later.
    await this.deps.enrolment.renew();
    this.deps.onEvicted();
  }

  /** What any caller may learn: who this is, and nothing of its cluster, addresses or clock. */
  private publicNodeInfo(): NodeInfo {
    return { name: this.deps.name, version: CORRAL_VERSION, addrs: [] };
  }

  private nodeInfo(): NodeInfo {
    const cluster = this.deps.members.cluster;
    return {
      name: this.deps.name,
      version: CORRAL_VERSION,
      ...(cluster !== undefined && { cluster }),
      addrs: this.deps.transport.listenAddresses().slice(0, 16),
      timeMs: this.deps.clock.wallMs(),
      ...(this.state.config !== undefined && { configSerial: this.state.config.serial }),
    };
  }

  /** The calls to node daemons, showing `credentials` (the master's term, or nothing for members' reads). */
  private agentClient(credentials: Credentials): NodeAgentClient {
    const { transport, members } = this.deps;
    const self = transport.self;
    return {
      probe: async (address, signal) => {
        const peer = await transport.connect(address, { signal });
        if (peer === self) throw new CorralError('conflict', `${address} is this node itself`);
        return { peer, info: await transport.request(peer, nodeInfoProtocol, {}, { signal }) };
      },
      info: async (peer, signal) =>
        peer === self ? this.nodeInfo() : transport.request(peer, nodeInfoProtocol, {}, { signal }),
      admit: async (peer, enrolment, signal) => {
        const cluster = members.cluster;
        if (cluster === undefined) throw new CorralError('internal', 'the master belongs to no cluster');
        const list = (this.state.config ? [...this.state.config.nodes.values()] : []).map((node) => ({
          id: node.id,
          addrs: [...node.addrs],
        }));
        await transport.request(
          peer,
          admitProtocol,
          { cluster, secret: members.clusterSecret(), members: list, serial: this.state.config?.serial ?? 0 },
          { signal, credentials: { ...credentials, enrolment } },
        );
      },
      evict: async (peer, signal) => {
        const cluster = members.cluster;
        if (cluster === undefined) throw new CorralError('internal', 'the master belongs to no cluster');
        await transport.request(
          peer,
          evictProtocol,
          { cluster },
          { signal, timeoutMs: this.deps.timings.nodeCallTimeoutMs, credentials },
        );
      },
      call: async (peer, kind, request, options) => {
        if (peer !== self)
          return transport.request(peer, agentProtocol(kind), request, { ...options, credentials });
        // As a request to another node would be, a call already abandoned is not made. A master deposed while
        // isolated still reaches its own node: the clean-up of an op its successor now owns (the disks of a
        // create whose record stays) must not run here either.
        if (options.signal.aborted) throw asCorralError(options.signal.reason, 'aborted');
        return this.deps.agent.serve(kind, request, options.signal);
      },
    };
  }

  /** Lets in exactly the cluster's nodes, and keeps a connection to each, as the configuration changes. */
  private async followConfig(config: ConfigData): Promise<void> {
    if (this.stopped || this.deps.members.cluster === undefined) return;
    const { transport, members, log } = this.deps;
    // A node replaying its log passes through older configurations: they must neither shrink its member list
    // (it would refuse the newer members) nor bring an old secret back.
    if (config.serial < members.configSerial) return;
    void this.syncMasterIp().catch(() => undefined);
    const nodes = [...config.nodes.values()];
    try {
      // Both take effect before the first await, so that of two configurations applied in a row the later
      // one's secret and members are what stays.
      const renewed = config.clusterSecret === undefined ? false : members.adoptSecret(config.clusterSecret);
      await members.replace(
        nodes.map((node) => ({ id: node.id, addrs: node.addrs })),
        config.serial,
      );
      if (await renewed) log.info({ serial: config.serial }, 'took the renewed cluster secret');
      for (const node of nodes) {
        if (node.id !== transport.self && !node.offline) await transport.keepConnected(node.id, node.addrs);
      }
    } catch (error) {
      log.error({ err: asCorralError(error) }, 'could not follow the configuration');
    }
  }

  private requireReplica(): RaftRuntime<ReplicaOutcome> {
    if (this.raft === undefined) {
      throw new CorralError(
        'unavailable',
        'this node belongs to no cluster yet: run cluster init here, or node add on the master',
      );
    }
    return this.raft;
  }

  private async propose(
    command: ClusterCommand,
    signal: AbortSignal = timeoutSignal(this.deps.clock, this.deps.timings.commitTimeoutMs),
  ): Promise<ClusterOutcome | undefined> {
    const entry = ReplicaMachine.clusterEntry(encodeClusterCommand(command));
    return (await this.requireReplica().propose(entry, { signal })) as ClusterOutcome | undefined;
  }

  /** Writes to the diagnostic key-value space (the Raft benchmark's workload). */
  async kvPut(key: string, value: Uint8Array): Promise<number> {
    const entry = ReplicaMachine.kvEntry(encodeKvCommand({ op: 'put', key, value }));
    const outcome = (await this.requireReplica().propose(entry, {
      signal: timeoutSignal(this.deps.clock, this.deps.timings.kvTimeoutMs),
    })) as KvOutcome | undefined;
    if (!outcome?.ok)
      throw new CorralError('bad_request', `the write was refused: ${outcome?.reason ?? 'no outcome'}`);
    return outcome.revision;
  }

  async kvGet(key: string, linearizable: boolean): Promise<Uint8Array | undefined> {
    if (linearizable)
      await this.requireReplica().readBarrier({
        signal: timeoutSignal(this.deps.clock, this.deps.timings.kvTimeoutMs),
      });
    return this.machine.kv.get(key);
  }

  private noMaster(lastError: CorralError | undefined): CorralError {
    const raft = this.raft;
    const status = raft?.status();
    const voters = status?.membership.voters ?? [];
    const reachable = voters.filter(
      (voter) => voter === raft?.self || this.deps.observed(voter)?.state === 'alive',
    ).length;
    const why = lastError ? ` (last error: ${lastError.message})` : '';
    return new CorralError(
      'unavailable',
      `the cluster has no master: ${reachable} of ${voters.length} master candidates are reachable from here, ` +
        `and a master needs ${Math.floor(voters.length / 2) + 1}${why}`,
    );
  }
}

function retryable(error: CorralError): boolean {
  return ['not_leader', 'unreachable', 'timeout', 'closed'].includes(error.code);
}
