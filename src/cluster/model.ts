import { z } from 'zod';
import type { Brand, NodeId } from '../common/ids.js';
import type { CollectorSettings } from './data-collectors.js';
import type { CorralDiskTemplate } from './disk-templates.js';
import type { HypervisorName } from './hypervisors.js';
import type { HaParams } from './lease.js';
import type { MasterIpSpec } from './master-ip.js';
import type { NdParamsOverrides } from './ndparams.js';
import type { OsHvTable, ParamTable } from './os-params.js';

/**
 * The cluster configuration as Ganeti's users know it (cluster, node groups, nodes, tags), kept as the Raft
 * state machine's data. Field names follow Ganeti's objects in camel case; the query layer maps them to
 * Ganeti's list fields.
 */

export type GroupUuid = Brand<string, 'GroupUuid'>;
export type NodeUuid = Brand<string, 'NodeUuid'>;
export type InstanceUuid = Brand<string, 'InstanceUuid'>;
export type JobId = Brand<number, 'JobId'>;

export function asJobId(value: number): JobId {
  return value as JobId;
}

/** Host and object names: DNS-like labels, as Ganeti accepts them. */
export const nameSchema = z
  .string()
  .min(1)
  .max(253)
  .regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/, 'a name is letters, digits, dots, dashes and underscores');

/** Ganeti's tag rules: at most 128 characters from a restricted set, at most 4096 tags per object. */
export const tagSchema = z
  .string()
  .min(1)
  .max(128)
  .regex(/^[\w.+*/:@-]+$/, 'a tag is letters, digits and . + * / : @ - _');
export const MAX_TAGS = 4096;

/** Ganeti's iallocator parameters: each given to the program as --key=value (its options, such as hail's). */
export const iallocatorParamsSchema = z
  .record(
    z.string().regex(/^[a-z][a-z0-9_-]{0,63}$/, 'an option name such as no-capacity-checks'),
    z.string().max(1024),
  )
  .refine((params) => Object.keys(params).length <= 32, 'at most 32 parameters');

export const allocPolicies = ['preferred', 'last_resort', 'unallocable'] as const;
export type AllocPolicy = (typeof allocPolicies)[number];

export interface ClusterParams {
  readonly name: string;
  readonly uuid: string;
  readonly ctimeMs: number;
  readonly mtimeMs: number;
  /** How many master candidates (Raft voters) the cluster keeps; Ganeti's default is 10. */
  readonly candidatePoolSize: number;
  /** The first is the default. */
  readonly enabledHypervisors: readonly HypervisorName[];
  readonly enabledDiskTemplates: readonly CorralDiskTemplate[];
  /** Ganeti's max_running_jobs: how many jobs the master runs at once. */
  readonly maxRunningJobs: number;
  /** How long a candidate may be unreachable before another node takes its seat. */
  readonly candidateDeadGraceMs: number;
  /** Node leases and automatic failover. */
  readonly ha: HaParams;
  /** Backend parameters an instance inherits unless it sets its own (Ganeti's cluster beparams). */
  readonly beParams: BeParams;
  /** The NIC an instance gets when it names no mode or link (Ganeti's cluster nicparams). */
  readonly nicParams: NicParams;
  /** The first three bytes of generated MAC addresses. */
  readonly macPrefix: string;
  readonly tags: readonly string[];
  /** Ganeti's queue drain flag (cluster queue drain): while set, the master takes no new jobs. */
  readonly queueDrained?: boolean;
  /** Until when, by the wall clock, the watcher and automatic failover stand still (cluster watcher pause). */
  readonly watcherPauseUntilMs?: number;
  /** Ganeti's default iallocator: the program asked when a job names none, or '.'; absent, the built-in one. */
  readonly defaultIallocator?: string;
  /** Ganeti's default iallocator parameters: given to every allocator program run, as --key=value. */
  readonly defaultIallocatorParams?: Readonly<Record<string, string>>;
  /** Ganeti's data collectors: which of each node's monitor collectors run, and how often; absent, all, every 5 s. */
  readonly dataCollectors?: CollectorSettings;
  /** The node parameters the cluster sets over Ganeti's defaults; absent in configurations made before them. */
  readonly ndParams?: NdParamsOverrides;
  /** The floating address the master holds (cluster modify --master-ip); absent, the cluster has none. */
  readonly masterIp?: MasterIpSpec;
  /** cluster init/modify -H: hypervisor parameters by hypervisor, under the OS's and each instance's own. */
  readonly hvParams?: ParamTable;
  /** gnt-os modify -O: OS parameters by OS (or OS+variant), under each instance's own. */
  readonly osParams?: ParamTable;
  /** gnt-os modify -H: hypervisor parameters by OS and hypervisor, under each instance's own. */
  readonly osHvParams?: OsHvTable;
  /** gnt-os modify --hidden: left out of os list. */
  readonly hiddenOs?: readonly string[];
  /** gnt-os modify --blacklisted: left out of os list, and refused for installation. */
  readonly blacklistedOs?: readonly string[];
}

