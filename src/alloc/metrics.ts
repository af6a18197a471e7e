import { type NodeState, pDskOf, unallocatedMem } from './state.js';

/**
 * The cluster score as hbal 3.0 computes it: for each component, a statistic over the online
 * nodes (the offline counts over the offline ones), weighted and summed. Same names, weights,
 * order and formulas as htools' Cluster/Metrics.hs, so that scores compare across both tools.
 */

type Aggregate = 'stddev' | 'sum' | 'map';

interface Component {
  readonly name: string;
  readonly weight: number;
  readonly aggregate: Aggregate;
  /** Offline components are computed over offline nodes only, the rest over online ones. */
  readonly overOffline: boolean;
  /** +1 when a higher value means a busier node, -1 when it means a freer one. */
  readonly busier: 1 | -1;
}

export const components: readonly Component[] = [
  { name: 'free_mem_cv', weight: 0.5, aggregate: 'stddev', overOffline: false, busier: -1 },
  { name: 'free_disk_cv', weight: 0.5, aggregate: 'stddev', overOffline: false, busier: -1 },
  { name: 'n1_cnt', weight: 1, aggregate: 'sum', overOffline: false, busier: 1 },
  { name: 'reserved_mem_cv', weight: 1, aggregate: 'stddev', overOffline: false, busier: 1 },
  { name: 'offline_all_cnt', weight: 4, aggregate: 'sum', overOffline: true, busier: 1 },
  { name: 'offline_pri_cnt', weight: 16, aggregate: 'sum', overOffline: true, busier: 1 },
  { name: 'vcpu_ratio_cv', weight: 0.5, aggregate: 'stddev', overOffline: false, busier: 1 },
  { name: 'cpu_load_cv', weight: 1, aggregate: 'stddev', overOffline: false, busier: 1 },
  { name: 'mem_load_cv', weight: 1, aggregate: 'stddev', overOffline: false, busier: 1 },
  { name: 'disk_load_cv', weight: 1, aggregate: 'stddev', overOffline: false, busier: 1 },
  { name: 'net_load_cv', weight: 1, aggregate: 'stddev', overOffline: false, busier: 1 },
  { name: 'pri_tags_score', weight: 2, aggregate: 'sum', overOffline: false, busier: 1 },
  { name: 'spindles_cv', weight: 0.5, aggregate: 'stddev', overOffline: false, busier: 1 },
  { name: 'free_mem_cv_forth', weight: 0.5, aggregate: 'stddev', overOffline: false, busier: -1 },
  { name: 'free_disk_cv_forth', weight: 0.5, aggregate: 'stddev', overOffline: false, busier: -1 },
  { name: 'vcpu_ratio_cv_forth', weight: 0.5, aggregate: 'stddev', overOffline: false, busier: 1 },
  { name: 'spindles_cv_forth', weight: 0.5, aggregate: 'stddev', overOffline: false, busier: 1 },
  { name: 'location_score', weight: 1, aggregate: 'sum', overOffline: false, busier: 1 },
  { name: 'location_exclusion_score', weight: 1, aggregate: 'map', overOffline: false, busier: 1 },
  { name: 'reserved_mem_rtotal', weight: 0.25, aggregate: 'sum', overOffline: false, busier: 1 },
];

const count = components.length;
const locationExclusion = components.findIndex((c) => c.aggregate === 'map');
// The components' facts as typed arrays, for the trial scoring's inner loops.
const weights = Float64Array.from(components, (c) => c.weight);
const overOffline = Uint8Array.from(components, (c) => (c.overOffline ? 1 : 0));
const summed = Uint8Array.from(components, (c) => (c.aggregate === 'sum' ? 1 : 0));
// How a component counts in a node's pressure: not at all (offline and map components), by its value (the
// counts), or by its distance from the mean (the spreads), signed so that busy is positive.
const skipped = 0;
const counted = 1;
const spread = 2;
const pressureRoles = Uint8Array.from(components, (c) =>
  c.overOffline || c.aggregate === 'map' ? skipped : c.aggregate === 'sum' ? counted : spread,
);
const signedWeights = Float64Array.from(components, (c) => c.weight * c.busier);

