import { redundant } from './global-n1.js';
import { ClusterStatistics, htoolsScore } from './metrics.js';
import { checkPolicy } from './policy.js';
import {
  addPrimary,
  addSecondary,
  baseUtil,
  type ClusterState,
  type FailMode,
  hasSecondary,
  type InstState,
  isFailMode,
  type NodeState,
  noNode,
  sharedLocations,
} from './state.js';
import type { IPolicy } from './types.js';

/**
 * Placing new instances, as htools' tryMGAlloc does: in each group, try every node (or every
 * node pair for DRBD), keep the placement with the lowest cluster score that passes the
 * capacity check; prefer `preferred` groups to `last_resort` ones, never pick `unallocable`
 * ones. Ties go the way htools' folds send them: to the later candidate.
 */

export interface Placement {
  readonly group: number;
  readonly primary: number;
  readonly secondary: number;
  readonly score: number;
  /** A dedicated allocation's lost-allocations metric, which ranks it instead of the score. */
  readonly metric?: DedicatedMetric;
  readonly state: ClusterState;
}

/** Allocations lost per minimal instance size, then the free disk left (less is tighter). */
export interface DedicatedMetric {
  readonly lost: readonly number[];
  readonly diskMiB: number;
}

/** Why no node (pair) would do: each failure mode with the number of candidates it ruled out. */
export type FailureCounts = Partial<Record<FailMode, number>>;

export interface GroupAttempt {
  readonly group: number;
  readonly placement: Placement | null;
  readonly failures: FailureCounts;
  readonly successes: number;
  /** Set when the group could not be tried at all (htools: "Not enough online nodes"). */
  readonly error?: string;
}

export interface AllocateOptions {
  /** Only these groups (indices); all by default. */
  readonly groups?: readonly number[];
  /** Only these nodes (hail --restrict-allocation-to / restrict-to-nodes). */
  readonly restrictToNodes?: ReadonlySet<string>;
  readonly ignoreSoftErrors?: boolean;
  /**
   * htools' global capacity check (on by default, as in hail; hail --no-capacity-checks and
   * hspace's DRBD runs turn it off): refuse placements after which some node could not be
   * evacuated. Refused placements count as FailN1.
   */
  readonly capacityChecks?: boolean;
  /**
   * Judge placements on their group alone, as hail does for a request naming its group; by
   * default the score and the capacity check cover the whole cluster (htools' tryMGAlloc).
   */
  readonly groupScoped?: boolean;
  /** The networks the instance's NICs use: a group must be connected to all of them. */
  readonly networks?: readonly string[];
  /**
   * Rank placements by lost allocations (hail on a dedicated cluster, see isDedicated); implies
   * group scope and no capacity check.
   */
  readonly dedicated?: boolean;
  /** Nodes per placement (the request's required_nodes); by default 2 with a secondary, else 1. */
  readonly nodeCount?: number;
  /**
   * Exactly these node pairs, offline nodes included, instead of the group's online nodes (hail's
   * allocate-secondary: the instance's own primary, any other node of its group).
   */
  readonly targets?: { readonly primary: number; readonly secondaries: readonly number[] };
}

export interface AllocateResult {
  readonly best: Placement | null;
  /** One per group tried, in group order. */
  readonly attempts: GroupAttempt[];
  /** Groups skipped because they lack one of the instance's networks. */
  readonly unconnected: number[];
}

const policyRank = { preferred: 0, last_resort: 1, unallocable: 2 } as const;

interface Solution {
  readonly p: NodeState;
  readonly s: NodeState | null;
  readonly newP: NodeState;
  readonly newS: NodeState | null;
  readonly placed: InstState;
  readonly score: number;
  readonly metric: DedicatedMetric | undefined;
}

/** a ranks strictly before b. */
function better(a: Solution, b: Solution): boolean {
  if (a.metric !== undefined && b.metric !== undefined) return metricLess(a.metric, b.metric);
  return a.score < b.score;
}

