import {
  type ConfigData,
  candidates,
  findGroup,
  mayBeCandidate,
  requireGroup,
  requireInstance,
  requireNode,
  sortedGroups,
  sortedNodes,
} from '../cluster/config.js';
import { changedCollectors } from '../cluster/data-collectors.js';
import { corralDiskTemplates } from '../cluster/disk-templates.js';
import { hypervisors, isHypervisor } from '../cluster/hypervisors.js';
import { type MasterIpChanges, type MasterIpSpec, masterIpAfter } from '../cluster/master-ip.js';
import { type ClusterParams, DEFAULT_GROUP_NAME, type NodeRecord } from '../cluster/model.js';
import { applyMutation, type Mutation } from '../cluster/mutations.js';
import type { Opcode } from '../cluster/opcodes.js';
import { editedOsList, mergedOsHvTable, mergedParamTable } from '../cluster/os-params.js';
import { asCorralError, CorralError } from '../common/errors.js';
import type { NodeId } from '../common/ids.js';
import { enrolmentPeer } from '../peer/enrolment.js';
import { newClusterSecret } from '../peer/join-token.js';
import { backupOpDefinitions } from './backup-ops.js';
import { clusterDefaults, clusterOpDefinitions, defaultAllocator } from './cluster-ops.js';
import { groupMoveOpDefinitions } from './group-moves.js';
import { moveOpDefinitions } from './instance-moves.js';
import { instanceOpDefinitions } from './instance-ops.js';
import { instanceQueryOpDefinitions } from './instance-query.js';
import { call } from './instance-steps.js';
import type { LockRequest } from './locks.js';
import { masterIpOpDefinitions } from './master-ip-ops.js';
import { mirrorOpDefinitions } from './mirror-ops.js';
import { multiAllocOpDefinitions } from './multi-alloc.js';
import { ndParamsChanges } from './ndparams-ops.js';
import { oobOpDefinitions } from './oob-ops.js';
import { type HookSpec, type OpContext, type OpDefinitions, pauseJob } from './op-context.js';
import { recreateDisksOpDefinitions } from './recreate-disks.js';
import { restrictedCommandOpDefinitions } from './restricted-command-ops.js';
import { storageQueryOpDefinitions, storageRepairOpDefinitions } from './storage-query.js';
import { testOpDefinitions } from './test-ops.js';
import { verifyCluster, verifyDisks } from './verify.js';
import { volumeQueryOpDefinitions } from './volume-query.js';

const bglShared: LockRequest = { level: 'cluster', names: ['BGL'], mode: 'shared' };
/** The cluster-set fields for gnt-os modify's changes, each table or list whole. */
function osChanges(
  cluster: ClusterParams,
  op: Pick<
    Extract<Opcode, { OP_ID: 'OP_CLUSTER_SET_PARAMS' }>,
    'osparams' | 'os_hvp' | 'hidden_os' | 'blacklisted_os'
  >,
) {
  return {
    ...(op.osparams !== undefined && { osParams: mergedParamTable(cluster.osParams, op.osparams) }),
    ...(op.os_hvp !== undefined && { osHvParams: mergedOsHvTable(cluster.osHvParams, op.os_hvp) }),
    ...(op.hidden_os !== undefined && { hiddenOs: editedOsList(cluster.hiddenOs, op.hidden_os, 'hidden') }),
    ...(op.blacklisted_os !== undefined && {
      blacklistedOs: editedOsList(cluster.blacklistedOs, op.blacklisted_os, 'blacklisted'),
    }),
  };
}

/**
 * -H (the cluster's, or gnt-os modify's for an OS): each hypervisor is Corral's, and takes the parameters
 * given, as this node's agent checks them; `where` says whose they are.
 */
async function checkHvParams(
  ctx: OpContext,
  byHv: Readonly<Record<string, Readonly<Record<string, string>>>>,
  where: string,
) {
  const self = [...ctx.config().nodes.values()].find((node) => node.id === ctx.self);
  if (self === undefined) throw new CorralError('unavailable', 'the master is not in the configuration');
  for (const [hypervisor, params] of Object.entries(byHv)) {
    if (!isHypervisor(hypervisor))
      throw new CorralError(
        'bad_request',
        `-H ${hypervisor}${where}: unknown hypervisor; known: ${hypervisors.join(', ')}`,
      );
    const set = Object.fromEntries(Object.entries(params).filter(([, value]) => value !== 'default'));
    await call(ctx, self, 'checkParams', { hypervisor, hvParams: set });
  }
}

