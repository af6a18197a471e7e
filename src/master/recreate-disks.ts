import { type ConfigData, requireInstance, requireNode } from '../cluster/config.js';
import { diskTemplateTraits, needsSecondary } from '../cluster/disk-templates.js';
import { type DiskRecord, filledBeParams, type InstanceRecord, type NodeRecord } from '../cluster/model.js';
import type { Mutation } from '../cluster/mutations.js';
import type { Opcode } from '../cluster/opcodes.js';
import { CorralError } from '../common/errors.js';
import { placeInstance, requireRoom } from './instance-placement.js';
import { agentDisks, instanceHooks, primaryOf, requireFitNode } from './instance-runtime.js';
import {
  bestEffort,
  call,
  diskNodes,
  instanceRef,
  lockInstance,
  removeDisks,
  requireMirror,
  runsOn,
} from './instance-steps.js';
import type { OpContext, OpDefinitions, OpOutcome } from './op-context.js';

type RecreateOp = Extract<Opcode, { OP_ID: 'OP_INSTANCE_RECREATE_DISKS' }>;

/** One disk to make anew, with the size and mode it is to have (unchanged where not given). */
interface DiskChange {
  readonly index: number;
  readonly size?: number;
  readonly mode?: DiskRecord['mode'];
}

/** What recreate-disks does, as the configuration alone decides it. */
export interface RecreatePlan {
  /** The instance's disks once recreated: those remade with their new size and mode, the others as they are. */
  readonly disks: readonly DiskRecord[];
  /** The indices of the disks made anew, in order. */
  readonly remade: readonly number[];
  /** The nodes named to hold the disks, primary first; undefined for the instance's own (or the allocator's). */
  readonly nodes?: readonly NodeRecord[];
}

/** The disks asked for, in Ganeti's newer form (its older one is a list of indices). */
function requestedDisks(op: RecreateOp): DiskChange[] {
  const given = (op.disks ?? []) as readonly (
    | number
    | readonly [number, { size?: number; mode?: 'rw' | 'ro' }]
  )[];
  return given.map((entry) =>
    typeof entry === 'number' ? { index: entry } : { index: entry[0], ...entry[1] },
  );
}

/**
 * Ganeti's checks of recreate-disks that need only the configuration, in its order: each disk named once, nodes
 * or an allocator (not both), as many nodes as the instance has, disks it has, and every disk when it moves.
 */
export function planRecreate(config: ConfigData, instance: InstanceRecord, op: RecreateOp): RecreatePlan {
  const asked = requestedDisks(op);
  const twice = [...new Set(asked.map((d) => d.index).filter((index, i, all) => all.indexOf(index) !== i))];
  if (twice.length > 0)
    throw new CorralError(
      'bad_request',
      `disk ${twice.join(', ')} is given more than once; give each disk once`,
    );
  const named = op.nodes ?? [];
  if (named.length > 0 && op.iallocator !== undefined)
    throw new CorralError('bad_request', 'give new nodes (-n) or an allocator (-I), not both');
  const held = [instance.primaryNode, ...instance.secondaryNodes].length;
  if (named.length > 0 && named.length !== held)
    throw new CorralError(
      'bad_request',
      `${instance.name} (${instance.diskTemplate}) has ${held} node(s), but ${named.length} were given (${named.join(':')}); give ${held === 2 ? 'PRIMARY:SECONDARY' : 'one node'}`,
    );
  if (instance.disks.length === 0)
    throw new CorralError('bad_request', `${instance.name} has no disks to recreate`);
  for (const { index } of asked)
    if (index >= instance.disks.length)
      throw new CorralError(
        'not_found',
        `${instance.name} has no disk ${index} (it has ${instance.disks.length}: ${instance.disks.map((_, i) => i).join(', ')})`,
      );
  const changes: DiskChange[] = asked.length > 0 ? asked : instance.disks.map((_, index) => ({ index }));
  const moves = named.length > 0 || op.iallocator !== undefined;
  if (moves && changes.length !== instance.disks.length)
    throw new CorralError(
      'bad_request',
      `recreating disks on other nodes remakes every disk of ${instance.name}: leave out --disk, or give one for each of its ${instance.disks.length} disks`,
    );
  const nodes = named.map((name) => requireNode(config, name));
  if (nodes.length === 2 && nodes[0]!.uuid === nodes[1]!.uuid)
    throw new CorralError(
      'bad_request',
      `${nodes[0]!.name} cannot be both the primary and the secondary node`,
    );
  const disks = instance.disks.map((disk, index) => {
    const change = changes.find((c) => c.index === index);
    const sizeMiB = change?.size ?? disk.sizeMiB;
    const mode = change?.mode ?? disk.mode;
    return sizeMiB === disk.sizeMiB && mode === disk.mode ? disk : { ...disk, sizeMiB, mode };
  });
  return {
    disks,
    remade: changes.map((c) => c.index).sort((a, b) => a - b),
    ...(nodes.length > 0 && { nodes }),
  };
}

