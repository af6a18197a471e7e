import type { DiskTemplate } from '../cluster/disk-templates.js';
import { CorralError } from '../common/errors.js';
import { redundant } from './global-n1.js';
import { ScoreAccumulator, scoreBreakdown } from './metrics.js';
import { checkPolicy } from './policy.js';
import {
  addPrimary,
  addSecondary,
  type ClusterState,
  type FailMode,
  failModes,
  type InstState,
  isFailMode,
  type NodeState,
  noNode,
  probeInstance,
  sharedLocations,
  unallocatedMem,
} from './state.js';
import { asInstanceName, type IPolicy, type ISpec } from './types.js';

/**
 * Capacity, hspace's question (Ganeti's Program/Hspace.hs with Cluster.hs's iterateAlloc and tieredAlloc):
 * how many more instances fit, placed one by one as hspace places them over the whole cluster (every
 * online node, or node pair within a group, of the allocable groups; the lowest cluster score wins), and
 * which resource stops the next one. The tiered mode starts from the policy's largest spec and shrinks
 * the resource that failed most, by htools' units, until nothing fits.
 */

/** Instance resources (htools' RSpec). */
export interface RSpec {
  readonly memoryMiB: number;
  readonly diskMiB: number;
  readonly vcpus: number;
  readonly spindles: number;
}

export const rspecFromISpec = (s: ISpec): RSpec => ({
  memoryMiB: s.memoryMiB,
  diskMiB: s.diskMiB,
  vcpus: s.cpuCount,
  spindles: s.spindleUse,
});

/** Every failure mode with its count, in failModes (htools' collapseFailures). */
export type FailStats = readonly (readonly [FailMode, number])[];

export function collapseFailures(failures: readonly FailMode[]): FailStats {
  return failModes.map((mode) => [mode, failures.filter((f) => f === mode).length] as const);
}

/** The most frequent first, ties in failModes (hspace's sortReasons). */
export const sortReasons = (stats: FailStats): FailStats => [...stats].sort((a, b) => b[1] - a[1]);

/** The algorithm's options, as hspace derives them from its command line. */
export interface CapacityOptions {
  /** Global N+1 checks on placements (off with --no-capacity-checks; always off for DRBD steps). */
  readonly capacity: boolean;
  /** --accept-existing-errors: offline nodes need not be evacuable. */
  readonly acceptExisting: boolean;
  /** Groups left out of the capacity checks (--independent-groups: the bad ones). */
  readonly ignoreGroups: ReadonlySet<number>;
}

/** Where a new instance may go: single nodes, or each primary with its possible secondaries. */
export type AllocNodes =
  | { readonly kind: 'single'; readonly nodes: readonly number[] }
  | { readonly kind: 'pairs'; readonly pairs: readonly (readonly [number, readonly number[]])[] };

/** htools' genAllocNodes: the online nodes of allocable groups; pairs stay within a group. */
export function allocNodes(
  state: ClusterState,
  allocable: (group: number) => boolean,
  count: 1 | 2,
): AllocNodes {
  const online = state.nodes.filter((n) => !n.offline && allocable(n.group));
  if (count === 1) return { kind: 'single', nodes: online.map((n) => n.idx) };
  const pairs = online
    .map(
      (p) => [p.idx, online.filter((s) => s.idx !== p.idx && s.group === p.group).map((s) => s.idx)] as const,
    )
    .filter(([, ss]) => ss.length > 0);
  return { kind: 'pairs', pairs };
}

/** An allocation could not even be tried (htools' "Not enough online nodes"). */
export class AllocationError extends CorralError {
  constructor(message: string) {
    super('bad_request', message);
  }
}

interface Solution {
  readonly nodes: readonly (readonly [NodeState, NodeState])[];
  readonly inst: InstState;
  readonly score: number;
}

interface AllocSolution {
  readonly failures: readonly FailMode[];
  readonly solution: Solution | null;
}

