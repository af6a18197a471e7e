import { optimalScore, ScoreAccumulator, scoreBreakdown } from './metrics.js';
import { applyMove, type Move, type MoveResult, possibleMoves } from './moves.js';
import { type ClusterState, hasSecondary, type InstState, isFailMode, type NodeState } from './state.js';

/**
 * Rebalancing in hbal's manner: repeatedly take the instance move that lowers the cluster score
 * most, until no move gains enough. On large groups the search looks at the nodes that pull the
 * score up most and applies several independent moves per round; small groups get hbal's full
 * search, one move at a time.
 */

export interface BalanceOptions {
  /** Stop after this many moves; negative means no limit (hbal -l). */
  readonly maxLength: number;
  /** hbal -g: below --min-gain-limit, stop when a move gains less than this. */
  readonly minGain: number;
  readonly minGainLimit: number;
  /** hbal -e: stop once within this of the optimum N+1 allows. */
  readonly minScore: number;
  /** Only move instances touching offline or drained nodes (hbal --evac-mode). */
  readonly evacMode: boolean;
  /** hbal --no-disk-moves clears this. */
  readonly diskMoves: boolean;
  /** hbal --no-instance-moves clears this. */
  readonly instanceMoves: boolean;
  readonly ignoreSoftErrors: boolean;
  readonly restrictedMigration: boolean;
  /**
   * Asked between rounds; true ends the search with the moves found so far. Lets a caller
   * bound the time spent on very large groups without the search reading a clock itself.
   */
  readonly shouldStop?: () => boolean;
}

export const defaultBalanceOptions: BalanceOptions = {
  maxLength: -1,
  minGain: 0.01,
  minGainLimit: 0.1,
  minScore: 1e-9,
  evacMode: false,
  diskMoves: true,
  instanceMoves: true,
  ignoreSoftErrors: false,
  restrictedMigration: false,
};

export interface BalanceStep {
  readonly instance: number;
  readonly move: Move;
  readonly from: { readonly primary: number; readonly secondary: number };
  readonly to: { readonly primary: number; readonly secondary: number };
  /** The cluster score after this step. */
  readonly score: number;
}

export interface BalanceResult {
  readonly initialScore: number;
  readonly finalScore: number;
  readonly steps: readonly BalanceStep[];
  readonly final: ClusterState;
}

interface Candidate {
  readonly inst: InstState;
  readonly move: Move;
  readonly result: MoveResult;
  readonly score: number;
}

interface Ranked {
  readonly instance: number;
  readonly move: Move;
  readonly score: number;
  readonly touched: readonly number[];
}

function ranking(best: Candidate | null): Ranked | null {
  if (best === null) return null;
  return {
    instance: best.inst.idx,
    move: best.move,
    score: best.score,
    touched: best.result.changes.map(([before]) => before.idx),
  };
}

/** Groups bigger than this many node×instance pairs get the pruned search. */
const fullSearchBudget = 20_000;
/**
 * How many nodes the pruned search takes from each end of the pressure ranking: it starts
 * narrow and widens when a round finds nothing, up to the widest width.
 */
const narrowWidth = 8;
const widestWidth = 64;

