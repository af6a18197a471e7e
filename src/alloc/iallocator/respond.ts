import { allocate, describeFailures, type GroupAttempt, withNewInstance } from '../allocate.js';
import { changeGroup, type EvacResult, nodeEvacuate, relocate } from '../evacuate.js';
import type { OpCode } from '../jobs.js';
import { ScoreAccumulator } from '../metrics.js';
import {
  addSecondary,
  buildState,
  type ClusterState,
  hasSecondary,
  type InstState,
  isFailMode,
  noNode,
} from '../state.js';
import { instanceFields, type NewInstanceRequest, type ParsedRequest } from './request.js';

/** An iallocator answer: `{"success", "info", "result"}` with the result shaped per request type. */
export type IAllocResult =
  | readonly string[]
  | string
  | readonly [
      readonly (readonly [string, string, readonly string[]])[],
      readonly (readonly [string, string | null])[],
      readonly (readonly OpCode[])[],
    ]
  | readonly [readonly (readonly [string, readonly string[]])[], readonly string[]];

export interface IAllocResponse {
  readonly success: boolean;
  readonly info: string;
  readonly result: IAllocResult;
}

export interface AnswerOptions {
  readonly ignoreSoftErrors?: boolean;
  /** hail --restrict-allocation-to. */
  readonly restrictToNodes?: readonly string[];
  /** Node evacuation may copy non-mirrored disks (see EvacOptions); hail cannot. */
  readonly copyDisks?: boolean;
}

const failure = (info: string): IAllocResponse => ({
  success: false,
  info: `Request failed: ${info}`,
  result: [],
});

export function answerRequest(parsed: ParsedRequest, options: AnswerOptions = {}): IAllocResponse {
  const state = buildState(parsed.cluster);
  const req = parsed.request;
  const force = options.ignoreSoftErrors ?? false;
  const names = (idxs: readonly number[]): string[] => idxs.map((i) => state.nodes[i]?.name ?? '');
  switch (req.type) {
    case 'allocate': {
      const outcome = allocateOne(state, req, options);
      if (typeof outcome === 'string') return failure(outcome);
      return { success: true, info: `Request successful: ${outcome.info}`, result: names(outcome.nodes) };
    }
    case 'multi-allocate': {
      let current = state;
      const placed: [string, string[]][] = [];
      const failed: string[] = [];
      for (const one of req.instances) {
        const outcome = allocateOne(current, one, options);
        if (typeof outcome === 'string') {
          failed.push(one.name);
          continue;
        }
        current = outcome.state;
        placed.push([one.name, names(outcome.nodes)]);
      }
      return {
        success: true,
        info: `Request successful: ${failed.length} instances failed to allocate and ${placed.length} were allocated successfully`,
        result: [placed, failed],
      };
    }
    case 'allocate-secondary': {
      const idx = state.instanceByName.get(req.name) ?? 0;
      const found = allocateSecondary(state, state.instances[idx] as InstState);
      if (typeof found === 'string') return failure(found);
      return { success: true, info: 'Request successful', result: state.nodes[found]?.name ?? '' };
    }
    case 'relocate': {
      if (req.required_nodes !== 1)
        return failure(`Exchange ${req.required_nodes} nodes mode is not implemented`);
      const idx = state.instanceByName.get(req.name) ?? 0;
      const from = req.relocate_from.map((n) => state.nodeByName.get(n) ?? noNode);
      const result = relocate(state, idx, from, force);
      const problem = result.failed[0];
      if (problem !== undefined) return failure(problem.reason);
      const after = result.state.instances[idx] as InstState;
      const node = hasSecondary(after) ? after.sNode : after.pNode;
      return { success: true, info: 'Request successful: success', result: names([node]) };
    }
    case 'node-evacuate': {
      const idxs = req.instances.map((n) => state.instanceByName.get(n) ?? 0);
      const copyDisks = options.copyDisks ?? false;
      return evacAnswer(state, nodeEvacuate(state, idxs, req.evac_mode, { force, copyDisks }));
    }
    case 'change-group': {
      const idxs = req.instances.map((n) => state.instanceByName.get(n) ?? 0);
      const groups = req.target_groups.map((uuid) => state.groups.findIndex((g) => g.spec.uuid === uuid));
      return evacAnswer(state, changeGroup(state, idxs, groups, force, options.copyDisks ?? false));
    }
  }
}

