import { diskTemplateTraits } from '../cluster/disk-templates.js';
import { allocate } from './allocate.js';
import { describeAllocation, describeNoGroups } from './iallocator/words.js';
import { moveToOpcodes, type OpCode } from './jobs.js';
import { htoolsScore } from './metrics.js';
import { applyMove, type Move } from './moves.js';
import {
  type ClusterState,
  hasSecondary,
  type InstState,
  isFailMode,
  type NodeState,
  noNode,
} from './state.js';

/**
 * Moving instances off nodes (node-evacuate) or into other groups (change-group), one
 * instance after the other, each to the placement with the lowest group score, as hail does
 * (htools' Cluster/Evacuate.hs, whose failure messages these repeat).
 */

export type EvacMode = 'primary-only' | 'secondary-only' | 'all';

export interface EvacOptions {
  /** Ignore the soft checks (htools' --ignore-soft-errors). */
  readonly force?: boolean;
  /**
   * The cluster can copy a non-mirrored instance's disks to another node (Corral's instance move), so
   * such primaries move like shared-storage ones. hail cannot, and refuses them; off by default.
   */
  readonly copyDisks?: boolean;
  /** htools' capacity check for change-group's choice of group (on by default, as in hail). */
  readonly capacityChecks?: boolean;
}

export interface EvacResult {
  /** Instance, its group's name and its new nodes (primary first). */
  readonly moved: readonly {
    readonly instance: number;
    readonly group: string;
    readonly nodes: readonly number[];
  }[];
  readonly failed: readonly { readonly instance: number; readonly reason: string }[];
  /** One job per moved instance. */
  readonly jobs: readonly (readonly OpCode[])[];
  readonly state: ClusterState;
}

interface Outcome {
  readonly state: ClusterState;
  readonly score: number;
  readonly opcodes: OpCode[];
}

class EvacFailure {
  constructor(readonly reason: string) {}
}

/** A step of a move sequence, with the words htools puts before its failure. */
interface Step {
  readonly move: Move;
  readonly stage?: string;
}

/** Applies moves one after the other; the score is the target group's after the last. */
function applySequence(
  state: ClusterState,
  inst: InstState,
  steps: readonly Step[],
  group: number,
  force: boolean,
): Outcome | EvacFailure {
  const nodes = [...state.nodes];
  let current = inst;
  const opcodes: OpCode[] = [];
  const name = (idx: number): string => nodes[idx]?.name ?? '';
  for (const { move, stage } of steps) {
    const result = applyMove(nodes, current, move, force);
    if (isFailMode(result)) return new EvacFailure(stage === undefined ? result : `${stage}: ${result}`);
    for (const [, after] of result.changes) nodes[after.idx] = after;
    opcodes.push(...moveToOpcodes(current, move, name));
    current = result.instance;
  }
  const score = htoolsScore(nodes.filter((n) => n.group === group));
  const instances = [...state.instances];
  instances[inst.idx] = current;
  return { state: { ...state, nodes, instances }, score, opcodes };
}

/** htools' evacOneNodeOnly: one move to the best single node; the failures listed while none fit. */
function toBestNode(
  state: ClusterState,
  inst: InstState,
  kind: 'replace-secondary' | 'failover-to-any',
  group: number,
  available: readonly number[],
  force: boolean,
): Outcome | EvacFailure {
  let chosen: Outcome | null = null;
  let failures = '';
  for (const n of available) {
    const o = applySequence(state, inst, [{ move: { kind, node: n } }], group, force);
    if (o instanceof EvacFailure) failures += ` Node ${state.nodes[n]?.name} failed: ${o.reason};`;
    // On a tie the later node wins, as in htools.
    else if (chosen === null || o.score <= chosen.score) chosen = o;
  }
  return chosen ?? new EvacFailure(`Can't find any good node: ${failures}`);
}

/** htools' ChangeAll for DRBD: every new primary/secondary pair, the last failure kept while none fit. */
function toBestPair(
  state: ClusterState,
  inst: InstState,
  group: number,
  available: readonly number[],
  force: boolean,
): Outcome | EvacFailure {
  const primaryOffline = (state.nodes[inst.pNode] as NodeState).offline;
  let chosen: Outcome | null = null;
  let failure = 'no nodes available';
  for (const p of available) {
    for (const s of available) {
      if (p === s) continue;
      const steps: Step[] = [
        ...(primaryOffline
          ? [{ move: { kind: 'failover' }, stage: 'Failing over to the secondary' } as const]
          : []),
        { move: { kind: 'replace-secondary', node: p }, stage: 'Changing secondary to new primary' },
        { move: { kind: 'failover' }, stage: 'Failing over to new primary' },
        { move: { kind: 'replace-secondary', node: s }, stage: 'Changing secondary to final secondary' },
      ];
      const o = applySequence(state, inst, steps, group, force);
      if (o instanceof EvacFailure) {
        if (chosen === null) failure = `Allocation failed: ${o.reason}`;
      } else if (chosen === null || o.score <= chosen.score) chosen = o;
    }
  }
  return chosen ?? new EvacFailure(`Can't find any good nodes for relocation: ${failure}`);
}