/** The state with a solution applied: the changed nodes and the instance added at the end. */
function applySolution(state: ClusterState, sol: Solution): ClusterState {
  const nodes = [...state.nodes];
  for (const [, after] of sol.nodes) nodes[after.idx] = after;
  const inst: InstState = { ...sol.inst, idx: state.instances.length };
  const instanceByName = new Map(state.instanceByName);
  instanceByName.set(inst.name, inst.idx);
  return { ...state, nodes, instances: [...state.instances, inst], instanceByName };
}

/** htools' GlobalN1.redundant: every node (of the checked ones) can be evacuated. */
export function globallyRedundant(state: ClusterState, options: CapacityOptions, group?: number): boolean {
  const checked = (n: NodeState | undefined): boolean =>
    n !== undefined &&
    !options.ignoreGroups.has(n.group) &&
    !(options.acceptExisting && n.offline) &&
    (group === undefined || n.group === group);
  // A node without primaries evacuates trivially, so leaving out the others' instances leaves them out.
  const instances = state.instances.filter((i) => checked(state.nodes[i.pNode]));
  return redundant({ ...state, instances });
}

/**
 * Best first, as htools' collectionToSolution sorts: by score, the later-found first among equal scores;
 * the first that passes the capacity check wins, the ones before it count as FailN1.
 */
function bestOf(
  found: readonly Solution[],
  failures: FailMode[],
  passes: ((sol: Solution) => boolean) | null,
): Solution | null {
  const order = found
    .map((_, k) => k)
    .sort((a, b) => (found[a]?.score ?? 0) - (found[b]?.score ?? 0) || b - a);
  for (const k of order) {
    const sol = found[k] as Solution;
    if (passes === null || passes(sol)) return sol;
    failures.push('FailN1');
  }
  return null;
}

/** htools' tryAlloc over the whole cluster: the best placement, with the reasons of every refused one. */
export function tryAlloc(
  state: ClusterState,
  inst: InstState,
  targets: AllocNodes,
  options: CapacityOptions,
): AllocSolution {
  // Built on the first fitting placement: most tries of a tiered search fail every node on its policy.
  let accumulator: ScoreAccumulator | null = null;
  const score = (changes: readonly (readonly [NodeState, NodeState])[]): number => {
    accumulator ??= new ScoreAccumulator(state.nodes);
    return accumulator.trial(changes);
  };
  const failures: FailMode[] = [];
  const passes = options.capacity
    ? (sol: Solution): boolean => globallyRedundant(applySolution(state, sol), options)
    : null;
  const node = (idx: number): NodeState => state.nodes[idx] as NodeState;
  // The policy verdict depends on the node's policy only, and nodes share their group's.
  const verdicts = [new Map<IPolicy, FailMode | null>(), new Map<IPolicy, FailMode | null>()] as const;
  const policyFailure = (n: NodeState): FailMode | null => {
    const known = verdicts[n.exclusiveStorage ? 1 : 0];
    let verdict = known.get(n.policy);
    if (verdict === undefined) {
      verdict = checkPolicy(inst, n.policy, n.exclusiveStorage);
      known.set(n.policy, verdict);
    }
    return verdict;
  };
  if (targets.kind === 'single') {
    if (targets.nodes.length === 0) throw new AllocationError('No online nodes');
    const found: Solution[] = [];
    for (const idx of targets.nodes) {
      const p = node(idx);
      const refused = policyFailure(p);
      if (refused !== null) {
        failures.push(refused);
        continue;
      }
      const placed: InstState = { ...inst, pNode: idx, sNode: noNode, locationScore: 0 };
      const newP = addPrimary(p, placed, false);
      if (isFailMode(newP)) failures.push(newP);
      else found.push({ nodes: [[p, newP]], inst: placed, score: score([[p, newP]]) });
    }
    return { failures, solution: bestOf(found, failures, passes) };
  }
  if (targets.pairs.length === 0) throw new AllocationError('Not enough online nodes');
  let best: Solution | null = null;
  for (const [pIdx, secondaries] of targets.pairs) {
    const p = node(pIdx);
    const refused = policyFailure(p);
    if (refused !== null) {
      for (let k = 0; k < secondaries.length; k++) failures.push(refused);
      continue;
    }
    const found: Solution[] = [];
    for (const sIdx of secondaries) {
      const s = node(sIdx);
      const placed: InstState = { ...inst, pNode: pIdx, sNode: sIdx, locationScore: sharedLocations(p, s) };
      const newP = addPrimary(p, placed, false);
      if (isFailMode(newP)) {
        failures.push(newP);
        continue;
      }
      const newS = addSecondary(s, placed, pIdx, false);
      if (isFailMode(newS)) {
        failures.push(newS);
        continue;
      }
      const changes = [
        [p, newP],
        [s, newS],
      ] as const;
      found.push({ nodes: changes, inst: placed, score: score(changes) });
    }
    const own = bestOf(found, failures, passes);
    // Across primaries a later one wins a tie, as htools' sumAllocs keeps it.
    if (own !== null && (best === null || !(best.score < own.score))) best = own;
  }
  return { failures, solution: best };
}