/** Ganeti's state check: the instance is not marked up and does not run (unless it moves off an offline primary). */
async function requireDown(ctx: OpContext, instance: InstanceRecord, moves: boolean): Promise<void> {
  const primary = primaryOf(ctx.config(), instance);
  if (moves && primary.offline) {
    ctx.log(`the primary ${primary.name} is offline; not checking that ${instance.name} is down`);
    return;
  }
  if (instance.adminState === 'up')
    throw new CorralError(
      'conflict',
      `${instance.name} is marked up; shut it down first (instance shutdown ${instance.name}), then recreate its disks`,
    );
  if (primary.offline)
    ctx.log(`the primary ${primary.name} is offline; not checking that ${instance.name} is down`);
  else if (await runsOn(ctx, primary, instance))
    throw new CorralError(
      'conflict',
      `${instance.name} is running on ${primary.name}; shut it down first, then recreate its disks`,
    );
}

/** Where the allocator puts the disks, as if the instance were new (Ganeti runs its allocate request too). */
async function allocatedNodes(
  ctx: OpContext,
  instance: InstanceRecord,
  disks: readonly DiskRecord[],
  iallocator: string,
): Promise<NodeRecord[]> {
  const config = ctx.config();
  const be = filledBeParams(config.cluster, instance);
  const placed = await placeInstance(
    ctx,
    config,
    {
      name: instance.name,
      template: instance.diskTemplate,
      disksMiB: disks.map((disk) => disk.sizeMiB),
      memoryMiB: be.maxmemMiB,
      vcpus: be.vcpus,
      spindleUse: be.spindleUse,
      tags: instance.tags,
      nicCount: instance.nics.length,
    },
    iallocator,
  );
  return [placed.primary, ...(placed.secondary !== undefined ? [placed.secondary] : [])];
}

/** Checks the nodes that are to hold the disks: the instance's own must be online, new ones fit and roomy. */
async function checkTargets(
  ctx: OpContext,
  instance: InstanceRecord,
  targets: readonly NodeRecord[],
  disks: readonly DiskRecord[],
): Promise<void> {
  const own = new Set([instance.primaryNode, ...instance.secondaryNodes]);
  const diskMiB = disks.reduce((sum, disk) => sum + disk.sizeMiB, 0);
  for (const node of targets) {
    if (!own.has(node.uuid)) {
      requireFitNode(node);
      await requireRoom(ctx, node, {
        instance: instance.name,
        memoryMiB: 0,
        template: instance.diskTemplate,
        diskMiB,
      });
    } else if (node.offline)
      throw new CorralError(
        'conflict',
        `${node.name} is offline; recreate the disks of ${instance.name} on other nodes (-n or -I)`,
      );
  }
}

/** Removes the disks (empty or missing alike) and creates them again at their recorded size, on one node. */
async function remake(
  ctx: OpContext,
  node: NodeRecord,
  before: InstanceRecord,
  after: InstanceRecord,
  remade: readonly number[],
): Promise<void> {
  const pick = (instance: InstanceRecord) =>
    agentDisks(instance).filter((disk) => remade.includes(disk.index));
  const request = { instance: instanceRef(after), template: after.diskTemplate };
  await call(ctx, node, 'disks', { ...request, action: 'remove', disks: pick(before) });
  const { paths } = await call(ctx, node, 'disks', { ...request, action: 'create', disks: pick(after) });
  remade.forEach((index, i) => {
    ctx.log(`recreated disk/${index} of ${after.name} on ${node.name}: ${paths[i] || '(no path)'}`);
  });
}

