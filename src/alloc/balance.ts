import { InstancesByNode } from './instances-by-node.js';
import { optimalScore, ScoreAccumulator, scoreBreakdown } from './metrics.js';
import { MoveTrial, sharesSources } from './move-trial.js';
import { applyMove, type Move, type MoveResult, possibleMoves, type TargetedMove } from './moves.js';
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

/** An instance's best move, as a trial found it: scored, not built. */
interface BestMove {
  readonly move: Move;
  readonly score: number;
  readonly touched: readonly number[];
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

/**
 * A round that only widens the one before (which moved nothing, so the state is the same): that round's
 * targets and each of its pool's instances' best move to them, null for none. An instance of that pool is
 * then tried only on the targets the wider round adds.
 */
export interface EarlierRound {
  readonly targets: readonly number[];
  readonly best: ReadonlyMap<number, Ranked | null>;
}

/** What a round asks to have ranked: each pool instance's best move to the targets. */
export interface RankRequest {
  /** The steps taken since the previous request. */
  readonly steps: readonly SearchStep[];
  readonly pool: readonly number[];
  readonly targets: readonly number[];
  readonly earlier?: EarlierRound;
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
  private readonly trial = new MoveTrial();
  private readonly byNode: InstancesByNode;
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
    this.byNode = new InstancesByNode(this.instances);
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

  /** The move applied to the nodes, with its score, or null when it is refused. */
  evaluate(inst: InstState, move: Move): Candidate | null {
    const result = applyMove(this.nodes, inst, move, this.options.ignoreSoftErrors);
    if (isFailMode(result)) return null;
    return { inst, move, result, score: this.acc.trial(result.changes) };
  }

  /** The score the move would leave (evaluate's, without building the move), or null when it is refused. */
  tryMove(inst: InstState, move: Move): number | null {
    return this.trial.score(this.nodes, inst, move, this.options.ignoreSoftErrors, this.acc);
  }

  /** The instance's best move to any of the targets (failover included), or null; ties keep the first. */
  bestMove(inst: InstState, targets: readonly number[]): BestMove | null {
    const { options } = this;
    const force = options.ignoreSoftErrors;
    let best: Move | null = null;
    let bestScore = 0;
    const secondaryUsable =
      this.inGroup.has(inst.sNode) && this.online.includes(inst.sNode) && options.instanceMoves;
    if (hasSecondary(inst) && secondaryUsable) {
      const failover: Move = { kind: 'failover' };
      const score = this.tryMove(inst, failover);
      if (score !== null) [best, bestScore] = [failover, score];
    }
    const eligible = targets.filter((target) => target !== inst.pNode && target !== inst.sNode);
    // The moves worth trying are the same for every target (possibleMoves looks at the instance only).
    const first = eligible[0];
    const kinds =
      first === undefined
        ? []
        : possibleMoves(inst, first, {
            secondaryUsable,
            instanceMoves: options.instanceMoves,
            diskMoves: options.diskMoves,
            restrictedMigration: options.restrictedMigration,
            primaryOffline: (this.nodes[inst.pNode] as NodeState).offline,
          }).map((move) => move.kind);
    // The kinds that share their changes to the instance's nodes are scored for all targets at once.
    const shared = kinds.map((kind) => {
      if (!sharesSources(kind)) return undefined;
      const scores: (number | null)[] = [];
      this.trial.scoreTargets(this.nodes, inst, kind, eligible, force, this.acc, scores);
      return scores;
    });
    for (let k = 0; k < eligible.length; k++) {
      const node = eligible[k] as number;
      for (let j = 0; j < kinds.length; j++) {
        const kind = kinds[j] as TargetedMove['kind'];
        const scores = shared[j];
        // Move objects are made only where needed: this runs for every instance, target and kind.
        const move: TargetedMove | undefined = scores === undefined ? { kind, node } : undefined;
        const score = move === undefined ? (scores?.[k] ?? null) : this.tryMove(inst, move);
        if (score !== null && (best === null || score < bestScore))
          [best, bestScore] = [move ?? { kind, node }, score];
      }
    }
    if (best === null) return null;
    // The winner again, one move alone, for the nodes it touches.
    this.tryMove(inst, best);
    return { move: best, score: bestScore, touched: this.trial.touchedNodes() };
  }

  /** Each pool instance's best move to the targets, best first; ties keep the pool's order. */
  rank(
    pool: readonly number[],
    targets: readonly number[],
    positions?: readonly number[],
    earlier?: EarlierRound,
  ): Ranked[] {
    // The earlier round's targets come last in this one's, in the same order (both are the low end of the
    // same pressure ranking): an instance's first best move over all targets is its first best over the
    // added ones, unless its earlier best is strictly better.
    const widened =
      earlier !== undefined && endsWith(targets, earlier.targets)
        ? { added: targets.slice(0, targets.length - earlier.targets.length), best: earlier.best }
        : undefined;
    const ranked: Ranked[] = [];
    pool.forEach((index, i) => {
      const inst = this.instances[index] as InstState;
      const prior = widened?.best.get(index);
      // Keep only each instance's best move: holding every trial's nodes would swamp the heap.
      let best = this.bestMove(inst, prior === undefined || widened === undefined ? targets : widened.added);
      if (prior != null && (best === null || prior.score < best.score)) best = prior;
      if (best === null) return;
      ranked.push({
        instance: index,
        move: best.move,
        score: best.score,
        touched: best.touched,
        position: positions?.[i] ?? i,
      });
    });
    return ranked.sort(byScore);
  }

