import { CorralError } from '../common/errors.js';
import type { NodeId } from '../common/ids.js';
import type { ClusterParams, GroupRecord, GroupUuid, NodeRecord, NodeUuid } from './model.js';

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
  /** The node that last took the master role (the Raft leader that took over the job queue). */
  readonly master: NodeId | undefined;
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
