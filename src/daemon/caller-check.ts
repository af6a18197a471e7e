import { judgeCall, type TrustState } from '../cluster/caller-policy.js';
import type { NodeId } from '../common/ids.js';
import type { CallerCheck, Callers, Credentials } from '../peer/callers.js';

/** How long a call from a master of a term this node has not heard of waits for its Raft log to catch up. */
const AWAIT_TERM_MS = 3_000;

export interface CallerCheckDeps {
  /** The node's trust state as it is now (membership, secrets, Raft term). */
  readonly state: () => TrustState;
  /** Resolves once this node knows the leader of `term` or a newer term, or after `timeoutMs`. */
  readonly awaitTerm: (term: number, timeoutMs: number) => Promise<void>;
}

/** The daemon's one CallerCheck: the pure judgement of caller-policy.ts, plus the wait it may ask for. */
export function daemonCallerCheck(deps: CallerCheckDeps): CallerCheck {
  return (callers: Callers, from: NodeId, credentials: Credentials) => {
    const verdict = judgeCall(callers, from, credentials, deps.state());
    if (verdict.kind === 'allow') return;
    if (verdict.kind === 'refuse') throw verdict.error;
    return deps.awaitTerm(verdict.term, AWAIT_TERM_MS).then(() => {
      const again = judgeCall(callers, from, credentials, deps.state(), true);
      if (again.kind === 'refuse') throw again.error;
    });
  };
}