/** A new instance of a spec, as hspace's instFromSpec makes it: one disk, running, auto-balanced. */
export function instanceFromSpec(spec: RSpec, template: DiskTemplate, spindleUse: number): InstState {
  return probeInstance({
    name: asInstanceName('new'),
    memoryMiB: spec.memoryMiB,
    diskMiB: spec.diskMiB,
    disksMiB: [spec.diskMiB],
    totalSpindles: spec.spindles,
    vcpus: spec.vcpus,
    autoBalance: true,
    template,
    spindleUse,
  });
}

/** An instance's resources (htools' Instance.specOf); spindles only for a single disk. */
export const specOfInstance = (i: InstState): RSpec => ({
  memoryMiB: i.memoryMiB,
  diskMiB: i.diskMiB,
  vcpus: i.vcpus,
  spindles: i.disksMiB.length === 1 ? (i.totalSpindles ?? 0) : 0,
});

/** htools' units of shrinking: 64 MiB of memory, 256 MiB per disk, one CPU, one spindle. */
const unitMem = 64;
const unitDsk = 256;
const unitCpu = 1;
const unitSpindle = 1;

/** htools' Instance.shrinkByType: one unit less of the failing resource, or null below one unit. */
export function shrinkByType(i: InstState, mode: FailMode): InstState | null {
  switch (mode) {
    case 'FailMem':
      return i.memoryMiB - unitMem < unitMem ? null : { ...i, memoryMiB: i.memoryMiB - unitMem };
    case 'FailDisk': {
      const disks = i.disksMiB.map((d) => d - unitDsk);
      if (disks.some((d) => d < unitDsk)) return null;
      return { ...i, disksMiB: disks, diskMiB: i.diskMiB - i.disksMiB.length * unitDsk };
    }
    case 'FailCPU':
      return i.vcpus - unitCpu < unitCpu ? null : { ...i, vcpus: i.vcpus - unitCpu };
    case 'FailSpindles':
      if (i.disksMiB.length !== 1 || i.totalSpindles === null || i.totalSpindles - unitSpindle < unitSpindle)
        return null;
      return { ...i, totalSpindles: i.totalSpindles - unitSpindle };
    default:
      return null;
  }
}

/** Where an allocation run ended: the cluster, the instances it placed (in order), why the next failed. */
export interface AllocResult {
  readonly failures: FailStats;
  readonly state: ClusterState;
  readonly placed: readonly InstState[];
}

/** htools' iterateAllocSmallStep: the same instance again and again until it fails or the limit is hit. */
function iterateSmallSteps(
  start: AllocResult,
  limit: number | null,
  newInst: InstState,
  targets: AllocNodes,
  options: CapacityOptions,
): AllocResult {
  let { state } = start;
  const placed = [...start.placed];
  let left = limit;
  // DRBD placements rely on the N+1 memory reservation alone.
  const opts = newInst.template === 'drbd' ? { ...options, capacity: false } : options;
  for (;;) {
    const inst = { ...newInst, name: asInstanceName(`new-${placed.length}`), idx: state.instances.length };
    const sol = tryAlloc(state, inst, targets, opts);
    if (sol.solution === null || left === 0)
      return { failures: collapseFailures(sol.failures), state, placed };
    state = applySolution(state, sol.solution);
    placed.push(state.instances[state.instances.length - 1] as InstState);
    if (left !== null) left--;
  }
}

