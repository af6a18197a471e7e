import { z } from 'zod';
import { diskTemplates, needsSecondary } from '../../cluster/disk-templates.js';
import { CorralError } from '../../common/errors.js';
import {
  allocPolicies,
  asGroupUuid,
  asInstanceName,
  asNodeName,
  type ClusterSnapshot,
  defaultIPolicy,
  type GroupSpec,
  type InstanceSpec,
  type IPolicy,
  type NodeSpec,
} from '../types.js';

/** Ganeti's iallocator input (protocol version 2), read with the same requirements as hail. */

const size = z.number().min(0);
const count = z.number().int().min(0);

const ispec = z.object({
  'memory-size': size,
  'cpu-count': count,
  'disk-size': size,
  'disk-count': count,
  'nic-count': count,
  'spindle-use': count,
});

/** An instance policy in Ganeti's JSON (iallocator requests and RAPI answers alike). */
export const ipolicy = z.object({
  minmax: z.array(z.object({ min: ispec, max: ispec })),
  std: ispec,
  'disk-templates': z.array(z.enum(diskTemplates)),
  'vcpu-ratio': z.number().positive(),
  'spindle-ratio': z.number().positive(),
});

const group = z.object({
  name: z.string().min(1),
  alloc_policy: z.enum(allocPolicies),
  networks: z.array(z.string()),
  ipolicy,
  tags: z.array(z.string()),
});

const node = z.object({
  offline: z.boolean(),
  drained: z.boolean(),
  vm_capable: z.boolean().default(true),
  master_candidate: z.boolean().optional(),
  group: z.string(),
  tags: z.array(z.string()).default([]),
  ndparams: z.object({
    exclusive_storage: z.boolean(),
    spindle_count: count.optional(),
    cpu_speed: z.number().positive().optional(),
  }),
  total_memory: size.optional(),
  reserved_memory: size.optional(),
  free_memory: z.number().optional(),
  total_disk: size.optional(),
  free_disk: z.number().optional(),
  total_cpus: size.optional(),
  reserved_cpus: size.optional(),
  total_spindles: count.optional(),
  free_spindles: z.number().int().optional(),
});

const disk = z.object({ size, spindles: count.nullable().optional(), mode: z.string().optional() });

const newInstance = z.object({
  name: z.string().min(1),
  disk_template: z.enum(diskTemplates),
  disks: z.array(disk),
  disk_space_total: size,
  memory: size,
  vcpus: count,
  spindle_use: count,
  tags: z.array(z.string()),
  nics: z.array(z.unknown()),
  required_nodes: z.number().int().min(1).max(2).optional(),
  group_name: z.string().nullable().optional(),
  'restrict-to-nodes': z.array(z.string()).optional(),
});

const instance = newInstance.omit({ name: true }).extend({
  nodes: z.array(z.string()).min(1),
  admin_state: z.enum(['up', 'down', 'offline']).default('up'),
  forthcoming: z.boolean().default(false),
});

const request = z.discriminatedUnion('type', [
  newInstance.extend({ type: z.literal('allocate') }),
  z.object({ type: z.literal('allocate-secondary'), name: z.string() }),
  z.object({
    type: z.literal('relocate'),
    name: z.string(),
    required_nodes: z.number().int(),
    relocate_from: z.array(z.string()),
  }),
  z.object({
    type: z.literal('node-evacuate'),
    instances: z.array(z.string()),
    evac_mode: z.enum(['primary-only', 'secondary-only', 'all']),
  }),
  z.object({
    type: z.literal('change-group'),
    instances: z.array(z.string()),
    target_groups: z.array(z.string()),
  }),
  // hail reads group_name for every instance from here, the outer request, not from each instance.
  z.object({
    type: z.literal('multi-allocate'),
    instances: z.array(newInstance),
    group_name: z.string().nullable().optional(),
  }),
]);

const message = z.object({
  request,
  nodegroups: z.record(z.string(), group),
  nodes: z.record(z.string(), node),
  instances: z.record(z.string(), instance),
  cluster_tags: z.array(z.string()),
  enabled_hypervisors: z.array(z.string()),
});

export type IAllocRequest = z.infer<typeof request>;
export type NewInstanceRequest = z.infer<typeof newInstance>;

export interface ParsedRequest {
  readonly cluster: ClusterSnapshot;
  readonly request: IAllocRequest;
}

/**
 * Reads a request as hail does. `staticKvmNodeMemoryMiB` is hail's --static-kvm-node-memory: when the
 * cluster's first hypervisor is KVM and it is above 0, every node's own memory is taken to be that much
 * instead of what the node reported (hail's default is 4096).
 */
