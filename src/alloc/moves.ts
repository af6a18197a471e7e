import { diskTemplateTraits } from '../cluster/disk-templates.js';
import {
  addPrimary,
  addSecondary,
  type FailMode,
  type InstState,
  isFailMode,
  migrationAllowed,
  type NodeState,
  noNode,
  removePrimary,
  removeSecondary,
  sharedLocations,
} from './state.js';

/**
 * The instance moves htools knows, and their effect on the nodes. `f` is a failover (or a live
 * migration), `r:n` replaces the secondary with node n; the combined moves chain the two.
 */
export type Move =
  | { readonly kind: 'failover' }
  | { readonly kind: 'failover-to-any'; readonly node: number }
  | { readonly kind: 'replace-primary'; readonly node: number }
  | { readonly kind: 'replace-secondary'; readonly node: number }
  | { readonly kind: 'replace-and-failover'; readonly node: number }
  | { readonly kind: 'failover-and-replace'; readonly node: number };

export interface MoveResult {
  /** Every node the move touches, before and after. */
  readonly changes: readonly (readonly [NodeState, NodeState])[];
  readonly instance: InstState;
}

const node = (nodes: readonly NodeState[], idx: number): NodeState => {
  const found = nodes[idx];
  if (found === undefined) throw new RangeError(`no node at index ${idx}`);
  return found;
};

function withNodes(
  i: InstState,
  pNode: number,
  sNode: number,
  p: NodeState,
  s: NodeState | undefined,
): InstState {
  return { ...i, pNode, sNode, locationScore: s === undefined ? 0 : sharedLocations(p, s) };
}

/** Applies a move to the nodes it touches; `force` ignores the soft checks (htools' -S/--ignore-soft-errors). */
export function applyMove(
  nodes: readonly NodeState[],
  inst: InstState,
  move: Move,
  force: boolean,
): MoveResult | FailMode {
  const oldP = node(nodes, inst.pNode);
  switch (move.kind) {
    case 'failover': {
      const oldS = node(nodes, inst.sNode);
      if (!migrationAllowed(oldP, oldS)) return 'FailMig';
      const intP = removePrimary(oldP, inst);
      const intS = removeSecondary(oldS, inst);
      const moved = withNodes(inst, inst.sNode, inst.pNode, oldS, oldP);
      const newP = addPrimary(intS, moved, oldP.offline || force);
      if (isFailMode(newP)) return newP;
      const newS = addSecondary(intP, moved, inst.sNode, oldP.offline || force, oldP.offline);
      if (isFailMode(newS)) return newS;
      return {
        changes: [
          [oldP, newS],
          [oldS, newP],
        ],
        instance: moved,
      };
    }
    case 'failover-to-any': {
      const target = node(nodes, move.node);
      if (!migrationAllowed(oldP, target)) return 'FailMig';
      const moved = { ...inst, pNode: move.node };
      const newP = addPrimary(target, moved, oldP.offline || force);
      if (isFailMode(newP)) return newP;
      return {
        changes: [
          [oldP, removePrimary(oldP, inst)],
          [target, newP],
        ],
        instance: moved,
      };
    }
    case 'replace-primary': {
      const oldS = node(nodes, inst.sNode);
      const target = node(nodes, move.node);
      const intP = removePrimary(oldP, inst);
      const intS = removeSecondary(oldS, inst);
      const moved = withNodes(inst, move.node, inst.sNode, target, intS);
      const forceP = oldP.offline || force;
      if (!migrationAllowed(oldP, oldS) || !migrationAllowed(oldS, target)) return 'FailMig';
      // The secondary must be able to run the instance while the new primary is built.
      const tmpS = addPrimary(intS, moved, forceP);
      if (isFailMode(tmpS)) return tmpS;
      const newP = addPrimary(target, moved, forceP);
      if (isFailMode(newP)) return newP;
      const newS = addSecondary(removePrimary(tmpS, moved), moved, move.node, forceP);
      if (isFailMode(newS)) return newS;
      return {
        changes: [
          [oldP, intP],
          [oldS, newS],
          [target, newP],
        ],
        instance: moved,
      };
    }
    case 'replace-secondary': {
      const oldS = node(nodes, inst.sNode);
      const target = node(nodes, move.node);
      const moved = withNodes(inst, inst.pNode, move.node, oldP, target);
      const newS = addSecondary(target, moved, inst.pNode, oldS.offline || force);
      if (isFailMode(newS)) return newS;
      // Re-adding the primary only refreshes its location score.
      const newP = addPrimary(removePrimary(oldP, inst), moved, true);
      if (isFailMode(newP)) return newP;
      return {
        changes: [
          [oldP, newP],
          [oldS, removeSecondary(oldS, inst)],
          [target, newS],
        ],
        instance: moved,
      };
    }
    case 'replace-and-failover': {
      const oldS = node(nodes, inst.sNode);
      const target = node(nodes, move.node);
      const intP = removePrimary(oldP, inst);
      const moved = withNodes(inst, move.node, inst.pNode, target, intP);
      if (!migrationAllowed(oldP, target)) return 'FailMig';
      const newP = addPrimary(target, moved, force);
      if (isFailMode(newP)) return newP;
      const newS = addSecondary(intP, moved, move.node, oldS.offline || force);
      if (isFailMode(newS)) return newS;
      return {
        changes: [
          [oldP, newS],
          [oldS, removeSecondary(oldS, inst)],
          [target, newP],
        ],
        instance: moved,
      };
    }
    case 'failover-and-replace': {
      const oldS = node(nodes, inst.sNode);
      const target = node(nodes, move.node);
      const intS = removeSecondary(oldS, inst);
      const moved = withNodes(inst, inst.sNode, move.node, intS, target);
      const forceP = oldP.offline || force;
      if (!migrationAllowed(oldP, oldS)) return 'FailMig';
      const newP = addPrimary(intS, moved, forceP);
      if (isFailMode(newP)) return newP;
      const newS = addSecondary(target, moved, inst.sNode, forceP);
      if (isFailMode(newS)) return newS;
      return {
        changes: [
          [oldP, removePrimary(oldP, inst)],
          [oldS, newP],
          [target, newS],
        ],
        instance: moved,
      };
    }
  }
}

