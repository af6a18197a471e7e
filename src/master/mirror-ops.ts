import { nodeOfUuid, requireInstance, requireNode } from '../cluster/config.js';
import { needsSecondary } from '../cluster/disk-templates.js';
import type { InstanceRecord, NodeRecord } from '../cluster/model.js';
import type { Opcode } from '../cluster/opcodes.js';
import { CorralError } from '../common/errors.js';
import { planMoves } from './instance-placement.js';
import { agentDisks, instanceHooks, primaryOf, requireFitNode } from './instance-runtime.js';
import {
  attachMirror,
  bestEffort,
  call,
  createDisksOn,
  detachMirror,
  instanceRef,
  lockInstance,
  removeDisks,
  requireMirror,
  waitForSync,
} from './instance-steps.js';
import type { OpContext, OpDefinitions, OpOutcome } from './op-context.js';

type ReplaceOp = Extract<Opcode, { OP_ID: 'OP_INSTANCE_REPLACE_DISKS' }>;

/**
 * Ganeti's replace-disks for the mirrored template: a copy made anew on the secondary (-s) or the primary
 * (-p), the secondary moved to another node (-n, or where an allocator says), or whichever copy is stale
 * remade (-a). The config names the copy that is current before any other is touched, and the new copy is
 * brought level by a full checksummed resync while the guest runs.
 */
export const mirrorOpDefinitions: Pick<OpDefinitions, 'OP_INSTANCE_REPLACE_DISKS'> = {
  OP_INSTANCE_REPLACE_DISKS: {
    // A resync in progress resumes on its own; a repeated step is harmless (each checks the config first).
    onTakeover: 'fail',
    locks: lockInstance('exclusive', (op) =>
      op.remote_node !== undefined ? [op.remote_node] : op.iallocator !== undefined ? 'all' : [],
    ),
    hooks: (op, config) => {
      const instance = requireInstance(config, op.instance_name);
      const old = instance.secondaryNodes.map((uuid) => nodeOfUuid(config, uuid).name).join(',');
      return instanceHooks(
        'mirrors-replace',
        config,
        instance,
        { MODE: op.mode, NEW_SECONDARY: op.remote_node ?? '', OLD_SECONDARY: old },
        op.remote_node !== undefined ? [requireNode(config, op.remote_node)] : [],
      );
    },
    run: (op, ctx) => replaceDisks(ctx, requireInstance(ctx.config(), op.instance_name), op),
  },
};

async function replaceDisks(ctx: OpContext, instance: InstanceRecord, op: ReplaceOp): Promise<OpOutcome> {
  if (!needsSecondary(instance.diskTemplate))
    throw new CorralError(
      'conflict',
      `replace-disks is for mirrored (drbd) disks; ${instance.name} uses ${instance.diskTemplate}`,
    );
  const allDisks = instance.disks.map((_, index) => index);
  if (op.disks !== undefined && op.disks.length > 0 && op.disks.join(',') !== allDisks.join(','))
    throw new CorralError(
      'bad_request',
      `Corral replaces the disks of an instance together: leave out --disks, or name all of them (${allDisks.join(',')})`,
    );
  const namesNode = op.remote_node !== undefined || op.iallocator !== undefined;
  if (namesNode !== (op.mode === 'replace_new_secondary'))
    throw new CorralError(
      'bad_request',
      'a new secondary (-n NODE or -I ALLOCATOR) goes with replace_new_secondary, and only there',
    );
  const config = ctx.config();
  const primary = primaryOf(config, instance);
  const secondary = nodeOfUuid(config, instance.secondaryNodes[0]!);
  const mirror = requireMirror(instance);
  switch (op.mode) {
    case 'replace_on_secondary':
      return replaceSecondary(ctx, instance, secondary, op.early_release ?? false);
    case 'replace_new_secondary': {
      const target =
        op.remote_node !== undefined
          ? requireNode(config, op.remote_node)
          : await allocatedSecondary(ctx, instance, op.iallocator!);
      if (target.uuid === primary.uuid || target.uuid === secondary.uuid)
        throw new CorralError(
          'bad_request',
          `${target.name} already holds the disks of ${instance.name}; name another node, or use -s to remake the copy there`,
        );
      return replaceSecondary(ctx, instance, target, op.early_release ?? false);
    }
    case 'replace_on_primary':
      return replacePrimary(ctx, instance);
    case 'replace_auto':
      if (!mirror.current.includes(secondary.uuid))
        return replaceSecondary(ctx, instance, secondary, op.early_release ?? false);
      if (!mirror.current.includes(primary.uuid)) return replacePrimary(ctx, instance);
      ctx.log(`both copies of the disks of ${instance.name} are current; nothing to replace`);
      return { result: { instance: instance.name, replaced: [] } };
  }
}

/** Where the allocator puts the instance's new secondary (Ganeti's relocation, as a secondary-only evacuation). */
async function allocatedSecondary(
  ctx: OpContext,
  instance: InstanceRecord,
  iallocator: string,
): Promise<NodeRecord> {
  const config = ctx.config();
  const [job] = await planMoves(ctx, config, [instance], 'secondary-only', { copyDisks: false, iallocator });
  const replace = job?.find((op) => op.OP_ID === 'OP_INSTANCE_REPLACE_DISKS');
  if (replace?.OP_ID !== 'OP_INSTANCE_REPLACE_DISKS' || replace.remote_node === undefined)
    throw new CorralError('conflict', `${iallocator} found no new secondary for ${instance.name}`);
  return requireNode(config, replace.remote_node);
}

