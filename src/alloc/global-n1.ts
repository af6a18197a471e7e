import { diskTemplateTraits } from '../cluster/disk-templates.js';
import { ScoreAccumulator } from './metrics.js';
import { applyMove } from './moves.js';
import {
  addPrimary,
  type ClusterState,
  hasSecondary,
  type InstState,
  isFailMode,
  type NodeState,
  noNode,
} from './state.js';

/**
 * htools' capacity check ("global N+1"), beyond the DRBD memory reservation: for every node, its
 * DRBD primaries must fail over, its shared-storage instances find another node of the group,
 * and its other instances could be re-created elsewhere, all at once, without other moves.
 */

/** Instances that can restart on any node of the group. */
const sharedStorage = (i: InstState): boolean => diskTemplateTraits[i.template].sharedStorage;

export function redundant(state: ClusterState): boolean {
  return state.nodes.every((n) => canEvacuateNode(state, n));
}

function canEvacuateNode(state: ClusterState, node: NodeState): boolean {
  const nodes = [...state.nodes];
  const primaries = state.instances.filter((i) => i.pNode === node.idx && !i.forthcoming);
  for (const inst of primaries.filter(hasSecondary)) {
    const moved = applyMove(nodes, inst, { kind: 'failover' }, true);
    if (isFailMode(moved)) return false;
    for (const [, after] of moved.changes) nodes[after.idx] = after;
  }
  const escapeNodes = nodes.filter((n) => n.group === node.group && n.idx !== node.idx).map((n) => n.idx);
  const members = (): NodeState[] => nodes.filter((n) => n.group === node.group);
  for (const inst of primaries.filter(sharedStorage)) {
    if (
      !placeBest(nodes, members(), escapeNodes, (target) =>
        applyMove(nodes, inst, { kind: 'failover-to-any', node: target }, true),
      )
    ) {
      return false;
    }
  }
  const others = primaries
    .filter((i) => !hasSecondary(i) && !sharedStorage(i))
    .sort((a, b) => b.memoryMiB - a.memoryMiB);
  for (const inst of others) {
    const recreate = (target: number) => {
      const placed: InstState = { ...inst, pNode: target, sNode: noNode };
      const after = addPrimary(nodes[target] as NodeState, placed, true);
      return isFailMode(after)
        ? after
        : { changes: [[nodes[target] as NodeState, after] as const], instance: placed };
    };
    if (!placeBest(nodes, members(), escapeNodes, recreate)) return false;
  }
  return true;
}

/** Applies the lowest-score placement among the targets to `nodes`; false if none fits. */
function placeBest(
  nodes: NodeState[],
  members: readonly NodeState[],
  targets: readonly number[],
  place: (target: number) => { changes: readonly (readonly [NodeState, NodeState])[] } | string,
): boolean {
  const acc = new ScoreAccumulator(members);
  let best: { changes: readonly (readonly [NodeState, NodeState])[]; score: number } | null = null;
  for (const target of targets) {
    const result = place(target);
    if (typeof result === 'string') continue;
    const score = acc.trial(result.changes);
    if (best === null || score < best.score) best = { changes: result.changes, score };
  }
  if (best === null) return false;
  for (const [, after] of best.changes) nodes[after.idx] = after;
  return true;
}
