import {
  type AllocateOptions,
  allocate,
  allocateInGroup,
  bestAttempt,
  type GroupAttempt,
  hasNetworks,
  isDedicated,
  withNewInstance,
} from '../allocate.js';
import { changeGroup, type EvacResult, nodeEvacuate, relocate } from '../evacuate.js';
import type { OpCode } from '../jobs.js';
import {
  buildState,
  type ClusterState,
  hasSecondary,
  type InstState,
  type LoadOptions,
  noNode,
  removePrimary,
} from '../state.js';
import { asNodeName, type ClusterSnapshot, type InstanceSpec } from '../types.js';
import {
  type IAllocRequest,
  instanceFields,
  type NewInstanceRequest,
  nicNetworks,
  type ParsedRequest,
} from './request.js';
import { describeAllocation, describeAttempt, describeNoGroups, describeSolution } from './words.js';

/**
 * hail's answers (htools' Backend/IAlloc.hs and Dedicated.hs): `{"success", "info", "result"}` with the
 * result shaped per request type, and the same words in `info`.
 */
export type IAllocResult =
  | readonly string[]
  | string
  | readonly [
      readonly (readonly [string, string, readonly string[]])[],
      readonly (readonly [string, string])[],
      readonly (readonly OpCode[])[],
    ]
  | readonly [readonly (readonly [string, readonly string[]])[], readonly (readonly [string, string])[]];

export interface IAllocResponse {
  readonly success: boolean;
  readonly info: string;
  readonly result: IAllocResult;
}

export interface AnswerOptions {
  readonly ignoreSoftErrors?: boolean;
  /** hail --restrict-allocation-to; it wins over the request's own restrict-to-nodes. */
  readonly restrictToNodes?: readonly string[];
  /** Node evacuation may copy non-mirrored disks (see EvacOptions); hail cannot. */
  readonly copyDisks?: boolean;
  /** htools' global capacity check; hail --no-capacity-checks turns it off. */
  readonly capacityChecks?: boolean;
  /** The cluster to place on instead of the request's own (hail -t, --simulate). */
  readonly cluster?: ClusterSnapshot;
  /** How to read it (hail's --ignore-dynu with -t). */
  readonly loadOptions?: LoadOptions;
  /**
   * Repeat hail 3.0.2's slips in a multi-allocation on a dedicated cluster: into a named group, every
   * instance is placed on the cluster as it was before the request (so several may take the same room);
   * without one, the instances after the first see only the first one's group. The hail tool sets it;
   * Corral's own placements leave it off.
   */
  readonly hailQuirks?: boolean;
}

/** The answer, and the cluster after it (the one before when the request failed), for hail -S and -p. */
export interface Answered {
  readonly response: IAllocResponse;
  readonly before: ClusterState;
  readonly after: ClusterState;
}

const failure = (info: string): IAllocResponse => ({
  success: false,
  info: `Request failed: ${info}`,
  result: [],
});
const success = (info: string, result: IAllocResult): IAllocResponse => ({
  success: true,
  info: `Request successful: ${info}`,
  result,
});

export function answerRequest(parsed: ParsedRequest, options: AnswerOptions = {}): IAllocResponse {
  return answer(parsed, options).response;
}

