import { createHash } from 'node:crypto';
import type { z } from 'zod';
import type { ConfigData } from '../cluster/config.js';
import { isFinished, type JobRecord } from '../cluster/jobs.js';
import type { JobId } from '../cluster/model.js';
import { joinProtocol } from '../cluster/node-protocols.js';
import type { Clock } from '../common/clock.js';
import { CorralError } from '../common/errors.js';
import type { Logger } from '../common/log.js';
import type { MasterRequest } from '../master/master-protocol.js';
import type { MasterResponse } from '../master/master-replies.js';
import type { ControlTimings } from '../master/timings.js';
import type { MemberStore } from '../membership/member-store.js';
import { readJoinToken } from '../peer/join-token.js';
import type { Transport } from '../peer/transport.js';
import { JOB_WAIT_POLL_MS, jobFailure } from './job-client.js';

export type JoinRequest = z.infer<typeof joinProtocol.request>;
export type JoinAnswer = z.infer<typeof joinProtocol.response>;

/** What a member needs of its cluster service to submit a joiner's node add and follow it to its end. */
export interface JoinSubmitter {
  forward(request: Extract<MasterRequest, { op: 'submit' }>): Promise<MasterResponse<'submit'>>;
  waitJob(id: JobId, afterVersion: number, waitMs: number): Promise<JobRecord>;
  localConfig(): ConfigData | undefined;
}

/** Joining needs a request each way: served to joiners, and sent to the member a new node joins through. */
export type JoinTransport = Pick<Transport, 'self' | 'handle' | 'request' | 'connect'>;

export interface JoinServiceDeps {
  readonly transport: JoinTransport;
  readonly members: MemberStore;
  readonly clock: Clock;
  readonly log: Logger;
  readonly cluster: JoinSubmitter;
  /** dialTimeoutMs: how long a joining node tries to reach the member it was pointed at. */
  readonly timings: Pick<ControlTimings, 'dialTimeoutMs'>;
}

/**
 * Every member answers joins, so a new node needs only one member's address and a token. The transport has
 * judged the token against the caller's peer ID before this runs (the join protocol's callers are joiners),
 * and the node add goes to the master like any other job, with the joiner's own enrolment code in it.
 */
export function serveJoins(deps: JoinServiceDeps): void {
  const { transport, members, log, cluster } = deps;
  transport.handle(joinProtocol, async ({ add }, { from, credentials }) => {
    const current = members.cluster;
    const token = credentials.token;
    if (current === undefined || token === undefined)
      throw new CorralError('internal', 'a join reached its handler without a cluster or a token');
    const known = [...(cluster.localConfig()?.nodes.values() ?? [])].find((node) => node.id === from);
    if (known !== undefined)
      throw new CorralError('conflict', `${from} is already node ${known.name} of cluster ${current.name}`);
    log.info({ peer: from, node: add.node_name }, 'a node with a valid join token asks to join');
    // One job per token: a joiner that retries after a lost answer finds the job its first try made.
    const key = `join:${createHash('sha256').update(token).digest('hex').slice(0, 48)}`;
    const { job } = await cluster.forward({
      op: 'submit',
      key,
      priority: 0,
      ops: [{ ...add, peer_id: from }],
    });
    const ended = await untilEnded(cluster, job as JobId);
    const failure = jobFailure(ended);
    if (failure !== undefined) throw failure;
    return { cluster: current, node: add.node_name, job };
  });
}

async function untilEnded(cluster: JoinSubmitter, id: JobId): Promise<JobRecord> {
  let version = -1;
  for (;;) {
    const job = await cluster.waitJob(id, version, JOB_WAIT_POLL_MS);
    if (isFinished(job.status)) return job;
    version = job.version;
  }
}

/** Where the joining node's gate keeps the token it shows to the member it dials. */
export interface JoinTokenSlot {
  set(token: string | undefined): void;
}

/**
 * Joins the cluster that the member at `memberAddress` belongs to: refuses at once a token meant for another
 * node or already expired, dials the member showing the token, and asks it to have this node added. Resolves
 * once the job has ended; by then the master has handed this node the cluster's secret and member list.
 */
export async function joinThrough(
  deps: Pick<JoinServiceDeps, 'transport' | 'members' | 'clock' | 'log' | 'timings'>,
  slot: JoinTokenSlot,
  memberAddress: string,
  token: string,
  request: JoinRequest,
): Promise<JoinAnswer> {
  const { transport, members, clock, log, timings } = deps;
  if (members.cluster !== undefined)
    throw new CorralError('conflict', `this node already belongs to cluster ${members.cluster.name}`);
  const { peer, expiresMs } = readJoinToken(token);
  if (peer !== transport.self)
    throw new CorralError(
      'bad_token',
      `this join token was issued for ${peer}, not for this node (${transport.self}); run corral token create ${transport.self} on a member`,
    );
  if (expiresMs <= clock.wallMs())
    throw new CorralError('token_expired', 'this join token has expired: ask a member for a new one');
  slot.set(token);
  try {
    const member = await transport.connect(memberAddress, { timeoutMs: timings.dialTimeoutMs });
    if (member === transport.self)
      throw new CorralError('bad_request', `${memberAddress} is this node itself`);
    log.info({ member, address: memberAddress }, 'asking a member to let this node join');
    const answer = await transport.request(member, joinProtocol, request, { credentials: { token } });
    log.info({ cluster: answer.cluster.name, node: answer.node, job: answer.job }, 'joined the cluster');
    return answer;
  } finally {
    slot.set(undefined);
  }
}
