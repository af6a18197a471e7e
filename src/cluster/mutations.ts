import { z } from 'zod';
import { CorralError } from '../common/errors.js';
import { asNodeId } from '../common/ids.js';
import {
  type ConfigData,
  candidates,
  findGroup,
  findNode,
  mayBeCandidate,
  nodeById,
  sortedNodes,
} from './config.js';
import {
  allocPolicies,
  type ClusterParams,
  diskTemplates,
  type GroupRecord,
  type GroupUuid,
  hypervisors,
  MAX_TAGS,
  type NodeRecord,
  type NodeUuid,
  nameSchema,
  tagSchema,
} from './model.js';
import { tagKinds } from './opcodes.js';

/**
 * Configuration changes in their resolved form: the master turns an opcode into one of these (names looked up,
 * defaults filled, UUIDs drawn), and every node applies it alike. Each change checks Ganeti's rules again when
 * applied, so a change planned against an older configuration is refused rather than half applied.
 */

const uuid = z.string().min(1).max(64);
const flags = z.object({
  masterCandidate: z.boolean(),
  masterCapable: z.boolean(),
  vmCapable: z.boolean(),
  drained: z.boolean(),
  offline: z.boolean(),
});
const addrs = z.array(z.string().max(256)).max(16);
const ip = z.string().min(1).max(64);

export const mutationSchema = z.discriminatedUnion('type', [
  z.object({
    type: z.literal('node-add'),
    uuid,
    name: nameSchema,
    id: z.string().min(1).max(128),
    addrs,
    primaryIp: ip,
    secondaryIp: ip,
    group: uuid,
    ...flags.shape,
  }),
  z.object({ type: z.literal('node-remove'), uuid }),
  z.object({
    type: z.literal('node-set'),
    uuid,
    changes: flags.partial().extend({ secondaryIp: ip.optional(), addrs: addrs.optional() }),
    /** Promote other nodes until the pool is full again (Ganeti's --auto-promote). */
    autoPromote: z.boolean(),
  }),
  z.object({
    type: z.literal('group-add'),
    uuid,
    name: nameSchema,
    allocPolicy: z.enum(allocPolicies),
  }),
  z.object({ type: z.literal('group-remove'), uuid }),
  z.object({
    type: z.literal('group-set'),
    uuid,
    name: nameSchema.optional(),
    allocPolicy: z.enum(allocPolicies).optional(),
  }),
  z.object({ type: z.literal('group-assign'), uuid, nodes: z.array(uuid).min(1).max(1024) }),
  z.object({
    type: z.literal('tags'),
    kind: z.enum(tagKinds),
    /** The object's UUID; absent for the cluster. */
    target: uuid.optional(),
    add: z.array(tagSchema).max(64),
    remove: z.array(tagSchema).max(64),
  }),
  z.object({
    type: z.literal('cluster-set'),
    candidatePoolSize: z.number().int().min(1).max(99).optional(),
    enabledHypervisors: z.array(z.enum(hypervisors)).min(1).max(8).optional(),
    enabledDiskTemplates: z.array(z.enum(diskTemplates)).min(1).max(16).optional(),
    maxRunningJobs: z.number().int().min(1).max(1000).optional(),
    candidateDeadGraceMs: z.number().int().min(5_000).optional(),
  }),
]);
export type Mutation = z.infer<typeof mutationSchema>;

/** Applies a change at `nowMs` (the proposer's clock, the same on every node); throws CorralError if a rule forbids it. */
export function applyMutation(config: ConfigData, mutation: Mutation, nowMs: number): ConfigData {
  const next = change(config, mutation, nowMs);
  return { ...next, serial: config.serial + 1, cluster: { ...next.cluster, mtimeMs: nowMs } };
}