export function answer(parsed: ParsedRequest, options: AnswerOptions = {}): Answered {
  const state = buildState(options.cluster ?? parsed.cluster, options.loadOptions);
  const req = parsed.request;
  const done = (response: IAllocResponse, after: ClusterState = state): Answered => ({
    response,
    before: state,
    after: response.success ? after : state,
  });
  const names = (s: ClusterState, idxs: readonly number[]): string[] =>
    idxs.map((i) => s.nodes[i]?.name ?? '');
  const instanceIdx = (name: string): number | undefined => state.instanceByName.get(name);
  const missing = (name: string): Answered => done(failure(`Unknown instance '${name}'`));
  const force = options.ignoreSoftErrors ?? false;
  const clusterTags = parsed.cluster.clusterTags;
  switch (req.type) {
    case 'allocate': {
      const ctx = { dedicated: isDedicated(state, req.group_name), clusterTags };
      const restrictToNodes = options.restrictToNodes ?? req['restrict-to-nodes'];
      const outcome = allocateOne(state, req, req.group_name ?? null, { ...options, restrictToNodes }, ctx);
      if (outcome.kind !== 'placed') return done(failure(outcome.info));
      return done(success(outcome.info, names(outcome.state, outcome.nodes)), outcome.state);
    }
    case 'multi-allocate': {
      const group = req.group_name ?? null;
      const dedicated = isDedicated(state, group);
      let current = state;
      const placed: [string, string[]][] = [];
      const failed: [string, string][] = [];
      const quirks = dedicated && (options.hailQuirks ?? false);
      let onlyGroup: number | undefined;
      for (const one of req.instances) {
        const from = quirks && group !== null ? state : current;
        const outcome = allocateOne(from, one, group, options, {
          dedicated,
          clusterTags,
          multi: true,
          ...(onlyGroup === undefined ? {} : { onlyGroup }),
        });
        if (outcome.kind === 'error') return done(failure(outcome.info));
        if (outcome.kind === 'unplaced') {
          failed.push([one.name, outcome.info]);
          continue;
        }
        current = outcome.state;
        if (quirks) onlyGroup = current.nodes[outcome.nodes[0] ?? noNode]?.group;
        placed.push([one.name, names(current, outcome.nodes)]);
      }
      return done(
        success(
          `${failed.length} instances failed to allocate and ${placed.length} were allocated successfully`,
          [placed, failed],
        ),
        current,
      );
    }
    case 'allocate-secondary': {
      const idx = instanceIdx(req.name);
      if (idx === undefined) return missing(req.name);
      const outcome = allocateSecondary(state, state.instances[idx] as InstState, options);
      if (outcome.kind !== 'placed') return done(failure(outcome.info));
      return done(
        success(outcome.info, outcome.state.nodes[outcome.nodes[1] ?? noNode]?.name ?? ''),
        outcome.state,
      );
    }
    case 'relocate': {
      if (req.required_nodes !== 1)
        return done(failure(`Exchange ${req.required_nodes} nodes mode is not implemented`));
      const idx = instanceIdx(req.name);
      if (idx === undefined) return missing(req.name);
      const from = req.relocate_from.map((n) => state.nodeByName.get(n) ?? noNode);
      const result = relocate(state, idx, from, force);
      const problem = result.failed[0];
      if (problem !== undefined) return done(failure(problem.reason));
      const after = result.state.instances[idx] as InstState;
      const node = hasSecondary(after) ? after.sNode : after.pNode;
      return done(success('success', names(result.state, [node])), result.state);
    }
    case 'node-evacuate': {
      const idxs = req.instances.map(instanceIdx);
      const unknown = req.instances.find((_, k) => idxs[k] === undefined);
      if (unknown !== undefined) return missing(unknown);
      const result = nodeEvacuate(state, idxs as number[], req.evac_mode, {
        force,
        copyDisks: options.copyDisks ?? false,
      });
      return done(evacAnswer(state, result), result.state);
    }
    case 'change-group': {
      const idxs = req.instances.map(instanceIdx);
      const unknown = req.instances.find((_, k) => idxs[k] === undefined);
      if (unknown !== undefined) return missing(unknown);
      const groups = req.target_groups.map((uuid) => state.groups.findIndex((g) => g.spec.uuid === uuid));
      const result = changeGroup(state, idxs as number[], groups, {
        force,
        copyDisks: options.copyDisks ?? false,
        capacityChecks: options.capacityChecks ?? true,
      });
      return done(evacAnswer(state, result), result.state);
    }
  }
}

/** The request types that place new instances, and the group they name (htools' isAllocationRequest). */
export function allocationGroup(req: IAllocRequest): { readonly group: string | null } | null {
  if (req.type === 'allocate') return { group: req.group_name ?? null };
  if (req.type === 'multi-allocate') return { group: req.group_name ?? null };
  return null;
}

/** Opcode keys in the order hail writes them (Ganeti's opcode field order). */
const opcodeKeys: Record<OpCode['OP_ID'], readonly string[]> = {
  OP_INSTANCE_REPLACE_DISKS: [
    'OP_ID',
    'instance_name',
    'early_release',
    'ignore_ipolicy',
    'mode',
    'disks',
    'remote_node',
  ],
  OP_INSTANCE_MIGRATE: [
    'OP_ID',
    'instance_name',
    'target_node',
    'allow_runtime_changes',
    'ignore_ipolicy',
    'cleanup',
    'allow_failover',
    'ignore_hvversions',
  ],
  OP_INSTANCE_FAILOVER: [
    'OP_ID',
    'instance_name',
    'shutdown_timeout',
    'ignore_consistency',
    'target_node',
    'ignore_ipolicy',
    'cleanup',
  ],
};

