import { z } from 'zod';
import { CorralError } from '../common/errors.js';
import { asNodeId } from '../common/ids.js';
import { bytesSchema } from '../peer/codec.js';
import { CLUSTER_SECRET_BYTES } from '../peer/join-token.js';
import {
  type ConfigData,
  candidates,
  findGroup,
  findInstance,
  findNode,
  instancesOfNode,
  mayBeCandidate,
  nodeById,
  nodeOfUuid,
  requireTemplateAllowed,
  sortedInstances,
  sortedNodes,
} from './config.js';
import { collectorSettingSchema, dataCollectorNames } from './data-collectors.js';
import { corralDiskTemplates, needsSecondary } from './disk-templates.js';
import { hypervisors } from './hypervisors.js';
import { checkHaParams, type HaParams, LEASE_LIMITS } from './lease.js';
import { checkMasterIp } from './master-ip.js';
import {
  adminStates,
  allocPolicies,
  type ClusterParams,
  type GroupRecord,
  type GroupUuid,
  type InstanceRecord,
  type InstanceUuid,
  iallocatorParamsSchema,
  MAX_TAGS,
  type MirrorState,
  type NodeRecord,
  type NodeUuid,
  nameSchema,
  nicModes,
  tagSchema,
} from './model.js';
import { ND_GLOBALS, ndParamsSchema } from './ndparams.js';
import { tagKinds } from './opcodes.js';
import { rapiCertificateSchema } from './rapi-certificate.js';
import { beParamsSchema, diskRecordSchema, nicRecordSchema } from './record-schemas.js';

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
const params = z.record(z.string().regex(/^[a-z][a-z0-9_]{0,63}$/), z.string().max(1024));