/** The cluster-set field for the master IP options given, if any. */
function masterIpChange(current: MasterIpSpec | undefined, changes: MasterIpChanges) {
  const masterIp = masterIpAfter(current, changes);
  return masterIp === undefined ? {} : { masterIp };
}

const bglExclusive: LockRequest = { level: 'cluster', names: ['BGL'], mode: 'exclusive' };

function nodeLocks(names: readonly string[] | 'all', mode: LockRequest['mode']): LockRequest {
  return { level: 'node', names: names === 'all' ? 'all' : [...names], mode };
}

function groupLocks(names: readonly string[] | 'all', mode: LockRequest['mode']): LockRequest {
  return { level: 'group', names: names === 'all' ? 'all' : [...names], mode };
}

/** Runs the change against the current configuration first, so a refusal comes before any side effect. */
function check(ctx: OpContext, mutation: Mutation): void {
  applyMutation(ctx.config(), mutation, ctx.clock.wallMs());
}

function onOff(value: boolean | undefined): string {
  return value === undefined ? 'None' : value ? 'True' : 'False';
}

function masterId(config: ConfigData): NodeId[] {
  return config.master === undefined ? [] : [config.master];
}

function withMaster(config: ConfigData, ...nodes: NodeId[]): NodeId[] {
  return [...new Set([...masterId(config), ...nodes])];
}

function allNodeIds(config: ConfigData, except?: NodeId): NodeId[] {
  return sortedNodes(config)
    .filter((node) => !node.offline && node.id !== except)
    .map((node) => node.id);
}

function groupHooks(hpath: string, name: string, config: ConfigData, env: Record<string, string>): HookSpec {
  const nodes = masterId(config);
  return { hpath, objectType: 'GROUP', target: name, env, preNodes: nodes, postNodes: nodes };
}

/** Ganeti's rule: demoting a candidate must not leave the pool short, unless told to refill it or to go ahead. */
function checkPoolAfterDemotion(
  config: ConfigData,
  node: NodeRecord,
  autoPromote: boolean,
  force: boolean,
): void {
  if (autoPromote || force) return;
  const remaining = candidates(config).length - 1;
  const replacements = sortedNodes(config).filter(
    (other) => other.uuid !== node.uuid && !other.masterCandidate && mayBeCandidate(other),
  );
  if (remaining < config.cluster.candidatePoolSize && replacements.length > 0) {
    throw new CorralError(
      'conflict',
      `demoting ${node.name} leaves ${remaining} of ${config.cluster.candidatePoolSize} master candidates; ` +
        'add --auto-promote to promote another node, or --force',
    );
  }
}

