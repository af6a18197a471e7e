import { reportedScore } from './check.js';
import { type ClusterState, type InstState, type NodeState, noNode, usedGroups } from './state.js';

/**
 * hinfo's cluster summary: per node group its size, the nodes failing N+1 and the instances on them,
 * and its score; the instances split across groups; the score's components. The figures are htools';
 * the tool prints them.
 */

export interface GroupSummary {
  readonly name: string;
  readonly nodes: number;
  readonly instances: number;
  readonly badNodes: number;
  readonly badInstances: number;
  readonly score: number;
}

/**
 * htools' computeBadItems on a set of nodes: the online ones failing N+1, and how many instances they hold
 * (forthcoming ones are not theirs yet).
 */
export function badItems(
  state: ClusterState,
  nodes: readonly NodeState[],
): { nodes: ReadonlySet<number>; instances: number } {
  const bad = new Set(nodes.filter((n) => !n.offline && n.failN1).map((n) => n.idx));
  const instances = state.instances.filter(
    (i) => !i.forthcoming && (bad.has(i.pNode) || (i.sNode !== noNode && bad.has(i.sNode))),
  );
  return { nodes: bad, instances: instances.length };
}

/** The groups with nodes, in group order; a group's instances are those whose primary is in it. */
export function groupSummaries(state: ClusterState): GroupSummary[] {
  return usedGroups(state).map((group) => {
    const nodes = state.nodes.filter((n) => n.group === group);
    const bad = badItems(state, nodes);
    return {
      name: state.groups[group]?.spec.name ?? '',
      nodes: nodes.length,
      instances: state.instances.filter((i) => state.nodes[i.pNode]?.group === group).length,
      badNodes: bad.nodes.size,
      badInstances: bad.instances,
      score: reportedScore(nodes).score,
    };
  });
}

/** Instances whose primary and secondary are in different node groups. */
export function splitInstances(state: ClusterState): InstState[] {
  return state.instances.filter(
    (i) => i.sNode !== noNode && state.nodes[i.sNode]?.group !== state.nodes[i.pNode]?.group,
  );
}