/** Primaries beyond the first that share an exclusion tag (htools' conflictingPrimaries). */
export function conflictingPrimaries(n: NodeState): number {
  // The common case, without making an iterator: this runs for every trial move.
  if (n.pTags.size === 0) return 0;
  let total = 0;
  for (const c of n.pTags.values()) total += c;
  return total - n.pTags.size;
}

/** One node's value for every component (the map component is read from the node directly). */
export function nodeValues(n: NodeState, out: Float64Array = new Float64Array(count)): Float64Array {
  out[0] = unallocatedMem(n) / n.tMem;
  out[1] = pDskOf(n, n.fSpindles, n.fDsk);
  out[2] = n.failN1 ? n.pCount + n.sCount : 0;
  out[3] = n.rMem / n.tMem;
  out[4] = n.pCount + n.sCount;
  out[5] = n.pCount;
  out[6] = n.uCpu / n.tCpu / n.cpuSpeed;
  // Loads over the node's capacity for them, which htools takes as 1 (its baseUtil).
  out[7] = n.lCpu;
  out[8] = n.lMem;
  out[9] = n.lDsk;
  out[10] = n.lNet;
  out[11] = conflictingPrimaries(n);
  out[12] = n.instSpindles / n.hiSpindles;
  out[13] = n.fMemForth / n.tMem;
  out[14] = pDskOf(n, n.fSpindlesForth, n.fDskForth);
  out[15] = n.uCpuForth / n.tCpu / n.cpuSpeed;
  out[16] = n.instSpindlesForth / n.hiSpindles;
  out[17] = n.locationScore;
  out[18] = 0;
  out[19] = n.rMem / n.tMem;
  return out;
}

export interface ScoreBreakdown {
  readonly score: number;
  readonly components: readonly { readonly name: string; readonly value: number; readonly weight: number }[];
}

/** The score computed from scratch, two-pass as htools does, for reporting. */
export function scoreBreakdown(nodes: readonly NodeState[]): ScoreBreakdown {
  const online = nodes.filter((n) => !n.offline);
  const offline = nodes.filter((n) => n.offline);
  const onlineValues = online.map((n) => nodeValues(n));
  const offlineValues = offline.map((n) => nodeValues(n));
  const values = components.map((c, k) => {
    const rows = c.overOffline ? offlineValues : onlineValues;
    if (c.aggregate === 'map') return mapStatistic(online);
    if (c.aggregate === 'sum') return rows.reduce((sum, row) => sum + (row[k] ?? 0), 0);
    const n = rows.length;
    const mean = rows.reduce((sum, row) => sum + (row[k] ?? 0), 0) / n;
    const variance = rows.reduce((sum, row) => sum + ((row[k] ?? 0) - mean) ** 2, 0) / n;
    return Math.sqrt(variance);
  });
  const score = values.reduce((sum, value, k) => sum + value * (components[k]?.weight ?? 0), 0);
  return {
    score,
    components: components.map((c, k) => ({ name: c.name, value: values[k] ?? 0, weight: c.weight })),
  };
}

export function clusterScore(nodes: readonly NodeState[]): number {
  return scoreBreakdown(nodes).score;
}

/** Σ (count − 1) over (failure domain, exclusion tag) pairs, summed over all online nodes. */
function mapStatistic(nodes: readonly NodeState[]): number {
  const merged = new Map<string, number>();
  for (const n of nodes) for (const [key, c] of n.instanceMap) merged.set(key, (merged.get(key) ?? 0) + c);
  let total = 0;
  for (const c of merged.values()) total += c;
  return total - merged.size;
}

/** Whether replacing `was` by `now` changes the location map (exclusion tags in failure domains). */
function touchesLocationMap(was: NodeState, now: NodeState): boolean {
  return !was.offline && (was.instanceMap.size > 0 || now.instanceMap.size > 0);
}

/** Changes added up once for many trials that start with them (ScoreAccumulator.prefix). */
export class TrialPrefix {
  readonly sums = new Float64Array(count);
  readonly squares = new Float64Array(count);
  touchesLocations = false;
}