export interface GroupRecord {
  readonly uuid: GroupUuid;
  readonly name: string;
  readonly allocPolicy: AllocPolicy;
  /**
   * The group's instance policy on disk templates (Ganeti's --ipolicy-disk-templates): the templates its
   * nodes may hold instances of, within those the cluster enables; absent, every enabled one.
   */
  readonly diskTemplates?: readonly CorralDiskTemplate[];
  /** The node parameters the group sets over the cluster's. */
  readonly ndParams?: NdParamsOverrides;
  readonly tags: readonly string[];
  readonly ctimeMs: number;
  readonly mtimeMs: number;
  readonly serial: number;
}

export interface NodeRecord {
  readonly uuid: NodeUuid;
  readonly name: string;
  /** The peer ID: who this node is on the wire, checked by Noise on every connection. */
  readonly id: NodeId;
  readonly addrs: readonly string[];
  readonly primaryIp: string;
  readonly secondaryIp: string;
  readonly group: GroupUuid;
  readonly masterCandidate: boolean;
  readonly masterCapable: boolean;
  readonly vmCapable: boolean;
  readonly drained: boolean;
  readonly offline: boolean;
  /** The node parameters the node sets over its group's. */
  readonly ndParams?: NdParamsOverrides;
  /**
   * Ganeti's recorded power state, which OOB power-on and power-off set; absent, powered (Ganeti's
   * default). Meaningful only for a node with an oob_program.
   */
  readonly powered?: boolean;
  readonly tags: readonly string[];
  readonly ctimeMs: number;
  readonly mtimeMs: number;
  readonly serial: number;
}

/** Ganeti's role letter: master, candidate, drained, offline, regular, in that precedence. */
export type NodeRole = 'M' | 'C' | 'D' | 'O' | 'R';

export function nodeRole(node: NodeRecord, master: NodeId | undefined): NodeRole {
  if (node.id === master) return 'M';
  if (node.masterCandidate) return 'C';
  if (node.drained) return 'D';
  if (node.offline) return 'O';
  return 'R';
}

export const DEFAULT_GROUP_NAME = 'default';
export const DEFAULT_CANDIDATE_POOL_SIZE = 10;
export const DEFAULT_MAX_RUNNING_JOBS = 20;
export const DEFAULT_CANDIDATE_DEAD_GRACE_MS = 60_000;

export const adminStates = ['up', 'down', 'offline'] as const;
export type AdminState = (typeof adminStates)[number];
/** Who last set the admin state: an administrator, or the guest shutting itself down. */
export type AdminStateSource = 'admin' | 'user';
export const nicModes = ['bridged', 'routed', 'openvswitch', 'none'] as const;
export type NicMode = (typeof nicModes)[number];
export const diskModes = ['rw', 'ro'] as const;
/** Ganeti's names for how data is compressed in transit: none, and its compression_tools' defaults. */
export const compressionTools = ['none', 'gzip', 'gzip-fast', 'gzip-slow', 'lzop'] as const;
export type CompressionTool = (typeof compressionTools)[number];
export const diskFormats = ['raw', 'qcow2'] as const;