/** htools' guessBigstepSize: about the instances memory still allows, at least 20. */
function bigStepSize(state: ClusterState, inst: InstState): number {
  const available = state.nodes.reduce((sum, n) => sum + availMem(n), 0);
  const guess = Math.floor(available / inst.memoryMiB) - state.nodes.length;
  return Math.max(guess, 20);
}

/**
 * htools' iterateAlloc: with capacity checks, first steps of many placements checked only at their end
 * (the result is the same, found faster), then single checked steps where a big one fails the check.
 */
export function iterateAlloc(
  start: AllocResult,
  limit: number | null,
  newInst: InstState,
  targets: AllocNodes,
  options: CapacityOptions,
  hugeStep = true,
): AllocResult {
  if (!options.capacity) return iterateSmallSteps(start, limit, newInst, targets, options);
  const step = hugeStep ? bigStepSize(start.state, newInst) : 10;
  const stepLimit = limit === null ? step : Math.min(step, limit);
  const nextLimit = limit === null ? null : Math.max(0, limit - step);
  const res = iterateSmallSteps(start, stepLimit, newInst, targets, { ...options, capacity: false });
  if (globallyRedundant(res.state, options)) {
    if (nextLimit === 0 || res.placed.length === start.placed.length) return res;
    return iterateAlloc(res, nextLimit, newInst, targets, options, hugeStep);
  }
  if (hugeStep) return iterateAlloc(start, limit, newInst, targets, options, false);
  return iterateSmallSteps(start, limit, newInst, targets, options);
}

/** What a tried size showed: whether it fits, and why not where it does not. */
interface Trial {
  readonly fits: boolean;
  readonly failures: ReadonlySet<FailMode>;
}

/**
 * One tiered run's fixed inputs, and the sizes already tried per cluster state: the searches of its levels
 * walk the same shrinking chains again from the same state (htools recomputes them; a deep search on a
 * full cluster would take the square of its depth).
 */
interface TieredSearch {
  readonly targets: AllocNodes;
  readonly options: CapacityOptions;
  readonly trials: WeakMap<ClusterState, Map<string, Trial>>;
  /** Per state, "mode|size" → what shrunkToFit answers from that size. */
  readonly shrunk: WeakMap<ClusterState, Map<string, InstState | null>>;
}

const sizeKey = (i: InstState): string =>
  `${i.memoryMiB},${i.diskMiB},${i.disksMiB.join(':')},${i.vcpus},${i.totalSpindles}`;

function trial(search: TieredSearch, state: ClusterState, inst: InstState): Trial {
  let known = search.trials.get(state);
  if (known === undefined) {
    known = new Map();
    search.trials.set(state, known);
  }
  const key = sizeKey(inst);
  const seen = known.get(key);
  if (seen !== undefined) return seen;
  let result: Trial;
  try {
    const sol = tryAlloc(state, inst, search.targets, search.options);
    result = { fits: sol.solution !== null, failures: new Set(sol.failures) };
  } catch (error) {
    if (!(error instanceof AllocationError)) throw error;
    result = { fits: false, failures: new Set() };
  }
  known.set(key, result);
  return result;
}

/**
 * htools' sufficesShrinking: shrinking only this resource, the first size that fits, as long as every
 * size on the way still fails (also) for this reason. Each size on the way has the answer of the next, so
 * every size walked keeps the answer found.
 */