/**
 * Running sums for fast trial scoring: replacing a node's contribution costs O(components)
 * instead of O(nodes). Kept as sums and sums of squares; callers rebuild it from scratch
 * now and then to shed rounding drift, and report scores with `scoreBreakdown`.
 */
export class ScoreAccumulator {
  private readonly sums = new Float64Array(count);
  private readonly squares = new Float64Array(count);
  private readonly scratchSums = new Float64Array(count);
  private readonly scratchSquares = new Float64Array(count);
  private readonly locationMap = new Map<string, number>();
  private locationTotal = 0;
  private onlineCount = 0;
  /** Each node's row of values, by node index, and the node it was computed from. */
  private values: (Float64Array | undefined)[] = [];
  private rowsOf: (NodeState | undefined)[] = [];
  /**
   * Where the rows live: one block, a view per node index, so that the rebuild after every round of a
   * large group's search reads them in order rather than from all over the heap.
   */
  private slab = new Float64Array(0);
  private readonly views: Float64Array[] = [];
  private readonly replaceRow = new Float64Array(count);

  constructor(nodes: readonly NodeState[]) {
    this.rebuild(nodes);
  }

  rebuild(nodes: readonly NodeState[]): void {
    this.sums.fill(0);
    this.squares.fill(0);
    this.locationMap.clear();
    this.locationTotal = 0;
    this.onlineCount = 0;
    // Nodes are never changed in place: a row kept for the same node object is still its row, and the
    // rebuild after every round of a large group's search need not recompute the rows of all its nodes.
    if (this.slab.length === 0) {
      const size = nodes.reduce((max, n) => Math.max(max, n.idx + 1), 0);
      this.slab = new Float64Array(size * count);
    }
    const rowsOf = this.rowsOf;
    this.values = [];
    this.rowsOf = [];
    for (const n of nodes) {
      const row = this.rowView(n.idx);
      if (rowsOf[n.idx] !== n) nodeValues(n, row);
      this.add(n, row);
    }
  }

  /** Node `idx`'s place for its row: in the slab, or apart for an index the slab was not made for. */
  private rowView(idx: number): Float64Array {
    const known = this.views[idx];
    if (known !== undefined) return known;
    const view =
      (idx + 1) * count <= this.slab.length
        ? this.slab.subarray(idx * count, (idx + 1) * count)
        : new Float64Array(count);
    this.views[idx] = view;
    return view;
  }

  /**
   * How much each online node pushes the score up: its distance from the mean on each spread,
   * in standard deviations and signed so that busy is positive, plus its penalty counts.
   */
  pressures(nodes: readonly NodeState[]): Float64Array {
    const means = new Float64Array(count);
    const deviations = new Float64Array(count);
    for (let k = 0; k < count; k++) {
      const mean = (this.sums[k] ?? 0) / this.onlineCount;
      means[k] = mean;
      deviations[k] = Math.sqrt(Math.max((this.squares[k] ?? 0) / this.onlineCount - mean * mean, 0));
    }
    return Float64Array.from(nodes, (n) => {
      const row = this.values[n.idx] ?? this.valuesOf(n);
      let pressure = 0;
      for (let k = 0; k < count; k++) {
        const role = pressureRoles[k];
        if (role === skipped) continue;
        const v = row[k] as number;
        if (role === counted) {
          pressure += (weights[k] as number) * v;
          continue;
        }
        const deviation = deviations[k] as number;
        if (deviation > 0)
          pressure += ((signedWeights[k] as number) * (v - (means[k] as number))) / deviation;
      }
      return pressure;
    });
  }

  private readonly scratchRow = new Float64Array(count);

  private valuesOf(n: NodeState): Float64Array {
    return nodeValues(n);
  }

  private add(n: NodeState, row: Float64Array): void {
    this.values[n.idx] = row;
    this.rowsOf[n.idx] = n;
    if (!n.offline) this.onlineCount++;
    const side = n.offline ? 1 : 0;
    const { sums, squares } = this;
    for (let k = 0; k < count; k++) {
      if (overOffline[k] !== side) continue;
      const v = row[k] as number;
      sums[k] = (sums[k] as number) + v;
      squares[k] = (squares[k] as number) + v * v;
    }
    if (!n.offline) this.shiftLocations(this.locationMap, n.instanceMap, 1);
  }

