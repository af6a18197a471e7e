import type { AgentCall, AgentRequest, AgentResponse } from '../cluster/agent-protocols.js';
import type { ConfigData } from '../cluster/config.js';
import type { JobId } from '../cluster/model.js';
import type { Mutation } from '../cluster/mutations.js';
import type { Opcode, OpId } from '../cluster/opcodes.js';
import type { RapiCertificate } from '../cluster/rapi-certificate.js';
import type { Clock } from '../common/clock.js';
import { CorralError } from '../common/errors.js';
import type { NodeId } from '../common/ids.js';
import type { LockRequest } from './locks.js';
import type { OobRunner } from './oob-runner.js';
import type { ObservedNode } from './raft-membership.js';
import type { ControlTimings } from './timings.js';

/** What a node's daemon says of itself when the master asks (see node-protocols.ts). */
export interface NodeInfo {
  readonly name: string;
  readonly version: string;
  readonly cluster?: { readonly name: string; readonly uuid: string };
  readonly addrs: readonly string[];
  /** Shown to members only (cluster verify's clock-skew check). */
  readonly timeMs?: number;
  /** Shown to members only: the serial of the configuration the node has applied (cluster redist-conf). */
  readonly configSerial?: number;
}

/** The master's calls to node daemons, behind an interface so opcodes run in tests without a network. */
export interface NodeAgentClient {
  /** Connects to an address and asks who answers there. */
  probe(address: string, signal: AbortSignal): Promise<{ readonly peer: NodeId; readonly info: NodeInfo }>;
  info(peer: NodeId, signal: AbortSignal): Promise<NodeInfo>;
  /** Hands the node the cluster, showing its enrolment code (an unjoined node takes nothing else). */
  admit(peer: NodeId, enrolment: string, signal: AbortSignal): Promise<void>;
  evict(peer: NodeId, signal: AbortSignal): Promise<void>;
  /** One node-agent request (agent-protocols.ts); rejects with the node's CorralError or unreachable/timeout. */
  call<K extends AgentCall>(
    peer: NodeId,
    call: K,
    request: AgentRequest<K>,
    options: { readonly signal: AbortSignal; readonly timeoutMs?: number },
  ): Promise<AgentResponse<K>>;
}

/** The Raft group as the master sees it, for cluster verify. */
export interface RaftView {
  readonly term: number;
  readonly voters: readonly NodeId[];
  readonly learners: readonly NodeId[];
}

/** The master's hold on the floating master IP (activate/deactivate-master-ip); says what it did. */
export interface MasterIpControl {
  /** Holds it (up) or drops it until asked again or until another node is master (down). */
  set(up: boolean): Promise<string[]>;
}

export interface OpContext {
  /** The newest applied configuration (it changes while a job waits or runs). */
  config(): ConfigData;
  readonly self: NodeId;
  readonly signal: AbortSignal;
  readonly clock: Clock;
  /** How long a short call to a node may take (a status, a clock reading) before it counts as unanswered. */
  readonly timings: Pick<ControlTimings, 'nodeCallTimeoutMs' | 'mirrorSyncTimeoutMs'>;
  readonly agent: NodeAgentClient;
  /** Runs out-of-band programs on this (the master's) host. */
  readonly oob: OobRunner;
  /** The floating master IP on this (the master's) host. */
  readonly masterIp: MasterIpControl;
  raft(): RaftView;
  /** What this node's gossip has observed of a node (state, health record); undefined for one it does not know. */
  observed(node: NodeId): ObservedNode | undefined;
  /** By `clock`: when the node's guests are surely dead unless it renews its lease (notes/leases.md). */
  leaseLapsesAtMs(node: NodeId): number;
  /**
   * Resolves once a quorum confirms, after the call, that this master still leads: its lease table then
   * holds every grant made since its takeover, where a deposed master's would miss its successor's.
   */
  confirmLeadership(): Promise<void>;
  /** Adds a message to the job's log (committed in batches). */
  log(message: string): void;
  newUuid(): string;
  /** RAPI's key and self-signed certificate for the cluster of this name (renew-crypto). */
  newRapiCertificate(clusterName: string): Promise<RapiCertificate>;
  /**
   * Commits a configuration change now, before the opcode ends: for steps a crash must not forget (an
   * instance recorded before its disks exist, so that a failed create can still be cleaned up).
   */
  commit(mutation: Mutation): Promise<void>;
  /** Submits jobs of their own (Ganeti's node migrate and evacuate return one job per instance). */
  submitJobs(jobs: readonly (readonly Opcode[])[]): Promise<JobId[]>;
}

export interface OpOutcome {
  /** Committed together with the opcode's success: the change and its record are one Raft entry. */
  readonly mutation?: Mutation;
  readonly result: unknown;
}

/** Where an opcode's hooks run and with what (Ganeti's hooks table). */
export interface HookSpec {
  readonly hpath: string;
  readonly objectType: 'CLUSTER' | 'NODE' | 'GROUP' | 'INSTANCE';
  readonly target: string;
  /** Extra variables, without the GANETI_ prefix. */
  readonly env: Readonly<Record<string, string>>;
  readonly preNodes: readonly NodeId[];
  readonly postNodes: readonly NodeId[];
}

export interface OpDefinition<Op extends Opcode = Opcode> {
  locks(op: Op, config: ConfigData): LockRequest[];
  hooks?(op: Op, config: ConfigData): HookSpec | undefined;
  run(op: Op, ctx: OpContext): Promise<OpOutcome>;
  /**
   * What a new master does with this opcode when the old one died while it ran: run it again from the start
   * (safe when every step is idempotent), or end it in error saying what may have been left half done.
   */
  readonly onTakeover: 'resume' | 'fail';
  /**
   * Its only effect is the change committed with its end: it reaches no node and runs no hooks. Such an
   * opcode is not marked running first (one Raft entry fewer per job); its end says when it started, and a new
   * master simply runs it again.
   */
  readonly atomic?: true;
}

export type OpDefinitions = { readonly [K in OpId]: OpDefinition<Extract<Opcode, { OP_ID: K }>> };

/** Waits `ms` on the job's clock; rejects at once when the job is stopped meanwhile. */
export function pauseJob(ctx: OpContext, ms: number): Promise<void> {
  return new Promise((resolve, reject) => {
    if (ctx.signal.aborted) return reject(new CorralError('aborted', 'the job was stopped'));
    const timer = ctx.clock.setTimer(ms, () => {
      ctx.signal.removeEventListener('abort', onAbort);
      resolve();
    });
    const onAbort = () => {
      timer.cancel();
      reject(new CorralError('aborted', 'the job was stopped'));
    };
    ctx.signal.addEventListener('abort', onAbort, { once: true });
  });
}
