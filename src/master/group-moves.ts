import type { IAllocRequest } from '../alloc/iallocator/request.js';
import { evacuationJobs } from '../cluster/alloc-answers.js';
import {
  type ConfigData,
  nodeOfUuid,
  requireGroup,
  requireInstance,
  sortedGroups,
  sortedInstances,
} from '../cluster/config.js';
import { diskTemplateTraits } from '../cluster/disk-templates.js';
import type { GroupRecord, GroupUuid, InstanceRecord } from '../cluster/model.js';
import type { Opcode } from '../cluster/opcodes.js';
import { CorralError } from '../common/errors.js';
import { askAllocator, nodeNames, snapshotOf } from './instance-placement.js';
import { instanceHooks } from './instance-runtime.js';
import { lockInstance } from './instance-steps.js';
import type { OpContext, OpDefinitions } from './op-context.js';

/**
 * Moving instances into other node groups (Ganeti's group evacuate and instance change-group): the
 * allocator's change-group plan, one job per instance, submitted by the opcode's own job. Instances whose
 * disks live on one node move by copying them (instance move), as node evacuate does; mirrored ones get a
 * secondary in the new group, fail over or migrate to it, and get a second one there.
 */

/** The groups of the instance's nodes, primary first. */
function groupsOf(config: ConfigData, instance: InstanceRecord): GroupUuid[] {
  const uuids = [instance.primaryNode, ...instance.secondaryNodes].map(
    (uuid) => nodeOfUuid(config, uuid).group,
  );
  return [...new Set(uuids)];
}

function groupByRef(config: ConfigData, ref: string): GroupRecord {
  return config.groups.get(ref as GroupUuid) ?? requireGroup(config, ref);
}

/**
 * The groups to move to: those named, none of them a group the instances use (`why` says how it is used),
 * else every other one.
 */
function targetGroups(
  config: ConfigData,
  named: readonly string[] | undefined,
  used: ReadonlySet<GroupUuid>,
  what: string,
  why: (group: string) => string,
): GroupRecord[] {
  if (named !== undefined) {
    const groups = named.map((ref) => groupByRef(config, ref));
    const clash = groups.find((group) => used.has(group.uuid));
    if (clash !== undefined)
      throw new CorralError('bad_request', `node group ${clash.name} cannot be a target: ${why(clash.name)}`);
    return groups;
  }
  const others = sortedGroups(config).filter((group) => !used.has(group.uuid));
  if (others.length === 0)
    throw new CorralError('bad_request', `there is no other node group to move ${what} to; add one first`);
  return others;
}

interface GroupChangeOptions {
  readonly iallocator?: string;
  readonly earlyRelease?: boolean;
  readonly forceFailover?: boolean;
  readonly sequential?: boolean;
}

/** The allocator's change-group plan, as Corral's jobs; refuses, naming the instance, when one cannot move. */
async function planGroupChange(
  ctx: OpContext,
  config: ConfigData,
  instances: readonly InstanceRecord[],
  targets: readonly GroupRecord[],
  options: GroupChangeOptions,
): Promise<Opcode[][]> {
  if (instances.length === 0) return [];
  // Only node-local storage (plain) counts in the allocator's disk figures.
  const local = instances.find((i) => diskTemplateTraits[i.diskTemplate].localStorage)?.diskTemplate;
  const { snapshot } = await snapshotOf(ctx, config, local, local !== undefined);
  const request: IAllocRequest = {
    type: 'change-group',
    instances: instances.map((i) => i.name),
    target_groups: targets.map((group) => group.uuid),
  };
  const { who, answer } = await askAllocator(config, snapshot, request, options.iallocator, true);
  const jobs = evacuationJobs(answer, who, new Map(instances.map((i) => [i.name, i])), nodeNames(config));
  ctx.log(`${who}: ${answer.info}`);
  return jobs.map((job, index) =>
    job.map((planned): Opcode => {
      const op = adjusted(planned, options);
      // Ganeti's --sequential: every job after the first waits for the one before it to end, however it ends.
      return options.sequential && index > 0 ? { ...op, depends: [[-1, ['success', 'error']]] } : op;
    }),
  );
}