  private shiftLocations(
    target: Map<string, number>,
    source: ReadonlyMap<string, number>,
    sign: number,
  ): void {
    // Most nodes hold no exclusion tags: skip making an iterator for every node of every rebuild.
    if (source.size === 0) return;
    for (const [key, c] of source) {
      const next = (target.get(key) ?? 0) + sign * c;
      if (next === 0) target.delete(key);
      else target.set(key, next);
      this.locationTotal += sign * c;
    }
  }

  /** Replaces nodes by their new versions (same index), for good. */
  replace(changes: readonly (readonly [NodeState, NodeState])[]): void {
    for (const [before, after] of changes) {
      const old = this.values[before.idx] ?? this.valuesOf(before);
      const row = nodeValues(after, this.replaceRow);
      for (let k = 0; k < count; k++) {
        if (components[k]?.overOffline !== before.offline) continue;
        const o = old[k] ?? 0;
        const v = row[k] ?? 0;
        this.sums[k] = (this.sums[k] ?? 0) + v - o;
        this.squares[k] = (this.squares[k] ?? 0) + v * v - o * o;
      }
      // Stored only now: the old row may be the same view.
      const kept = this.rowView(after.idx);
      kept.set(row);
      this.values[after.idx] = kept;
      this.rowsOf[after.idx] = after;
      if (!before.offline) {
        this.shiftLocations(this.locationMap, before.instanceMap, -1);
        this.shiftLocations(this.locationMap, after.instanceMap, 1);
      }
    }
  }

  /** The score the cluster would have with these nodes replaced, leaving this accumulator as it was. */
  trial(changes: readonly (readonly [NodeState, NodeState])[]): number {
    return this.trialOf(
      changes.map(([before]) => before),
      changes.map(([, after]) => after),
      changes.length,
    );
  }

  /** As trial, with the first `length` nodes of `before` replaced by those of `after`, without building pairs. */
  trialOf(before: readonly NodeState[], after: readonly NodeState[], length: number): number {
    if (length === 0) return this.score();
    let touchesLocations = false;
    for (let c = 0; c < length; c++)
      if (touchesLocationMap(before[c] as NodeState, after[c] as NodeState)) touchesLocations = true;
    const location = touchesLocations ? this.locationAfter(before, after, length) : this.locationValue();
    return this.finish(this.sums, this.squares, before, after, length, location);
  }

  /** Adds up changes that many trials start with, once, for trialAfter. */
  prefix(before: readonly NodeState[], after: readonly NodeState[], length: number, into: TrialPrefix): void {
    into.sums.set(this.sums);
    into.squares.set(this.squares);
    into.touchesLocations = false;
    for (let c = 0; c < length; c++) {
      const was = before[c] as NodeState;
      const now = after[c] as NodeState;
      this.accumulate(into.sums, into.squares, was, nodeValues(now, this.scratchRow));
      if (touchesLocationMap(was, now)) into.touchesLocations = true;
    }
  }

  /**
   * The score trialOf gives the prefix's changes followed by these, bit for bit (the same additions in the
   * same order); null when the changes touch failure domains' exclusion tags, whose term needs all the
   * changes at once: trialOf then.
   */
  trialAfter(
    prefix: TrialPrefix,
    before: readonly NodeState[],
    after: readonly NodeState[],
    length: number,
  ): number | null {
    if (prefix.touchesLocations) return null;
    for (let c = 0; c < length; c++)
      if (touchesLocationMap(before[c] as NodeState, after[c] as NodeState)) return null;
    return this.finish(prefix.sums, prefix.squares, before, after, length, this.locationValue());
  }

