import { diskTemplateTraits } from '../cluster/disk-templates.js';
import { allocate } from './allocate.js';
import { moveToOpcodes, type OpCode } from './jobs.js';
import { ScoreAccumulator } from './metrics.js';
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
 * instance after the other, each to the placement with the lowest group score, as hail does.
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

/** Applies moves one after the other; the score is the group's after the last. */
function applySequence(
  state: ClusterState,
  inst: InstState,
  moves: readonly Move[],
  group: number,
  force: boolean,
): Outcome | EvacFailure {
  const nodes = [...state.nodes];
  const originals = new Map<number, NodeState>();
  let current = inst;
  const opcodes: OpCode[] = [];
  const name = (idx: number): string => nodes[idx]?.name ?? '';
  for (const move of moves) {
    const result = applyMove(nodes, current, move, force);
    if (isFailMode(result)) return new EvacFailure(`${describeMove(move, name)} failed: ${result}`);
    for (const [before, after] of result.changes) {
      if (!originals.has(before.idx)) originals.set(before.idx, before);
      nodes[after.idx] = after;
    }
    opcodes.push(...moveToOpcodes(current, move, name));
    current = result.instance;
  }
  const members = state.nodes.filter((n) => n.group === group);
  const changes = [...originals.values()]
    .filter((n) => n.group === group)
    .map((before) => [before, nodes[before.idx] as NodeState] as const);
  const score = new ScoreAccumulator(members).trial(changes);
  const instances = [...state.instances];
  instances[inst.idx] = current;
  return { state: { ...state, nodes, instances }, score, opcodes };
}

function describeMove(move: Move, name: (idx: number) => string): string {
  return move.kind === 'failover' ? 'failover' : `${move.kind} to ${name(move.node)}`;
}

function best(outcomes: readonly (Outcome | EvacFailure)[], none: string): Outcome | EvacFailure {
  let chosen: Outcome | null = null;
  let lastFailure: EvacFailure | null = null;
  for (const o of outcomes) {
    if (o instanceof EvacFailure) lastFailure = o;
    // On a tie the later candidate wins, as in hail.
    else if (chosen === null || o.score <= chosen.score) chosen = o;
  }
  return chosen ?? lastFailure ?? new EvacFailure(none);
}

/** Moves one instance in the given mode to the best of the available nodes of a group. */
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
    return new EvacFailure(`instances of type ${inst.template} cannot be relocated`);
  if (mirror !== 'internal') {
    if (mode === 'secondary-only')
      return new EvacFailure(`instances of type ${inst.template} have no secondary`);
    return best(
      available.map((n) => applySequence(state, inst, [{ kind: 'failover-to-any', node: n }], group, force)),
      'no node available',
    );
  }
  if (mode === 'primary-only') return applySequence(state, inst, [{ kind: 'failover' }], group, force);
  if (mode === 'secondary-only') {
    return best(
      available.map((n) =>
        applySequence(state, inst, [{ kind: 'replace-secondary', node: n }], group, force),
      ),
      'no node available',
    );
  }
  const primaryOffline = (state.nodes[inst.pNode] as NodeState).offline;
  const outcomes: (Outcome | EvacFailure)[] = [];
  for (const p of available) {
    for (const s of available) {
      if (p === s) continue;
      const moves: Move[] = [
        ...(primaryOffline ? [{ kind: 'failover' } as const] : []),
        { kind: 'replace-secondary', node: p },
        { kind: 'failover' },
        { kind: 'replace-secondary', node: s },
      ];
      outcomes.push(applySequence(state, inst, moves, group, force));
    }
  }
  return best(outcomes, 'no node pair available');
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
    const inst = current.instances[idx] as InstState;
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

export function changeGroup(
  state: ClusterState,
  idxs: readonly number[],
  targetGroups: readonly number[],
  force = false,
  copyDisks = false,
): EvacResult {
  const sourceGroups = new Set(idxs.map((i) => state.nodes[state.instances[i]?.pNode ?? 0]?.group));
  const targets = (targetGroups.length > 0 ? targetGroups : state.groups.map((g) => g.idx)).filter(
    (g) => !sourceGroups.has(g),
  );
  return finish(state, idxs, (current, inst) => {
    const { best: placement, attempts } = allocate(current, inst, {
      groups: targets,
      ignoreSoftErrors: force,
    });
    if (placement === null) {
      return new EvacFailure(
        attempts.length === 0 ? 'no target group has nodes' : 'no target group can take the instance',
      );
    }
    const available = current.nodes
      .filter((n) => n.group === placement.group && !n.offline)
      .map((n) => n.idx);
    return evacuateInstance(current, inst, 'all', placement.group, available, { force, copyDisks });
  });
}

/** A new secondary (DRBD) or primary (shared storage) away from the given nodes. */
export function relocate(
  state: ClusterState,
  idx: number,
  from: readonly number[],
  force = false,
): EvacResult {
  const inst = state.instances[idx] as InstState;
  const { mirror } = diskTemplateTraits[inst.template];
  const expected = mirror === 'internal' ? inst.sNode : inst.pNode;
  if (mirror === 'none') {
    return {
      moved: [],
      failed: [{ instance: idx, reason: "can't relocate non-mirrored instances" }],
      jobs: [],
      state,
    };
  }
  if (from.length !== 1 || from[0] !== expected) {
    const role = mirror === 'internal' ? 'secondary' : 'primary';
    return {
      moved: [],
      failed: [{ instance: idx, reason: `relocate_from must be exactly the instance's ${role} node` }],
      jobs: [],
      state,
    };
  }
  return nodeEvacuate(state, [idx], mirror === 'internal' ? 'secondary-only' : 'primary-only', { force });
}
