import { z } from 'zod';
import { diskTemplates } from '../cluster/disk-templates.js';
import { CorralError } from '../common/errors.js';
import { ipolicy, toPolicy } from './iallocator/request.js';
import {
  allocPolicies,
  asGroupUuid,
  asInstanceName,
  asNodeName,
  type ClusterSnapshot,
  type GroupSpec,
  type InstanceSpec,
  instanceStatuses,
  type NodeSpec,
} from './types.js';

/**
 * The cluster as Ganeti's RAPI describes it (the bulk lists of /2/groups, /2/nodes, /2/instances and
 * /2/info), read the way htools' Backend/Rapi.hs reads it: hbal -m, hinfo -m and hscan. The answers of
 * Corral's own RAPI and of Ganeti's read alike.
 */
export interface RapiBodies {
  readonly groups: string;
  readonly nodes: string;
  readonly instances: string;
  readonly info: string;
}

const groupSchema = z.object({
  name: z.string(),
  uuid: z.string(),
  alloc_policy: z.enum(allocPolicies),
  ipolicy,
  tags: z.array(z.string()),
});

// Figures of an offline or non-vm_capable node may be missing: htools then counts them as 0.
const figure = z.number().nullable().optional();
const nodeSchema = z.object({
  name: z.string(),
  offline: z.boolean(),
  drained: z.boolean(),
  vm_capable: z.boolean().nullable().optional(),
  ndparams: z.object({ exclusive_storage: z.boolean(), spindle_count: z.number().int().optional() }),
  'group.uuid': z.string().nullable().optional(),
  sptotal: figure,
  spfree: figure,
  mtotal: figure,
  mnode: figure,
  mfree: figure,
  dtotal: figure,
  dfree: figure,
  ctotal: figure,
  cnos: figure,
  tags: z.array(z.string()),
});

const instanceSchema = z.object({
  name: z.string(),
  disk_usage: z.number(),
  'disk.sizes': z.array(z.number()),
  'disk.spindles': z.array(z.number().int().nullable()).optional(),
  oper_ram: z.number().nullable().optional(),
  beparams: z.object({
    memory: z.number().optional(),
    maxmem: z.number().optional(),
    vcpus: z.number().int(),
    auto_balance: z.boolean(),
    spindle_use: z.number().int(),
  }),
  pnode: z.string(),
  snodes: z.array(z.string()),
  status: z.enum(instanceStatuses),
  tags: z.array(z.string()),
  disk_template: z.enum(diskTemplates),
  forthcoming: z.boolean().optional(),
  'nic.macs': z.array(z.string()).optional(),
});

const infoSchema = z.object({ master: z.string(), tags: z.array(z.string()), ipolicy });

function parseList<T>(body: string, what: string, schema: z.ZodType<T>): T[] {
  let json: unknown;
  try {
    json = JSON.parse(body);
  } catch (error) {
    throw new CorralError('bad_request', `Parsing ${what} data: invalid JSON: ${(error as Error).message}`);
  }
  if (!Array.isArray(json)) throw new CorralError('bad_request', `Parsing ${what} data: not a JSON list`);
  return json.map((item, k) => {
    const parsed = schema.safeParse(item);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      const name = (item as { name?: unknown } | null)?.name;
      throw new CorralError(
        'bad_request',
        `${what} '${typeof name === 'string' ? name : `#${k + 1}`}', error while parsing data: ${issue?.path.join('.')}: ${issue?.message}`,
      );
    }
    return parsed.data;
  });
}

export function parseRapiCluster(bodies: RapiBodies): ClusterSnapshot {
  const groups: GroupSpec[] = parseList(bodies.groups, 'Group', groupSchema).map((g) => ({
    name: g.name,
    uuid: asGroupUuid(g.uuid),
    allocPolicy: g.alloc_policy,
    // Ganeti's RAPI backend does not read the group's networks either.
    networks: [],
    tags: g.tags,
    policy: toPolicy(g.ipolicy),
  }));
  const groupUuids = new Set(groups.map((g) => g.uuid as string));
  let info: z.infer<typeof infoSchema>;
  try {
    info = infoSchema.parse(JSON.parse(bodies.info));
  } catch (error) {
    throw new CorralError('bad_request', `Parsing cluster info: ${(error as Error).message.split('\n')[0]}`);
  }
  const defaultGroup = groups[0]?.uuid ?? asGroupUuid('');
  const nodes: NodeSpec[] = parseList(bodies.nodes, 'Node', nodeSchema).map((n) => {
    const group = n['group.uuid'] ?? defaultGroup;
    if (!groupUuids.has(group))
      throw new CorralError('bad_request', `Unknown group '${group}' for node ${n.name}`);
    const live = !n.offline && (n.vm_capable ?? true);
    const value = (v: number | null | undefined): number => (live ? (v ?? 0) : 0);
    return {
      name: asNodeName(n.name),
      group: asGroupUuid(group),
      totalMemoryMiB: value(n.mtotal),
      nodeMemoryMiB: value(n.mnode),
      freeMemoryMiB: value(n.mfree),
      totalDiskMiB: value(n.dtotal),
      freeDiskMiB: value(n.dfree),
      totalCpus: value(n.ctotal),
      nodeCpus: value(n.cnos),
      cpuSpeed: 1,
      spindles: n.ndparams.exclusive_storage ? value(n.sptotal) : (n.ndparams.spindle_count ?? 1),
      freeSpindles: value(n.spfree),
      exclusiveStorage: n.ndparams.exclusive_storage,
      offline: !live,
      drained: n.drained,
      master: n.name === info.master,
      tags: n.tags,
    };
  });
  const nodeNames = new Set(nodes.map((n) => n.name as string));
  const known = (node: string, instance: string): string => {
    if (!nodeNames.has(node))
      throw new CorralError('bad_request', `Unknown node '${node}' for instance ${instance}`);
    return node;
  };
  const instances: InstanceSpec[] = parseList(bodies.instances, 'Instance', instanceSchema).map((i) => {
    const memory = i.oper_ram ?? i.beparams.memory ?? i.beparams.maxmem;
    if (memory === undefined)
      throw new CorralError('bad_request', `Instance '${i.name}', error while parsing data: no memory size`);
    const secondary = i.snodes[0];
    return {
      name: asInstanceName(i.name),
      memoryMiB: memory,
      disksMiB: i['disk.sizes'],
      diskSpaceMiB: i.disk_usage,
      diskSpindles: i['disk.sizes'].map((_, k) => i['disk.spindles']?.[k] ?? null),
      vcpus: i.beparams.vcpus,
      status: i.status,
      autoBalance: i.beparams.auto_balance,
      primary: asNodeName(known(i.pnode, i.name)),
      secondary: secondary === undefined ? null : asNodeName(known(secondary, i.name)),
      diskTemplate: i.disk_template,
      tags: i.tags,
      spindleUse: i.beparams.spindle_use,
      forthcoming: i.forthcoming ?? false,
      nicCount: i['nic.macs']?.length ?? 0,
    };
  });
  return { groups, nodes, instances, clusterTags: info.tags, clusterPolicy: toPolicy(info.ipolicy) };
}