  /**
   * The score with `sums` and `squares` changed by these nodes (at least one), computed as adding each change
   * to the sums and then combining them would, the same additions in the same order, but the last change is
   * added as it is combined: most trials make one change after a prefix, and then nothing is copied.
   */
  private finish(
    sums: Float64Array,
    squares: Float64Array,
    before: readonly NodeState[],
    after: readonly NodeState[],
    length: number,
    location: number,
  ): number {
    let fromSums = sums;
    let fromSquares = squares;
    if (length > 1) {
      fromSums = this.scratchSums;
      fromSquares = this.scratchSquares;
      fromSums.set(sums);
      fromSquares.set(squares);
      for (let c = 0; c < length - 1; c++)
        this.accumulate(
          fromSums,
          fromSquares,
          before[c] as NodeState,
          nodeValues(after[c] as NodeState, this.scratchRow),
        );
    }
    const was = before[length - 1] as NodeState;
    const old = this.values[was.idx] ?? this.valuesOf(was);
    const row = nodeValues(after[length - 1] as NodeState, this.scratchRow);
    const side = was.offline ? 1 : 0;
    const n = this.onlineCount;
    let score = 0;
    for (let k = 0; k < count; k++) {
      let sum = fromSums[k] as number;
      let square = fromSquares[k] as number;
      if (overOffline[k] === side) {
        const o = old[k] as number;
        const v = row[k] as number;
        sum = sum + v - o;
        square = square + v * v - o * o;
      }
      const weight = weights[k] as number;
      if (k === locationExclusion) {
        score += weight * location;
      } else if (summed[k] === 1) {
        score += weight * sum;
      } else {
        const mean = sum / n;
        const variance = square / n - mean * mean;
        score += weight * Math.sqrt(Math.max(variance, 0));
      }
    }
    return score;
  }

  /** Replaces one node's values (`old`, kept, by `row`) in the sums. */
  private accumulate(sums: Float64Array, squares: Float64Array, was: NodeState, row: Float64Array): void {
    const old = this.values[was.idx] ?? this.valuesOf(was);
    const side = was.offline ? 1 : 0;
    for (let k = 0; k < count; k++) {
      if (overOffline[k] !== side) continue;
      const o = old[k] as number;
      const v = row[k] as number;
      sums[k] = (sums[k] as number) + v - o;
      squares[k] = (squares[k] as number) + v * v - o * o;
    }
  }

  score(): number {
    return this.combine(this.sums, this.squares, this.locationValue());
  }

  private locationValue(): number {
    return this.locationTotal - this.locationMap.size;
  }

  private locationAfter(before: readonly NodeState[], after: readonly NodeState[], length: number): number {
    const delta = new Map<string, number>();
    for (let c = 0; c < length; c++) {
      const was = before[c] as NodeState;
      if (was.offline) continue;
      for (const [key, n] of was.instanceMap) delta.set(key, (delta.get(key) ?? 0) - n);
      for (const [key, n] of (after[c] as NodeState).instanceMap) delta.set(key, (delta.get(key) ?? 0) + n);
    }
    let total = this.locationTotal;
    let keys = this.locationMap.size;
    for (const [key, d] of delta) {
      const was = this.locationMap.get(key) ?? 0;
      total += d;
      if (was === 0 && was + d !== 0) keys++;
      else if (was !== 0 && was + d === 0) keys--;
    }
    return total - keys;
  }

  private combine(sums: Float64Array, squares: Float64Array, location: number): number {
    const n = this.onlineCount;
    let score = 0;
    for (let k = 0; k < count; k++) {
      const weight = weights[k] as number;
      if (k === locationExclusion) {
        score += weight * location;
      } else if (summed[k] === 1) {
        score += weight * (sums[k] as number);
      } else {
        const mean = (sums[k] as number) / n;
        const variance = (squares[k] as number) / n - mean * mean;
        score += weight * Math.sqrt(Math.max(variance, 0));
      }
    }
    return score;
  }
}

/**
 * The lowest score N+1 reservations allow (htools' optimalCVScore): hbal stops once it gets
 * within --min-score of it.
 */
export function optimalScore(nodes: readonly NodeState[]): number {
  if (nodes.length <= 1) return 0;
  const mems = nodes.map((n) => n.tMem);
  const total = mems.reduce((a, b) => a + b, 0);
  const lessOne = total - Math.max(...mems);
  if (lessOne <= 0) return 0;
  let drbd = 0;
  for (const n of nodes) drbd += n.peers.total();
  return 0.25 * (drbd / lessOne - drbd / total);
}

