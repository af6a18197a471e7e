import type { ConfigData } from '../../src/cluster/config.js';
import type {
  ClusterParams,
  GroupRecord,
  GroupUuid,
  InstanceRecord,
  InstanceUuid,
  NodeRecord,
  NodeUuid,
} from '../../src/cluster/model.js';
import { asNodeId, type NodeId } from '../../src/common/ids.js';

/** A node record with Ganeti's defaults: online, a master candidate, in the default group. */
export function nodeRecord(n: number, changes: Partial<NodeRecord> = {}): NodeRecord {
  return {
    uuid: `n-${n}` as NodeUuid,
    name: `node${n}`,
    id: asNodeId(`peer${n}`),
    addrs: [`/ip4/127.0.0.${n + 1}/tcp/7400`],
    primaryIp: `192.0.2.${n}`,
    secondaryIp: `192.0.2.${n}`,
    group: 'g-default' as GroupUuid,
    masterCandidate: true,
    masterCapable: true,
    vmCapable: true,
    drained: false,
    offline: false,
    tags: [],
    ctimeMs: 0,
    mtimeMs: 0,
    serial: 1,
    ...changes,
  };
}

/** An instance record: a fake sharedfile instance, admin up, on node1, with no disk or NIC. */
export function instanceRecord(name: string, changes: Partial<InstanceRecord> = {}): InstanceRecord {
  return {
    uuid: `i-${name}` as InstanceUuid,
    name,
    primaryNode: 'n-1' as NodeUuid,
    secondaryNodes: [],
    os: 'noop',
    hypervisor: 'fake',
    hvParams: {},
    beParams: {},
    osParams: {},
    diskTemplate: 'sharedfile',
    disks: [],
    nics: [],
    adminState: 'up',
    adminStateSource: 'admin',
    disksActive: true,
    tags: [],
    ctimeMs: 0,
    mtimeMs: 0,
    serial: 1,
    ...changes,
  };
}

/** A configuration for pure functions that read nodes, instances and a few cluster parameters. */
export function configOf(options: {
  readonly nodes: readonly NodeRecord[];
  readonly instances?: readonly InstanceRecord[];
  readonly master?: NodeId;
  readonly serial?: number;
  readonly candidateDeadGraceMs?: number;
  /** Cluster parameters beyond the few above (tags, ha, beParams...). */
  readonly cluster?: Partial<ClusterParams>;
  readonly groups?: readonly GroupRecord[];
}): ConfigData {
  return {
    cluster: {
      candidateDeadGraceMs: options.candidateDeadGraceMs ?? 60_000,
      ...options.cluster,
    } as ConfigData['cluster'],
    serial: options.serial ?? 1,
    groups: new Map((options.groups ?? []).map((group) => [group.uuid, group])),
    nodes: new Map(options.nodes.map((node) => [node.uuid, node])),
    instances: new Map(
      (options.instances ?? []).map((instance) => [instance.uuid as InstanceUuid, instance]),
    ),
    master: options.master,
  };
}
