import { type ScoreAccumulator, TrialPrefix } from './metrics.js';
import { type Move, type MoveWork, simulateMove } from './moves.js';
import {
  addPrimaryIn,
  addSecondaryIn,
  cloneNode,
  copyNode,
  type InstState,
  isFailMode,
  migrationAllowed,
  type NodeDraft,
  type NodeState,
  removePrimaryIn,
  removeSecondaryIn,
  sharedLocations,
} from './state.js';

/**
 * Scoring a move without building it: the move runs on reused node copies and one reused instance, so that
 * the search's thousands of trials per round make no node (the clones were half of a large group's time, in
 * the garbage collector). The score is the one applyMove's nodes give, bit for bit: the same operations run
 * in the same order, only on other objects (test/alloc/move-trial.test.ts compares them on every move of
 * htools' test clusters).
 */

type InstDraft = { -readonly [K in keyof InstState]: InstState[K] };

/** The moves that change both of the instance's nodes, in ways that depend little on the target (see scoreTargets). */
export type SharedSourceKind = Exclude<Move['kind'], 'failover' | 'failover-to-any'>;

export function sharesSources(kind: Move['kind']): kind is SharedSourceKind {
  return kind !== 'failover' && kind !== 'failover-to-any';
}

export class MoveTrial implements MoveWork {
  private readonly drafts: NodeDraft[] = [];
  private drafted = 0;
  private placed: InstDraft | undefined;
  private placedFrom: InstState | undefined;
  private readonly before: NodeState[] = [];
  private readonly after: NodeState[] = [];
  private touched = 0;
  /** The part of a move that every target shares: its nodes (primary, secondary) and its sums. */
  private readonly sharedDrafts: NodeDraft[] = [];
  private readonly shared = new TrialPrefix();

  /** The score the move would leave, or null when the move is refused. */
  score(
    nodes: readonly NodeState[],
    inst: InstState,
    move: Move,
    force: boolean,
    acc: ScoreAccumulator,
  ): number | null {
    this.drafted = 0;
    this.touched = 0;
    const moved = simulateMove(nodes, inst, move, force, this);
    return isFailMode(moved) ? null : acc.trialOf(this.before, this.after, this.touched);
  }

  /**
   * score() of one kind of move to each of the targets, into `out` in the targets' order. These moves change
   * the instance's own nodes in a way that depends on the target only through the failure domains they
   * share (which are compared): that part of the move, and of its score where it comes first, is done once
   * per instance, and each target adds only what depends on it. The targets must be neither of the
   * instance's nodes.
   */
  scoreTargets(
    nodes: readonly NodeState[],
    inst: InstState,
    kind: SharedSourceKind,
    targets: readonly number[],
    force: boolean,
    acc: ScoreAccumulator,
    out: (number | null)[],
  ): void {
    const oldP = nodes[inst.pNode] as NodeState;
    const oldS = nodes[inst.sNode] as NodeState;
    // Those that start with a failover need a migration between the instance's nodes.
    if ((kind === 'replace-primary' || kind === 'failover-and-replace') && !migrationAllowed(oldP, oldS)) {
      for (const _ of targets) out.push(null);
      return;
    }
    // The force the move's checks run with on the instance's new nodes, as simulateMove gives it.
    const forced =
      (kind === 'replace-secondary' || kind === 'replace-and-failover' ? oldS.offline : oldP.offline) ||
      force;
    if (kind === 'replace-primary') this.sharePrimaryRemoval(oldP, inst, acc);
    let sharedFor = Number.NaN;
    let refused = false;
    for (const node of targets) {
      const target = nodes[node] as NodeState;
      const moved = this.placeOn(kind, inst, node, oldP, oldS, target);
      if (moved.locationScore !== sharedFor) {
        refused = this.shareSources(kind, oldP, oldS, inst, moved, forced, acc);
        sharedFor = moved.locationScore;
      }
      const score = refused
        ? null
        : this.targetPart(kind, oldP, oldS, target, node, inst, moved, force, forced, acc);
      // Not scored: the move touches exclusion tags in failure domains, whose term needs all its changes.
      out.push(score === undefined ? this.score(nodes, inst, { kind, node }, force, acc) : score);
    }
  }

  /** The instance on its new nodes, as simulateMove places it. */
  private placeOn(
    kind: SharedSourceKind,
    inst: InstState,
    node: number,
    oldP: NodeState,
    oldS: NodeState,
    target: NodeState,
  ): InstState {
    switch (kind) {
      case 'replace-primary':
        return this.place(inst, node, inst.sNode, sharedLocations(target, oldS));
      case 'replace-secondary':
        return this.place(inst, inst.pNode, node, sharedLocations(oldP, target));
      case 'failover-and-replace':
        return this.place(inst, inst.sNode, node, sharedLocations(oldS, target));
      case 'replace-and-failover':
        return this.place(inst, node, inst.pNode, sharedLocations(target, oldP));
    }
  }

  /** replace-primary's first change, the primary's removal, which no target changes. */
  private sharePrimaryRemoval(oldP: NodeState, inst: InstState, acc: ScoreAccumulator): void {
    this.before[0] = oldP;
    this.after[0] = removePrimaryIn(this.sharedDraft(0, oldP), inst);
    acc.prefix(this.before, this.after, 1, this.shared);
  }