/** Tries one group; the instance's pNode/sNode are ignored. */
export function allocateInGroup(
  state: ClusterState,
  inst: InstState,
  group: number,
  options: AllocateOptions = {},
): GroupAttempt {
  const force = options.ignoreSoftErrors ?? false;
  const dedicated = options.dedicated ?? false;
  const scoped = (options.groupScoped ?? false) || dedicated;
  const members = state.nodes.filter((n) => n.group === group);
  const scope = scoped ? members : state.nodes;
  const candidates = members.filter(
    (n) => !n.offline && (options.restrictToNodes === undefined || options.restrictToNodes.has(n.name)),
  );
  const nodeCount = options.nodeCount ?? (hasSecondary(inst) ? 2 : 1);
  const failures: FailureCounts = {};
  const fail = (mode: FailMode, times = 1): void => {
    failures[mode] = (failures[mode] ?? 0) + times;
  };
  const error = (message: string): GroupAttempt => ({
    group,
    placement: null,
    failures,
    successes: 0,
    error: message,
  });
  const targets = options.targets;
  if (targets === undefined) {
    if (nodeCount !== 1 && nodeCount !== 2)
      return error('Unsupported number of nodes, only one or two  supported');
    if (nodeCount === 1 && candidates.length === 0) return error('No online nodes');
    if (nodeCount === 2 && candidates.length < 2) return error('Not enough online nodes');
  }
  const primaries = targets === undefined ? candidates : [state.nodes[targets.primary] as NodeState];
  const secondaries =
    targets === undefined ? candidates : targets.secondaries.map((idx) => state.nodes[idx] as NodeState);
  const probes = dedicated ? probeInstances(inst, members[0]?.policy) : [];
  const checkCapacity = (options.capacityChecks ?? true) && !dedicated;
  const passes = (sol: Solution): boolean => {
    if (!checkCapacity) return true;
    const nodes = [...state.nodes];
    nodes[sol.p.idx] = sol.newP;
    if (sol.newS !== null) nodes[sol.newS.idx] = sol.newS;
    const instances = [...state.instances];
    instances[inst.idx] = sol.placed;
    return redundant({ ...state, nodes, instances }, scoped ? group : undefined);
  };
  // htools' collectionToSolution: the best that passes, the better ones dropped as FailN1.
  const acc: { successes: number; chosen: Solution | null } = { successes: 0, chosen: null };
  const collapse = (found: Solution[]): void => {
    const order = found.reverse().sort((a, b) => (better(a, b) ? -1 : better(b, a) ? 1 : 0));
    let dropped = 0;
    let good: Solution | null = null;
    for (const sol of order) {
      if (passes(sol)) {
        good = sol;
        break;
      }
      dropped++;
    }
    if (dropped > 0) fail('FailN1', dropped);
    acc.successes += found.length - dropped;
    if (good !== null && (acc.chosen === null || !better(acc.chosen, good))) acc.chosen = good;
  };
  if (nodeCount === 1 && targets === undefined) {
    const found: Solution[] = [];
    for (const p of candidates) {
      const refused = checkPolicy(inst, p.policy, p.exclusiveStorage);
      if (refused !== null) {
        fail(refused);
        continue;
      }
      const placed: InstState = { ...inst, pNode: p.idx, sNode: noNode };
      const newP = addPrimary(p, placed, force);
      if (isFailMode(newP)) {
        fail(newP);
        continue;
      }
      const metric = dedicated ? lostAllocations(probes, [[p, newP]]) : undefined;
      const score = dedicated ? 0 : htoolsScore(scope.map((n) => (n.idx === p.idx ? newP : n)));
      found.push({ p, s: null, newP, newS: null, placed, score, metric });
    }
    collapse(found);
  } else {
    const stats = dedicated ? null : ClusterStatistics.of(scope);
    for (const p of primaries) {
      const found: Solution[] = [];
      for (const s of secondaries) {
        if (s.idx === p.idx) continue;
        const refused = checkPolicy(inst, p.policy, p.exclusiveStorage);
        if (refused !== null) {
          fail(refused);
          continue;
        }
        const placed: InstState = {
          ...inst,
          pNode: p.idx,
          sNode: s.idx,
          locationScore: sharedLocations(p, s),
        };
        const newP = addPrimary(p, placed, force);
        if (isFailMode(newP)) {
          fail(newP);
          continue;
        }
        const newS = addSecondary(s, placed, p.idx, false);
        if (isFailMode(newS)) {
          fail(newS);
          continue;
        }
        const metric = dedicated
          ? lostAllocations(probes, [
              [p, newP],
              [s, newS],
            ])
          : undefined;
        const score = stats === null ? 0 : stats.update(p, newP).update(s, newS).score();
        found.push({ p, s, newP, newS, placed, score, metric });
      }
      collapse(found);
    }
  }
  const { successes, chosen: best } = acc;
  if (best === null) return { group, placement: null, failures, successes };
  const nodes = [...state.nodes];
  nodes[best.p.idx] = best.newP;
  if (best.newS !== null) nodes[best.newS.idx] = best.newS;
  const instances = [...state.instances];
  instances[inst.idx] = best.placed;
  return {
    group,
    successes,
    failures,
    placement: {
      group,
      primary: best.p.idx,
      secondary: best.s?.idx ?? noNode,
      score: best.score,
      ...(best.metric === undefined ? {} : { metric: best.metric }),
      state: { ...state, nodes, instances },
    },
  };
}

/** Whether a group is connected to every network the instance needs (htools' hasRequiredNetworks). */
export function hasNetworks(state: ClusterState, group: number, networks: readonly string[]): boolean {
  const connected = state.groups[group]?.spec.networks ?? [];
  return networks.every((net) => connected.includes(net));
}

/**
 * Tries every allowed group that has nodes, in group order, and picks the best by allocation
 * policy, then score (the later group on a tie); unallocable groups are tried but never picked.
 */