export function parseIAllocRequest(
  text: string,
  fileName: string,
  staticKvmNodeMemoryMiB = 0,
): ParsedRequest {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new CorralError(
      'bad_request',
      `Parsing input IAllocator message: Invalid JSON: ${(error as Error).message} (${fileName})`,
    );
  }
  const top = asObject(json);
  if (top === undefined)
    throw new CorralError('bad_request', 'Parsing input IAllocator message: Unable to read JSObject');
  // hail reads these first, in this order.
  for (const key of ['request', 'nodegroups', 'nodes', 'instances']) {
    if (!(key in top))
      throw new CorralError('bad_request', `invalid iallocator message: ${notFound(key, top)}`);
    if (asObject(top[key]) === undefined)
      throw new CorralError(
        'bad_request',
        `invalid iallocator message: key '${key}': Unable to read JSObject`,
      );
  }
  const parsed = message.safeParse(json);
  if (!parsed.success) throw new CorralError('bad_request', describeIssue(parsed.error.issues[0], top));
  const data = parsed.data;
  const staticNodeMemory =
    data.enabled_hypervisors[0] === 'kvm' && staticKvmNodeMemoryMiB > 0 ? staticKvmNodeMemoryMiB : undefined;
  const rawNode = (name: string): Record<string, unknown> => asObject(asObject(top.nodes)?.[name]) ?? {};
  const fail = (what: string): never => {
    throw new CorralError('bad_request', what);
  };
  const groups: GroupSpec[] = Object.entries(data.nodegroups).map(([uuid, g]) => ({
    name: g.name,
    uuid: asGroupUuid(uuid),
    allocPolicy: g.alloc_policy,
    tags: g.tags,
    networks: g.networks,
    policy: toPolicy(g.ipolicy),
  }));
  const nodes: NodeSpec[] = Object.entries(data.nodes).map(([name, n]) => {
    if (!(n.group in data.nodegroups)) fail(`Unknown group '${n.group}' for node ${name}`);
    if (!n.ndparams.exclusive_storage && n.ndparams.spindle_count === undefined) {
      fail(
        `invalid data for node '${name}': ${notFound('spindle_count', asObject(rawNode(name).ndparams) ?? {})}`,
      );
    }
    const live = !n.offline && n.vm_capable;
    const need = (key: keyof typeof n): number => {
      const value = n[key];
      if (typeof value !== 'number')
        return fail(`invalid data for node '${name}': ${notFound(String(key), rawNode(name))}`);
      return value;
    };
    const reportedNodeMemory = live ? need('reserved_memory') : 0;
    const spindles = n.ndparams.exclusive_storage
      ? live
        ? need('total_spindles')
        : 0
      : (n.ndparams.spindle_count ?? 1);
    return {
      name: asNodeName(name),
      group: asGroupUuid(n.group),
      totalMemoryMiB: live ? need('total_memory') : 0,
      nodeMemoryMiB: staticNodeMemory ?? reportedNodeMemory,
      freeMemoryMiB: live ? need('free_memory') : 0,
      totalDiskMiB: live ? need('total_disk') : 0,
      freeDiskMiB: live ? need('free_disk') : 0,
      totalCpus: live ? need('total_cpus') : 0,
      nodeCpus: live ? need('reserved_cpus') : 0,
      // hail reads no CPU speed from a request: every node counts at speed 1.
      cpuSpeed: 1,
      spindles,
      freeSpindles: live ? need('free_spindles') : 0,
      exclusiveStorage: n.ndparams.exclusive_storage,
      // Not vm_capable means no instance may go there: the same as offline for placement.
      offline: n.offline || !n.vm_capable,
      drained: n.drained,
      master: false,
      tags: n.tags,
    };
  });
  const instances: InstanceSpec[] = Object.entries(data.instances).map(([name, i]) => {
    const [primary, secondary] = i.nodes as [string, string | undefined];
    for (const nodeName of i.nodes) {
      if (!(nodeName in data.nodes)) fail(`Unknown node '${nodeName}' for instance ${name}`);
    }
    return {
      ...instanceFields(name, i),
      status: i.admin_state === 'up' ? 'running' : i.admin_state === 'down' ? 'ADMIN_down' : 'ADMIN_offline',
      autoBalance: true,
      primary: asNodeName(primary),
      secondary: needsSecondary(i.disk_template) && secondary !== undefined ? asNodeName(secondary) : null,
      forthcoming: i.forthcoming,
    };
  });
  checkRequestReferences(data.request, data, fail);
  return {
    cluster: { groups, nodes, instances, clusterTags: data.cluster_tags, clusterPolicy: defaultIPolicy },
    request: data.request,
  };
}

