import { diskTemplateTraits } from '../cluster/disk-templates.js';
import { htoolsScore } from './metrics.js';
import { applyMove } from './moves.js';
import { checkPolicy } from './policy.js';
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
 * Choices among targets follow htools (GlobalN1.hs) exactly, ties going to the later node.
 */

/** Instances that can restart on any node of the group. */
const sharedStorage = (i: InstState): boolean => diskTemplateTraits[i.template].sharedStorage;

type Changes = readonly (readonly [NodeState, NodeState])[];

/**
 * Whether every node could be evacuated; with `group`, only that group's nodes are checked and
 * re-creations are judged on that group alone (htools' redundantGrp), else on the whole cluster.
 */
export function redundant(state: ClusterState, group?: number): boolean {
  const inScope = (n: NodeState): boolean => group === undefined || n.group === group;
  return state.nodes.filter(inScope).every((n) => canEvacuateNode(state, n, inScope));
}

export function canEvacuateNode(
  state: ClusterState,
  node: NodeState,
  inScope: (n: NodeState) => boolean,
): boolean {
  const nodes = [...state.nodes];
  // htools walks a node's primaries newest first.
  const primaries = state.instances.filter((i) => i.pNode === node.idx && !i.forthcoming).reverse();
  for (const inst of primaries.filter(hasSecondary)) {
    const moved = applyMove(nodes, inst, { kind: 'failover' }, true);
    if (isFailMode(moved)) return false;
    for (const [, after] of moved.changes) nodes[after.idx] = after;
  }
  const escapeNodes = nodes.filter((n) => n.group === node.group && n.idx !== node.idx).map((n) => n.idx);
  const groupNodes = (all: readonly NodeState[]): NodeState[] => all.filter((n) => n.group === node.group);
  for (const inst of primaries.filter(sharedStorage)) {
    const move = (target: number) => applyMove(nodes, inst, { kind: 'failover-to-any', node: target }, true);
    if (!placeBest(nodes, escapeNodes, groupNodes, move)) return false;
  }
  const others = primaries
    .filter((i) => !hasSecondary(i) && !sharedStorage(i))
    .sort((a, b) => b.memoryMiB - a.memoryMiB);
  for (const inst of others) {
    const recreate = (target: number) => {
      const t = nodes[target] as NodeState;
      const placed: InstState = { ...inst, pNode: target, sNode: noNode };
      const refused = checkPolicy(inst, t.policy, t.exclusiveStorage);
      if (refused !== null) return refused;
      const after = addPrimary(t, placed, true);
      return isFailMode(after) ? after : { changes: [[t, after] as const], instance: placed };
    };
    if (!placeBest(nodes, escapeNodes, (all) => all.filter(inScope), recreate)) return false;
  }
  return true;
}

/**
 * Applies to `nodes` the placement among the targets with the lowest score of the nodes `scored`
 * picks (the later target on a tie); false if none fits.
 */
function placeBest(
  nodes: NodeState[],
  targets: readonly number[],
  scored: (all: readonly NodeState[]) => NodeState[],
  place: (target: number) => { changes: Changes } | string,
): boolean {
  let best: { changes: Changes; score: number } | null = null;
  for (const target of targets) {
    const result = place(target);
    if (typeof result === 'string') continue;
    const trial = [...nodes];
    for (const [, after] of result.changes) trial[after.idx] = after;
    const score = htoolsScore(scored(trial));
    if (best === null || score <= best.score) best = { changes: result.changes, score };
  }
  if (best === null) return false;
  for (const [, after] of best.changes) nodes[after.idx] = after;
  return true;
}
