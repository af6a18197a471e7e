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

/** An instance's best move in a round, as the ranking hands it back (plain data: it may cross threads). */
export interface Ranked {
  readonly instance: number;
  readonly move: Move;
  readonly score: number;
  readonly touched: readonly number[];
  /** Its instance's place in the round's pool: ties in score keep the pool's order. */
  readonly position: number;
}

/** One step of the search that changes its state, in order, so that another copy can replay it. */
export type SearchStep =
  | { readonly type: 'commit'; readonly instance: number; readonly move: Move }
  | { readonly type: 'rebuild' };

/** What a round asks to have ranked: each pool instance's best move to the targets. */
export interface RankRequest {
  /** The steps taken since the previous request. */
  readonly steps: readonly SearchStep[];
  readonly pool: readonly number[];
  readonly targets: readonly number[];
}

/** Groups bigger than this many node×instance pairs get the pruned search. */
const fullSearchBudget = 20_000;
/**
 * How many nodes the pruned search takes from each end of the pressure ranking: it starts
 * narrow and widens when a round finds nothing, up to the widest width.
 */
const narrowWidth = 8;
const widestWidth = 64;

/**
 * The search's working copy of a group: the nodes and instances as the moves so far leave them, and the
 * running score. The ranking threads each hold one and replay the main search's steps on it.
 */
export class BalanceSearch {
  readonly nodes: NodeState[];
  readonly instances: InstState[];
  readonly online: readonly number[];
  readonly offline: ReadonlySet<number>;
  private readonly inGroup: ReadonlySet<number>;
  private readonly acc: ScoreAccumulator;
  private score: number;
  private unsent: SearchStep[] = [];

  constructor(
    state: ClusterState,
    readonly groupNodes: readonly number[],
    private readonly options: BalanceOptions,
  ) {
    this.nodes = [...state.nodes];
    this.instances = [...state.instances];
    this.inGroup = new Set(groupNodes);
    this.acc = new ScoreAccumulator(this.groupList());
    // Computed from scratch, as reported: the running sums take over with the first move.
    this.score = scoreBreakdown(this.groupList()).score;
    this.online = groupNodes.filter((i) => !(this.nodes[i] as NodeState).offline);
    this.offline = new Set(groupNodes.filter((i) => (this.nodes[i] as NodeState).offline));
  }

  /** The group's score as the moves so far leave it. */
  get current(): number {
    return this.score;
  }

  groupList(): NodeState[] {
    return this.groupNodes.map((i) => this.nodes[i] as NodeState);
  }

  movable(inst: InstState): boolean {
    return (
      inst.movable &&
      inst.autoBalance &&
      this.inGroup.has(inst.pNode) &&
      (!this.options.evacMode || this.offline.has(inst.pNode) || this.offline.has(inst.sNode))
    );
  }

  evaluate(inst: InstState, move: Move): Candidate | null {
    const result = applyMove(this.nodes, inst, move, this.options.ignoreSoftErrors);
    if (isFailMode(result)) return null;
    return { inst, move, result, score: this.acc.trial(result.changes) };
  }

  /** The instance's best move to any of the targets (failover included), or null. */
  bestMove(inst: InstState, targets: readonly number[]): Candidate | null {
    const { options } = this;
    let best: Candidate | null = null;
    const consider = (c: Candidate | null): void => {
      if (c !== null && (best === null || c.score < best.score)) best = c;
    };
    const secondaryUsable =
      this.inGroup.has(inst.sNode) && this.online.includes(inst.sNode) && options.instanceMoves;
    if (hasSecondary(inst) && secondaryUsable) consider(this.evaluate(inst, { kind: 'failover' }));
    const primaryOffline = (this.nodes[inst.pNode] as NodeState).offline;
    for (const target of targets) {
      if (target === inst.pNode || target === inst.sNode) continue;
      const moves = possibleMoves(inst, target, {
        secondaryUsable,
        instanceMoves: options.instanceMoves,
        diskMoves: options.diskMoves,
        restrictedMigration: options.restrictedMigration,
        primaryOffline,
      });
      for (const move of moves) consider(this.evaluate(inst, move));
    }
    return best;
  }

  /** Each pool instance's best move to the targets, best first; ties keep the pool's order. */
  rank(pool: readonly number[], targets: readonly number[], positions?: readonly number[]): Ranked[] {
    const ranked: Ranked[] = [];
    pool.forEach((index, i) => {
      // Keep only each instance's best move: holding every trial's nodes would swamp the heap.
      const best = this.bestMove(this.instances[index] as InstState, targets);
      if (best === null) return;
      ranked.push({
        instance: index,
        move: best.move,
        score: best.score,
        touched: best.result.changes.map(([before]) => before.idx),
        position: positions?.[i] ?? i,
      });
    });
    return ranked.sort(byScore);
  }

  commit(c: Candidate): void {
    this.acc.replace(c.result.changes);
    for (const [, after] of c.result.changes) this.nodes[after.idx] = after;
    this.instances[c.inst.idx] = c.result.instance;
    this.score = this.acc.score();
    this.unsent.push({ type: 'commit', instance: c.inst.idx, move: c.move });
  }

  /** Sheds the drift of the running sums. */
  rebuild(): void {
    this.acc.rebuild(this.groupList());
    this.score = this.acc.score();
    this.unsent.push({ type: 'rebuild' });
  }

