import { asCorralError, CorralError } from '../common/errors.js';
import type { NodeId } from '../common/ids.js';
import type { Callers, Credentials } from '../peer/callers.js';
import { verifyJoinToken } from '../peer/join-token.js';

/** What this node knows when it judges a call: its cluster, its members, and the newest Raft term it has seen. */
export interface TrustState {
  /** False while the node belongs to no cluster. */
  readonly joined: boolean;
  isMember(peer: NodeId): boolean;
  /** The key join tokens are checked with. */
  readonly clusterSecret: Uint8Array;
  /** Whether a code is this node's current enrolment code. */
  enrolmentMatches(code: string): boolean;
  /** The newest term this node knows, and its leader if known; undefined before its replica runs. */
  readonly raft: { readonly term: number; readonly leader: NodeId | undefined } | undefined;
  readonly nowMs: number;
}

export type CallVerdict =
  | { readonly kind: 'allow' }
  | { readonly kind: 'refuse'; readonly error: CorralError }
  /** The caller claims a term this node has not heard of yet: wait for its Raft log to catch up, then judge again. */
  | { readonly kind: 'await-term'; readonly term: number };

const allow: CallVerdict = { kind: 'allow' };

function refuse(code: CorralError['code'], message: string): CallVerdict {
  return { kind: 'refuse', error: new CorralError(code, message) };
}

/**
 * Whether `from` may make a call open to `callers` (see peer/callers.ts for the roles). Pure: the daemon
 * feeds it its state, and waits and asks again when the verdict is await-term; `waited` says it has, so a
 * term still unheard of is refused rather than awaited forever.
 */
export function judgeCall(
  callers: Callers,
  from: NodeId,
  credentials: Credentials,
  state: TrustState,
  waited = false,
): CallVerdict {
  switch (callers) {
    case 'anyone':
      return allow;
    case 'joiner':
      return judgeJoiner(from, credentials, state);
    case 'member':
      return judgeMember(from, state);
    case 'admitter':
      if (!state.joined) return judgeEnrolment(credentials, state);
      return judgeReadmission(from, credentials, state, waited);
    case 'master':
      return judgeMaster(from, credentials, state, waited);
  }
}

function judgeJoiner(from: NodeId, credentials: Credentials, state: TrustState): CallVerdict {
  if (!state.joined)
    return refuse('not_member', 'this node belongs to no cluster; point the join at a member');
  if (state.isMember(from)) return refuse('conflict', `${from} is already a member of this cluster`);
  if (credentials.token === undefined)
    return refuse('bad_token', 'joining needs a join token: run corral token create NODE_ID on a member');
  try {
    verifyJoinToken(state.clusterSecret, credentials.token, from, state.nowMs);
  } catch (error) {
    return { kind: 'refuse', error: asCorralError(error, 'bad_token') };
  }
  return allow;
}

function judgeMember(from: NodeId, state: TrustState): CallVerdict {
  if (!state.joined)
    return refuse('not_member', 'this node belongs to no cluster yet: add it with node add first');
  if (!state.isMember(from)) return refuse('not_member', `${from} is not a member of this cluster`);
  return allow;
}

function judgeEnrolment(credentials: Credentials, state: TrustState): CallVerdict {
  if (credentials.enrolment === undefined)
    return refuse(
      'bad_enrolment',
      "this node belongs to no cluster and takes an admission only with its enrolment code ('corral identity' on it)",
    );
  if (!state.enrolmentMatches(credentials.enrolment))
    return refuse(
      'bad_enrolment',
      "that is not this node's enrolment code: run 'corral identity' on it again (a node draws a new code when it leaves a cluster)",
    );
  return allow;
}

/**
 * Admission of a node that holds a cluster already: only the master's, as a re-run of node add. A node removed
 * while it was down still holds its cluster when it comes back, and hears from no master (the members no
 * longer take its calls), so it cannot tell the master's term: there a master that also shows the node's
 * enrolment code, which only the node's administrator gives, is believed, and node add can take it back.
 */
function judgeReadmission(
  from: NodeId,
  credentials: Credentials,
  state: TrustState,
  waited: boolean,
): CallVerdict {
  const verdict = judgeMaster(from, credentials, state, waited);
  const unheardOf =
    verdict.kind === 'await-term' || (verdict.kind === 'refuse' && verdict.error.code === 'unavailable');
  if (unheardOf && credentials.enrolment !== undefined && state.enrolmentMatches(credentials.enrolment))
    return allow;
  return verdict;
}

function judgeMaster(
  from: NodeId,
  credentials: Credentials,
  state: TrustState,
  waited: boolean,
): CallVerdict {
  const membership = judgeMember(from, state);
  if (membership.kind !== 'allow') return membership;
  const { term } = credentials;
  if (term === undefined)
    return refuse('not_master', `only the master may make this call, and ${from} did not act as master`);
  const raft = state.raft;
  if (raft === undefined)
    return refuse('unavailable', 'this node has not started its replica yet; try again');
  if (term < raft.term)
    return refuse(
      'not_master',
      `${from} is no longer the master: it acts in term ${term}, and this node has seen term ${raft.term}`,
    );
  if (term === raft.term && raft.leader === from) return allow;
  if (term === raft.term && raft.leader !== undefined)
    return refuse('not_master', `the master of term ${term} is ${raft.leader}, not ${from}`);
  // A newer term, or this term before its leader's first append arrived: this node is behind, not the caller.
  if (!waited) return { kind: 'await-term', term };
  return refuse(
    'unavailable',
    `this node has not yet heard from ${from} as master of term ${term} (it is at term ${raft.term}); try again`,
  );
}