function shrunkToFit(
  search: TieredSearch,
  state: ClusterState,
  inst: InstState,
  mode: FailMode,
): InstState | null {
  let known = search.shrunk.get(state);
  if (known === undefined) {
    known = new Map();
    search.shrunk.set(state, known);
  }
  const walked: string[] = [];
  let answer: InstState | null = null;
  for (
    let candidate: InstState | null = inst;
    candidate !== null;
    candidate = shrinkByType(candidate, mode)
  ) {
    const key = `${mode}|${sizeKey(candidate)}`;
    const seen = known.get(key);
    if (seen !== undefined) {
      answer = seen;
      break;
    }
    walked.push(key);
    const tried = trial(search, state, candidate);
    if (tried.fits) {
      answer = candidate;
      break;
    }
    if (!tried.failures.has(mode)) break;
  }
  for (const key of walked) known.set(key, answer);
  return answer;
}

/** One level of the tiered search: a size allocated until it failed, and why it failed. */
interface Level {
  readonly res: AllocResult;
  readonly inst: InstState;
  readonly nextLimit: number | null;
  /** Fewest first, stable: the last is the most frequent, the later mode among equals. */
  readonly sortedModes: readonly FailMode[];
}

/** The level's result when shrinking its most frequent failure led nowhere: a big step, or where it stands. */
function bigStep(search: TieredSearch, level: Level): AllocResult {
  for (const mode of [...level.sortedModes].reverse()) {
    const fits = shrunkToFit(search, level.res.state, level.inst, mode);
    if (fits !== null) return tiered(search, level.res, level.nextLimit, fits);
  }
  return level.res;
}

/**
 * htools' tieredAlloc: allocate the spec until it fails, then shrink the resource that failed most (the
 * later mode on a tie) and go on; where that leads to no more instances, shrink instead the first
 * resource, most frequent first, whose shrinking alone lets an instance fit. htools recurses once per
 * unit shrunk (thousands deep for disk); this walks the levels down, then back up.
 */
function tiered(
  search: TieredSearch,
  start: AllocResult,
  limit: number | null,
  newInst: InstState,
): AllocResult {
  const levels: Level[] = [];
  let from = start;
  let left = limit;
  let inst: InstState | null = newInst;
  let below: AllocResult | null = null;
  while (inst !== null) {
    const res = iterateAlloc(from, left, inst, search.targets, search.options);
    const count = res.placed.length;
    if (left !== null && left <= count) {
      below = res;
      break;
    }
    const nextLimit = left === null ? null : left - count;
    const sortedModes = [...res.failures].sort((a, b) => a[1] - b[1]).map(([mode]) => mode);
    levels.push({ res, inst, nextLimit, sortedModes });
    const mostFrequent = sortedModes[sortedModes.length - 1];
    inst = mostFrequent === undefined ? null : shrinkByType(inst, mostFrequent);
    from = res;
    left = nextLimit;
  }
  for (let k = levels.length - 1; k >= 0; k--) {
    const level = levels[k] as Level;
    const progress = below !== null && below.state.instances.length > level.res.state.instances.length;
    below = progress && below !== null ? below : bigStep(search, level);
  }
  return below ?? start;
}

export function tieredAlloc(
  start: AllocResult,
  limit: number | null,
  newInst: InstState,
  targets: AllocNodes,
  options: CapacityOptions,
): AllocResult {
  return tiered({ targets, options, trials: new WeakMap(), shrunk: new WeakMap() }, start, limit, newInst);
}

/** Consecutive instances of one spec, counted (hspace's tieredSpecMap). */
export function tieredSpecMap(placed: readonly InstState[]): { spec: RSpec; count: number }[] {
  const result: { spec: RSpec; count: number }[] = [];
  for (const inst of placed) {
    const spec = specOfInstance(inst);
    const last = result[result.length - 1];
    if (last !== undefined && sameSpec(last.spec, spec)) last.count++;
    else result.push({ spec, count: 1 });
  }
  return result;
}

const sameSpec = (a: RSpec, b: RSpec): boolean =>
  a.memoryMiB === b.memoryMiB && a.diskMiB === b.diskMiB && a.vcpus === b.vcpus && a.spindles === b.spindles;