export function balanceGroup(
  state: ClusterState,
  groupNodes: readonly number[],
  options: BalanceOptions = defaultBalanceOptions,
): BalanceResult {
  const nodes = [...state.nodes];
  const instances = [...state.instances];
  const inGroup = new Set(groupNodes);
  const groupList = () => groupNodes.map((i) => nodes[i] as NodeState);
  const acc = new ScoreAccumulator(groupList());
  const initialScore = scoreBreakdown(groupList()).score;
  const stopAt = optimalScore(groupList()) + options.minScore;
  const online = groupNodes.filter((i) => !(nodes[i] as NodeState).offline);
  const offline = new Set(groupNodes.filter((i) => (nodes[i] as NodeState).offline));
  const steps: BalanceStep[] = [];
  let current = initialScore;

  const movable = (inst: InstState): boolean =>
    inst.movable &&
    inst.autoBalance &&
    inGroup.has(inst.pNode) &&
    (!options.evacMode || offline.has(inst.pNode) || offline.has(inst.sNode));
  const victims = (): InstState[] => instances.filter(movable);
  const full = victims().length * online.length <= fullSearchBudget;

  const evaluate = (inst: InstState, move: Move): Candidate | null => {
    const result = applyMove(nodes, inst, move, options.ignoreSoftErrors);
    if (isFailMode(result)) return null;
    return { inst, move, result, score: acc.trial(result.changes) };
  };

  /** The instance's best move to any of the targets (failover included), or null. */
  const bestMove = (inst: InstState, targets: readonly number[]): Candidate | null => {
    let best: Candidate | null = null;
    const consider = (c: Candidate | null): void => {
      if (c !== null && (best === null || c.score < best.score)) best = c;
    };
    const secondaryUsable = inGroup.has(inst.sNode) && online.includes(inst.sNode) && options.instanceMoves;
    if (hasSecondary(inst) && secondaryUsable) {
      consider(evaluate(inst, { kind: 'failover' }));
    }
    const primaryOffline = (nodes[inst.pNode] as NodeState).offline;
    for (const target of targets) {
      if (target === inst.pNode || target === inst.sNode) continue;
      const moves = possibleMoves(inst, target, {
        secondaryUsable,
        instanceMoves: options.instanceMoves,
        diskMoves: options.diskMoves,
        restrictedMigration: options.restrictedMigration,
        primaryOffline,
      });
      for (const move of moves) consider(evaluate(inst, move));
    }
    return best;
  };

  const accepts = (before: number, after: number): boolean =>
    after < before && (before > options.minGainLimit || before - after >= options.minGain);

  const commit = (c: Candidate): void => {
    acc.replace(c.result.changes);
    for (const [, after] of c.result.changes) nodes[after.idx] = after;
    instances[c.inst.idx] = c.result.instance;
    current = acc.score();
    steps.push({
      instance: c.inst.idx,
      move: c.move,
      from: { primary: c.inst.pNode, secondary: c.inst.sNode },
      to: { primary: c.result.instance.pNode, secondary: c.result.instance.sNode },
      score: current,
    });
  };

  const canContinue = (): boolean =>
    (options.maxLength < 0 || steps.length < options.maxLength) &&
    current > stopAt &&
    !(options.shouldStop?.() ?? false);

  let width = narrowWidth;
  while (canContinue()) {
    if (full) {
      let best: Candidate | null = null;
      for (const inst of victims()) {
        const c = bestMove(inst, online);
        if (c !== null && (best === null || c.score < best.score)) best = c;
      }
      if (best === null || !accepts(current, best.score)) break;
      commit(best);
      continue;
    }
    const { sources, targets } = pressureEnds(nodes, online, acc, width);
    const sourceSet = new Set(sources);
    const pool = victims().filter(
      (i) => sourceSet.has(i.pNode) || sourceSet.has(i.sNode) || offline.has(i.pNode) || offline.has(i.sNode),
    );
    // Keep only each instance's best move: holding every trial's nodes would swamp the heap.
    const ranked = pool
      .map((inst) => ranking(bestMove(inst, targets)))
      .filter((c): c is Ranked => c !== null)
      .sort((a, b) => a.score - b.score);
    const used = new Set<number>();
    let applied = 0;
    for (const c of ranked) {
      if (!canContinue()) break;
      if (c.touched.some((i) => used.has(i))) continue;
      // Earlier moves of this round changed the totals: re-check the gain on the current state.
      const fresh = evaluate(instances[c.instance] as InstState, c.move);
      if (fresh === null || !accepts(current, fresh.score)) continue;
      commit(fresh);
      for (const i of c.touched) used.add(i);
      applied++;
    }
    if (applied === 0) {
      if (width >= Math.min(widestWidth, Math.ceil(online.length / 2))) break;
      width *= 2;
      continue;
    }
    width = Math.max(narrowWidth, width / 2);
    // Shed the drift of the running sums.
    acc.rebuild(groupList());
    current = acc.score();
  }

  const final: ClusterState = { ...state, nodes, instances };
  return { initialScore, finalScore: scoreBreakdown(groupList()).score, steps, final };
}

/**
 * The nodes whose values sit furthest above the mean (sources) and below it (targets), weighted
 * as the score weighs them: moving load from the former to the latter lowers the spread most.
 */
function pressureEnds(
  nodes: readonly NodeState[],
  online: readonly number[],
  acc: ScoreAccumulator,
  wanted: number,
): { sources: number[]; targets: number[] } {
  const pressure = online.map((i) => ({ idx: i, value: acc.pressure(nodes[i] as NodeState) }));
  pressure.sort((a, b) => b.value - a.value);
  const width = Math.min(wanted, Math.ceil(online.length / 2));
  return {
    sources: pressure.slice(0, width).map((p) => p.idx),
    targets: pressure.slice(-width).map((p) => p.idx),
  };
}