const instanceFields = {
  name: nameSchema,
  primaryNode: uuid,
  secondaryNodes: z.array(uuid).max(1),
  /** Empty for an instance created without an OS install. */
  os: z.string().max(128),
  hypervisor: z.enum(hypervisors),
  hvParams: params,
  beParams: beParamsSchema.partial(),
  osParams: params,
  osParamsPrivate: params.optional(),
  disks: z.array(diskRecordSchema).max(16),
  nics: z.array(nicRecordSchema).max(8),
  adminState: z.enum(adminStates),
  adminStateSource: z.enum(['admin', 'user']),
  disksActive: z.boolean(),
  mirror: z.object({ generation: z.number().int().nonnegative(), current: z.array(uuid).max(2) }).optional(),
};

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
    ndParams: ndParamsSchema.optional(),
  }),
  z.object({ type: z.literal('node-remove'), uuid }),
  z.object({
    type: z.literal('node-set'),
    uuid,
    changes: flags.partial().extend({
      secondaryIp: ip.optional(),
      addrs: addrs.optional(),
      /** The node's own node parameters, replacing those it had. */
      ndParams: ndParamsSchema.optional(),
      powered: z.boolean().optional(),
    }),
    /** Promote other nodes until the pool is full again (Ganeti's --auto-promote). */
    autoPromote: z.boolean(),
  }),
  z.object({
    type: z.literal('group-add'),
    uuid,
    name: nameSchema,
    allocPolicy: z.enum(allocPolicies),
    diskTemplates: z.array(z.enum(corralDiskTemplates)).min(1).max(16).optional(),
    ndParams: ndParamsSchema.optional(),
  }),
  z.object({ type: z.literal('group-remove'), uuid }),
  z.object({
    type: z.literal('group-set'),
    uuid,
    name: nameSchema.optional(),
    allocPolicy: z.enum(allocPolicies).optional(),
    diskTemplates: z.array(z.enum(corralDiskTemplates)).min(1).max(16).optional(),
    /** The group's own node parameters, replacing those it had. */
    ndParams: ndParamsSchema.optional(),
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
    type: z.literal('instance-add'),
    uuid,
    ...instanceFields,
    diskTemplate: z.enum(corralDiskTemplates),
    tags: z.array(tagSchema).max(64),
  }),
  z.object({ type: z.literal('instance-remove'), uuid }),
  z.object({
    type: z.literal('instance-set'),
    uuid,
    // A new template comes with the nodes and mirror state it needs; leaving drbd drops the mirror state.
    changes: z.object({ ...instanceFields, diskTemplate: z.enum(corralDiskTemplates) }).partial(),
    /**
     * Refused unless the mirror is still at this generation: a move decided on the mirror as it was must not
     * land after its primary outdated the other copy (a failover onto a copy that just went stale).
     */
    ifMirrorGeneration: z.number().int().nonnegative().optional(),
  }),
  /**
   * The primary of a mirrored instance (`by`, a node UUID) could not reach its secondary at `generation`:
   * from the next generation on, only the primary's copy is current. Refused unless `by` is the primary and
   * its copy is current: a deposed primary must take no more writes.
   */
  z.object({ type: z.literal('mirror-outdate'), uuid, by: uuid, generation: z.number().int().nonnegative() }),
  /** The primary's resync brought the secondary level at `generation`: both copies are current again. */
  z.object({ type: z.literal('mirror-synced'), uuid, by: uuid, generation: z.number().int().nonnegative() }),
  z.object({
    type: z.literal('cluster-set'),
    candidatePoolSize: z.number().int().min(1).max(99).optional(),
    enabledHypervisors: z.array(z.enum(hypervisors)).min(1).max(8).optional(),
    enabledDiskTemplates: z.array(z.enum(corralDiskTemplates)).min(1).max(16).optional(),
    maxRunningJobs: z.number().int().min(1).max(1000).optional(),
    candidateDeadGraceMs: z.number().int().min(5_000).optional(),
    leaseMs: z.number().int().min(LEASE_LIMITS.minLeaseMs).max(LEASE_LIMITS.maxLeaseMs).optional(),
    fenceMarginMs: z.number().int().min(LEASE_LIMITS.minFenceMarginMs).optional(),
    clockDriftPpm: z.number().int().min(0).max(LEASE_LIMITS.maxClockDriftPpm).optional(),
    autoFailover: z.boolean().optional(),
    /** cluster rename */
    name: nameSchema.optional(),
    beParams: beParamsSchema.optional(),
    nicParams: z.object({ mode: z.enum(nicModes), link: z.string().max(64) }).optional(),
    macPrefix: z
      .string()
      .regex(/^[0-9a-f]{2}:[0-9a-f]{2}:[0-9a-f]{2}$/, 'a MAC prefix is three hex pairs, such as aa:00:00')
      .optional(),
    /** '' goes back to the built-in allocator. */
    defaultIallocator: z.string().max(4096).optional(),
    /** Replacing those it had. */
    defaultIallocatorParams: iallocatorParamsSchema.optional(),
    dataCollectors: z.partialRecord(z.enum(dataCollectorNames), collectorSettingSchema).optional(),
    /** The cluster's own node parameters, replacing those it had. */
    ndParams: ndParamsSchema.optional(),
    /** The cluster's hypervisor parameters by hypervisor, replacing what they were. */
    hvParams: z.record(z.string().max(32), z.record(z.string().max(64), z.string().max(1024))).optional(),
    /** The per-OS tables and lists (gnt-os modify), each replacing what it was. */
    osParams: z.record(z.string().max(128), z.record(z.string().max(64), z.string().max(1024))).optional(),
    osHvParams: z
      .record(
        z.string().max(128),
        z.record(z.string().max(32), z.record(z.string().max(64), z.string().max(1024))),
      )
      .optional(),
    hiddenOs: z.array(z.string().min(1).max(128)).max(256).optional(),
    blacklistedOs: z.array(z.string().min(1).max(128)).max(256).optional(),
    /** The floating master IP; null: none any more. */
    masterIp: z
      .object({
        address: z.string().min(1).max(64),
        netmask: z.number().int().min(1).max(128),
        netdev: z.string().min(1).max(15),
        external: z.boolean(),
      })
      .nullable()
      .optional(),
  }),
  /**
   * The master's switches outside the configuration proper, as Ganeti keeps them in files beside it: the
   * queue's drain flag, and until when the watcher is paused (null: not paused).
   */
  z.object({
    type: z.literal('cluster-flags'),
    queueDrained: z.boolean().optional(),
    watcherPauseUntilMs: z.number().int().nonnegative().nullable().optional(),
  }),
  /** A new key and certificate for RAPI (renew-crypto --new-rapi-certificate): every node serves it. */
  z.object({ type: z.literal('rapi-certificate'), certificate: rapiCertificateSchema }),
  /** A new cluster secret (renew-crypto): join tokens made with the old one stop working. */
  z.object({
    type: z.literal('cluster-secret'),
    secret: bytesSchema.refine((secret) => secret.byteLength === CLUSTER_SECRET_BYTES, {
      message: `a cluster secret is ${CLUSTER_SECRET_BYTES} bytes`,
    }),
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
        ...(m.ndParams !== undefined && { ndParams: m.ndParams }),
        tags: [],
        ctimeMs: nowMs,
        mtimeMs: nowMs,
        serial: 1,
      };
      checkNodeFlags(config, node);
      return { ...config, nodes: new Map(config.nodes).set(node.uuid, node) };
    }
    case 'node-remove': {
      const node = nodeOfUuid(config, m.uuid as NodeUuid);
      const hosted = instancesOfNode(config, node.uuid);
      const names = [...hosted.primary, ...hosted.secondary].map((instance) => instance.name);
      if (names.length > 0) {
        throw new CorralError(
          'conflict',
          `${node.name} still hosts ${names.join(', ')}; move them away first (node evacuate)`,
        );
      }
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
      const node = nodeOfUuid(config, m.uuid as NodeUuid);
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
        ...(m.diskTemplates !== undefined && { diskTemplates: m.diskTemplates }),
        ...(m.ndParams !== undefined && { ndParams: m.ndParams }),
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
        ...(m.diskTemplates !== undefined && { diskTemplates: m.diskTemplates }),
        ...(m.ndParams !== undefined && { ndParams: m.ndParams }),
        mtimeMs: nowMs,
        serial: group.serial + 1,
      };
      const next = { ...config, groups: new Map(config.groups).set(group.uuid, updated) };
      checkGroupPolicy(next, group.uuid);
      return next;
    }
    case 'group-assign': {
      const group = groupByUuid(config, m.uuid);
      const nodes = new Map(config.nodes);
      for (const nodeUuid of m.nodes) {
        const node = nodeOfUuid(config, nodeUuid as NodeUuid);
        if (node.group !== group.uuid) nodes.set(node.uuid, bump({ ...node, group: group.uuid }, nowMs));
      }
      const next = { ...config, nodes };
      checkGroupPolicy(next, group.uuid);
      return next;
    }
    case 'tags':
      return changeTags(config, m, nowMs);
    case 'instance-add': {
      if (!config.cluster.enabledHypervisors.includes(m.hypervisor))
        throw new CorralError('conflict', `hypervisor ${m.hypervisor} is not enabled in this cluster`);
      if (!config.cluster.enabledDiskTemplates.includes(m.diskTemplate))
        throw new CorralError('conflict', `disk template ${m.diskTemplate} is not enabled in this cluster`);
      const { type: _type, mirror, ...fields } = m;
      const instance: InstanceRecord = {
        ...fields,
        ...(mirror !== undefined && { mirror: mirrorState(mirror) }),
        uuid: m.uuid as InstanceUuid,
        primaryNode: m.primaryNode as NodeUuid,
        secondaryNodes: m.secondaryNodes as NodeUuid[],
        tags: unique(m.tags),
        ctimeMs: nowMs,
        mtimeMs: nowMs,
        serial: 1,
      };
      if (config.instances.has(instance.uuid))
        throw new CorralError('conflict', `instance ${instance.uuid} already exists`);
      checkInstance(config, instance);
      return { ...config, instances: new Map(config.instances).set(instance.uuid, instance) };
    }
    case 'instance-remove': {
      const instance = instanceByUuid(config, m.uuid);
      const instances = new Map(config.instances);
      instances.delete(instance.uuid);
      return { ...config, instances };
    }
    case 'instance-set': {
      const instance = instanceByUuid(config, m.uuid);
      if (m.ifMirrorGeneration !== undefined && instance.mirror?.generation !== m.ifMirrorGeneration)
        throw new CorralError(
          'conflict',
          `the mirror of ${instance.name} moved on to generation ${instance.mirror?.generation ?? 'none'} while this operation ran (its primary outdated the other copy); nothing was changed, look at instance info and try again`,
        );
      const { primaryNode, secondaryNodes, mirror, ...rest } = m.changes;
      const changed = bumpInstance(
        {
          ...instance,
          ...rest,
          ...(primaryNode !== undefined && { primaryNode: primaryNode as NodeUuid }),
          ...(secondaryNodes !== undefined && { secondaryNodes: secondaryNodes as NodeUuid[] }),
          ...(mirror !== undefined && { mirror: mirrorState(mirror) }),
        },
        nowMs,
      );
      const { mirror: _dropped, ...unmirrored } = changed;
      const updated = needsSecondary(changed.diskTemplate) ? changed : unmirrored;
      checkInstance(config, updated);
      return { ...config, instances: new Map(config.instances).set(instance.uuid, updated) };
    }
    case 'mirror-outdate':
    case 'mirror-synced': {
      const instance = instanceByUuid(config, m.uuid);
      const mirror = mirrorReport(instance, m);
      const updated = bumpInstance({ ...instance, mirror }, nowMs);
      return { ...config, instances: new Map(config.instances).set(instance.uuid, updated) };
    }
    case 'cluster-set': {
      const { defaultIallocator: oldAllocator, masterIp: oldMasterIp, ...kept } = config.cluster;
      const allocator = m.defaultIallocator ?? oldAllocator ?? '';
      const masterIp = m.masterIp === undefined ? oldMasterIp : m.masterIp;
      if (masterIp) checkMasterIp(masterIp);
      const cluster: ClusterParams = {
        ...kept,
        ...(masterIp && { masterIp }),
        ...(m.hvParams !== undefined && { hvParams: m.hvParams }),
        ...(m.osParams !== undefined && { osParams: m.osParams }),
        ...(m.osHvParams !== undefined && { osHvParams: m.osHvParams }),
        ...(m.hiddenOs !== undefined && { hiddenOs: m.hiddenOs }),
        ...(m.blacklistedOs !== undefined && { blacklistedOs: m.blacklistedOs }),
        ...(m.candidatePoolSize !== undefined && { candidatePoolSize: m.candidatePoolSize }),
        ...(m.enabledHypervisors !== undefined && { enabledHypervisors: unique(m.enabledHypervisors) }),
        ...(m.enabledDiskTemplates !== undefined && { enabledDiskTemplates: unique(m.enabledDiskTemplates) }),
        ...(m.maxRunningJobs !== undefined && { maxRunningJobs: m.maxRunningJobs }),
        ...(m.candidateDeadGraceMs !== undefined && { candidateDeadGraceMs: m.candidateDeadGraceMs }),
        ...(m.name !== undefined && { name: m.name }),
        ...(m.beParams !== undefined && { beParams: m.beParams }),
        ...(m.nicParams !== undefined && { nicParams: m.nicParams }),
        ...(m.macPrefix !== undefined && { macPrefix: m.macPrefix }),
        ...(allocator !== '' && { defaultIallocator: allocator }),
        ...(m.defaultIallocatorParams !== undefined && {
          defaultIallocatorParams: m.defaultIallocatorParams,
        }),
        ...(m.dataCollectors !== undefined && { dataCollectors: m.dataCollectors }),
        ...(m.ndParams !== undefined && { ndParams: m.ndParams }),
        ha: haAfter(config.cluster.ha, m),
      };
      if (cluster.beParams.minmemMiB > cluster.beParams.maxmemMiB)
        throw new CorralError(
          'bad_request',
          `the cluster's minmem (${cluster.beParams.minmemMiB} MiB) is above its maxmem (${cluster.beParams.maxmemMiB} MiB)`,
        );
      checkHaParams(cluster.ha);
      checkTemplatesInUse(config, cluster);
      if (
        cluster.defaultIallocator === undefined &&
        Object.keys(cluster.defaultIallocatorParams ?? {}).length > 0
      )
        throw new CorralError(
          'bad_request',
          'the built-in allocator takes no parameters: set --default-iallocator to a program (such as hail) with them',
        );
      return fillCandidatePool({ ...config, cluster }, nowMs);
    }
    case 'cluster-flags': {
      const { queueDrained, watcherPauseUntilMs, ...rest } = config.cluster;
      const drained = m.queueDrained ?? queueDrained ?? false;
      const pausedUntil = m.watcherPauseUntilMs === undefined ? watcherPauseUntilMs : m.watcherPauseUntilMs;
      const cluster: ClusterParams = {
        ...rest,
        ...(drained && { queueDrained: true }),
        ...(pausedUntil !== undefined && pausedUntil !== null && { watcherPauseUntilMs: pausedUntil }),
      };
      return { ...config, cluster };
    }
    case 'cluster-secret':
      return { ...config, clusterSecret: m.secret };
    case 'rapi-certificate':
      return { ...config, rapiCertificate: m.certificate };
  }
}