export const opDefinitions: OpDefinitions = {
  ...instanceOpDefinitions,
  ...instanceQueryOpDefinitions,
  ...multiAllocOpDefinitions,
  ...storageQueryOpDefinitions,
  ...storageRepairOpDefinitions,
  ...volumeQueryOpDefinitions,
  ...moveOpDefinitions,
  ...groupMoveOpDefinitions,
  ...masterIpOpDefinitions,
  ...restrictedCommandOpDefinitions,
  ...mirrorOpDefinitions,
  ...recreateDisksOpDefinitions,
  ...backupOpDefinitions,
  ...clusterOpDefinitions,
  ...testOpDefinitions,
  ...oobOpDefinitions,
  OP_NODE_ADD: {
    onTakeover: 'resume',
    locks: () => [bglExclusive],
    hooks: (op, config) => ({
      hpath: 'node-add',
      objectType: 'NODE',
      target: op.node_name,
      env: {
        NODE_NAME: op.node_name,
        NODE_PIP: op.primary_ip ?? '',
        NODE_SIP: op.secondary_ip ?? op.primary_ip ?? '',
        MASTER_CAPABLE: onOff(op.master_capable ?? true),
        VM_CAPABLE: onOff(op.vm_capable ?? true),
      },
      preNodes: allNodeIds(config),
      postNodes: allNodeIds(config),
    }),
    async run(op, ctx) {
      const config = ctx.config();
      const group =
        op.group !== undefined
          ? requireGroup(config, op.group)
          : (findGroup(config, DEFAULT_GROUP_NAME) ?? sortedGroups(config)[0]);
      if (group === undefined) throw new CorralError('not_found', 'the cluster has no node group');
      if (op.group === undefined && config.groups.size > 1 && group.name !== DEFAULT_GROUP_NAME) {
        throw new CorralError('bad_request', 'the cluster has several node groups; say which with --group');
      }
      if (op.enrol_code === undefined) {
        throw new CorralError(
          'bad_enrolment',
          `adding ${op.node_name} needs its enrolment code: run 'corral identity' there as root and pass --enrol-code`,
        );
      }
      const enrolled = enrolmentPeer(op.enrol_code);
      ctx.log(`contacting the daemon at ${op.address}`);
      const { peer, info } = await ctx.agent.probe(op.address, ctx.signal);
      ctx.log(`${op.address} is peer ${peer} (corral ${info.version}, host ${info.name})`);
      // Checked before anything is sent: whoever else answers at that address learns nothing of the cluster.
      for (const [expected, what] of [
        [enrolled, 'the enrolment code names'],
        [op.peer_id, 'the expected'],
      ] as const) {
        if (expected !== undefined && expected !== peer) {
          throw new CorralError(
            'conflict',
            `the daemon at ${op.address} is ${peer}, not ${what} ${expected}; check the address or the node`,
          );
        }
      }
      // A node removed a moment ago wiped its Raft log, but until the master takes it out of the Raft group its
      // old place there counts: the leader would take the entries it held for still held, and its vote would
      // count with an empty log. It comes back only once it has left.
      const raft = ctx.raft();
      if (raft.voters.includes(peer) || raft.learners.includes(peer)) {
        throw new CorralError(
          'unavailable',
          `${op.node_name} is still leaving the Raft group after its removal; add it again in a few seconds`,
        );
      }
      const cluster = config.cluster;
      if (info.cluster !== undefined && info.cluster.uuid !== cluster.uuid) {
        throw new CorralError(
          'conflict',
          `${op.node_name} already belongs to cluster ${info.cluster.name}; remove it there first`,
        );
      }
      const masterCapable = op.master_capable ?? true;
      const poolShort = candidates(config).length < cluster.candidatePoolSize;
      const masterCandidate = op.master_candidate ?? (masterCapable && poolShort);
      const primaryIp = op.primary_ip ?? ipOf(op.address) ?? '';
      const mutation: Mutation = {
        type: 'node-add',
        uuid: ctx.newUuid(),
        name: op.node_name,
        id: peer,
        addrs: [op.address],
        primaryIp,
        secondaryIp: op.secondary_ip ?? primaryIp,
        group: group.uuid,
        masterCandidate,
        masterCapable,
        vmCapable: op.vm_capable ?? true,
        drained: false,
        offline: false,
        ...ndParamsChanges.nodeAdd(op),
      };
      // A re-run after a master change finds the node admitted already; admission is idempotent.
      check(ctx, mutation);
      await ctx.agent.admit(peer, op.enrol_code, ctx.signal);
      ctx.log(`admitted ${op.node_name} as ${masterCandidate ? 'a master candidate' : 'a regular node'}`);
      return { mutation, result: { node: op.node_name, peer } };
    },
  },

  OP_NODE_REMOVE: {
    onTakeover: 'resume',
    locks: () => [bglExclusive],
    hooks: (op, config) => {
      const node = requireNode(config, op.node_name);
      return {
        hpath: 'node-remove',
        objectType: 'NODE',
        target: op.node_name,
        env: { NODE_NAME: op.node_name },
        preNodes: allNodeIds(config, node.id),
        postNodes: allNodeIds(config),
      };
    },
    async run(op, ctx) {
      const node = requireNode(ctx.config(), op.node_name);
      const mutation: Mutation = { type: 'node-remove', uuid: node.uuid };
      check(ctx, mutation);
      await leaveRaftVoters(ctx, node);
      try {
        await ctx.agent.evict(node.id, ctx.signal);
        ctx.log(`${node.name} forgot the cluster`);
      } catch (error) {
        // Ganeti removes a dead node from the config all the same.
        ctx.log(`could not reach ${node.name} to tell it (${(error as Error).message}); removed anyway`);
      }
      return { mutation, result: { node: node.name } };
    },
  },

  OP_NODE_SET_PARAMS: {
    onTakeover: 'resume',
    locks: (op) => [bglShared, nodeLocks(op.auto_promote ? 'all' : [op.node_name], 'exclusive')],
    hooks: (op, config) => {
      const node = requireNode(config, op.node_name);
      const nodes = withMaster(config, node.id);
      return {
        hpath: 'node-modify',
        objectType: 'NODE',
        target: op.node_name,
        env: {
          MASTER_CANDIDATE: onOff(op.master_candidate),
          OFFLINE: onOff(op.offline),
          DRAINED: onOff(op.drained),
          MASTER_CAPABLE: onOff(op.master_capable),
          VM_CAPABLE: onOff(op.vm_capable),
        },
        preNodes: nodes,
        postNodes: nodes,
      };
    },
    async run(op, ctx) {
      const config = ctx.config();
      const node = requireNode(config, op.node_name);
      const changes = {
        ...(op.master_candidate !== undefined && { masterCandidate: op.master_candidate }),
        ...(op.drained !== undefined && { drained: op.drained }),
        ...(op.offline !== undefined && { offline: op.offline }),
        ...(op.master_capable !== undefined && { masterCapable: op.master_capable }),
        ...(op.vm_capable !== undefined && { vmCapable: op.vm_capable }),
        ...(op.secondary_ip !== undefined && { secondaryIp: op.secondary_ip }),
        ...ndParamsChanges.node(config, node, op),
      };
      if (Object.keys(changes).length === 0) throw new CorralError('bad_request', 'no change was asked for');
      const demoted =
        node.masterCandidate &&
        (op.master_candidate === false ||
          op.offline === true ||
          op.drained === true ||
          op.master_capable === false);
      // Offline or drained nodes leave the pool on their own and the pool refills; an explicit demotion
      // refills only when asked to (--auto-promote), or is refused while it would leave the pool short.
      const explicitDemotion = demoted && op.offline !== true && op.drained !== true;
      if (explicitDemotion) checkPoolAfterDemotion(config, node, op.auto_promote ?? false, op.force ?? false);
      const mutation: Mutation = {
        type: 'node-set',
        uuid: node.uuid,
        changes,
        autoPromote: !explicitDemotion || (op.auto_promote ?? false),
      };
      check(ctx, mutation);
      return { mutation, result: { node: node.name, changes } };
    },
  },

  OP_GROUP_ADD: {
    onTakeover: 'resume',
    locks: (op) => [bglShared, groupLocks([op.group_name], 'exclusive')],
    hooks: (op, config) => groupHooks('group-add', op.group_name, config, { GROUP_NAME: op.group_name }),
    async run(op, ctx) {
      const mutation: Mutation = {
        type: 'group-add',
        uuid: ctx.newUuid(),
        name: op.group_name,
        allocPolicy: op.alloc_policy ?? 'preferred',
        ...(op.ipolicy_disk_templates !== undefined && { diskTemplates: op.ipolicy_disk_templates }),
        ...ndParamsChanges.groupAdd(op),
      };
      check(ctx, mutation);
      return { mutation, result: { group: op.group_name } };
    },
  },

  OP_GROUP_REMOVE: {
    onTakeover: 'resume',
    locks: (op) => [bglShared, groupLocks([op.group_name], 'exclusive'), nodeLocks('all', 'shared')],
    hooks: (op, config) => groupHooks('group-remove', op.group_name, config, { GROUP_NAME: op.group_name }),
    async run(op, ctx) {
      const group = requireGroup(ctx.config(), op.group_name);
      const mutation: Mutation = { type: 'group-remove', uuid: group.uuid };
      check(ctx, mutation);
      return { mutation, result: { group: op.group_name } };
    },
  },

  OP_GROUP_RENAME: {
    onTakeover: 'resume',
    locks: (op) => [bglShared, groupLocks([op.group_name, op.new_name], 'exclusive')],
    hooks: (op, config) =>
      groupHooks('group-rename', op.group_name, config, { OLD_NAME: op.group_name, NEW_NAME: op.new_name }),
    async run(op, ctx) {
      const group = requireGroup(ctx.config(), op.group_name);
      const mutation: Mutation = { type: 'group-set', uuid: group.uuid, name: op.new_name };
      check(ctx, mutation);
      return { mutation, result: { group: op.new_name } };
    },
  },

  OP_GROUP_SET_PARAMS: {
    onTakeover: 'resume',
    locks: (op) => [bglShared, groupLocks([op.group_name], 'exclusive')],
    hooks: (op, config) =>
      groupHooks('group-modify', op.group_name, config, {
        GROUP_NAME: op.group_name,
        NEW_ALLOC_POLICY: op.alloc_policy ?? '',
      }),
    async run(op, ctx) {
      const group = requireGroup(ctx.config(), op.group_name);
      if (
        op.alloc_policy === undefined &&
        op.ipolicy_disk_templates === undefined &&
        op.ndparams === undefined
      )
        throw new CorralError('bad_request', 'no change was asked for');
      const mutation: Mutation = {
        type: 'group-set',
        uuid: group.uuid,
        ...(op.alloc_policy !== undefined && { allocPolicy: op.alloc_policy }),
        ...(op.ipolicy_disk_templates !== undefined && { diskTemplates: op.ipolicy_disk_templates }),
        ...ndParamsChanges.group(group, op),
      };
      check(ctx, mutation);
      return { mutation, result: { group: op.group_name } };
    },
  },

  OP_GROUP_ASSIGN_NODES: {
    onTakeover: 'resume',
    locks: (op) => [bglShared, groupLocks('all', 'exclusive'), nodeLocks(op.nodes, 'exclusive')],
    async run(op, ctx) {
      const config = ctx.config();
      const group = requireGroup(config, op.group_name);
      const nodes = op.nodes.map((name) => requireNode(config, name));
      const mutation: Mutation = { type: 'group-assign', uuid: group.uuid, nodes: nodes.map((n) => n.uuid) };
      check(ctx, mutation);
      return { mutation, result: { group: group.name, nodes: op.nodes } };
    },
  },

  OP_TAGS_SET: {
    onTakeover: 'resume',
    atomic: true,
    locks: (op) => tagLocks(op),
    run: async (op, ctx) => tagChange(op, ctx, 'add'),
  },

  OP_TAGS_DEL: {
    onTakeover: 'resume',
    atomic: true,
    locks: (op) => tagLocks(op),
    run: async (op, ctx) => tagChange(op, ctx, 'remove'),
  },

  OP_CLUSTER_SET_PARAMS: {
    onTakeover: 'resume',
    locks: () => [bglExclusive],
    hooks: (_op, config) => ({
      hpath: 'cluster-modify',
      objectType: 'CLUSTER',
      target: config.cluster.name,
      env: { NEW_VG_NAME: '' },
      preNodes: masterId(config),
      postNodes: masterId(config),
    }),
    async run(op, ctx) {
      const mutation: Mutation = {
        type: 'cluster-set',
        ...(op.candidate_pool_size !== undefined && { candidatePoolSize: op.candidate_pool_size }),
        ...(op.enabled_hypervisors !== undefined && {
          enabledHypervisors: known(op.enabled_hypervisors, hypervisors, 'hypervisor'),
        }),
        ...(op.enabled_disk_templates !== undefined && {
          enabledDiskTemplates: known(op.enabled_disk_templates, corralDiskTemplates, 'disk template'),
        }),
        ...(op.max_running_jobs !== undefined && { maxRunningJobs: op.max_running_jobs }),
        ...(op.candidate_dead_grace_s !== undefined && {
          candidateDeadGraceMs: op.candidate_dead_grace_s * 1000,
        }),
        ...(op.auto_failover !== undefined && { autoFailover: op.auto_failover }),
        ...(op.node_lease_s !== undefined && { leaseMs: Math.round(op.node_lease_s * 1000) }),
        ...(op.fence_margin_s !== undefined && { fenceMarginMs: Math.round(op.fence_margin_s * 1000) }),
        ...(op.clock_drift_ppm !== undefined && { clockDriftPpm: op.clock_drift_ppm }),
        ...clusterDefaults(op, ctx.config().cluster),
        ...(op.default_iallocator !== undefined && {
          defaultIallocator: await defaultAllocator(op.default_iallocator),
        }),
        ...(op.default_iallocator_params !== undefined && {
          defaultIallocatorParams: op.default_iallocator_params,
        }),
        ...((op.enabled_data_collectors !== undefined || op.data_collector_interval !== undefined) && {
          dataCollectors: changedCollectors(
            ctx.config().cluster.dataCollectors,
            op.enabled_data_collectors,
            op.data_collector_interval,
          ),
        }),
        ...ndParamsChanges.cluster(ctx.config().cluster, op),
        ...masterIpChange(ctx.config().cluster.masterIp, op),
        ...osChanges(ctx.config().cluster, op),
        ...(op.hvparams !== undefined && {
          hvParams: mergedParamTable(ctx.config().cluster.hvParams, op.hvparams),
        }),
      };
      for (const [os, byHv] of Object.entries(op.os_hvp ?? {}))
        await checkHvParams(ctx, byHv, ` for OS ${os}`);
      if (op.hvparams !== undefined) await checkHvParams(ctx, op.hvparams, '');
      if (Object.keys(mutation).length === 1) throw new CorralError('bad_request', 'no change was asked for');
      check(ctx, mutation);
      return { mutation, result: {} };
    },
  },

  OP_CLUSTER_VERIFY: {
    onTakeover: 'resume',
    locks: () => [bglShared, nodeLocks('all', 'shared')],
    run: async (_op, ctx) => ({ result: await verifyCluster(ctx) }),
  },

  OP_CLUSTER_VERIFY_DISKS: {
    onTakeover: 'resume',
    locks: () => [bglShared, nodeLocks('all', 'shared')],
    run: async (op, ctx) => ({ result: await verifyDisks(ctx, op.group_name) }),
  },

  OP_CLUSTER_RENEW_CRYPTO: {
    // A re-run draws another secret: the same effect, and the one committed last is the one in force.
    onTakeover: 'resume',
    locks: () => [bglExclusive],
    async run(op, ctx) {
      // Drawn here, on the master, and committed through Raft: they travel only in the Raft log, to every
      // voter and learner. Each node puts the secret in its members.cbor and serves the certificate on RAPI.
      // The job shows only what was renewed.
      const secret = op.new_cluster_secret ?? op.new_rapi_certificate !== true;
      const renewed: string[] = [];
      if (op.new_rapi_certificate === true) {
        const certificate = await ctx.newRapiCertificate(ctx.config().cluster.name);
        await ctx.commit({ type: 'rapi-certificate', certificate });
        ctx.log('made a new RAPI key and certificate: every node serves it from now');
        renewed.push('RAPI certificate');
      }
      if (!secret) return { result: { renewed } };
      const mutation: Mutation = { type: 'cluster-secret', secret: newClusterSecret() };
      ctx.log('drew a new cluster secret: join tokens issued before now will be refused');
      return { mutation, result: { renewed: [...renewed, 'cluster secret'] } };
    },
  },

  OP_TEST_DELAY: {
    onTakeover: 'resume',
    locks: (op) =>
      op.no_locks === true
        ? []
        : [bglShared, ...(op.on_nodes?.length ? [nodeLocks(op.on_nodes, 'exclusive')] : [])],
    async run(op, ctx) {
      const nodes = (op.on_nodes ?? []).map((name) => requireNode(ctx.config(), name));
      // Ganeti sleeps in the master and, by RPC, on each node. Corral's nodes have no sleep call: the master
      // sleeps for them (holding their locks) and each must answer at the end of every round, as Ganeti's
      // RPC must. With --no-master and no node, it sleeps nowhere, as Ganeti's does.
      const sleeps = op.on_master !== false || nodes.length > 0;
      const rounds = Math.max(1, op.repeat ?? 1);
      for (let round = 0; round < rounds; round++) {
        if (rounds > 1) ctx.log(`Test delay iteration ${round}/${rounds - 1}`);
        if (sleeps && op.duration > 0) {
          ctx.log(
            `sleeping for ${op.duration} s${op.interruptible === true ? ' (interruptible: job cancel stops it)' : ''}`,
          );
          await pauseJob(ctx, op.duration * 1000);
        }
        await Promise.all(nodes.map((node) => answers(ctx, node)));
      }
      return { result: { slept_s: sleeps ? op.duration * rounds : 0 } };
    },
  },
};

