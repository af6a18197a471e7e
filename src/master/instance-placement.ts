import type { EvacMode } from '../alloc/evacuate.js';
import type { IAllocRequest } from '../alloc/iallocator/request.js';
import { answerRequest } from '../alloc/iallocator/respond.js';
import { writeIAllocMessage } from '../alloc/iallocator/write.js';
import { liveSnapshot } from '../alloc/live-snapshot.js';
import type { ClusterSnapshot } from '../alloc/types.js';
import type { AgentResponse } from '../cluster/agent-protocols.js';
import {
  type AllocatorAnswer,
  allocationNodes,
  type ConvertOptions,
  evacuationJobs,
} from '../cluster/alloc-answers.js';
import {
  type ConfigData,
  nodeOfUuid,
  requireNode,
  requireTemplateAllowed,
  sortedNodes,
} from '../cluster/config.js';
import {
  type CorralDiskTemplate,
  diskSpaceMiB,
  diskTemplateTraits,
  requiredNodes,
} from '../cluster/disk-templates.js';
import type { InstanceRecord, NodeRecord } from '../cluster/model.js';
import type { Opcode } from '../cluster/opcodes.js';
import { toConfigView } from '../cluster/views.js';
import { asCorralError, CorralError } from '../common/errors.js';
import { resolveAllocator, runExternalAllocator } from './external-allocator.js';
import { unfitForInstances } from './instance-runtime.js';
import type { OpContext } from './op-context.js';

export type NodeStatus = AgentResponse<'status'>;

/** The node's memory, and its storage when asked (those figures cost a few tool runs), as it reports them. */
async function nodeStatus(ctx: OpContext, node: NodeRecord, storage: boolean): Promise<NodeStatus> {
  return ctx.agent.call(
    node.id,
    'status',
    { storage },
    { signal: ctx.signal, timeoutMs: ctx.timings.nodeCallTimeoutMs },
  );
}

/** What a placement needs of a node. */
export interface PlacementNeed {
  readonly instance: string;
  /** Free memory the node must have (0 when the instance will not run there yet). */
  readonly memoryMiB: number;
  readonly template: CorralDiskTemplate;
  /** Total disk space the node's storage for the template must have free. */
  readonly diskMiB: number;
}

/** Why the node cannot take the instance, or undefined: memory and storage, as the node reports them. */
export function shortfall(status: NodeStatus, need: PlacementNeed): string | undefined {
  if (status.memoryFreeMiB < need.memoryMiB)
    return `not enough memory (${need.memoryMiB} MiB needed, ${status.memoryFreeMiB} MiB free)`;
  if (need.diskMiB > 0) {
    const storage = status.storage.find((s) => s.template === need.template);
    if (storage === undefined || !storage.available)
      return `disk template ${need.template} is not available there${storage?.reason ? ` (${storage.reason})` : ''}`;
    if (storage.freeMiB !== undefined && storage.freeMiB < need.diskMiB)
      return `not enough disk space (${need.diskMiB} MiB needed, ${storage.freeMiB} MiB free)`;
  }
  return undefined;
}

/** Refuses with the node's shortfall, asking the node itself. */
export async function requireRoom(
  ctx: OpContext,
  node: NodeRecord,
  need: PlacementNeed,
): Promise<NodeStatus> {
  requireTemplateAllowed(ctx.config(), node, need.template, need.instance);
  const status = await nodeStatus(ctx, node, need.diskMiB > 0);
  const why = shortfall(status, need);
  if (why !== undefined)
    throw new CorralError('conflict', `${node.name} cannot take ${need.instance}: ${why}`);
  return status;
}

/**
 * The live cluster for the allocator: every node that is not offline reports its figures (storage too
 * when `template` keeps disks on the node); a node that does not answer counts as offline.
 */
export async function snapshotOf(
  ctx: OpContext,
  config: ConfigData,
  template: string | undefined,
  storage: boolean,
): Promise<{ snapshot: ClusterSnapshot; figures: Map<string, NodeStatus> }> {
  const nodes = sortedNodes(config).filter((node) => !node.offline);
  const answers = await Promise.allSettled(nodes.map((node) => nodeStatus(ctx, node, storage)));
  const figures = new Map<string, NodeStatus>();
  answers.forEach((answer, i) => {
    const node = nodes[i]!;
    if (answer.status === 'fulfilled') figures.set(node.name, answer.value);
    else ctx.log(`${node.name} did not answer (${asCorralError(answer.reason).message}); leaving it out`);
  });
  const options = template === undefined ? {} : { template };
  return { snapshot: liveSnapshot(toConfigView(config), figures, options), figures };
}