/** Ganeti's rules for an instance: a unique name, existing vm-capable nodes, a secondary apart from the primary. */
function mirrorState(mirror: {
  readonly generation: number;
  readonly current: readonly string[];
}): MirrorState {
  return { generation: mirror.generation, current: mirror.current as NodeUuid[] };
}

/**
 * The mirror state after a primary's report, or a refusal. An outdate repeated after it was applied (the
 * primary's retry) changes nothing; one from a node whose copy is no longer current is refused, since that
 * node was deposed by a failover.
 */
function mirrorReport(
  instance: InstanceRecord,
  report: {
    readonly type: 'mirror-outdate' | 'mirror-synced';
    readonly by: string;
    readonly generation: number;
  },
): MirrorState {
  const { mirror } = instance;
  if (mirror === undefined)
    throw new CorralError(
      'bad_request',
      `${instance.name} is not mirrored (its template is ${instance.diskTemplate})`,
    );
  const by = report.by as NodeUuid;
  if (instance.primaryNode !== by || !mirror.current.includes(by))
    throw new CorralError(
      'conflict',
      `the reporting node is not the primary of ${instance.name} with a current copy; it was failed over`,
    );
  if (report.generation > mirror.generation)
    throw new CorralError(
      'conflict',
      `${instance.name} is at mirror generation ${mirror.generation}, not ${report.generation}`,
    );
  if (report.type === 'mirror-outdate')
    return report.generation < mirror.generation && mirror.current.length === 1
      ? mirror
      : { generation: mirror.generation + 1, current: [by] };
  if (report.generation < mirror.generation)
    throw new CorralError(
      'conflict',
      `${instance.name} moved on to mirror generation ${mirror.generation}; the resync of ${report.generation} is stale`,
    );
  return { generation: mirror.generation, current: [by, ...instance.secondaryNodes] };
}