/** Ganeti's backend parameters, with memory in MiB. */
export interface BeParams {
  readonly maxmemMiB: number;
  readonly minmemMiB: number;
  readonly vcpus: number;
  /** Whether the instance counts in N+1 checks. */
  readonly autoBalance: boolean;
  /** Migration becomes failover for this instance. */
  readonly alwaysFailover: boolean;
  readonly spindleUse: number;
}

export interface NicParams {
  readonly mode: NicMode;
  readonly link: string;
}

export interface DiskRecord {
  readonly uuid: string;
  readonly name?: string;
  readonly sizeMiB: number;
  readonly mode: (typeof diskModes)[number];
  readonly format: (typeof diskFormats)[number];
}

export interface NicRecord extends NicParams {
  readonly uuid: string;
  readonly name?: string;
  readonly mac: string;
  readonly ip?: string;
}

/**
 * Which copies of a mirrored (drbd) instance's disks hold every write acknowledged to its guest. The primary
 * bumps the generation, through the master, before it acknowledges a write its secondary missed, and the
 * secondary joins `current` again when a resync has brought it level: a copy outside `current` never starts
 * the instance (unless an operator says --ignore-consistency), so a failover never loses an acknowledged write.
 */
export interface MirrorState {
  readonly generation: number;
  readonly current: readonly NodeUuid[];
}

export interface InstanceRecord {
  readonly uuid: InstanceUuid;
  readonly name: string;
  readonly primaryNode: NodeUuid;
  /** The mirrored template's second node; empty for the others. */
  readonly secondaryNodes: readonly NodeUuid[];
  /** Only for the mirrored template. */
  readonly mirror?: MirrorState;
  /** `name` or `name+variant`, as configured. */
  readonly os: string;
  readonly hypervisor: HypervisorName;
  /** Only what the instance sets itself; the hypervisor's defaults fill the rest. */
  readonly hvParams: Readonly<Record<string, string>>;
  readonly beParams: Partial<BeParams>;
  readonly osParams: Readonly<Record<string, string>>;
  /**
   * Ganeti's private OS parameters: the OS scripts get them as the others, but no view of the configuration
   * or of a job shows their values.
   */
  readonly osParamsPrivate?: Readonly<Record<string, string>>;
  readonly diskTemplate: CorralDiskTemplate;
  readonly disks: readonly DiskRecord[];
  readonly nics: readonly NicRecord[];
  readonly adminState: AdminState;
  readonly adminStateSource: AdminStateSource;
  readonly disksActive: boolean;
  readonly tags: readonly string[];
  readonly ctimeMs: number;
  readonly mtimeMs: number;
  readonly serial: number;
}

export const DEFAULT_BE_PARAMS: BeParams = {
  maxmemMiB: 128,
  minmemMiB: 128,
  vcpus: 1,
  autoBalance: true,
  alwaysFailover: false,
  spindleUse: 1,
};
export const DEFAULT_NIC_PARAMS: NicParams = { mode: 'none', link: '' };
export const DEFAULT_MAC_PREFIX = 'aa:00:00';
/** The CPUs a node's own OS keeps, as placement counts them (htools' nos_cpu, Ganeti's cnos). */
export const NODE_OS_CPUS = 1;

/** The instance's backend parameters with the cluster's defaults filled in. */
export function filledBeParams(
  cluster: Pick<ClusterParams, 'beParams'>,
  instance: Pick<InstanceRecord, 'beParams'>,
): BeParams {
  return { ...cluster.beParams, ...instance.beParams };
}

/** Backend parameters under Ganeti's keys (beparams), as OS scripts, exports and opcodes name them. */
export function ganetiBeParams(be: BeParams) {
  return {
    maxmem: be.maxmemMiB,
    minmem: be.minmemMiB,
    vcpus: be.vcpus,
    auto_balance: be.autoBalance,
    always_failover: be.alwaysFailover,
    spindle_use: be.spindleUse,
  };
}

/** The templates instances may use on the nodes of a group: the cluster's enabled ones, as the group narrows them. */
export function groupTemplates<T extends string>(
  enabled: readonly T[],
  group: { readonly diskTemplates?: readonly string[] | undefined },
): T[] {
  return enabled.filter((template) => group.diskTemplates?.includes(template) ?? true);
}
