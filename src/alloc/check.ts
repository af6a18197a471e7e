import { canEvacuateNode } from './global-n1.js';
import { conflictingPrimaries, type ScoreBreakdown, scoreBreakdown } from './metrics.js';
import { type ClusterState, type NodeState, usedGroups } from './state.js';

/**
 * hcheck's health checks: per node group, the nodes failing N+1, the nodes with conflicting primaries
 * (exclusion tags), what sits on offline nodes and, with capacity checks, the nodes that could not be
 * evacuated directly; the cluster needs rebalancing when any of these is non-zero. The figures and
 * their order are hcheck's, including its count of "instances having a secondary node offline", which
 * counts the offline nodes.
 */

export interface GroupCheck {
  readonly group: number;
  /** In the order of checkNames. */
  readonly stats: readonly number[];
  readonly score: number;
}

export interface CheckName {
  /** The machine-readable key's suffix. */
  readonly key: string;
  readonly description: string;
}

export function checkNames(capacity: boolean): CheckName[] {
  return [
    { key: 'N1_FAIL', description: 'Nodes not N+1 happy' },
    { key: 'CONFLICT_TAGS', description: 'Nodes with conflicting instances' },
    { key: 'OFFLINE_PRI', description: 'Instances having the primary node offline' },
    { key: 'OFFLINE_SEC', description: 'Instances having a secondary node offline' },
    ...(capacity ? [{ key: 'GN1_FAIL', description: 'Nodes not directly evacuateable' }] : []),
  ];
}

/** The score as htools reports it: with no online node there are no components and the score is 0. */
export function reportedScore(nodes: readonly NodeState[]): ScoreBreakdown {
  return nodes.some((n) => !n.offline) ? scoreBreakdown(nodes) : { score: 0, components: [] };
}

export function checkGroup(state: ClusterState, group: number, capacity: boolean): GroupCheck {
  const nodes = state.nodes.filter((n) => n.group === group);
  const offline = nodes.filter((n) => n.offline);
  const offlineSet = new Set(offline.map((n) => n.idx));
  const inGroup = (n: NodeState): boolean => n.group === group;
  const stats = [
    nodes.filter((n) => !n.offline && n.failN1).length,
    nodes.filter((n) => conflictingPrimaries(n) > 0).length,
    state.instances.filter((i) => !i.forthcoming && offlineSet.has(i.pNode)).length,
    offline.length,
    ...(capacity ? [nodes.filter((n) => !canEvacuateNode(state, n, inGroup)).length] : []),
  ];
  return { group, stats, score: reportedScore(nodes).score };
}

export function checkCluster(state: ClusterState, capacity: boolean): GroupCheck[] {
  return usedGroups(state).map((g) => checkGroup(state, g, capacity));
}

/** The cluster's figures: each check summed over the groups; none at all without groups, as hcheck. */
export function clusterTotals(groups: readonly GroupCheck[], capacity: boolean): number[] {
  if (groups.length === 0) return [];
  return checkNames(capacity).map((_, k) => groups.reduce((sum, g) => sum + (g.stats[k] ?? 0), 0));
}

export const needsRebalance = (totals: readonly number[]): boolean => totals.some((t) => t > 0);