/**
 * An opcode as hail words it: its keys in Ganeti's order, and a forthcoming instance's move to a chosen
 * node as a failover (nothing runs yet to migrate), as htools' iMoveToJob makes it.
 */
function asHail(op: OpCode, forthcoming: boolean): OpCode {
  if (forthcoming && op.OP_ID === 'OP_INSTANCE_MIGRATE' && op.target_node !== undefined) {
    return inHailOrder({
      OP_ID: 'OP_INSTANCE_FAILOVER',
      instance_name: op.instance_name,
      shutdown_timeout: 120,
      ignore_consistency: false,
      target_node: op.target_node,
      ignore_ipolicy: false,
      cleanup: false,
    } as OpCode);
  }
  return inHailOrder(op);
}

function inHailOrder(op: OpCode): OpCode {
  const fields = op as unknown as Record<string, unknown>;
  const ordered: Record<string, unknown> = {};
  for (const key of opcodeKeys[op.OP_ID]) if (key in fields) ordered[key] = fields[key];
  for (const key of Object.keys(fields)) if (!(key in ordered)) ordered[key] = fields[key];
  return ordered as unknown as OpCode;
}

function evacAnswer(state: ClusterState, result: EvacResult): IAllocResponse {
  const instName = (idx: number): string => state.instances[idx]?.name ?? '';
  const nodeName = (idx: number): string => state.nodes[idx]?.name ?? '';
  return success(
    `${result.failed.length} instances failed to move and ${result.moved.length} were moved successfully`,
    [
      result.moved.map((m) => [instName(m.instance), m.group, m.nodes.map(nodeName)] as const),
      result.failed.map((f) => [instName(f.instance), f.reason] as const),
      result.jobs.map((job) =>
        job.map((op) => {
          const idx = state.instanceByName.get(op.instance_name);
          return asHail(op, idx !== undefined && (state.instances[idx]?.forthcoming ?? false));
        }),
      ),
    ],
  );
}

/** A placement, a solution without one (hail lists it as failed), or an error that fails the whole request. */
type Outcome =
  | { readonly kind: 'placed'; readonly nodes: number[]; readonly state: ClusterState; readonly info: string }
  | { readonly kind: 'unplaced'; readonly info: string }
  | { readonly kind: 'error'; readonly info: string };

interface AllocContext {
  readonly dedicated: boolean;
  readonly clusterTags: readonly string[];
  /** A dedicated multi-allocation keeps to the group of its first placement (see the multi-allocate case). */
  readonly onlyGroup?: number;
  /** Part of a multi-allocation: a dedicated one into a named group words its failure without the group. */
  readonly multi?: boolean;
}

const placedFrom = (a: GroupAttempt, info: string): Outcome => {
  const p = a.placement;
  if (p === null) return { kind: 'unplaced', info };
  return {
    kind: 'placed',
    nodes: p.secondary === noNode ? [p.primary] : [p.primary, p.secondary],
    state: p.state,
    info,
  };
};