function evacAnswer(state: ClusterState, result: EvacResult): IAllocResponse {
  const instName = (idx: number): string => state.instances[idx]?.name ?? '';
  const nodeName = (idx: number): string => state.nodes[idx]?.name ?? '';
  return {
    success: true,
    info: `Request successful: ${result.failed.length} instances failed to move and ${result.moved.length} were moved successfully`,
    result: [
      result.moved.map((m) => [instName(m.instance), m.group, m.nodes.map(nodeName)] as const),
      result.failed.map((f) => [instName(f.instance), f.reason] as const),
      result.jobs,
    ],
  };
}

interface Allocated {
  readonly nodes: number[];
  readonly state: ClusterState;
  readonly info: string;
}

function allocateOne(
  state: ClusterState,
  req: NewInstanceRequest,
  options: AnswerOptions,
): Allocated | string {
  const [withInst, inst] = withNewInstance(state, {
    ...instanceFields(req.name, req),
    name: instanceFields(req.name, req).name,
    memoryMiB: req.memory,
    diskMiB: req.disk_space_total,
    disksMiB: req.disks.map((d) => d.size),
    totalSpindles: req.disks.every((d) => d.spindles != null)
      ? req.disks.reduce((sum, d) => sum + (d.spindles ?? 0), 0)
      : null,
    status: 'running',
    autoBalance: true,
    pNode: noNode,
    sNode: noNode,
    template: req.disk_template,
    forthcoming: false,
    exclTags: exclusionTags(state, req.tags),
    desiredLocations: new Set(),
    locationScore: 0,
    movable: true,
  });
  const restrict = req['restrict-to-nodes'] ?? options.restrictToNodes;
  const groupIdx =
    req.group_name == null ? undefined : state.groups.findIndex((g) => g.spec.name === req.group_name);
  if (groupIdx === -1) return `unknown group ${req.group_name}`;
  const { best, attempts } = allocate(withInst, inst, {
    ...(groupIdx === undefined ? {} : { groups: [groupIdx] }),
    ...(restrict === undefined ? {} : { restrictToNodes: new Set(restrict) }),
    ignoreSoftErrors: options.ignoreSoftErrors ?? false,
  });
  const described = attempts.map((a) => describeAttempt(withInst, a)).join(', ');
  if (best === null) return attempts.length === 0 ? 'no allocable group has nodes' : described;
  const groupName = withInst.groups[best.group]?.spec.name ?? '';
  return {
    nodes: best.secondary === noNode ? [best.primary] : [best.primary, best.secondary],
    state: best.state,
    info: `Selected group: ${groupName}, ${described}`,
  };
}

function describeAttempt(state: ClusterState, a: GroupAttempt): string {
  const g = state.groups[a.group]?.spec;
  const head = `Group ${g?.name} (${g?.allocPolicy})`;
  if (a.placement === null) {
    return `${head}: No valid allocation solutions, failure reasons: ${describeFailures(a.failures) || 'no nodes'}`;
  }
  const nodes = [a.placement.primary, a.placement.secondary].filter((n) => n !== noNode);
  const failures = Object.values(a.failures).reduce((s, n) => s + (n ?? 0), 0);
  return `${head}: score: ${a.placement.score.toFixed(8)}, successes ${a.successes}, failures ${failures} (${describeFailures(a.failures)}) for node(s) ${nodes.map((n) => state.nodes[n]?.name).join('/')}`;
}

function exclusionTags(state: ClusterState, tags: readonly string[]): string[] {
  const prefixes = state.clusterTags
    .filter((t) => t.startsWith('htools:iextags:'))
    .map((t) => t.slice('htools:iextags:'.length));
  return tags.filter((t) => prefixes.some((p) => p !== '' && t.startsWith(p)));
}

/** The best new secondary for an instance being converted to DRBD, in its primary's group. */
function allocateSecondary(state: ClusterState, inst: InstState): number | string {
  if (inst.sNode !== noNode) return 'Instance already has a secondary';
  const group = state.nodes[inst.pNode]?.group;
  const members = state.nodes.filter((n) => n.group === group);
  const acc = new ScoreAccumulator(members);
  const asDrbd: InstState = { ...inst, template: 'drbd' };
  let best: { idx: number; score: number } | null = null;
  for (const n of members) {
    if (n.offline || n.idx === inst.pNode) continue;
    const placed = addSecondary(n, { ...asDrbd, sNode: n.idx }, inst.pNode, false);
    if (isFailMode(placed)) continue;
    const score = acc.trial([[n, placed]]);
    if (best === null || score < best.score) best = { idx: n.idx, score };
  }
  return best === null ? 'No valid secondary node found' : best.idx;
}
