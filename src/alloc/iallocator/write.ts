import type { ClusterSnapshot, InstanceSpec, InstanceStatus, IPolicy, ISpec, NodeSpec } from '../types.js';
import type { IAllocRequest } from './request.js';

/**
 * A snapshot written out as Ganeti's iallocator input (protocol version 2), what Ganeti's master hands
 * an external allocator such as hail. request.ts reads the same shape back.
 */

export interface MessageMeta {
  readonly clusterName: string;
  /** The first one is what hail uses for memory accounting. */
  readonly enabledHypervisors: readonly string[];
}

/** The JSON object itself; plain data, ready for JSON.stringify. */
export interface IAllocMessage extends Record<string, unknown> {
  readonly version: 2;
  readonly request: IAllocRequest;
}

const ispecJson = (s: ISpec) => ({
  'memory-size': s.memoryMiB,
  'cpu-count': s.cpuCount,
  'disk-size': s.diskMiB,
  'disk-count': s.diskCount,
  'nic-count': s.nicCount,
  'spindle-use': s.spindleUse,
});

export function ipolicyJson(p: IPolicy) {
  return {
    minmax: p.minMax.map((mm) => ({ min: ispecJson(mm.min), max: ispecJson(mm.max) })),
    std: ispecJson(p.std),
    'disk-templates': [...p.diskTemplates],
    'vcpu-ratio': p.vcpuRatio,
    'spindle-ratio': p.spindleRatio,
  };
}

/** Ganeti's desired state behind a run state: the iallocator protocol carries only that. */
export function adminStateOf(status: InstanceStatus): 'up' | 'down' | 'offline' {
  switch (status) {
    case 'ADMIN_offline':
      return 'offline';
    case 'ADMIN_down':
    case 'USER_down':
    case 'ERROR_up':
      return 'down';
    default:
      return 'up';
  }
}

function nodeJson(n: NodeSpec, primaries: readonly InstanceSpec[]) {
  const fixed = {
    tags: [...n.tags],
    offline: n.offline,
    drained: n.drained,
    master_candidate: n.master,
    master_capable: true,
    // The snapshot folds "not vm capable" into offline, which is how the allocator treats it.
    vm_capable: true,
    group: n.group,
    ndparams: { spindle_count: n.spindles, exclusive_storage: n.exclusiveStorage, cpu_speed: n.cpuSpeed },
  };
  // Ganeti leaves out the dynamic part for offline nodes.
  if (n.offline) return fixed;
  const memory = (list: readonly InstanceSpec[]) => list.reduce((sum, i) => sum + i.memoryMiB, 0);
  return {
    ...fixed,
    total_memory: n.totalMemoryMiB,
    reserved_memory: n.nodeMemoryMiB,
    free_memory: n.freeMemoryMiB,
    total_disk: n.totalDiskMiB,
    free_disk: n.freeDiskMiB,
    total_cpus: n.totalCpus,
    reserved_cpus: n.nodeCpus,
    total_spindles: n.exclusiveStorage ? n.spindles : 0,
    free_spindles: n.freeSpindles,
    i_pri_memory: memory(primaries),
    i_pri_up_memory: memory(primaries.filter((i) => adminStateOf(i.status) === 'up')),
  };
}

function instanceJson(i: InstanceSpec) {
  return {
    admin_state: adminStateOf(i.status),
    nodes: i.secondary === null ? [i.primary] : [i.primary, i.secondary],
    memory: i.memoryMiB,
    vcpus: i.vcpus,
    spindle_use: i.spindleUse,
    disk_template: i.diskTemplate,
    disks: i.disksMiB.map((size, k) => ({
      dev_type: i.diskTemplate,
      size,
      mode: 'rw',
      spindles: i.diskSpindles[k] ?? null,
    })),
    disk_space_total: i.diskSpaceMiB,
    nics: Array.from({ length: i.nicCount }, () => ({})),
    tags: [...i.tags],
    forthcoming: i.forthcoming,
  };
}

export function writeIAllocMessage(
  cluster: ClusterSnapshot,
  request: IAllocRequest,
  meta: MessageMeta,
): IAllocMessage {
  const primaries = new Map<string, InstanceSpec[]>();
  for (const i of cluster.instances) primaries.set(i.primary, [...(primaries.get(i.primary) ?? []), i]);
  return {
    version: 2,
    cluster_name: meta.clusterName,
    cluster_tags: [...cluster.clusterTags],
    enabled_hypervisors: [...meta.enabledHypervisors],
    ipolicy: ipolicyJson(cluster.clusterPolicy),
    nodegroups: Object.fromEntries(
      cluster.groups.map((g) => [
        g.uuid,
        {
          name: g.name,
          alloc_policy: g.allocPolicy,
          networks: [...g.networks],
          ipolicy: ipolicyJson(g.policy),
          tags: [...g.tags],
        },
      ]),
    ),
    nodes: Object.fromEntries(cluster.nodes.map((n) => [n.name, nodeJson(n, primaries.get(n.name) ?? [])])),
    instances: Object.fromEntries(cluster.instances.map((i) => [i.name, instanceJson(i)])),
    request,
  };
}