export function allocate(
  state: ClusterState,
  inst: InstState,
  options: AllocateOptions = {},
): AllocateResult {
  const withNodes = state.groups
    .map((g) => g.idx)
    .filter((g) => state.nodes.some((n) => n.group === g) && (options.groups?.includes(g) ?? true));
  const networks = options.networks ?? [];
  const unconnected = withNodes.filter((g) => !hasNetworks(state, g, networks));
  const attempts = withNodes
    .filter((g) => !unconnected.includes(g))
    .map((g) => allocateInGroup(state, inst, g, options));
  return { best: bestAttempt(state, attempts)?.placement ?? null, attempts, unconnected };
}

/** The attempt to go with: by allocation policy, then score, the later group on a tie; never unallocable. */
export function bestAttempt(state: ClusterState, attempts: readonly GroupAttempt[]): GroupAttempt | null {
  const policyOf = (a: GroupAttempt) => state.groups[a.group]?.spec.allocPolicy ?? 'unallocable';
  let best: GroupAttempt | null = null;
  for (const a of attempts) {
    if (a.placement === null || policyOf(a) === 'unallocable') continue;
    if (best === null || !groupBefore(best, a, policyOf)) best = a;
  }
  return best;
}

function groupBefore(
  a: GroupAttempt,
  b: GroupAttempt,
  policyOf: (a: GroupAttempt) => keyof typeof policyRank,
): boolean {
  const rank = policyRank[policyOf(a)] - policyRank[policyOf(b)];
  if (rank !== 0) return rank < 0;
  const pa = a.placement as Placement;
  const pb = b.placement as Placement;
  if (pa.metric !== undefined && pb.metric !== undefined) return metricLess(pa.metric, pb.metric);
  return pa.score < pb.score;
}

/** Adds a new instance record to the state (unplaced), so that allocation can place it. */
export function withNewInstance(
  state: ClusterState,
  inst: Omit<InstState, 'idx' | 'util'>,
): [ClusterState, InstState] {
  // A new instance has no measured load yet: it weighs what an unmeasured one does.
  const placed: InstState = { ...inst, idx: state.instances.length, util: baseUtil };
  const instanceByName = new Map(state.instanceByName);
  instanceByName.set(placed.name, placed.idx);
  return [{ ...state, instances: [...state.instances, placed], instanceByName }, placed];
}

/**
 * A cluster where every node of the allocable groups (or of the named group) uses exclusive
 * storage is "dedicated": hail then places an instance where it destroys the fewest future
 * allocations of the policy's minimal sizes, and packs disks tightly, instead of minimising the
 * score (htools' Dedicated.hs).
 */
export function isDedicated(state: ClusterState, groupName?: string | null): boolean {
  const considered = new Set(
    state.groups
      .filter((g) => (groupName == null ? g.spec.allocPolicy !== 'unallocable' : g.spec.name === groupName))
      .map((g) => g.idx),
  );
  return state.nodes.every((n) => n.exclusiveStorage || !considered.has(n.group));
}

/** Minimal instances of each min spec, largest disk first. */
function probeInstances(template: InstState, policy: IPolicy | undefined): InstState[] {
  if (policy === undefined) return [];
  return [...policy.minMax]
    .map((mm) => mm.min)
    .sort((a, b) => b.diskMiB - a.diskMiB)
    .map((spec) => ({
      ...template,
      name: template.name,
      memoryMiB: spec.memoryMiB,
      diskMiB: spec.diskMiB,
      disksMiB: [],
      totalSpindles: 0,
      vcpus: spec.cpuCount,
      status: 'running',
      autoBalance: false,
      template: 'plain',
      spindleUse: spec.spindleUse,
      forthcoming: false,
      exclTags: [],
      desiredLocations: new Set<string>(),
      locationScore: 0,
    }));
}

const probeLimit = 10_000;

function fits(probe: InstState, node: NodeState): number {
  let n = node;
  let placed = 0;
  while (placed < probeLimit) {
    const next = addPrimary(n, probe, false);
    if (isFailMode(next)) break;
    n = next;
    placed++;
  }
  return placed;
}

/** Lost allocations per probe size, summed over the changed nodes, then the free disk left. */
function lostAllocations(
  probes: readonly InstState[],
  changes: readonly (readonly [NodeState, NodeState])[],
): DedicatedMetric {
  return {
    lost: probes.map((probe) =>
      changes.reduce((sum, [before, after]) => sum + fits(probe, before) - fits(probe, after), 0),
    ),
    diskMiB: changes.reduce((sum, [, after]) => sum + after.fDsk, 0),
  };
}

/** Lexicographic, as Haskell orders the pair ([Int], Int). */
function metricLess(a: DedicatedMetric, b: DedicatedMetric): boolean {
  for (let k = 0; k < Math.min(a.lost.length, b.lost.length); k++) {
    const x = a.lost[k] as number;
    const y = b.lost[k] as number;
    if (x !== y) return x < y;
  }
  if (a.lost.length !== b.lost.length) return a.lost.length < b.lost.length;
  return a.diskMiB < b.diskMiB;
}