/** htools' tryMGAlloc / tryGroupAlloc, or their dedicated forms. */
function allocateOne(
  state: ClusterState,
  req: NewInstanceRequest,
  groupName: string | null,
  options: AnswerOptions,
  ctx: AllocContext,
): Outcome {
  const fields = instanceFields(req.name, req);
  const [placing, inst] = withNewInstance(state, {
    ...fields,
    diskMiB: req.disk_space_total,
    totalSpindles: req.disks.every((d) => d.spindles != null)
      ? req.disks.reduce((sum, d) => sum + (d.spindles ?? 0), 0)
      : null,
    status: 'running',
    autoBalance: true,
    pNode: noNode,
    sNode: noNode,
    template: req.disk_template,
    forthcoming: false,
    exclTags: tagsUnder(ctx.clusterTags, 'htools:iextags:', req.tags),
    desiredLocations: new Set(tagsUnder(ctx.clusterTags, 'htools:desiredlocation:', req.tags)),
    locationScore: 0,
    movable: true,
  });
  // The snapshot learns the instance too, so that the cluster after the answer can be written out (hail -S).
  const spec: InstanceSpec = {
    ...fields,
    status: 'running',
    autoBalance: true,
    primary: asNodeName(''),
    secondary: null,
    forthcoming: false,
  };
  const withInst: ClusterState = {
    ...placing,
    snapshot: { ...placing.snapshot, instances: [...placing.snapshot.instances, spec] },
  };
  const networks = nicNetworks(req);
  const allocOptions: AllocateOptions = {
    ignoreSoftErrors: options.ignoreSoftErrors ?? false,
    capacityChecks: options.capacityChecks ?? true,
    dedicated: ctx.dedicated,
    ...(req.required_nodes === undefined ? {} : { nodeCount: req.required_nodes }),
    ...(options.restrictToNodes === undefined ? {} : { restrictToNodes: new Set(options.restrictToNodes) }),
  };
  const unconnected = (g: number) =>
    `The group ${withInst.groups[g]?.spec.name} is not connected to a network required by instance ${req.name}`;
  if (groupName !== null) {
    const group = withInst.groups.find((g) => g.spec.name === groupName || g.spec.uuid === groupName);
    if (group === undefined)
      return { kind: 'error', info: `Wrong number of elems found with name ${groupName}` };
    if (!hasNetworks(withInst, group.idx, networks)) return { kind: 'error', info: unconnected(group.idx) };
    const attempt = allocateInGroup(withInst, inst, group.idx, { ...allocOptions, groupScoped: true });
    if (attempt.error !== undefined) return { kind: 'error', info: attempt.error };
    const bare = ctx.dedicated && (ctx.multi ?? false);
    return placedFrom(
      attempt,
      bare ? describeSolution(withInst, attempt) : describeAttempt(withInst, attempt),
    );
  }
  if (ctx.dedicated) {
    // Dedicated.findMGAllocation: every group with nodes; a missing network is that group's error.
    const attempts = withInst.groups
      .filter((g) => withInst.nodes.some((n) => n.group === g.idx) && (ctx.onlyGroup ?? g.idx) === g.idx)
      .map(
        (g): GroupAttempt =>
          hasNetworks(withInst, g.idx, networks)
            ? allocateInGroup(withInst, inst, g.idx, allocOptions)
            : { group: g.idx, placement: null, failures: {}, successes: 0, error: unconnected(g.idx) },
      );
    const lines = attempts.map((a) => describeAttempt(withInst, a));
    const best = bestAttempt(withInst, attempts);
    if (best === null) return { kind: 'error', info: lines.join(', ') };
    return placedFrom(
      best,
      [`Selected group: ${withInst.groups[best.group]?.spec.name}`, ...lines].join(', '),
    );
  }
  const result = allocate(withInst, inst, { ...allocOptions, networks });
  const lines = describeAllocation(withInst, result, req.name);
  const best = result.best;
  if (best === null) {
    const info = lines.length === 0 ? describeNoGroups(withInst, null) : lines.join(', ');
    return { kind: 'error', info };
  }
  const attempt = result.attempts.find((a) => a.placement === best) as GroupAttempt;
  return placedFrom(
    attempt,
    [`Selected group: ${withInst.groups[best.group]?.spec.name}`, ...lines].join(', '),
  );
}

/**
 * htools' tryAllocateSecondary: the instance leaves its primary for the trial, then every other node of
 * the primary's group is tried as the secondary of a DRBD copy of it.
 */
function allocateSecondary(state: ClusterState, inst: InstState, options: AnswerOptions): Outcome {
  if (inst.sNode !== noNode) return { kind: 'error', info: 'Instance already has a secondary' };
  const primary = state.nodes[inst.pNode];
  if (primary === undefined) return { kind: 'error', info: `instance ${inst.name} has no primary node` };
  const nodes = [...state.nodes];
  nodes[primary.idx] = removePrimary(primary, inst);
  const trial: ClusterState = { ...state, nodes };
  const secondaries = nodes
    .filter((n) => n.group === primary.group && n.idx !== primary.idx)
    .map((n) => n.idx);
  const attempt = allocateInGroup(trial, { ...inst, template: 'drbd' }, primary.group, {
    ignoreSoftErrors: options.ignoreSoftErrors ?? false,
    capacityChecks: options.capacityChecks ?? true,
    targets: { primary: primary.idx, secondaries },
  });
  return placedFrom(attempt, describeSolution(trial, attempt));
}

/** Instance tags under the cluster's `<prefix>P` tags: those that start with some P. */
function tagsUnder(clusterTags: readonly string[], prefix: string, tags: readonly string[]): string[] {
  const starts = clusterTags
    .filter((t) => t.startsWith(prefix) && t.length > prefix.length)
    .map((t) => t.slice(prefix.length));
  return tags.filter((t) => starts.some((p) => t.startsWith(p)));
}