function change(config: ConfigData, m: Mutation, nowMs: number): ConfigData {
  switch (m.type) {
    case 'node-add': {
      if (findNode(config, m.name))
        throw new CorralError('conflict', `node ${m.name} is already in the cluster`);
      const id = asNodeId(m.id);
      const holder = nodeById(config, id);
      if (holder)
        throw new CorralError('conflict', `peer ${m.id} is already in the cluster as ${holder.name}`);
      if (!config.groups.has(m.group as GroupUuid))
        throw new CorralError('not_found', `node group ${m.group} does not exist`);
      const node: NodeRecord = {
        uuid: m.uuid as NodeUuid,
        name: m.name,
        id,
        addrs: m.addrs,
        primaryIp: m.primaryIp,
        secondaryIp: m.secondaryIp,
        group: m.group as GroupUuid,
        masterCandidate: m.masterCandidate,
        masterCapable: m.masterCapable,
        vmCapable: m.vmCapable,
        drained: m.drained,
        offline: m.offline,
        tags: [],
        ctimeMs: nowMs,
        mtimeMs: nowMs,
        serial: 1,
      };
      checkNodeFlags(config, node);
      return { ...config, nodes: new Map(config.nodes).set(node.uuid, node) };
    }
    case 'node-remove': {
      const node = nodeByUuid(config, m.uuid);
      if (node.id === config.master) {
        throw new CorralError(
          'conflict',
          `${node.name} is the master; hand the role to another node (cluster master-failover) first`,
        );
      }
      const nodes = new Map(config.nodes);
      nodes.delete(node.uuid);
      return fillCandidatePool({ ...config, nodes }, nowMs);
    }
    case 'node-set': {
      const node = nodeByUuid(config, m.uuid);
      const updated = withRole(node, m.changes);
      if (node.id === config.master && (!updated.masterCandidate || updated.offline || updated.drained)) {
        throw new CorralError(
          'conflict',
          `${node.name} is the master; it stays an online candidate (use cluster master-failover to move the role)`,
        );
      }
      checkNodeFlags(config, updated);
      const next = {
        ...config,
        nodes: new Map(config.nodes).set(node.uuid, bump(updated, nowMs)),
      };
      // The node just demoted is not promoted straight back.
      const demoted = node.masterCandidate && !updated.masterCandidate ? node.uuid : undefined;
      return m.autoPromote ? fillCandidatePool(next, nowMs, demoted) : next;
    }
    case 'group-add': {
      if (findGroup(config, m.name)) throw new CorralError('conflict', `node group ${m.name} already exists`);
      const group: GroupRecord = {
        uuid: m.uuid as GroupUuid,
        name: m.name,
        allocPolicy: m.allocPolicy,
        tags: [],
        ctimeMs: nowMs,
        mtimeMs: nowMs,
        serial: 1,
      };
      return { ...config, groups: new Map(config.groups).set(group.uuid, group) };
    }
    case 'group-remove': {
      const group = groupByUuid(config, m.uuid);
      const members = sortedNodes(config).filter((node) => node.group === group.uuid);
      if (members.length > 0) {
        throw new CorralError(
          'conflict',
          `node group ${group.name} still holds ${members.map((n) => n.name).join(', ')}; move them first (group assign-nodes)`,
        );
      }
      if (config.groups.size === 1)
        throw new CorralError('conflict', `${group.name} is the last node group; it cannot be removed`);
      const groups = new Map(config.groups);
      groups.delete(group.uuid);
      return { ...config, groups };
    }
    case 'group-set': {
      const group = groupByUuid(config, m.uuid);
      if (m.name !== undefined && m.name !== group.name && findGroup(config, m.name))
        throw new CorralError('conflict', `node group ${m.name} already exists`);
      const updated: GroupRecord = {
        ...group,
        ...(m.name !== undefined && { name: m.name }),
        ...(m.allocPolicy !== undefined && { allocPolicy: m.allocPolicy }),
        mtimeMs: nowMs,
        serial: group.serial + 1,
      };
      return { ...config, groups: new Map(config.groups).set(group.uuid, updated) };
    }
    case 'group-assign': {
      const group = groupByUuid(config, m.uuid);
      const nodes = new Map(config.nodes);
      for (const nodeUuid of m.nodes) {
        const node = nodeByUuid(config, nodeUuid);
        if (node.group !== group.uuid) nodes.set(node.uuid, bump({ ...node, group: group.uuid }, nowMs));
      }
      return { ...config, nodes };
    }
    case 'tags':
      return changeTags(config, m, nowMs);
    case 'cluster-set': {
      const cluster: ClusterParams = {
        ...config.cluster,
        ...(m.candidatePoolSize !== undefined && { candidatePoolSize: m.candidatePoolSize }),
        ...(m.enabledHypervisors !== undefined && { enabledHypervisors: unique(m.enabledHypervisors) }),
        ...(m.enabledDiskTemplates !== undefined && { enabledDiskTemplates: unique(m.enabledDiskTemplates) }),
        ...(m.maxRunningJobs !== undefined && { maxRunningJobs: m.maxRunningJobs }),
        ...(m.candidateDeadGraceMs !== undefined && { candidateDeadGraceMs: m.candidateDeadGraceMs }),
      };
      return fillCandidatePool({ ...config, cluster }, nowMs);
    }
  }
}

/**
 * Ganeti's role model: a node is at most one of candidate, drained and offline. Raising one of them clears
 * the others; setting a node offline or not master capable takes it out of the pool.
 */