type TagOp = Extract<Opcode, { OP_ID: 'OP_TAGS_SET' | 'OP_TAGS_DEL' }>;

function tagLocks(op: TagOp): LockRequest[] {
  switch (op.kind) {
    case 'cluster':
      return [bglShared];
    case 'node':
      return [bglShared, nodeLocks([op.name ?? ''], 'exclusive')];
    case 'nodegroup':
      return [bglShared, groupLocks([op.name ?? ''], 'exclusive')];
    case 'instance':
      return [bglShared, { level: 'instance', names: [op.name ?? ''], mode: 'exclusive' }];
  }
}

async function tagChange(op: TagOp, ctx: OpContext, how: 'add' | 'remove') {
  const config = ctx.config();
  let target: string | undefined;
  if (op.kind !== 'cluster' && op.name === undefined)
    throw new CorralError('bad_request', `say which ${op.kind}`);
  if (op.kind === 'node') target = requireNode(config, op.name ?? '').uuid;
  if (op.kind === 'nodegroup') target = requireGroup(config, op.name ?? '').uuid;
  if (op.kind === 'instance') target = requireInstance(config, op.name ?? '').uuid;
  const mutation: Mutation = {
    type: 'tags',
    kind: op.kind,
    ...(target !== undefined && { target }),
    add: how === 'add' ? op.tags : [],
    remove: how === 'remove' ? op.tags : [],
  };
  check(ctx, mutation);
  return { mutation, result: {} };
}