/** The networks the new instance's NICs are on (a NIC without one fits any group). */
export function nicNetworks(req: Pick<NewInstanceRequest, 'nics'>): string[] {
  return req.nics.flatMap((nic) => {
    const network = asObject(nic)?.network;
    return typeof network === 'string' ? [network] : [];
  });
}

function asObject(value: unknown): Record<string, unknown> | undefined {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
    ? (value as Record<string, unknown>)
    : undefined;
}

const notFound = (key: string, obj: Record<string, unknown>): string =>
  `key '${key}' not found, object contains only ${JSON.stringify(Object.keys(obj))}`;

/** Haskell's names for the JSON types, as Text.JSON's "Unable to read ..." uses them. */
const typeNames: Record<string, string> = {
  string: 'String',
  object: 'JSObject',
  array: 'JSArray',
  number: 'Double',
  int: 'Int',
  boolean: 'Bool',
};

/** A schema failure in hail's words: which record, which key, and why. */
function describeIssue(issue: z.core.$ZodIssue | undefined, top: Record<string, unknown>): string {
  if (issue === undefined) return 'invalid iallocator message';
  const path = issue.path.map(String);
  const [section = '', name = '', key = ''] = path;
  let holder: unknown = top;
  for (const part of path.slice(0, -1)) holder = asObject(holder)?.[part];
  const last = path[path.length - 1] ?? '';
  const present = asObject(holder) !== undefined && last in (asObject(holder) as object);
  const why =
    issue.code === 'invalid_type' && !present
      ? notFound(last, asObject(holder) ?? {})
      : issue.code === 'invalid_type'
        ? `key '${last}': Unable to read ${typeNames[issue.expected] ?? issue.expected}`
        : `key '${last}': ${issue.message}`;
  if (section === 'request') {
    if (name === 'type' && issue.code === 'invalid_union') {
      return `Invalid request type '${String(asObject(top.request)?.type)}'`;
    }
    return `invalid request dict: ${why}`;
  }
  const kind = { nodes: 'node', instances: 'instance', nodegroups: 'group' }[section];
  if (kind !== undefined && key !== '') return `invalid data for ${kind} '${name}': ${why}`;
  return `invalid iallocator message: ${why}`;
}

function checkRequestReferences(
  req: IAllocRequest,
  data: {
    instances: Record<string, unknown>;
    nodes: Record<string, unknown>;
    nodegroups: Record<string, unknown>;
  },
  fail: (what: string) => never,
): void {
  const needInstance = (name: string): void => {
    if (!(name in data.instances)) fail(`Unknown instance '${name}'`);
  };
  const findByName = (name: string, within: Record<string, unknown>): void => {
    if (!(name in within)) fail(`Wrong number of elems found with name ${name}`);
  };
  switch (req.type) {
    case 'allocate-secondary':
      needInstance(req.name);
      break;
    case 'relocate':
      needInstance(req.name);
      for (const n of req.relocate_from) findByName(n, data.nodes);
      break;
    case 'node-evacuate':
      for (const n of req.instances) findByName(n, data.instances);
      break;
    case 'change-group':
      for (const n of req.instances) findByName(n, data.instances);
      for (const g of req.target_groups) findByName(g, data.nodegroups);
      break;
    default:
      break;
  }
}

/** The fields an existing instance shares with an allocation request. */
export function instanceFields(
  name: string,
  i: Omit<NewInstanceRequest, 'name'>,
): Omit<InstanceSpec, 'status' | 'autoBalance' | 'primary' | 'secondary' | 'forthcoming'> {
  return {
    name: asInstanceName(name),
    memoryMiB: i.memory,
    disksMiB: i.disks.map((d) => d.size),
    diskSpaceMiB: i.disk_space_total,
    diskSpindles: i.disks.map((d) => d.spindles ?? null),
    vcpus: i.vcpus,
    diskTemplate: i.disk_template,
    tags: i.tags,
    spindleUse: i.spindle_use,
    nicCount: i.nics.length,
  };
}

export function toPolicy(p: z.infer<typeof ipolicy>): IPolicy {
  const spec = (s: z.infer<typeof ispec>) => ({
    memoryMiB: s['memory-size'],
    cpuCount: s['cpu-count'],
    diskMiB: s['disk-size'],
    diskCount: s['disk-count'],
    nicCount: s['nic-count'],
    spindleUse: s['spindle-use'],
  });
  return {
    minMax: p.minmax.map((mm) => ({ min: spec(mm.min), max: spec(mm.max) })),
    std: spec(p.std),
    diskTemplates: p['disk-templates'],
    vcpuRatio: p['vcpu-ratio'],
    spindleRatio: p['spindle-ratio'],
  };
}
