import type { NodeId } from '../common/ids.js';
import type { Membership, MembershipChange } from './types.js';

export const emptyMembership: Membership = { voters: [], learners: [] };

export function isVoter(membership: Membership, node: NodeId): boolean {
  return membership.voters.includes(node);
}

export function isMember(membership: Membership, node: NodeId): boolean {
  return membership.voters.includes(node) || membership.learners.includes(node);
}

export function members(membership: Membership): NodeId[] {
  return [...membership.voters, ...membership.learners];
}

/** Applies one change; a change that does not fit (replayed, or already in effect) leaves the membership as is. */
export function applyChange(membership: Membership, change: MembershipChange): Membership {
  const without = (list: readonly NodeId[]): NodeId[] => list.filter((node) => node !== change.node);
  switch (change.type) {
    case 'addLearner':
      if (isMember(membership, change.node)) return membership;
      return { voters: membership.voters, learners: [...membership.learners, change.node] };
    case 'promote':
      if (!membership.learners.includes(change.node)) return membership;
      return { voters: [...membership.voters, change.node], learners: without(membership.learners) };
    case 'remove':
      return { voters: without(membership.voters), learners: without(membership.learners) };
  }
}

/**
 * The largest value that a majority of voters has reached: for match indexes this is the commit point, for
 * acknowledged read sequence numbers the last confirmed read.
 */
export function quorumValue(voters: readonly NodeId[], valueFor: (node: NodeId) => number): number {
  if (voters.length === 0) return 0;
  const values = voters.map(valueFor).sort((a, b) => b - a);
  return values[Math.floor(voters.length / 2)]!;
}

export type VoteOutcome = 'won' | 'lost' | 'pending';

export function voteOutcome(voters: readonly NodeId[], votes: ReadonlyMap<NodeId, boolean>): VoteOutcome {
  const quorum = Math.floor(voters.length / 2) + 1;
  let granted = 0;
  let rejected = 0;
  for (const voter of voters) {
    const vote = votes.get(voter);
    if (vote === true) granted++;
    else if (vote === false) rejected++;
  }
  if (granted >= quorum) return 'won';
  if (rejected > voters.length - quorum) return 'lost';
  return 'pending';
}
