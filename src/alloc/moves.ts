import { diskTemplateTraits } from '../cluster/disk-templates.js';
import {
  addPrimaryIn,
  addSecondaryIn,
  cloneNode,
  type FailMode,
  type InstState,
  isFailMode,
  migrationAllowed,
  type NodeState,
  noNode,
  removePrimaryIn,
  removeSecondaryIn,
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

/** The moves that name a target node: all but the failover. */
export type TargetedMove = Exclude<Move, { readonly kind: 'failover' }>;

export interface MoveResult {
  /** Every node the move touches, before and after. */
  readonly changes: readonly (readonly [NodeState, NodeState])[];
  readonly instance: InstState;
}

/**
 * Where a simulated move gets its node copies and its moved instance, and where it leaves the touched nodes:
 * fresh objects for a result that is kept (applyMove), reused ones for a trial that is only scored.
 */
export interface MoveWork {
  /** A copy of `n` that the move may change in place. */
  copy(n: NodeState): NodeState;
  /** The instance on its new nodes, sharing `locationScore` failure domains between them. */
  place(inst: InstState, pNode: number, sNode: number, locationScore: number): InstState;
  /** A touched node, before and after, in the order the score adds them up. */
  changed(before: NodeState, after: NodeState): void;
}

const node = (nodes: readonly NodeState[], idx: number): NodeState => {
  const found = nodes[idx];
  if (found === undefined) throw new RangeError(`no node at index ${idx}`);
  return found;
};

/** Applies a move to the nodes it touches; `force` ignores the soft checks (htools' -S/--ignore-soft-errors). */
export function applyMove(
  nodes: readonly NodeState[],
  inst: InstState,
  move: Move,
  force: boolean,
): MoveResult | FailMode {
  const changes: (readonly [NodeState, NodeState])[] = [];
  const work: MoveWork = {
    copy: cloneNode,
    place: (i, pNode, sNode, locationScore) => ({ ...i, pNode, sNode, locationScore }),
    changed: (before, after) => {
      changes.push([before, after]);
    },
  };
  const instance = simulateMove(nodes, inst, move, force, work);
  return isFailMode(instance) ? instance : { changes, instance };
}

/**
 * A move as htools makes it, on copies of the nodes it touches, one copy per node: the moved instance, or why
 * the move is refused. The touched nodes go to `work` only once the move is known to succeed.
 */
export function simulateMove(
  nodes: readonly NodeState[],
  inst: InstState,
  move: Move,
  force: boolean,
  work: MoveWork,
): InstState | FailMode {
  const oldP = node(nodes, inst.pNode);
  switch (move.kind) {
    case 'failover': {
      const oldS = node(nodes, inst.sNode);
      if (!migrationAllowed(oldP, oldS)) return 'FailMig';
      const moved = work.place(inst, inst.sNode, inst.pNode, sharedLocations(oldS, oldP));
      const intP = removePrimaryIn(work.copy(oldP), inst);
      const newP = addPrimaryIn(removeSecondaryIn(work.copy(oldS), inst), moved, oldP.offline || force);
      if (isFailMode(newP)) return newP;
      const newS = addSecondaryIn(intP, moved, inst.sNode, oldP.offline || force, oldP.offline);
      if (isFailMode(newS)) return newS;
      work.changed(oldP, newS);
      work.changed(oldS, newP);
      return moved;
    }
    case 'failover-to-any': {
      const target = node(nodes, move.node);
      if (!migrationAllowed(oldP, target)) return 'FailMig';
      const moved = work.place(inst, move.node, inst.sNode, inst.locationScore);
      const newP = addPrimaryIn(work.copy(target), moved, oldP.offline || force);
      if (isFailMode(newP)) return newP;
      work.changed(oldP, removePrimaryIn(work.copy(oldP), inst));
      work.changed(target, newP);
      return moved;
    }
    case 'replace-primary': {
      const oldS = node(nodes, inst.sNode);
      const target = node(nodes, move.node);
      const moved = work.place(inst, move.node, inst.sNode, sharedLocations(target, oldS));
      const forceP = oldP.offline || force;
      if (!migrationAllowed(oldP, oldS) || !migrationAllowed(oldS, target)) return 'FailMig';
      // The secondary must be able to run the instance while the new primary is built.
      const tmpS = addPrimaryIn(removeSecondaryIn(work.copy(oldS), inst), moved, forceP);
      if (isFailMode(tmpS)) return tmpS;
      const newP = addPrimaryIn(work.copy(target), moved, forceP);
      if (isFailMode(newP)) return newP;
      const newS = addSecondaryIn(removePrimaryIn(tmpS, moved), moved, move.node, forceP);
      if (isFailMode(newS)) return newS;
      work.changed(oldP, removePrimaryIn(work.copy(oldP), inst));
      work.changed(oldS, newS);
      work.changed(target, newP);
      return moved;
    }
    case 'replace-secondary': {
      const oldS = node(nodes, inst.sNode);
      const target = node(nodes, move.node);
      const moved = work.place(inst, inst.pNode, move.node, sharedLocations(oldP, target));
      const newS = addSecondaryIn(work.copy(target), moved, inst.pNode, oldS.offline || force);
      if (isFailMode(newS)) return newS;
      // Re-adding the primary only refreshes its location score.
      const newP = addPrimaryIn(removePrimaryIn(work.copy(oldP), inst), moved, true);
      if (isFailMode(newP)) return newP;
      work.changed(oldP, newP);
      work.changed(oldS, removeSecondaryIn(work.copy(oldS), inst));
      work.changed(target, newS);
      return moved;
    }
    case 'replace-and-failover': {
      const oldS = node(nodes, inst.sNode);
      const target = node(nodes, move.node);
      const moved = work.place(inst, move.node, inst.pNode, sharedLocations(target, oldP));
      if (!migrationAllowed(oldP, target)) return 'FailMig';
      const newP = addPrimaryIn(work.copy(target), moved, force);
      if (isFailMode(newP)) return newP;
      const intP = removePrimaryIn(work.copy(oldP), inst);
      const newS = addSecondaryIn(intP, moved, move.node, oldS.offline || force);
      if (isFailMode(newS)) return newS;
      work.changed(oldP, newS);
      work.changed(oldS, removeSecondaryIn(work.copy(oldS), inst));
      work.changed(target, newP);
      return moved;
    }
    case 'failover-and-replace': {
      const oldS = node(nodes, inst.sNode);
      const target = node(nodes, move.node);
      const moved = work.place(inst, inst.sNode, move.node, sharedLocations(oldS, target));
      const forceP = oldP.offline || force;
      if (!migrationAllowed(oldP, oldS)) return 'FailMig';
      const newP = addPrimaryIn(removeSecondaryIn(work.copy(oldS), inst), moved, forceP);
      if (isFailMode(newP)) return newP;
      const newS = addSecondaryIn(work.copy(target), moved, inst.sNode, forceP);
      if (isFailMode(newS)) return newS;
      work.changed(oldP, removePrimaryIn(work.copy(oldP), inst));
      work.changed(oldS, newP);
      work.changed(target, newS);
      return moved;
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
): TargetedMove[] {
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
      const moves: TargetedMove[] = [
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
