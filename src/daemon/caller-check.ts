import { judgeCall, type TrustState } from '../cluster/caller-policy.js';
import type { Clock } from '../common/clock.js';
import type { NodeId } from '../common/ids.js';
import type { MemberStore } from '../membership/member-store.js';
import type { CallerCheck, Callers, Credentials } from '../peer/callers.js';
import type { Enrolment } from '../peer/enrolment.js';

/** What a node's replica tells the check: the newest term it knows, and a way to wait for a newer one. */
export interface TermSource {
  raftTerm(): { readonly term: number; readonly leader: NodeId | undefined } | undefined;
  /**
   * Resolves once this node knows the leader of `term` or a newer term, or after the replica's awaitTermMs
   * (a call from a master of a term not heard of yet waits this long for the Raft log to catch up).
   */
  awaitTerm(term: number): Promise<void>;
}

export interface NodeTrust {
  readonly members: Pick<MemberStore, 'cluster' | 'isMember' | 'clusterSecret'>;
  readonly enrolment: Pick<Enrolment, 'matches'>;
  readonly clock: Clock;
  /** The node's replica, once it runs one (the check is made before the cluster service exists). */
  replica(): TermSource | undefined;
}

/** A node's one CallerCheck: the pure judgement of caller-policy.ts over its state now, plus the wait it may ask. */
export function nodeCallerCheck(node: NodeTrust): CallerCheck {
  // One object whose fields read the node as it is at each call: it is judged for every Raft message and
  // gossip, and a member check reads two of them.
  const current: TrustState = {
    get joined() {
      return node.members.cluster !== undefined;
    },
    isMember: (peer) => node.members.isMember(peer),
    get clusterSecret() {
      return node.members.clusterSecret();
    },
    enrolmentMatches: (code) => node.enrolment.matches(code),
    get raft() {
      return node.replica()?.raftTerm();
    },
    get nowMs() {
      return node.clock.wallMs();
    },
  };
  return (callers: Callers, from: NodeId, credentials: Credentials) => {
    const verdict = judgeCall(callers, from, credentials, current);
    if (verdict.kind === 'allow') return;
    if (verdict.kind === 'refuse') throw verdict.error;
    const waited = node.replica()?.awaitTerm(verdict.term) ?? Promise.resolve();
    return waited.then(() => {
      const again = judgeCall(callers, from, credentials, current, true);
      if (again.kind === 'refuse') throw again.error;
    });
  };
}