function withRole(node: NodeRecord, changes: Partial<NodeRecord>): NodeRecord {
  const raised = (['masterCandidate', 'drained', 'offline'] as const).filter(
    (flag) => changes[flag] === true,
  );
  if (raised.length > 1) {
    throw new CorralError(
      'bad_request',
      'only one of master candidate, drained and offline can be set to yes at a time',
    );
  }
  let updated: NodeRecord = { ...node, ...changes };
  if (raised.length === 1) {
    updated = { ...updated, masterCandidate: false, drained: false, offline: false, [raised[0]!]: true };
  }
  if (!updated.masterCapable) {
    if (changes.masterCandidate === true)
      throw new CorralError(
        'conflict',
        `${node.name} is not master capable, so it cannot be a master candidate`,
      );
    updated = { ...updated, masterCandidate: false };
  }
  return updated;
}

function checkNodeFlags(config: ConfigData, node: NodeRecord): void {
  if (node.masterCandidate && !node.masterCapable)
    throw new CorralError(
      'conflict',
      `${node.name} is not master capable, so it cannot be a master candidate`,
    );
  if (node.masterCandidate && (node.offline || node.drained))
    throw new CorralError(
      'conflict',
      `${node.name} is offline or drained, so it cannot be a master candidate`,
    );
  for (const other of config.nodes.values()) {
    if (other.uuid === node.uuid) continue;
    const shared = other.addrs.find((addr) => node.addrs.includes(addr));
    if (shared !== undefined) throw new CorralError('conflict', `${other.name} already listens at ${shared}`);
  }
}

/** Promotes master-capable online nodes, by name, until the pool holds candidatePoolSize candidates. */
export function fillCandidatePool(config: ConfigData, nowMs: number, except?: NodeUuid): ConfigData {
  let missing = config.cluster.candidatePoolSize - candidates(config).length;
  if (missing <= 0) return config;
  const nodes = new Map(config.nodes);
  for (const node of sortedNodes(config)) {
    if (missing === 0) break;
    if (node.masterCandidate || !mayBeCandidate(node) || node.uuid === except) continue;
    nodes.set(node.uuid, bump({ ...node, masterCandidate: true }, nowMs));
    missing--;
  }
  return { ...config, nodes };
}

function changeTags(config: ConfigData, m: Extract<Mutation, { type: 'tags' }>, nowMs: number): ConfigData {
  const edit = (current: readonly string[], what: string): string[] => {
    const missing = m.remove.filter((tag) => !current.includes(tag));
    if (missing.length > 0) throw new CorralError('not_found', `${what} has no tag ${missing.join(', ')}`);
    const next = unique([...current.filter((tag) => !m.remove.includes(tag)), ...m.add]);
    if (next.length > MAX_TAGS) throw new CorralError('conflict', `${what} would have over ${MAX_TAGS} tags`);
    return next;
  };
  switch (m.kind) {
    case 'cluster':
      return { ...config, cluster: { ...config.cluster, tags: edit(config.cluster.tags, 'the cluster') } };
    case 'node': {
      const node = nodeByUuid(config, m.target ?? '');
      const updated = bump({ ...node, tags: edit(node.tags, `node ${node.name}`) }, nowMs);
      return { ...config, nodes: new Map(config.nodes).set(node.uuid, updated) };
    }
    case 'nodegroup': {
      const group = groupByUuid(config, m.target ?? '');
      const updated: GroupRecord = {
        ...group,
        tags: edit(group.tags, `node group ${group.name}`),
        mtimeMs: nowMs,
        serial: group.serial + 1,
      };
      return { ...config, groups: new Map(config.groups).set(group.uuid, updated) };
    }
    case 'instance':
      throw new CorralError('not_found', 'this cluster has no instances yet');
  }
}

function nodeByUuid(config: ConfigData, uuid: string): NodeRecord {
  const node = config.nodes.get(uuid as NodeUuid);
  if (node === undefined) throw new CorralError('not_found', `node ${uuid} is not in the cluster`);
  return node;
}

function groupByUuid(config: ConfigData, uuid: string): GroupRecord {
  const group = config.groups.get(uuid as GroupUuid);
  if (group === undefined) throw new CorralError('not_found', `node group ${uuid} does not exist`);
  return group;
}

function bump(node: NodeRecord, nowMs: number): NodeRecord {
  return { ...node, mtimeMs: nowMs, serial: node.serial + 1 };
}

function unique<T>(items: readonly T[]): T[] {
  return [...new Set(items)];
}
