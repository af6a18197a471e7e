import { type ConfigData, mayBeCandidate, sortedNodes } from '../cluster/config.js';
import type { NodeRecord } from '../cluster/model.js';
import type { NodeId } from '../common/ids.js';
import type { Membership, MembershipChange } from '../consensus/types.js';
import type { HealthRecord } from '../membership/health.js';

/**
 * Makes the Raft group follow the configuration: master candidates vote, every other online node is a
 * learner (it keeps a full replica, so any node answers queries from local state), offline and removed nodes
 * are out. Returns the steps worth trying now, safest first: promotions before removals, so the voter set
 * grows before it shrinks. The core takes one change at a time and refuses a promotion until the learner has
 * caught up; the caller tries the next step when one is refused.
 */
export function membershipSteps(
  config: ConfigData,
  membership: Membership,
  self: NodeId,
): MembershipChange[] {
  const wanted = wantedRoles(config);
  const voters = new Set(membership.voters);
  const learners = new Set(membership.learners);
  const steps: MembershipChange[] = [];
  for (const learner of learners)
    if (wanted.get(learner) === 'voter') steps.push({ type: 'promote', node: learner });
  for (const [node] of wanted)
    if (!voters.has(node) && !learners.has(node)) steps.push({ type: 'addLearner', node });
  // A demoted voter leaves and comes back as a learner on a later round; the master never removes itself.
  for (const voter of voters)
    if (voter !== self && wanted.get(voter) !== 'voter') steps.push({ type: 'remove', node: voter });
  for (const learner of learners) if (!wanted.has(learner)) steps.push({ type: 'remove', node: learner });
  return steps;
}

/** The place in the Raft group the configuration gives each node: master candidates vote, offline nodes have none. */
export function wantedRoles(config: ConfigData): Map<NodeId, 'voter' | 'learner'> {
  const wanted = new Map<NodeId, 'voter' | 'learner'>();
  for (const node of config.nodes.values()) {
    if (!node.offline) wanted.set(node.id, node.masterCandidate ? 'voter' : 'learner');
  }
  return wanted;
}

/** Whether `after` gives some node a place in the Raft group, or a vote, that `before` did not. */
export function raisesWantedRoles(before: ConfigData, after: ConfigData): boolean {
  if (before.nodes === after.nodes) return false;
  const had = wantedRoles(before);
  return [...wantedRoles(after)].some(([node, role]) => had.get(node) !== role && had.get(node) !== 'voter');
}

/** What gossip has observed of a node: its state, how long it has held it, and the health record it sent. */
export interface ObservedNode {
  readonly state: 'alive' | 'suspect' | 'dead' | 'left';
  readonly stateAgeMs: number;
  /** Undefined until a record has arrived. */
  readonly health?: HealthRecord | undefined;
}

/**
 * Candidates that gossip has held dead (or gone) for longer than the grace period, that a node gossip sees
 * alive could replace. A suspect is never replaced (it may refute), a node gossip does not know yet is
 * neither replaced nor a replacement, and a dead candidate with no one to take its seat stays: dropping it
 * would shrink the voter set and the failures it survives.
 */
export function candidatesToReplace(
  config: ConfigData,
  observed: (node: NodeId) => ObservedNode | undefined,
  self: NodeId,
): NodeRecord[] {
  const graceMs = config.cluster.candidateDeadGraceMs;
  const alive = (node: NodeRecord) => node.id === self || observed(node.id)?.state === 'alive';
  const gone = (node: NodeRecord) => {
    const seen = node.id === self ? undefined : observed(node.id);
    return (
      seen !== undefined && (seen.state === 'dead' || seen.state === 'left') && seen.stateAgeMs > graceMs
    );
  };
  const nodes = sortedNodes(config);
  let replacements = nodes.filter(
    (node) => !node.masterCandidate && mayBeCandidate(node) && alive(node),
  ).length;
  const dead: NodeRecord[] = [];
  for (const node of nodes) {
    if (!node.masterCandidate || !gone(node) || replacements === 0) continue;
    dead.push(node);
    replacements--;
  }
  return dead;
}