function known<const T extends string>(values: readonly string[], allowed: readonly T[], what: string): T[] {
  for (const value of values) {
    if (!allowed.includes(value as T))
      throw new CorralError('bad_request', `unknown ${what} ${value}; known: ${allowed.join(', ')}`);
  }
  return values as T[];
}

function ipOf(address: string): string | undefined {
  return /^\/ip[46]\/([^/]+)/.exec(address)?.[1];
}

/** How long a node being removed has to leave the Raft voters, and how often the master looks. */
const LEAVE_VOTERS_MS = 20_000;
const LEAVE_VOTERS_POLL_MS = 100;

/**
 * A master candidate votes in the Raft group; it leaves the group's voters (demoted, another promoted in
 * its seat as Ganeti's auto-promote does) before it leaves the configuration. Removed first from the
 * configuration, it could no longer take part in the change that takes it out of the voters, and a group
 * it was needed in for a quorum (two voters) would have none for ever.
 */
async function leaveRaftVoters(ctx: OpContext, node: NodeRecord): Promise<void> {
  if (!ctx.raft().voters.includes(node.id)) return;
  if (node.masterCandidate) {
    const demotion: Mutation = {
      type: 'node-set',
      uuid: node.uuid,
      changes: { masterCandidate: false },
      autoPromote: true,
    };
    check(ctx, demotion);
    await ctx.commit(demotion);
    ctx.log(`demoted ${node.name} from master candidate, to take it out of the Raft voters first`);
  }
  for (let waitedMs = 0; ctx.raft().voters.includes(node.id); waitedMs += LEAVE_VOTERS_POLL_MS) {
    if (waitedMs >= LEAVE_VOTERS_MS)
      throw new CorralError(
        'unavailable',
        `${node.name} has not left the Raft voters yet (they are ${ctx.raft().voters.length}, and it may be needed for a quorum); it stays a member, no longer a candidate: retry node remove once the group has a quorum without it`,
      );
    await pauseJob(ctx, LEAVE_VOTERS_POLL_MS);
  }
}

/** The test delay's check that a node answers, as Ganeti's RPC to it must. */
async function answers(ctx: OpContext, node: NodeRecord): Promise<void> {
  try {
    await ctx.agent.call(
      node.id,
      'status',
      { storage: false },
      { signal: ctx.signal, timeoutMs: ctx.timings.nodeCallTimeoutMs },
    );
  } catch (error) {
    if (ctx.signal.aborted) throw error;
    const failure = asCorralError(error);
    throw new CorralError(
      failure.code,
      `node ${node.name} did not answer the test delay: ${failure.message}`,
    );
  }
}