function checkInstance(config: ConfigData, instance: InstanceRecord): void {
  const holder = findInstance(config, instance.name);
  if (holder !== undefined && holder.uuid !== instance.uuid)
    throw new CorralError('conflict', `instance ${instance.name} already exists`);
  const primary = nodeOfUuid(config, instance.primaryNode);
  if (!primary.vmCapable)
    throw new CorralError(
      'conflict',
      `${primary.name} is not vm capable, so it cannot host ${instance.name}`,
    );
  requireTemplateAllowed(config, primary, instance.diskTemplate, instance.name);
  for (const secondary of instance.secondaryNodes) {
    const node = nodeOfUuid(config, secondary);
    if (node.uuid === primary.uuid)
      throw new CorralError(
        'conflict',
        `${instance.name} cannot have ${node.name} as both primary and secondary`,
      );
    if (!node.vmCapable)
      throw new CorralError('conflict', `${node.name} is not vm capable, so it cannot host ${instance.name}`);
  }
  const diskUuids = new Set(instance.disks.map((disk) => disk.uuid));
  if (diskUuids.size !== instance.disks.length)
    throw new CorralError('conflict', `${instance.name} lists a disk twice`);
  checkMirror(instance);
}

/** A mirrored instance has one secondary and a mirror state naming only its two nodes; the others neither. */
function checkMirror(instance: InstanceRecord): void {
  const mirrored = needsSecondary(instance.diskTemplate);
  if (!mirrored) {
    if (instance.secondaryNodes.length > 0 || instance.mirror !== undefined)
      throw new CorralError(
        'conflict',
        `${instance.name} uses ${instance.diskTemplate}, which has no secondary node; only drbd has one`,
      );
    return;
  }
  if (instance.secondaryNodes.length !== 1)
    throw new CorralError('conflict', `${instance.name} uses drbd, which needs exactly one secondary node`);
  const holders = [instance.primaryNode, ...instance.secondaryNodes];
  if (instance.mirror === undefined || instance.mirror.current.some((node) => !holders.includes(node)))
    throw new CorralError('conflict', `the mirror state of ${instance.name} names a node that holds no copy`);
}

