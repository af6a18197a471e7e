import { type DiskTemplate, diskTemplates } from '../cluster/disk-templates.js';
import type { Brand } from '../common/ids.js';

/**
 * The cluster as the allocator sees it: a plain, immutable snapshot. The text backend, the
 * iallocator request and the live cluster all produce this shape; every function in src/alloc
 * works from it.
 */

export type NodeName = Brand<string, 'NodeName'>;
export type InstanceName = Brand<string, 'InstanceName'>;
/** A node group's UUID, the key by which nodes name their group. */
export type GroupUuid = Brand<string, 'GroupUuid'>;

export const asNodeName = (value: string): NodeName => value as NodeName;
export const asInstanceName = (value: string): InstanceName => value as InstanceName;
export const asGroupUuid = (value: string): GroupUuid => value as GroupUuid;

/** Ganeti's instance run states, spelled as Ganeti prints them. */
export const instanceStatuses = [
  'running',
  'ERROR_up',
  'ADMIN_down',
  'ERROR_down',
  'ERROR_nodedown',
  'ERROR_nodeoffline',
  'ERROR_wrongnode',
  'ADMIN_offline',
  'USER_down',
] as const;
export type InstanceStatus = (typeof instanceStatuses)[number];

export const allocPolicies = ['preferred', 'last_resort', 'unallocable'] as const;
export type AllocPolicy = (typeof allocPolicies)[number];

/** One instance size, as in an instance policy's min, max and std specs. */
export interface ISpec {
  readonly memoryMiB: number;
  readonly cpuCount: number;
  readonly diskMiB: number;
  readonly diskCount: number;
  readonly nicCount: number;
  readonly spindleUse: number;
}

export interface MinMaxISpec {
  readonly min: ISpec;
  readonly max: ISpec;
}

export interface IPolicy {
  readonly minMax: readonly MinMaxISpec[];
  readonly std: ISpec;
  readonly diskTemplates: readonly DiskTemplate[];
  readonly vcpuRatio: number;
  readonly spindleRatio: number;
}

export interface GroupSpec {
  readonly name: string;
  readonly uuid: GroupUuid;
  readonly allocPolicy: AllocPolicy;
  readonly tags: readonly string[];
  readonly networks: readonly string[];
  readonly policy: IPolicy;
}

export interface NodeSpec {
  readonly name: NodeName;
  readonly group: GroupUuid;
  readonly totalMemoryMiB: number;
  /** Memory the node itself uses (dom0, the host OS). */
  readonly nodeMemoryMiB: number;
  /** Free memory as the hypervisor reports it. */
  readonly freeMemoryMiB: number;
  readonly totalDiskMiB: number;
  readonly freeDiskMiB: number;
  readonly totalCpus: number;
  /** CPUs the node's own OS keeps for itself. */
  readonly nodeCpus: number;
  /** Relative CPU speed; the vCPU ratio is divided by it. */
  readonly cpuSpeed: number;
  readonly spindles: number;
  readonly freeSpindles: number;
  readonly exclusiveStorage: boolean;
  readonly offline: boolean;
  readonly drained: boolean;
  readonly master: boolean;
  readonly tags: readonly string[];
}

export interface InstanceSpec {
  readonly name: InstanceName;
  readonly memoryMiB: number;
  /** Per-disk sizes, which the policy's disk-size limits apply to. */
  readonly disksMiB: readonly number[];
  /** What the instance takes on each node holding its disks (DRBD adds its metadata). */
  readonly diskSpaceMiB: number;
  /** Spindles per disk, when exclusive storage tracks them. */
  readonly diskSpindles: readonly (number | null)[];
  readonly vcpus: number;
  readonly status: InstanceStatus;
  /** Whether hbal may move it and N+1 must cover it. */
  readonly autoBalance: boolean;
  readonly primary: NodeName;
  readonly secondary: NodeName | null;
  readonly diskTemplate: DiskTemplate;
  readonly tags: readonly string[];
  readonly spindleUse: number;
  /** Reserved but not yet created. */
  readonly forthcoming: boolean;
  readonly nicCount: number;
}

export interface ClusterSnapshot {
  readonly groups: readonly GroupSpec[];
  readonly nodes: readonly NodeSpec[];
  readonly instances: readonly InstanceSpec[];
  readonly clusterTags: readonly string[];
  readonly clusterPolicy: IPolicy;
}

/** Ganeti's built-in policy, used where an input gives none. */
export const defaultIPolicy: IPolicy = {
  minMax: [
    {
      min: { memoryMiB: 128, cpuCount: 1, diskMiB: 1024, diskCount: 1, nicCount: 1, spindleUse: 1 },
      max: { memoryMiB: 32768, cpuCount: 8, diskMiB: 1048576, diskCount: 16, nicCount: 8, spindleUse: 12 },
    },
  ],
  std: { memoryMiB: 128, cpuCount: 1, diskMiB: 1024, diskCount: 1, nicCount: 1, spindleUse: 1 },
  diskTemplates: [...diskTemplates],
  vcpuRatio: 4.0,
  spindleRatio: 32.0,
};