/** A planned opcode with the move options applied. */
function adjusted(op: Opcode, options: GroupChangeOptions): Opcode {
  if (op.OP_ID === 'OP_INSTANCE_REPLACE_DISKS' && options.earlyRelease) return { ...op, early_release: true };
  // Ganeti's --force-failover: a failover wherever the plan migrates.
  if (op.OP_ID === 'OP_INSTANCE_MIGRATE' && options.forceFailover)
    return {
      OP_ID: 'OP_INSTANCE_FAILOVER',
      instance_name: op.instance_name,
      ...(op.target_node !== undefined && { target_node: op.target_node }),
    };
  return op;
}

async function submitted(ctx: OpContext, ops: readonly Opcode[][], what: string) {
  const jobs = await ctx.submitJobs(ops);
  ctx.log(`submitted ${jobs.length} job(s) to move ${what}: ${jobs.join(', ') || 'none needed'}`);
  // Ganeti's shape: one [submitted, job ID or error] pair per job.
  return { result: { jobs: jobs.map((job) => [true, job]) } };
}

export const groupMoveOpDefinitions: Pick<OpDefinitions, 'OP_GROUP_EVACUATE' | 'OP_INSTANCE_CHANGE_GROUP'> = {
  OP_GROUP_EVACUATE: {
    onTakeover: 'resume',
    locks: () => [
      { level: 'cluster', names: ['BGL'], mode: 'shared' },
      { level: 'node', names: 'all', mode: 'shared' },
    ],
    hooks: (op, config) => {
      const group = requireGroup(config, op.group_name);
      const members = [...config.nodes.values()].filter((node) => node.group === group.uuid);
      const nodes = [
        ...new Set([...(config.master ? [config.master] : []), ...members.map((node) => node.id)]),
      ];
      return {
        hpath: 'group-evacuate',
        objectType: 'GROUP',
        target: group.name,
        env: {
          GROUP_NAME: group.name,
          TARGET_GROUPS: (op.target_groups ?? []).map((ref) => groupByRef(config, ref).uuid).join(' '),
        },
        preNodes: nodes,
        postNodes: nodes,
      };
    },
    async run(op, ctx) {
      const config = ctx.config();
      const group = requireGroup(config, op.group_name);
      const moving = sortedInstances(config).filter((instance) =>
        groupsOf(config, instance).includes(group.uuid),
      );
      const targets = targetGroups(
        config,
        op.target_groups,
        new Set([group.uuid]),
        `group ${group.name}`,
        () => 'it is the group being evacuated',
      );
      ctx.log(
        `moving ${moving.length} instance(s) out of ${group.name} into ${targets.map((g) => g.name).join(', ')}`,
      );
      const ops = await planGroupChange(ctx, config, moving, targets, {
        ...(op.iallocator !== undefined && { iallocator: op.iallocator }),
        ...(op.early_release !== undefined && { earlyRelease: op.early_release }),
        ...(op.force_failover !== undefined && { forceFailover: op.force_failover }),
        ...(op.sequential !== undefined && { sequential: op.sequential }),
      });
      return submitted(ctx, ops, `instances out of ${group.name}`);
    },
  },

  OP_INSTANCE_CHANGE_GROUP: {
    onTakeover: 'resume',
    locks: lockInstance('shared', () => 'all'),
    hooks: (op, config) => {
      const instance = requireInstance(config, op.instance_name);
      return instanceHooks('instance-change-group', config, instance, {
        TARGET_GROUPS: (op.target_groups ?? []).map((ref) => groupByRef(config, ref).uuid).join(' '),
      });
    },
    async run(op, ctx) {
      const config = ctx.config();
      const instance = requireInstance(config, op.instance_name);
      const targets = targetGroups(
        config,
        op.target_groups,
        new Set(groupsOf(config, instance)),
        `instance ${instance.name}`,
        () => `instance ${instance.name} has a node there`,
      );
      const ops = await planGroupChange(ctx, config, [instance], targets, {
        ...(op.iallocator !== undefined && { iallocator: op.iallocator }),
        ...(op.early_release !== undefined && { earlyRelease: op.early_release }),
      });
      return submitted(ctx, ops, instance.name);
    },
  },
};