/** Moves one instance in the given mode to the best of the available nodes of a group (htools' nodeEvacInstance). */
function evacuateInstance(
  state: ClusterState,
  inst: InstState,
  mode: EvacMode,
  group: number,
  available: readonly number[],
  options: EvacOptions,
): Outcome | EvacFailure {
  const force = options.force ?? false;
  const { mirror } = diskTemplateTraits[inst.template];
  if (mirror === 'none' && !(options.copyDisks ?? false))
    return new EvacFailure(`Instances of type ${inst.template} cannot be relocated`);
  if (mirror !== 'internal') {
    if (mode === 'secondary-only')
      return new EvacFailure(
        `Instances with disk template '${inst.template}' can't execute change secondary`,
      );
    return toBestNode(state, inst, 'failover-to-any', group, available, force);
  }
  if (mode === 'primary-only')
    return applySequence(state, inst, [{ move: { kind: 'failover' } }], group, force);
  if (mode === 'secondary-only') return toBestNode(state, inst, 'replace-secondary', group, available, force);
  return toBestPair(state, inst, group, available, force);
}

function finish(
  state: ClusterState,
  idxs: readonly number[],
  plan: (state: ClusterState, inst: InstState) => Outcome | EvacFailure,
): EvacResult {
  let current = state;
  const moved: { instance: number; group: string; nodes: number[] }[] = [];
  const failed: { instance: number; reason: string }[] = [];
  const jobs: OpCode[][] = [];
  for (const idx of idxs) {
    // The instance as it was at the start, as htools takes it (which only matters if it is listed twice).
    const inst = state.instances[idx] as InstState;
    const outcome = plan(current, inst);
    if (outcome instanceof EvacFailure) {
      failed.push({ instance: idx, reason: outcome.reason });
      continue;
    }
    current = outcome.state;
    const after = current.instances[idx] as InstState;
    const group = current.nodes[after.pNode]?.group ?? 0;
    moved.push({
      instance: idx,
      group: current.groups[group]?.spec.name ?? '',
      nodes: after.sNode === noNode ? [after.pNode] : [after.pNode, after.sNode],
    });
    jobs.push(outcome.opcodes);
  }
  return { moved, failed, jobs, state: current };
}

export function nodeEvacuate(
  state: ClusterState,
  idxs: readonly number[],
  mode: EvacMode,
  options: EvacOptions = {},
): EvacResult {
  // No instance may land on any node being emptied, nor on an offline one.
  const evacuated = new Set<number>();
  for (const idx of idxs) {
    const i = state.instances[idx] as InstState;
    if (mode !== 'secondary-only') evacuated.add(i.pNode);
    if (mode !== 'primary-only' && hasSecondary(i)) evacuated.add(i.sNode);
  }
  return finish(state, idxs, (current, inst) => {
    const group = current.nodes[inst.pNode]?.group ?? 0;
    const available = current.nodes
      .filter((n) => n.group === group && !n.offline && !evacuated.has(n.idx) && n.idx !== inst.pNode)
      .map((n) => n.idx);
    return evacuateInstance(current, inst, mode, group, available, options);
  });
}

/**
 * Each instance to the best group among the targets (all groups but the instances' own when none
 * are given), then to the best nodes there; the moves themselves never ignore soft errors, as in hail.
 */
export function changeGroup(
  state: ClusterState,
  idxs: readonly number[],
  targetGroups: readonly number[],
  options: EvacOptions = {},
): EvacResult {
  const sourceGroups = new Set(idxs.map((i) => state.nodes[state.instances[i]?.pNode ?? 0]?.group));
  const targets = (targetGroups.length > 0 ? targetGroups : state.groups.map((g) => g.idx)).filter(
    (g) => !sourceGroups.has(g),
  );
  return finish(state, idxs, (current, inst) => {
    const result = allocate(current, inst, {
      groups: targets,
      ignoreSoftErrors: options.force ?? false,
      capacityChecks: options.capacityChecks ?? true,
    });
    const placement = result.best;
    if (placement === null) {
      const lines = describeAllocation(current, result, inst.name);
      return new EvacFailure(lines.length === 0 ? describeNoGroups(current, targets) : lines.join(', '));
    }
    const available = current.nodes
      .filter((n) => n.group === placement.group && !n.offline)
      .map((n) => n.idx);
    return evacuateInstance(current, inst, 'all', placement.group, available, {
      copyDisks: options.copyDisks ?? false,
    });
  });
}

/** A new secondary (DRBD) or primary (shared storage) away from the given nodes (htools' processRelocate). */
export function relocate(
  state: ClusterState,
  idx: number,
  from: readonly number[],
  force = false,
): EvacResult {
  const inst = state.instances[idx] as InstState;
  const { mirror } = diskTemplateTraits[inst.template];
  const refuse = (reason: string): EvacResult => ({
    moved: [],
    failed: [{ instance: idx, reason }],
    jobs: [],
    state,
  });
  if (mirror === 'none') return refuse("Can't relocate non-mirrored instances");
  const expected = mirror === 'internal' ? inst.sNode : inst.pNode;
  if (from.length !== 1 || from[0] !== expected) {
    const role = mirror === 'internal' ? 'secondary' : 'primary';
    return refuse(
      `Unsupported request: excluded nodes not equal to instance's ${role}(${expected} versus [${from.join(',')}])`,
    );
  }
  return nodeEvacuate(state, [idx], mirror === 'internal' ? 'secondary-only' : 'primary-only', { force });
}