async function recreateDisks(ctx: OpContext, op: RecreateOp): Promise<OpOutcome> {
  const config = ctx.config();
  const instance = requireInstance(config, op.instance_name);
  const plan = planRecreate(config, instance, op);
  const moves = plan.nodes !== undefined || op.iallocator !== undefined;
  await requireDown(ctx, instance, moves);
  const targets =
    plan.nodes ??
    (op.iallocator !== undefined
      ? await allocatedNodes(ctx, instance, plan.disks, op.iallocator)
      : diskNodes(config, instance));
  await checkTargets(ctx, instance, targets, plan.disks);
  const before = [instance.primaryNode, ...instance.secondaryNodes];
  const relocated = targets.map((node) => node.uuid).join() !== before.join();
  const every = plan.remade.length === instance.disks.length;
  const mirror = needsSecondary(instance.diskTemplate) ? requireMirror(instance) : undefined;
  const generation = (mirror?.generation ?? 0) + 1;
  // While the copies are remade one node after the other they differ: the config counts one copy current
  // (the one the other would resync from) before anything touches them.
  const authority =
    relocated || every || mirror === undefined
      ? targets[0]!.uuid
      : mirror.current.includes(instance.primaryNode)
        ? instance.primaryNode
        : mirror.current[0]!;
  const changes: Extract<Mutation, { type: 'instance-set' }>['changes'] = {
    ...(relocated && { primaryNode: targets[0]!.uuid, secondaryNodes: targets.slice(1).map((n) => n.uuid) }),
    ...(plan.disks.some((disk, i) => disk !== instance.disks[i]) && { disks: [...plan.disks] }),
    ...(mirror !== undefined && { mirror: { generation, current: [authority] }, disksActive: false }),
  };
  if (Object.keys(changes).length > 0)
    await ctx.commit({
      type: 'instance-set',
      uuid: instance.uuid,
      changes,
      ...(mirror !== undefined && { ifMirrorGeneration: mirror.generation }),
    });
  if (relocated)
    ctx.log(`${instance.name} now has its disks on ${targets.map((node) => node.name).join(':')}`);
  const updated = requireInstance(ctx.config(), instance.name);
  for (const node of targets) await remake(ctx, node, instance, updated, plan.remade);
  // A shared template's disks are the same files from every node: the old primary's are the new ones.
  if (relocated && !diskTemplateTraits[instance.diskTemplate].sharedStorage)
    for (const old of diskNodes(config, instance).filter(
      (node) => !targets.some((t) => t.uuid === node.uuid),
    )) {
      if (old.offline)
        ctx.log(
          `${old.name} is offline: the old disks of ${instance.name} stay there; once it is back, node volumes lists them for removal by hand`,
        );
      else
        await bestEffort(ctx, `remove the old disks on ${old.name}`, () => removeDisks(ctx, old, instance));
    }
  // Every disk remade: both copies are empty, alike, and current. Some: the others are as current as they were.
  const current = every ? targets.map((node) => node.uuid) : (mirror?.current ?? []);
  return {
    ...(mirror !== undefined && {
      mutation: {
        type: 'instance-set',
        uuid: instance.uuid,
        changes: { mirror: { generation, current: [...current] } },
      },
    }),
    result: { instance: instance.name, disks: plan.remade, nodes: targets.map((node) => node.name) },
  };
}

export const recreateDisksOpDefinitions: Pick<OpDefinitions, 'OP_INSTANCE_RECREATE_DISKS'> = {
  OP_INSTANCE_RECREATE_DISKS: {
    // Each step makes the same empty disks again; the config records the nodes and sizes before any is made.
    onTakeover: 'resume',
    locks: lockInstance('exclusive', (op) =>
      op.nodes !== undefined && op.nodes.length > 0 ? op.nodes : op.iallocator !== undefined ? 'all' : [],
    ),
    hooks: (op, config) =>
      instanceHooks('instance-recreate-disks', config, requireInstance(config, op.instance_name)),
    run: (op, ctx) => recreateDisks(ctx, op),
  },
};