/**
 * The cluster statistics exactly as htools keeps them (Utils/Statistics.hs), for the places where
 * its choice among equal scores must be reproduced bit for bit (hail, hspace): a spread keeps its
 * count, sum and variance, the variance computed two-pass when built and by htools' own update
 * formula afterwards; the location map keeps the keys that drop to zero.
 */
export class ClusterStatistics {
  private constructor(
    private readonly online: number,
    private readonly sums: Float64Array,
    private readonly variances: Float64Array,
    private readonly locations: ReadonlyMap<string, number>,
  ) {}

  /** htools' compClusterStatistics. */
  static of(nodes: readonly NodeState[]): ClusterStatistics {
    const rows = nodes.map((n) => nodeValues(n));
    const sums = new Float64Array(count);
    const variances = new Float64Array(count);
    let online = 0;
    for (const n of nodes) if (!n.offline) online++;
    for (let k = 0; k < count; k++) {
      const side = overOffline[k] === 1;
      let sum = 0;
      for (let j = 0; j < nodes.length; j++)
        if ((nodes[j] as NodeState).offline === side) sum += rowAt(rows, j, k);
      sums[k] = sum;
      if (summed[k] === 1 || k === locationExclusion) continue;
      const mean = sum / online;
      let nvar = 0;
      for (let j = 0; j < nodes.length; j++) {
        if ((nodes[j] as NodeState).offline) continue;
        const d = rowAt(rows, j, k) - mean;
        nvar += d * d;
      }
      variances[k] = nvar / online;
    }
    const locations = new Map<string, number>();
    for (const n of nodes) {
      if (n.offline) continue;
      for (const [key, c] of n.instanceMap) locations.set(key, (locations.get(key) ?? 0) + c);
    }
    return new ClusterStatistics(online, sums, variances, locations);
  }

  /** htools' updateClusterStatistics: one node replaced by its new version. */
  update(before: NodeState, after: NodeState): ClusterStatistics {
    const old = nodeValues(before);
    const row = nodeValues(after);
    const sums = Float64Array.from(this.sums);
    const variances = Float64Array.from(this.variances);
    const side = before.offline ? 1 : 0;
    const n = this.online;
    let locations = this.locations;
    for (let k = 0; k < count; k++) {
      if (overOffline[k] !== side) continue;
      if (k === locationExclusion) {
        if (before.instanceMap.size === 0 && after.instanceMap.size === 0) continue;
        const next = new Map(locations);
        for (const [key, c] of before.instanceMap) next.set(key, (next.get(key) ?? 0) - c);
        for (const [key, c] of after.instanceMap) next.set(key, (next.get(key) ?? 0) + c);
        locations = next;
        continue;
      }
      const x = old[k] as number;
      const y = row[k] as number;
      if (summed[k] === 1) {
        sums[k] = (sums[k] as number) + (y - x);
        continue;
      }
      const s = sums[k] as number;
      const ds = y - x;
      const dss = y * y - x * x;
      const dnnvar = n * dss - 2 * s * ds - ds * ds;
      sums[k] = s + ds;
      variances[k] = Math.max(0, (variances[k] as number) + dnnvar / (n * n));
    }
    return new ClusterStatistics(n, sums, variances, locations);
  }

  /** htools' compCVfromStats. */
  score(): number {
    let score = 0;
    for (let k = 0; k < count; k++) {
      let value: number;
      if (k === locationExclusion) {
        let total = 0;
        for (const c of this.locations.values()) total += c;
        value = total - this.locations.size;
      } else if (summed[k] === 1) value = this.sums[k] as number;
      else value = Math.sqrt(this.variances[k] as number);
      score += (weights[k] as number) * value;
    }
    return score;
  }
}

function rowAt(rows: readonly Float64Array[], node: number, k: number): number {
  return (rows[node] as Float64Array)[k] as number;
}

/** htools' compCV: the score computed from scratch, with htools' arithmetic. */
export function htoolsScore(nodes: readonly NodeState[]): number {
  return ClusterStatistics.of(nodes).score();
}