/**
 * Asks the allocator: for `iallocator` undefined or '.', the cluster's default (Ganeti's
 * --default-iallocator), or the built-in one (src/alloc) when it has none; otherwise the external program
 * it names, with Ganeti's protocol.
 */
export async function askAllocator(
  config: ConfigData,
  snapshot: ClusterSnapshot,
  request: IAllocRequest,
  iallocator: string | undefined,
  copyDisks: boolean,
  ignoreSoftErrors = false,
): Promise<{ who: string; answer: AllocatorAnswer }> {
  const named =
    iallocator === undefined || iallocator === '.' ? config.cluster.defaultIallocator : iallocator;
  if (named === undefined)
    return {
      who: 'the allocator',
      answer: answerRequest({ cluster: snapshot, request }, { copyDisks, ignoreSoftErrors }),
    };
  const program = await resolveAllocator(named);
  const message = writeIAllocMessage(snapshot, request, {
    clusterName: config.cluster.name,
    enabledHypervisors: config.cluster.enabledHypervisors,
  });
  // Ganeti's default_iallocator_params go to every program run, as its noded passes them.
  const args = Object.entries(config.cluster.defaultIallocatorParams ?? {}).map(
    ([key, value]) => `--${key}=${value}`,
  );
  return { who: `iallocator ${named}`, answer: await runExternalAllocator(program, message, { args }) };
}

export const nodeNames = (config: ConfigData): Set<string> =>
  new Set(sortedNodes(config).map((node) => node.name));

/** A new instance as the allocator needs it. */
export interface NewInstance {
  readonly name: string;
  readonly template: CorralDiskTemplate;
  readonly disksMiB: readonly number[];
  readonly memoryMiB: number;
  readonly vcpus: number;
  readonly spindleUse: number;
  readonly tags: readonly string[];
  readonly nicCount: number;
  /** Only this node group (Ganeti's -g); otherwise the allocator picks the group too. */
  readonly group?: string;
}

/**
 * Places a new instance with the allocator (policies, exclusion tags, N+1). Nodes where the template's
 * storage is missing or full are left out first, as the allocator does not know each node's templates;
 * a refusal names the constraint that failed and on how many nodes, and the nodes left out.
 */
/** Where the allocator put a new instance: its primary, and its secondary when the template mirrors. */
export interface Placement {
  readonly primary: NodeRecord;
  readonly secondary?: NodeRecord;
}

export async function placeInstance(
  ctx: OpContext,
  config: ConfigData,
  spec: NewInstance,
  iallocator: string | undefined,
): Promise<Placement> {
  const diskMiB = diskSpaceMiB(spec.template, spec.disksMiB);
  const { snapshot, figures } = await snapshotOf(ctx, config, spec.template, diskMiB > 0);
  const passedOver: string[] = [];
  const usable = sortedNodes(config).filter((node) => {
    const status = figures.get(node.name);
    if (status === undefined || unfitForInstances(node) !== undefined) return true;
    const why = shortfall(status, { instance: spec.name, memoryMiB: 0, template: spec.template, diskMiB });
    if (why !== undefined) passedOver.push(`${node.name}: ${why}`);
    return why === undefined;
  });
  if (usable.length === 0)
    throw new CorralError('conflict', `no node can take ${spec.name}: ${passedOver.join('; ')}`);
  const request: IAllocRequest = {
    type: 'allocate',
    name: spec.name,
    disk_template: spec.template,
    disks: spec.disksMiB.map((size) => ({ size, mode: 'rw', spindles: null })),
    disk_space_total: diskMiB,
    memory: spec.memoryMiB,
    vcpus: spec.vcpus,
    spindle_use: spec.spindleUse,
    tags: [...spec.tags],
    nics: Array.from({ length: spec.nicCount }, () => ({})),
    required_nodes: requiredNodes(spec.template),
    group_name: spec.group ?? null,
    ...(passedOver.length > 0 && { 'restrict-to-nodes': usable.map((node) => node.name) }),
  };
  const { who, answer } = await askAllocator(config, snapshot, request, iallocator, false);
  const chosen = allocationNodes(answer, who, spec.name, nodeNames(config), passedOver);
  if (chosen.length < requiredNodes(spec.template))
    throw new CorralError(
      'bad_request',
      `${who} chose ${chosen.length} node(s) for ${spec.name}, which needs ${requiredNodes(spec.template)}`,
    );
  const [primary, secondary] = chosen.slice(0, requiredNodes(spec.template)).map((name) => {
    const node = requireNode(config, name);
    const unfit = unfitForInstances(node);
    if (unfit !== undefined) throw new CorralError('conflict', `${who} chose ${node.name}, but ${unfit}`);
    return node;
  });
  if (primary !== undefined && secondary !== undefined && primary.uuid === secondary.uuid)
    throw new CorralError(
      'bad_request',
      `${who} chose ${primary.name} as both primary and secondary of ${spec.name}`,
    );
  ctx.log(`${who} placed ${spec.name} on ${chosen.join(':')} (${answer.info})`);
  return { primary: primary!, ...(secondary !== undefined && { secondary }) };
}