/** Every instance on the group's nodes uses a template the group allows (refused, like Ganeti's templates in use). */
function checkGroupPolicy(config: ConfigData, group: GroupUuid): void {
  for (const instance of sortedInstances(config)) {
    const primary = nodeOfUuid(config, instance.primaryNode);
    if (primary.group === group)
      requireTemplateAllowed(config, primary, instance.diskTemplate, instance.name);
  }
}

/** Ganeti refuses to disable a hypervisor or disk template that instances still use. */
function checkTemplatesInUse(config: ConfigData, cluster: ClusterParams): void {
  for (const instance of sortedInstances(config)) {
    if (!cluster.enabledHypervisors.includes(instance.hypervisor))
      throw new CorralError('conflict', `instance ${instance.name} uses hypervisor ${instance.hypervisor}`);
    if (!cluster.enabledDiskTemplates.includes(instance.diskTemplate))
      throw new CorralError(
        'conflict',
        `instance ${instance.name} uses disk template ${instance.diskTemplate}`,
      );
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
  const globals = ND_GLOBALS.filter((key) => node.ndParams?.[key] !== undefined);
  if (globals.length > 0)
    throw new CorralError(
      'bad_request',
      `the node parameters ${globals.join(', ')} are global and cannot be customized at node level (${node.name}); set them on the cluster or the node group`,
    );
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
      const node = nodeOfUuid(config, (m.target ?? '') as NodeUuid);
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
    case 'instance': {
      const instance = instanceByUuid(config, m.target ?? '');
      const updated = bumpInstance(
        { ...instance, tags: edit(instance.tags, `instance ${instance.name}`) },
        nowMs,
      );
      return { ...config, instances: new Map(config.instances).set(instance.uuid, updated) };
    }
  }
}

function instanceByUuid(config: ConfigData, uuid: string): InstanceRecord {
  const instance = config.instances.get(uuid as InstanceUuid);
  if (instance === undefined) throw new CorralError('not_found', `instance ${uuid} does not exist`);
  return instance;
}

function bumpInstance(instance: InstanceRecord, nowMs: number): InstanceRecord {
  return { ...instance, mtimeMs: nowMs, serial: instance.serial + 1 };
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

/** The lease parameters after a change; a new lease length keeps the old one for a master taking over. */
function haAfter(ha: HaParams, m: Extract<Mutation, { type: 'cluster-set' }>): HaParams {
  return {
    ...ha,
    ...(m.leaseMs !== undefined &&
      m.leaseMs !== ha.leaseMs && { leaseMs: m.leaseMs, previousLeaseMs: ha.leaseMs }),
    ...(m.fenceMarginMs !== undefined && { fenceMarginMs: m.fenceMarginMs }),
    ...(m.clockDriftPpm !== undefined && { clockDriftPpm: m.clockDriftPpm }),
    ...(m.autoFailover !== undefined && { autoFailover: m.autoFailover }),
  };
}
