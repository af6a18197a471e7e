import { CorralError } from '../common/errors.js';
import type { NodeId } from '../common/ids.js';
import type { CorralDiskTemplate } from './disk-templates.js';
import {
  type ClusterParams,
  type GroupRecord,
  type GroupUuid,
  groupTemplates,
  type InstanceRecord,
  type InstanceUuid,
  type NodeRecord,
  type NodeUuid,
} from './model.js';
import type { RapiCertificate } from './rapi-certificate.js';

/**
 * The replicated configuration. Records are immutable; a change copies the maps it touches, so a refused
 * change leaves nothing behind and readers can hold a version while the next one is built.
 */
export interface ConfigData {
  readonly cluster: ClusterParams;
  /** Ganeti's config serial: one more for every committed configuration change. */
  readonly serial: number;
  readonly groups: ReadonlyMap<GroupUuid, GroupRecord>;
  readonly nodes: ReadonlyMap<NodeUuid, NodeRecord>;
  readonly instances: ReadonlyMap<InstanceUuid, InstanceRecord>;
  /** The node that last took the master role (the Raft leader that took over the job queue). */
  readonly master: NodeId | undefined;
  /**
   * The cluster secret join tokens are checked with, once `cluster renew-crypto` has drawn one; until then
   * every node keeps the founder's, handed over on admission. Each node copies it into its members.cbor; no
   * view, answer, job or gossip ever carries it.
   */
  readonly clusterSecret?: Uint8Array;
  /** RAPI's key and certificate, the same on every node; absent for a cluster made before RAPI existed. */
  readonly rapiCertificate?: RapiCertificate;
}

export function findNode(config: ConfigData, name: string): NodeRecord | undefined {
  for (const node of config.nodes.values()) if (node.name === name) return node;
  return undefined;
}

export function nodeById(config: ConfigData, id: NodeId): NodeRecord | undefined {
  for (const node of config.nodes.values()) if (node.id === id) return node;
  return undefined;
}

export function findGroup(config: ConfigData, name: string): GroupRecord | undefined {
  for (const group of config.groups.values()) if (group.name === name) return group;
  return undefined;
}

export function requireNode(config: ConfigData, name: string): NodeRecord {
  const node = findNode(config, name);
  if (node === undefined) throw new CorralError('not_found', `node ${name} is not in the cluster`);
  return node;
}

export function requireGroup(config: ConfigData, name: string): GroupRecord {
  const group = findGroup(config, name);
  if (group === undefined) throw new CorralError('not_found', `node group ${name} does not exist`);
  return group;
}

export function sortedNodes(config: ConfigData): NodeRecord[] {
  return [...config.nodes.values()].sort((a, b) => a.name.localeCompare(b.name));
}

export function sortedGroups(config: ConfigData): GroupRecord[] {
  return [...config.groups.values()].sort((a, b) => a.name.localeCompare(b.name));
}

export function candidates(config: ConfigData): NodeRecord[] {
  return sortedNodes(config).filter((node) => node.masterCandidate);
}

/** A node that may sit in the candidate pool: master capable, neither offline nor drained. */
export function mayBeCandidate(node: NodeRecord): boolean {
  return node.masterCapable && !node.offline && !node.drained;
}

export function findInstance(config: ConfigData, name: string): InstanceRecord | undefined {
  for (const instance of config.instances.values()) if (instance.name === name) return instance;
  return undefined;
}

export function requireInstance(config: ConfigData, name: string): InstanceRecord {
  const instance = findInstance(config, name);
  if (instance === undefined) throw new CorralError('not_found', `instance ${name} does not exist`);
  return instance;
}

export function sortedInstances(config: ConfigData): InstanceRecord[] {
  return [...config.instances.values()].sort((a, b) => a.name.localeCompare(b.name));
}

/** Instances whose primary is the node, and those that use it as a secondary. */
export function instancesOfNode(
  config: ConfigData,
  node: NodeUuid,
): { readonly primary: InstanceRecord[]; readonly secondary: InstanceRecord[] } {
  const all = sortedInstances(config);
  return {
    primary: all.filter((instance) => instance.primaryNode === node),
    secondary: all.filter((instance) => instance.secondaryNodes.includes(node)),
  };
}

export function nodeOfUuid(config: ConfigData, uuid: NodeUuid): NodeRecord {
  const node = config.nodes.get(uuid);
  if (node === undefined) throw new CorralError('not_found', `node ${uuid} is not in the cluster`);
  return node;
}

/**
 * Refuses a template the node's group does not allow (the group's ipolicy disk templates), naming the
 * group and what it allows: the check before an instance is put on a node, and the rule when one is.
 */
export function requireTemplateAllowed(
  config: ConfigData,
  node: NodeRecord,
  template: CorralDiskTemplate,
  instance: string,
): void {
  const group = config.groups.get(node.group);
  if (group === undefined) return;
  const allowed = groupTemplates(config.cluster.enabledDiskTemplates, group);
  if (!allowed.includes(template))
    throw new CorralError(
      'conflict',
      `node group ${group.name} of ${node.name} does not allow ${template} instances such as ${instance} (it allows ${allowed.join(', ') || 'none'}); use a node of another group, or group modify --ipolicy-disk-templates`,
    );
}