export interface MovePlanOptions extends ConvertOptions {
  readonly iallocator?: string;
  /** Whether instances whose disks live on one node may be moved by copying them (instance move). */
  readonly copyDisks: boolean;
  /** The built-in allocator drops its soft checks (htools' --ignore-soft-errors). */
  readonly ignoreSoftErrors?: boolean;
}

/**
 * Plans moving instances off their nodes (Ganeti's node-evacuate request): one job per instance, in
 * Corral's opcodes. Refuses when any instance cannot move, naming it and why.
 */
export async function planMoves(
  ctx: OpContext,
  config: ConfigData,
  instances: readonly InstanceRecord[],
  mode: EvacMode,
  options: MovePlanOptions,
): Promise<Opcode[][]> {
  if (instances.length === 0) return [];
  // Only node-local storage (plain) counts in the allocator's disk figures.
  const local = instances.find((i) => diskTemplateTraits[i.diskTemplate].localStorage)?.diskTemplate;
  const { snapshot } = await snapshotOf(ctx, config, local, local !== undefined);
  const request: IAllocRequest = {
    type: 'node-evacuate',
    instances: instances.map((i) => i.name),
    evac_mode: mode,
  };
  const { who, answer } = await askAllocator(
    config,
    snapshot,
    request,
    options.iallocator,
    options.copyDisks,
    options.ignoreSoftErrors ?? false,
  );
  const targets = new Map(instances.map((i) => [i.name, i]));
  const jobs = evacuationJobs(answer, who, targets, nodeNames(config), options);
  ctx.log(`${who}: ${answer.info}`);
  return jobs;
}

/**
 * The allocator's choice of a new node for one instance (migrate, failover or move without a target): the
 * cluster's default allocator, or the one named (-I). Disks every node sees make Ganeti's relocate request
 * (away from the primary), as its failover and migrate do; disks on one node, which Corral copies, are
 * placed by a node-evacuate plan, the request that knows copies.
 */
export async function chooseTarget(
  ctx: OpContext,
  config: ConfigData,
  instance: InstanceRecord,
  iallocator?: string,
): Promise<NodeRecord> {
  if (diskTemplateTraits[instance.diskTemplate].sharedStorage) {
    const { snapshot } = await snapshotOf(ctx, config, undefined, false);
    const request: IAllocRequest = {
      type: 'relocate',
      name: instance.name,
      required_nodes: 1,
      relocate_from: [nodeOfUuid(config, instance.primaryNode).name],
    };
    const { who, answer } = await askAllocator(config, snapshot, request, iallocator, false);
    const [chosen] = allocationNodes(answer, who, instance.name, nodeNames(config));
    ctx.log(`${who} selected ${chosen} for ${instance.name} (${answer.info})`);
    return requireNode(config, chosen!);
  }
  const [job] = await planMoves(ctx, config, [instance], 'primary-only', {
    copyDisks: true,
    ...(iallocator !== undefined && { iallocator }),
  });
  const op = job?.find((o) => 'target_node' in o && o.target_node !== undefined);
  const target = op !== undefined && 'target_node' in op ? op.target_node : undefined;
  if (target === undefined)
    throw new CorralError('conflict', `the allocator found no other node for ${instance.name}`);
  return requireNode(config, target);
}

/**
 * Ganeti's allocate-secondary request (instance modify -t drbd -I): the new secondary of an instance being
 * converted to drbd, in its primary's group.
 */
export async function chooseSecondary(
  ctx: OpContext,
  config: ConfigData,
  instance: InstanceRecord,
  iallocator: string | undefined,
): Promise<NodeRecord> {
  const { snapshot } = await snapshotOf(ctx, config, 'drbd', true);
  const request: IAllocRequest = { type: 'allocate-secondary', name: instance.name };
  const { who, answer } = await askAllocator(config, snapshot, request, iallocator, false);
  if (!answer.success)
    throw new CorralError('conflict', `${who} found no secondary for ${instance.name}: ${answer.info}`);
  const chosen = typeof answer.result === 'string' ? answer.result : undefined;
  if (chosen === undefined || !nodeNames(config).has(chosen))
    throw new CorralError(
      'bad_request',
      `${who} chose ${String(answer.result)}, which is not a node of the cluster`,
    );
  ctx.log(`${who} chose ${chosen} as the secondary of ${instance.name}`);
  return requireNode(config, chosen);
}
