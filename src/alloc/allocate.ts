import { redundant } from './global-n1.js';
import { ScoreAccumulator } from './metrics.js';
import { checkPolicy } from './policy.js';
import {
  addPrimary,
  addSecondary,
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
 * Placing new instances, as hail does: in each group, try every node (or every node pair for
 * DRBD), keep the placement with the lowest group score; prefer `preferred` groups to
 * `last_resort` ones, never use `unallocable` ones.
 */

export interface Placement {
  readonly group: number;
  readonly primary: number;
  readonly secondary: number;
  readonly score: number;
  readonly state: ClusterState;
}

/** Why no node (pair) would do: each failure mode with the number of candidates it ruled out. */
export type FailureCounts = Partial<Record<FailMode, number>>;

export interface GroupAttempt {
  readonly group: number;
  readonly placement: Placement | null;
  readonly failures: FailureCounts;
  readonly successes: number;
}

export interface AllocateOptions {
  /** Only these groups (indices); all by default. */
  readonly groups?: readonly number[];
  /** Only these nodes (hail --restrict-allocation-to / restrict-to-nodes). */
  readonly restrictToNodes?: ReadonlySet<string>;
  readonly ignoreSoftErrors?: boolean;
  /** Nodes that may not take the instance (the ones being evacuated). */
  readonly excludeNodes?: ReadonlySet<number>;
  /**
   * htools' global capacity check (on by default, as in hail; hail --no-capacity-checks and
   * hspace's DRBD runs turn it off): refuse placements after which some node could not be
   * evacuated. Refused placements count as FailN1.
   */
  readonly capacityChecks?: boolean;
}

const policyRank = { preferred: 0, last_resort: 1, unallocable: 2 } as const;

/** Tries one group; the instance's pNode/sNode are ignored. */
export function allocateInGroup(
  state: ClusterState,
  inst: InstState,
  group: number,
  options: AllocateOptions = {},
): GroupAttempt {
  const force = options.ignoreSoftErrors ?? false;
  const members = state.nodes.filter((n) => n.group === group);
  const candidates = members.filter(
    (n) =>
      !n.offline &&
      !(options.excludeNodes?.has(n.idx) ?? false) &&
      (options.restrictToNodes === undefined || options.restrictToNodes.has(n.name)),
  );
  const acc = new ScoreAccumulator(members);
  const failures: FailureCounts = {};
  const fail = (mode: FailMode): void => {
    failures[mode] = (failures[mode] ?? 0) + 1;
  };
  interface Option {
    readonly p: NodeState;
    readonly s: NodeState | null;
    readonly newP: NodeState;
    readonly newS: NodeState | null;
    readonly score: number;
    readonly rank: number[];
  }
  const found: Option[] = [];
  let successes = 0;
  const dedicated = isDedicated(state);
  const probes = dedicated ? probeInstances(inst, members[0]?.policy) : [];
  const consider = (p: NodeState, s: NodeState | null, newP: NodeState, newS: NodeState | null): void => {
    successes++;
    const changes: [NodeState, NodeState][] = [[p, newP]];
    if (s !== null && newS !== null) changes.push([s, newS]);
    const score = acc.trial(changes);
    found.push({ p, s, newP, newS, score, rank: dedicated ? lostAllocations(probes, changes) : [score] });
  };
  const twoNodes = hasSecondary(inst);
  for (const p of candidates) {
    const policyFailure = checkPolicy(inst, p.policy, p.exclusiveStorage);
    if (policyFailure !== null) {
      if (twoNodes) for (let k = 1; k < candidates.length; k++) fail(policyFailure);
      else fail(policyFailure);
      continue;
    }
    if (!twoNodes) {
      const placed = { ...inst, pNode: p.idx, sNode: noNode, locationScore: 0 };
      const newP = addPrimary(p, placed, force);
      if (isFailMode(newP)) fail(newP);
      else consider(p, null, newP, null);
      continue;
    }
    for (const s of candidates) {
      if (s.idx === p.idx) continue;
      const placed = { ...inst, pNode: p.idx, sNode: s.idx, locationScore: sharedLocations(p, s) };
      const newP = addPrimary(p, placed, force);
      if (isFailMode(newP)) {
        fail(newP);
        continue;
      }
      const newS = addSecondary(s, placed, p.idx, false);
      if (isFailMode(newS)) fail(newS);
      else consider(p, s, newP, newS);
    }
  }
  // Best first, as htools sorts its solutions; the capacity check drops those that fail it.
  found.sort((x, y) => (lexicographicLess(x.rank, y.rank) ? -1 : lexicographicLess(y.rank, x.rank) ? 1 : 0));
  const stateWith = (o: Option): { nodes: NodeState[]; placed: InstState } => {
    const nodes = [...state.nodes];
    nodes[o.p.idx] = o.newP;
    if (o.newS !== null) nodes[o.newS.idx] = o.newS;
    const placed: InstState = {
      ...inst,
      pNode: o.p.idx,
      sNode: o.s?.idx ?? noNode,
      locationScore: o.s === null ? 0 : sharedLocations(o.p, o.s),
    };
    return { nodes, placed };
  };
  let chosen: Option | null = null;
  let built: { nodes: NodeState[]; placed: InstState } | null = null;
  for (const o of found) {
    const candidate = stateWith(o);
    // hail's dedicated allocation has no capacity check.
    if ((options.capacityChecks ?? true) && !dedicated) {
      const after = [...state.instances];
      after[inst.idx] = candidate.placed;
      if (!redundant({ ...state, nodes: candidate.nodes, instances: after })) {
        fail('FailN1');
        successes--;
        continue;
      }
    }
    chosen = o;
    built = candidate;
    break;
  }
  if (chosen === null || built === null) return { group, placement: null, failures, successes };
  const { nodes, placed } = built;
  const instances = [...state.instances];
  instances[inst.idx] = placed;
  return {
    group,
    successes,
    failures,
    placement: {
      group,
      primary: chosen.p.idx,
      secondary: chosen.s?.idx ?? noNode,
      score: chosen.score,
      state: { ...state, nodes, instances },
    },
  };
}

/** Tries every allowed group and picks the best by allocation policy, then score. */
export function allocate(
  state: ClusterState,
  inst: InstState,
  options: AllocateOptions = {},
): { best: Placement | null; attempts: GroupAttempt[] } {
  const groups = (options.groups ?? state.groups.map((g) => g.idx)).filter(
    (g) => state.groups[g]?.spec.allocPolicy !== 'unallocable' && state.nodes.some((n) => n.group === g),
  );
  const attempts = groups.map((g) => allocateInGroup(state, inst, g, options));
  const rank = (a: GroupAttempt): number =>
    policyRank[state.groups[a.group]?.spec.allocPolicy ?? 'unallocable'];
  const ok = attempts
    .filter((a) => a.placement !== null)
    .sort((a, b) => rank(a) - rank(b) || (a.placement?.score ?? 0) - (b.placement?.score ?? 0));
  return { best: ok[0]?.placement ?? null, attempts };
}

/** hail's wording: "FailMem: 3, FailDisk: 1". */
export function describeFailures(failures: FailureCounts): string {
  return Object.entries(failures)
    .filter(([, n]) => (n ?? 0) > 0)
    .sort((a, b) => (b[1] ?? 0) - (a[1] ?? 0))
    .map(([mode, n]) => `${mode}: ${n}`)
    .join(', ');
}

/** Adds a new instance record to the state (unplaced), so that allocation can place it. */
export function withNewInstance(
  state: ClusterState,
  inst: Omit<InstState, 'idx'>,
): [ClusterState, InstState] {
  const placed: InstState = { ...inst, idx: state.instances.length };
  const instanceByName = new Map(state.instanceByName);
  instanceByName.set(placed.name, placed.idx);
  return [{ ...state, instances: [...state.instances, placed], instanceByName }, placed];
}

/**
 * A cluster where every node uses exclusive storage is "dedicated": hail then places an
 * instance where it destroys the fewest future allocations of the policy's minimal sizes,
 * and packs disks tightly, instead of minimising the score.
 */
export function isDedicated(state: ClusterState): boolean {
  const allocable = new Set(
    state.groups.filter((g) => g.spec.allocPolicy !== 'unallocable').map((g) => g.idx),
  );
  return state.nodes.every((n) => n.exclusiveStorage || !allocable.has(n.group));
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
): number[] {
  const lost = probes.map((probe) =>
    changes.reduce((sum, [before, after]) => sum + fits(probe, before) - fits(probe, after), 0),
  );
  return [...lost, changes.reduce((sum, [, after]) => sum + after.fDsk, 0)];
}

function lexicographicLess(a: readonly number[], b: readonly number[]): boolean {
  for (let k = 0; k < Math.min(a.length, b.length); k++) {
    if ((a[k] ?? 0) !== (b[k] ?? 0)) return (a[k] ?? 0) < (b[k] ?? 0);
  }
  return false;
}