  /** The steps taken since the last call, for the copies to replay. */
  takeSteps(): SearchStep[] {
    const steps = this.unsent;
    this.unsent = [];
    return steps;
  }

  /** Replays another copy's steps on this one. */
  replay(steps: readonly SearchStep[]): void {
    for (const step of steps) {
      if (step.type === 'rebuild') {
        this.rebuild();
        continue;
      }
      const c = this.evaluate(this.instances[step.instance] as InstState, step.move);
      if (c === null) throw new RangeError(`replayed move of instance ${step.instance} fails here`);
      this.commit(c);
    }
    this.unsent = [];
  }

  /** How much each online node pushes the score up (see ScoreAccumulator.pressure). */
  pressure(idx: number): number {
    return this.acc.pressure(this.nodes[idx] as NodeState);
  }
}

/** Best first; ties keep the pool's order. */
export function byScore(a: Ranked, b: Ranked): number {
  return a.score - b.score || a.position - b.position;
}

/**
 * The search itself, as rounds: it yields what it needs ranked and is resumed with the ranking, so that the
 * same rounds run in this thread (balanceGroup) or with the ranking spread over worker threads.
 */
/** Below this, a difference between two scores is floating-point rounding (scores are printed to 1e-8). */
const ROUNDING_NOISE = 1e-10;

export function* balanceRounds(
  search: BalanceSearch,
  options: BalanceOptions,
): Generator<RankRequest, BalanceStep[], Ranked[]> {
  const { instances, online, offline } = search;
  const stopAt = optimalScore(search.groupList()) + options.minScore;
  const steps: BalanceStep[] = [];
  const victims = (): number[] => instances.filter((i) => search.movable(i)).map((i) => i.idx);
  const full = victims().length * online.length <= fullSearchBudget;
  const rank = (pool: readonly number[], targets: readonly number[]): RankRequest => ({
    steps: search.takeSteps(),
    pool,
    targets,
  });

  // A move between equivalent nodes leaves the score unchanged, but the running sums may put it a few ulps
  // lower: such a "gain" is rounding, and taking it would keep hbal moving instances for nothing.
  const accepts = (before: number, after: number): boolean =>
    after < before - ROUNDING_NOISE && (before > options.minGainLimit || before - after >= options.minGain);

  const commit = (c: Candidate): void => {
    search.commit(c);
    steps.push({
      instance: c.inst.idx,
      move: c.move,
      from: { primary: c.inst.pNode, secondary: c.inst.sNode },
      to: { primary: c.result.instance.pNode, secondary: c.result.instance.sNode },
      score: search.current,
    });
  };

  const canContinue = (): boolean =>
    (options.maxLength < 0 || steps.length < options.maxLength) &&
    search.current > stopAt &&
    !(options.shouldStop?.() ?? false);

  let width = narrowWidth;
  while (canContinue()) {
    if (full) {
      const best = (yield rank(victims(), online))[0];
      const c = best === undefined ? null : search.evaluate(instances[best.instance] as InstState, best.move);
      if (c === null || !accepts(search.current, c.score)) break;
      commit(c);
      continue;
    }
    const { sources, targets } = pressureEnds(search, width);
    const sourceSet = new Set(sources);
    const pool = victims().filter((idx) => {
      const i = instances[idx] as InstState;
      return sourceSet.has(i.pNode) || sourceSet.has(i.sNode) || offline.has(i.pNode) || offline.has(i.sNode);
    });
    const ranked = yield rank(pool, targets);
    const used = new Set<number>();
    let applied = 0;
    for (const c of ranked) {
      if (!canContinue()) break;
      if (c.touched.some((i) => used.has(i))) continue;
      // Earlier moves of this round changed the totals: re-check the gain on the current state.
      const fresh = search.evaluate(instances[c.instance] as InstState, c.move);
      if (fresh === null || !accepts(search.current, fresh.score)) continue;
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
    search.rebuild();
  }
  return steps;
}

/** Balances a group in this thread. */
export function balanceGroup(
  state: ClusterState,
  groupNodes: readonly number[],
  options: BalanceOptions = defaultBalanceOptions,
): BalanceResult {
  const search = new BalanceSearch(state, groupNodes, options);
  const initialScore = search.current;
  const rounds = balanceRounds(search, options);
  for (let next = rounds.next(); ; ) {
    if (next.done) return balanceResult(state, search, initialScore, next.value);
    const request = next.value;
    next = rounds.next(search.rank(request.pool, request.targets));
  }
}

export function balanceResult(
  state: ClusterState,
  search: BalanceSearch,
  initialScore: number,
  steps: readonly BalanceStep[],
): BalanceResult {
  const final: ClusterState = { ...state, nodes: search.nodes, instances: search.instances };
  return { initialScore, finalScore: scoreBreakdown(search.groupList()).score, steps, final };
}

/**
 * The nodes whose values sit furthest above the mean (sources) and below it (targets), weighted
 * as the score weighs them: moving load from the former to the latter lowers the spread most.
 */
function pressureEnds(search: BalanceSearch, wanted: number): { sources: number[]; targets: number[] } {
  const pressure = search.online.map((i) => ({ idx: i, value: search.pressure(i) }));
  pressure.sort((a, b) => b.value - a.value);
  const width = Math.min(wanted, Math.ceil(search.online.length / 2));
  return {
    sources: pressure.slice(0, width).map((p) => p.idx),
    targets: pressure.slice(-width).map((p) => p.idx),
  };
}