// Cluster statistics (htools' CStats).

const hiCpu = (n: NodeState): number => Math.floor(n.policy.vcpuRatio * n.tCpu);
export const availMem = (n: NodeState): number => Math.max(0, unallocatedMem(n) - n.rMem);
const availDisk = (n: NodeState): number => (n.fDsk < n.loDsk ? 0 : n.fDsk - n.loDsk);
const availCpu = (n: NodeState): number => (hiCpu(n) >= n.uCpu ? hiCpu(n) - n.uCpu : 0);

export interface ClusterStats {
  readonly fMem: number;
  readonly fDsk: number;
  readonly fSpn: number;
  readonly aMem: number;
  readonly aDsk: number;
  readonly aCpu: number;
  readonly mMem: number;
  readonly mDsk: number;
  readonly mCpu: number;
  readonly iMem: number;
  readonly iDsk: number;
  readonly iSpn: number;
  readonly iCpu: number;
  readonly tMem: number;
  readonly tDsk: number;
  readonly tSpn: number;
  readonly tCpu: number;
  readonly vCpu: number;
  readonly nCpu: number;
  readonly xMem: number;
  readonly nMem: number;
  readonly score: number;
  readonly instances: number;
}

/** The cluster score, a spread over no node counting as none (htools' statistics of an empty list are 0). */
function scoreOf(nodes: readonly NodeState[]): number {
  return scoreBreakdown(nodes).components.reduce(
    (sum, c) => sum + (Number.isNaN(c.value) ? 0 : c.value * c.weight),
    0,
  );
}

/** htools' totalResources, over every node, offline ones included. */
export function totalResources(nodes: readonly NodeState[]): ClusterStats {
  const s = {
    fMem: 0,
    fDsk: 0,
    fSpn: 0,
    aMem: 0,
    aDsk: 0,
    aCpu: 0,
    mMem: 0,
    mDsk: 0,
    mCpu: 0,
    iMem: 0,
    iDsk: 0,
    iSpn: 0,
    iCpu: 0,
    tMem: 0,
    tDsk: 0,
    tSpn: 0,
    tCpu: 0,
    vCpu: 0,
    nCpu: 0,
    xMem: 0,
    nMem: 0,
    score: scoreOf(nodes),
    instances: 0,
  };
  for (const n of nodes) {
    s.fMem += unallocatedMem(n);
    s.fDsk += n.fDsk;
    s.fSpn += n.fSpindles;
    s.aMem += availMem(n);
    s.aDsk += availDisk(n);
    s.aCpu += availCpu(n);
    s.mMem = Math.max(s.mMem, availMem(n));
    s.mDsk = Math.max(s.mDsk, availDisk(n));
    s.mCpu = Math.max(s.mCpu, availCpu(n));
    s.iMem += n.iMem;
    s.iDsk += Math.trunc(n.tDsk) - n.fDsk;
    s.iSpn += n.tSpindles - n.fSpindles;
    s.iCpu += n.uCpu;
    s.tMem += n.tMem;
    s.tDsk += n.tDsk;
    s.tSpn += n.tSpindles;
    s.tCpu += n.tCpu;
    s.vCpu += hiCpu(n);
    s.nCpu += n.uCpu / n.policy.vcpuRatio;
    s.xMem += n.xMem;
    s.nMem += n.nMem;
    s.instances += n.pCount;
  }
  return s;
}

/** One of hspace's key metrics (htools' AllocInfo). */
export interface AllocInfo {
  readonly vcpus: number;
  readonly ncpus: number;
  readonly memoryMiB: number;
  readonly diskMiB: number;
  readonly spindles: number;
}