/** The moves worth trying to bring an instance to a target node, as htools' possibleMoves. */
export function possibleMoves(
  inst: InstState,
  target: number,
  opts: {
    readonly secondaryUsable: boolean;
    readonly instanceMoves: boolean;
    readonly diskMoves: boolean;
    readonly restrictedMigration: boolean;
    readonly primaryOffline: boolean;
  },
): Move[] {
  const { mirror } = diskTemplateTraits[inst.template];
  if (inst.sNode === noNode && mirror === 'internal') return [];
  switch (mirror) {
    case 'internal': {
      if (!opts.diskMoves) return [];
      if (!opts.instanceMoves) return [{ kind: 'replace-secondary', node: target }];
      if (opts.restrictedMigration && !opts.primaryOffline)
        return [{ kind: 'replace-secondary', node: target }];
      if (!opts.secondaryUsable) {
        return [
          { kind: 'replace-secondary', node: target },
          { kind: 'replace-and-failover', node: target },
        ];
      }
      const moves: Move[] = [
        { kind: 'replace-secondary', node: target },
        { kind: 'replace-and-failover', node: target },
      ];
      if (!opts.restrictedMigration) moves.push({ kind: 'replace-primary', node: target });
      moves.push({ kind: 'failover-and-replace', node: target });
      return moves;
    }
    case 'none':
      return [];
    case 'external':
      return opts.instanceMoves ? [{ kind: 'failover-to-any', node: target }] : [];
  }
}

/** hbal's short notation: `f`, `r:node`, `f r:node`, `r:node f`, `f r:node f`, `fa:node`. */
export function moveNotation(move: Move, names: (idx: number) => string): string {
  switch (move.kind) {
    case 'failover':
      return 'f';
    case 'failover-to-any':
      return `fa:${names(move.node)}`;
    case 'replace-primary':
      return `f r:${names(move.node)} f`;
    case 'replace-secondary':
      return `r:${names(move.node)}`;
    case 'replace-and-failover':
      return `r:${names(move.node)} f`;
    case 'failover-and-replace':
      return `f r:${names(move.node)}`;
  }
}