  /**
   * The instance's own nodes after the move, for one failure domain score: kept in the shared drafts and,
   * where they come first in the score (replace-secondary, failover-and-replace), added up in `shared`.
   * True when they refuse the move.
   */
  private shareSources(
    kind: SharedSourceKind,
    oldP: NodeState,
    oldS: NodeState,
    inst: InstState,
    moved: InstState,
    forced: boolean,
    acc: ScoreAccumulator,
  ): boolean {
    const secondary = removeSecondaryIn(this.sharedDraft(1, oldS), inst);
    switch (kind) {
      case 'replace-primary': {
        // The secondary runs the instance while the new primary is built, then is its secondary again.
        const running = addPrimaryIn(secondary, moved, forced);
        if (isFailMode(running)) return true;
        removePrimaryIn(running, moved);
        return false;
      }
      case 'replace-secondary': {
        // Re-adding the primary only refreshes its location score.
        const primary = addPrimaryIn(removePrimaryIn(this.sharedDraft(0, oldP), inst), moved, true);
        if (isFailMode(primary)) return true;
        this.sharePair(oldP, primary, oldS, secondary, acc);
        return false;
      }
      case 'failover-and-replace': {
        const primary = addPrimaryIn(secondary, moved, forced);
        if (isFailMode(primary)) return true;
        this.sharePair(oldP, removePrimaryIn(this.sharedDraft(0, oldP), inst), oldS, primary, acc);
        return false;
      }
      case 'replace-and-failover':
        // The old primary, before it takes the secondary; the old secondary as it is left.
        removePrimaryIn(this.sharedDraft(0, oldP), inst);
        return false;
    }
  }

  private sharePair(
    oldP: NodeState,
    newP: NodeState,
    oldS: NodeState,
    newS: NodeState,
    acc: ScoreAccumulator,
  ) {
    this.before[0] = oldP;
    this.after[0] = newP;
    this.before[1] = oldS;
    this.after[1] = newS;
    acc.prefix(this.before, this.after, 2, this.shared);
  }

  /**
   * The rest of the move, on the target (and what of the instance's nodes depends on the target), scored
   * after the shared part: null when refused, undefined when it cannot be scored so.
   */
  private targetPart(
    kind: SharedSourceKind,
    oldP: NodeState,
    oldS: NodeState,
    target: NodeState,
    node: number,
    inst: InstState,
    moved: InstState,
    force: boolean,
    forced: boolean,
    acc: ScoreAccumulator,
  ): number | null | undefined {
    this.drafted = 0;
    switch (kind) {
      case 'replace-primary': {
        if (!migrationAllowed(oldS, target)) return null;
        const newP = addPrimaryIn(this.copy(target), moved, forced);
        if (isFailMode(newP)) return null;
        const newS = addSecondaryIn(this.copy(this.sharedDrafts[1] as NodeDraft), moved, node, forced);
        if (isFailMode(newS)) return null;
        this.before[0] = oldS;
        this.after[0] = newS;
        this.before[1] = target;
        this.after[1] = newP;
        return acc.trialAfter(this.shared, this.before, this.after, 2) ?? undefined;
      }
      case 'replace-and-failover': {
        if (!migrationAllowed(oldP, target)) return null;
        const newP = addPrimaryIn(this.copy(target), moved, force);
        if (isFailMode(newP)) return null;
        const newS = addSecondaryIn(this.copy(this.sharedDrafts[0] as NodeDraft), moved, node, forced);
        if (isFailMode(newS)) return null;
        // Its first change depends on the target: no shared sums, all three changes here.
        this.before[0] = oldP;
        this.after[0] = newS;
        this.before[1] = oldS;
        this.after[1] = this.sharedDrafts[1] as NodeDraft;
        this.before[2] = target;
        this.after[2] = newP;
        return acc.trialOf(this.before, this.after, 3);
      }
      default: {
        const primary = kind === 'replace-secondary' ? inst.pNode : inst.sNode;
        const newS = addSecondaryIn(this.copy(target), moved, primary, forced);
        if (isFailMode(newS)) return null;
        this.before[0] = target;
        this.after[0] = newS;
        return acc.trialAfter(this.shared, this.before, this.after, 1) ?? undefined;
      }
    }
  }

  /** Shared draft `k`, made a copy of `n`. */
  private sharedDraft(k: number, n: NodeState): NodeDraft {
    const draft = this.sharedDrafts[k];
    if (draft !== undefined) return copyNode(draft, n);
    const fresh = cloneNode(n);
    this.sharedDrafts[k] = fresh;
    return fresh;
  }

  /** The nodes the last successful score() touched, as applyMove lists them. */
  touchedNodes(): number[] {
    return this.before.slice(0, this.touched).map((n) => n.idx);
  }

  copy(n: NodeState): NodeState {
    const draft = this.drafts[this.drafted];
    this.drafted++;
    if (draft !== undefined) return copyNode(draft, n);
    const fresh = cloneNode(n);
    this.drafts.push(fresh);
    return fresh;
  }

  place(inst: InstState, pNode: number, sNode: number, locationScore: number): InstState {
    // One copy per instance tried: its moves differ only in these three fields.
    if (this.placedFrom !== inst || this.placed === undefined) {
      this.placed = { ...inst };
      this.placedFrom = inst;
    }
    this.placed.pNode = pNode;
    this.placed.sNode = sNode;
    this.placed.locationScore = locationScore;
    return this.placed;
  }

  changed(before: NodeState, after: NodeState): void {
    this.before[this.touched] = before;
    this.after[this.touched] = after;
    this.touched++;
  }
}