/** htools' computeAllocationDelta: what was used, what the run allocated, what stays unallocated. */
export function allocationDelta(ini: ClusterStats, fin: ClusterStats): [AllocInfo, AllocInfo, AllocInfo] {
  return [
    { vcpus: ini.iCpu, ncpus: ini.nCpu, memoryMiB: ini.iMem, diskMiB: ini.iDsk, spindles: ini.iSpn },
    {
      vcpus: fin.iCpu - ini.iCpu,
      ncpus: fin.nCpu - ini.nCpu,
      memoryMiB: fin.iMem - ini.iMem,
      diskMiB: fin.iDsk - ini.iDsk,
      spindles: fin.iSpn - ini.iSpn,
    },
    {
      vcpus: fin.vCpu - fin.iCpu,
      ncpus: fin.tCpu - fin.nCpu,
      memoryMiB: Math.trunc(fin.tMem) - fin.iMem,
      diskMiB: Math.trunc(fin.tDsk) - fin.iDsk,
      spindles: Math.trunc(fin.tSpn) - fin.iSpn,
    },
  ];
}

/** What hspace runs: the specs, the disk template and its options. */
export interface HspaceParams {
  readonly template: DiskTemplate;
  readonly spindleUse: number;
  /** The tiered runs' starting specs, one after the other (the policy's max specs by default). */
  readonly tieredSpecs: readonly RSpec[];
  readonly standardSpec: RSpec;
  /** -l: at most this many instances per run. */
  readonly limit: number | null;
  readonly capacity: boolean;
  readonly acceptExisting: boolean;
  readonly independentGroups: boolean;
}

export interface HspaceResult {
  /** Online nodes failing N+1 already. */
  readonly badNodes: readonly NodeState[];
  /** Groups that are not globally N+1 redundant already. */
  readonly badGroups: readonly number[];
  readonly targets: AllocNodes;
  /** Each run's end, its failure reasons sorted most frequent first. */
  readonly tiered: AllocResult;
  readonly standard: AllocResult;
}

/**
 * hspace's main line: refuse to allocate on a cluster already broken (unless told to accept that, or to
 * judge groups apart), then the tiered runs, then the standard one, each from the initial cluster.
 */
export function runHspace(state: ClusterState, params: HspaceParams): HspaceResult {
  const base: CapacityOptions = {
    capacity: params.capacity,
    acceptExisting: params.acceptExisting,
    ignoreGroups: new Set(),
  };
  const badNodes = state.nodes.filter((n) => !n.offline && n.failN1);
  const badGroups = state.groups.map((g) => g.idx).filter((g) => !globallyRedundant(state, base, g));
  const unallocable = new Set(
    state.groups.filter((g) => g.spec.allocPolicy === 'unallocable').map((g) => g.idx),
  );
  if (!params.acceptExisting) for (const n of badNodes) unallocable.add(n.group);
  const options = params.independentGroups ? { ...base, ignoreGroups: new Set(badGroups) } : base;
  if (params.independentGroups) for (const g of badGroups) unallocable.add(g);
  const remaining = state.groups.some((g) => !unallocable.has(g.idx));
  const proceed = params.acceptExisting || (params.independentGroups && remaining) || badNodes.length === 0;
  const targets = allocNodes(state, (g) => !unallocable.has(g), params.template === 'drbd' ? 2 : 1);
  const start: AllocResult = { failures: [], state, placed: [] };
  const refused: AllocResult = { failures: [['FailN1', 1]], state, placed: [] };
  if (!proceed) return { badNodes, badGroups, targets, tiered: refused, standard: refused };
  let tiered = start;
  for (const spec of params.tieredSpecs) {
    const count = tiered.placed.length;
    if (params.limit !== null && params.limit <= count) break;
    const limit = params.limit === null ? null : params.limit - count;
    tiered = tieredAlloc(
      tiered,
      limit,
      instanceFromSpec(spec, params.template, params.spindleUse),
      targets,
      options,
    );
  }
  const standard = iterateAlloc(
    start,
    params.limit,
    instanceFromSpec(params.standardSpec, params.template, params.spindleUse),
    targets,
    options,
  );
  return {
    badNodes,
    badGroups,
    targets,
    tiered: { ...tiered, failures: sortReasons(tiered.failures) },
    standard: { ...standard, failures: sortReasons(standard.failures) },
  };
}