  commit(c: Candidate): void {
    this.acc.replace(c.result.changes);
    for (const [, after] of c.result.changes) {
      // The node is the move's own copy, not yet shared: its peer table may still be replaced by an equal one.
      after.peers = after.peers.compact();
      this.nodes[after.idx] = after;
    }
    this.instances[c.inst.idx] = c.result.instance;
    this.byNode.move(c.inst, c.result.instance);
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

  /** How much each online node pushes the score up (see ScoreAccumulator.pressures), in `online`'s order. */
  pressures(): Float64Array {
    return this.acc.pressures(this.online.map((i) => this.nodes[i] as NodeState));
  }

  /** The movable instances on any of the nodes, by index. */
  movableOn(nodes: Iterable<number>): number[] {
    return this.byNode.gather(nodes).filter((idx) => this.movable(this.instances[idx] as InstState));
  }
}

function endsWith(list: readonly number[], tail: readonly number[]): boolean {
  const offset = list.length - tail.length;
  return offset >= 0 && tail.every((x, k) => list[offset + k] === x);
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
  const rank = (
    pool: readonly number[],
    targets: readonly number[],
    earlier?: EarlierRound,
  ): RankRequest => ({
    steps: search.takeSteps(),
    pool,
    targets,
    ...(earlier === undefined ? {} : { earlier }),
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
  let earlier: EarlierRound | undefined;
  while (canContinue()) {
    if (full) {
      const best = (yield rank(victims(), online))[0];
      const c = best === undefined ? null : search.evaluate(instances[best.instance] as InstState, best.move);
      if (c === null || !accepts(search.current, c.score)) break;
      commit(c);
      continue;
    }
    const { sources, targets } = pressureEnds(search, width);
    const pool = search.movableOn([...sources, ...offline]);
    const ranked = yield rank(pool, targets, earlier);
    const used = new Set<number>();
    let applied = 0;
    for (const c of ranked) {
      if (!canContinue()) break;
      if (c.touched.some((i) => used.has(i))) continue;
      // Earlier moves of this round changed the totals: re-check the gain on the current state, and build
      // only the moves that pass.
      const inst = instances[c.instance] as InstState;
      const score = search.tryMove(inst, c.move);
      if (score === null || !accepts(search.current, score)) continue;
      const fresh = search.evaluate(inst, c.move);
      if (fresh === null) throw new RangeError(`the move of instance ${c.instance} fails once built`);
      commit(fresh);
      for (const i of c.touched) used.add(i);
      applied++;
    }
    if (applied === 0) {
      if (width >= Math.min(widestWidth, Math.ceil(online.length / 2))) break;
      width *= 2;
      earlier = { targets, best: bestByInstance(pool, ranked) };
      continue;
    }
    earlier = undefined;
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
    next = rounds.next(search.rank(request.pool, request.targets, undefined, request.earlier));
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

/** Each pool instance's best move as ranked, null for those that had none. */
function bestByInstance(pool: readonly number[], ranked: readonly Ranked[]): Map<number, Ranked | null> {
  const best = new Map<number, Ranked | null>(pool.map((idx) => [idx, null]));
  for (const r of ranked) best.set(r.instance, r);
  return best;
}

/**
 * The nodes whose values sit furthest above the mean (sources) and below it (targets), weighted
 * as the score weighs them: moving load from the former to the latter lowers the spread most.
 */
function pressureEnds(search: BalanceSearch, wanted: number): { sources: number[]; targets: number[] } {
  const values = search.pressures();
  const width = Math.min(wanted, Math.ceil(search.online.length / 2));
  const nodeAt = (k: number): number => search.online[k] as number;
  // A NaN makes the sort's comparisons inconsistent, and only the sort itself says where it goes.
  if (values.some(Number.isNaN)) {
    // Positions in `online`, most pressing first; the sort is stable, so ties keep the online order.
    const order = search.online.map((_, k) => k);
    order.sort((a, b) => (values[b] as number) - (values[a] as number));
    return { sources: order.slice(0, width).map(nodeAt), targets: order.slice(-width).map(nodeAt) };
  }
  // The two ends of that order, without sorting all the nodes: in it, a node comes before another with a
  // higher value, or the same value and a later place.
  const before = (a: number, b: number): boolean =>
    (values[a] as number) > (values[b] as number) ||
    ((values[a] as number) === (values[b] as number) && a < b);
  const top: number[] = [];
  const bottom: number[] = [];
  for (let k = 0; k < values.length; k++) {
    keepEnd(top, k, width, before);
    keepEnd(bottom, k, width, (a, b) => before(b, a));
  }
  return { sources: top.map(nodeAt), targets: bottom.reverse().map(nodeAt) };
}

/** Keeps in `end` the `width` first of the items seen in `first`'s order, in that order. */
function keepEnd(end: number[], item: number, width: number, first: (a: number, b: number) => boolean): void {
  if (end.length === width && !first(item, end[width - 1] as number)) return;
  let at = end.length === width ? width - 1 : end.length;
  while (at > 0 && first(item, end[at - 1] as number)) {
    end[at] = end[at - 1] as number;
    at--;
  }
  end[at] = item;
}