/** Whether the primary serves the disks now (the instance runs, or its disks are active). */
async function servedByPrimary(
  ctx: OpContext,
  primary: NodeRecord,
  instance: InstanceRecord,
): Promise<boolean> {
  const { disks } = await call(ctx, primary, 'mirror', { action: 'status', instance: instanceRef(instance) });
  return disks.some((disk) => disk.role === 'primary');
}

/**
 * Makes `target` the secondary with a fresh copy (the old secondary's copy remade, or one on a new node),
 * synced from the primary while the guest runs; the old copy elsewhere is removed once the new one is level
 * (at once with early release).
 */
async function replaceSecondary(
  ctx: OpContext,
  instance: InstanceRecord,
  target: NodeRecord,
  earlyRelease: boolean,
): Promise<OpOutcome> {
  const config = ctx.config();
  const primary = primaryOf(config, instance);
  const old = nodeOfUuid(config, instance.secondaryNodes[0]!);
  const mirror = requireMirror(instance);
  if (!mirror.current.includes(primary.uuid))
    throw new CorralError(
      'conflict',
      `the copy on the primary ${primary.name} is stale; replace on the primary (-p), or fail over to the current copy first`,
    );
  requireFitNode(target);
  const served = await servedByPrimary(ctx, primary, instance);
  const generation = mirror.generation + 1;
  const remake = target.uuid === old.uuid;
  // A new node gets its (empty) copy before the config names it, so that a failure here leaves nothing
  // to repair; the copy is brought level once it is the secondary.
  if (!remake) await createDisksOn(ctx, target, instance);
  // The config stops counting on the old copy before anything touches it.
  await ctx.commit({
    type: 'instance-set',
    uuid: instance.uuid,
    changes: { secondaryNodes: [target.uuid], mirror: { generation, current: [primary.uuid] } },
  });
  const updated = requireInstance(ctx.config(), instance.name);
  const dropOld = async () => {
    if (old.offline) ctx.log(`${old.name} is offline; its old copy of ${instance.name} stays there`);
    else await bestEffort(ctx, `remove the old copy on ${old.name}`, () => removeDisks(ctx, old, instance));
  };
  if (remake) {
    await removeDisks(ctx, target, instance);
    await createDisksOn(ctx, target, updated);
  } else if (earlyRelease) await dropOld();
  if (served) {
    await call(ctx, target, 'mirror', {
      action: 'attach',
      instance: instanceRef(updated),
      disks: agentDisks(updated),
      role: 'secondary',
      peer: primary.id,
      peerHost: primary.secondaryIp,
      generation,
      peerCurrent: true,
      force: false,
    });
    await call(ctx, primary, 'mirror', {
      action: 'retarget',
      instance: instanceRef(updated),
      peer: target.id,
      peerHost: target.secondaryIp,
      generation,
    });
    ctx.log(`${primary.name} now mirrors ${instance.name} to ${target.name}`);
  } else await attachMirror(ctx, ctx.config(), updated, primary);
  await waitForSync(ctx, updated);
  if (!served) await detachMirror(ctx, updated, primary);
  if (!remake && !earlyRelease) await dropOld();
  return { result: { instance: instance.name, secondary: target.name } };
}

/**
 * Remakes the primary's copy from the secondary's, with the instance stopped: the copies swap roles in the
 * config while the secondary brings the new copy level, then swap back.
 */
async function replacePrimary(ctx: OpContext, instance: InstanceRecord): Promise<OpOutcome> {
  const config = ctx.config();
  const primary = primaryOf(config, instance);
  const secondary = nodeOfUuid(config, instance.secondaryNodes[0]!);
  const mirror = requireMirror(instance);
  if (!mirror.current.includes(secondary.uuid))
    throw new CorralError(
      'conflict',
      `the copy on the secondary ${secondary.name} is stale, so it cannot remake the primary's; replace on the secondary (-s) instead`,
    );
  if (await servedByPrimary(ctx, primary, instance))
    throw new CorralError(
      'conflict',
      `${instance.name} runs (or its disks are active) on ${primary.name}: stop it first, or migrate it to ${secondary.name} and replace on the secondary (-s)`,
    );
  await ctx.commit({
    type: 'instance-set',
    uuid: instance.uuid,
    changes: {
      primaryNode: secondary.uuid,
      secondaryNodes: [primary.uuid],
      mirror: { generation: mirror.generation + 1, current: [secondary.uuid] },
    },
  });
  const swapped = requireInstance(ctx.config(), instance.name);
  await removeDisks(ctx, primary, instance);
  await createDisksOn(ctx, primary, swapped);
  await attachMirror(ctx, ctx.config(), swapped, secondary);
  await waitForSync(ctx, swapped);
  await detachMirror(ctx, swapped, secondary);
  await ctx.commit({
    type: 'instance-set',
    uuid: instance.uuid,
    changes: { primaryNode: primary.uuid, secondaryNodes: [secondary.uuid] },
  });
  return { result: { instance: instance.name, primary: primary.name } };
}
