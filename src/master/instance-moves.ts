import {
  type ConfigData,
  instancesOfNode,
  nodeOfUuid,
  requireInstance,
  requireNode,
  sortedNodes,
} from '../cluster/config.js';
import {
  corralDiskTemplates,
  disksOnOneNode,
  diskTemplateTraits,
  needsSecondary,
} from '../cluster/disk-templates.js';
import { copiesDisksLive, hypervisors, hypervisorTraits } from '../cluster/hypervisors.js';
import { filledBeParams, type InstanceRecord, type MirrorState, type NodeRecord } from '../cluster/model.js';
import type { Opcode } from '../cluster/opcodes.js';
import { pause } from '../common/clock.js';
import { asCorralError, CorralError } from '../common/errors.js';
import { CORRAL_VERSION } from '../common/version.js';
import { chooseTarget, type PlacementNeed, planMoves, requireRoom } from './instance-placement.js';
import { agentDisks, instanceHooks, primaryOf, requireFitNode, runtimeSpec } from './instance-runtime.js';
import {
  attachMirror,
  bestEffort,
  call,
  checkDisks,
  createDisks,
  DEFAULT_SHUTDOWN_TIMEOUT_S,
  detachMirror,
  instanceRef,
  lockInstance,
  removeDisks,
  requireMirror,
  runsOn,
  startOn,
  stopOn,
} from './instance-steps.js';
import { balloonBeforeMigration, hvVersionCheck } from './migration-checks.js';
import type { OpContext, OpDefinitions } from './op-context.js';

/** Whether every node reaches the instance's disks: it can run anywhere without copying them. */
const sharedStorage = (instance: InstanceRecord): boolean =>
  diskTemplateTraits[instance.diskTemplate].sharedStorage;
/** The templates and hypervisors of each kind, for the operator's messages. */
const SHARED_TEMPLATES = corralDiskTemplates.filter((template) => diskTemplateTraits[template].sharedStorage);
const ONE_NODE_TEMPLATES = corralDiskTemplates.filter(disksOnOneNode);
const LIVE_COPY_HYPERVISORS = hypervisors.filter((name) => hypervisorTraits[name].copiesDisksLive);

/** Ganeti's node evacuation modes as the iallocator protocol spells them. */
const EVAC_MODES = { primary: 'primary-only', secondary: 'secondary-only', all: 'all' } as const;

type MoveOpId =
  | 'OP_INSTANCE_MIGRATE'
  | 'OP_INSTANCE_FAILOVER'
  | 'OP_INSTANCE_MOVE'
  | 'OP_NODE_MIGRATE'
  | 'OP_NODE_EVACUATE';

function requireShared(instance: InstanceRecord, what: string): void {
  if (!sharedStorage(instance))
    throw new CorralError(
      'conflict',
      `${what} needs storage both nodes can see (${SHARED_TEMPLATES.join(' or ')}); the ${instance.diskTemplate} disks of ${instance.name} live on one node: use instance move`,
    );
}

/**
 * What a live migration does with the instance's disks: nothing, when both nodes see them, or copy them as
 * the guest runs, which only some hypervisors can.
 */
function migrationStorage(instance: InstanceRecord): 'shared' | 'copy' {
  if (sharedStorage(instance)) return 'shared';
  if (copiesDisksLive(instance)) return 'copy';
  throw new CorralError(
    'conflict',
    `live migration of ${instance.diskTemplate} disks needs the ${LIVE_COPY_HYPERVISORS.join(' or ')} hypervisor, which copies them while the guest runs; ${instance.name} uses ${instance.hypervisor}: use instance move`,
  );
}

function need(config: ConfigData, instance: InstanceRecord, running: boolean): PlacementNeed {
  return {
    instance: instance.name,
    memoryMiB: running ? filledBeParams(config.cluster, instance).maxmemMiB : 0,
    template: instance.diskTemplate,
    diskMiB: sharedStorage(instance) ? 0 : instance.disks.reduce((sum, disk) => sum + disk.sizeMiB, 0),
  };
}

/** A live migration needs only minmem free on the target, as Ganeti's: the guest may be ballooned down to fit. */
function migrationNeed(config: ConfigData, instance: InstanceRecord): PlacementNeed {
  return { ...need(config, instance, true), memoryMiB: filledBeParams(config.cluster, instance).minmemMiB };
}

/** Where a move goes: the node the operator named, checked, or the allocator's choice (-I, else the default). */
interface TargetChoice {
  readonly named: string | undefined;
  readonly iallocator?: string | undefined;
}

/** The target the operator named, checked, or the allocator's choice among the other nodes. */
async function targetNode(
  ctx: OpContext,
  config: ConfigData,
  instance: InstanceRecord,
  choice: TargetChoice,
  room: PlacementNeed,
): Promise<NodeRecord> {
  const source = primaryOf(config, instance);
  if (choice.named !== undefined && choice.iallocator !== undefined)
    throw new CorralError('bad_request', 'give a target node (-n) or an iallocator (-I), not both');
  if (choice.named === undefined) {
    const chosen = await chooseTarget(ctx, config, instance, choice.iallocator);
    ctx.log(`chose ${chosen.name} as the new node of ${instance.name}`);
    return chosen;
  }
  const target = requireNode(config, choice.named);
  if (target.uuid === source.uuid)
    throw new CorralError('bad_request', `${instance.name} already has ${target.name} as its primary node`);
  requireFitNode(target);
  await requireRoom(ctx, target, room);
  return target;
}

/** Ganeti's refusal of -I for an instance whose disks only its secondary also holds. */
function noAllocatorForMirror(instance: InstanceRecord, iallocator: string | undefined, what: string): void {
  if (iallocator !== undefined)
    throw new CorralError(
      'bad_request',
      `${instance.name} uses ${instance.diskTemplate} and can only be ${what} to its secondary: drop -I (replace its secondary first to go elsewhere)`,
    );
}

/**
 * Before a live migration, Ganeti's checks of the two ends: the hypervisor versions (Corral's node agents),
 * and the guest's memory against what the target has free, ballooning it down when allowed. Returns the
 * memory the guest was ballooned to, which the target must expect.
 */
async function prepareMigration(
  ctx: OpContext,
  instance: InstanceRecord,
  source: NodeRecord,
  target: NodeRecord,
  op: MigrateOp,
): Promise<number | undefined> {
  const versionOf = (node: NodeRecord) =>
    node.id === ctx.self ? CORRAL_VERSION : ctx.observed(node.id)?.health?.version;
  const lines = hvVersionCheck(
    { name: source.name, version: versionOf(source) },
    { name: target.name, version: versionOf(target) },
    op.ignore_hvversions ?? false,
  );
  for (const line of lines) ctx.log(line);
  const [onSource, onTarget] = await Promise.all(
    [source, target].map((node) => call(ctx, node, 'status', {}, ctx.timings.nodeCallTimeoutMs)),
  );
  const current = onSource!.instances.find((s) => s.name === instance.name)?.memoryMiB;
  if (current === undefined) return undefined;
  const balloon = balloonBeforeMigration(
    instance.name,
    target.name,
    current,
    onTarget!.memoryFreeMiB,
    op.allow_runtime_changes ?? true,
  );
  if (balloon === undefined) return undefined;
  await call(ctx, source, 'balloon', {
    name: instance.name,
    hypervisor: instance.hypervisor,
    memoryMiB: balloon,
  });
  ctx.log(`set the memory of ${instance.name} to ${balloon} MiB to fit on ${target.name}`);
  return balloon;
}

function moveHooks(
  hpath: string,
  config: ConfigData,
  instance: InstanceRecord,
  target: string | undefined,
  extra: Record<string, string>,
) {
  const source = primaryOf(config, instance);
  const targetNodes = target !== undefined ? [requireNode(config, target)] : [];
  return instanceHooks(
    hpath,
    config,
    instance,
    {
      OLD_PRIMARY: source.name,
      OLD_SECONDARY: '',
      NEW_PRIMARY: target ?? '',
      NEW_SECONDARY: '',
      ...extra,
    },
    targetNodes,
  );
}

/**
 * After a master died mid-migration, finds where the instance really runs and records that: the copy that
 * runs wins (a target paused after receiving everything is resumed), a half-received copy is dropped, and
 * so are the disks a copying migration left on other nodes. Nothing is started.
 */
async function cleanupMigration(ctx: OpContext, instance: InstanceRecord) {
  const config = ctx.config();
  const source = primaryOf(config, instance);
  const others = sortedNodes(config).filter((node) => node.uuid !== source.uuid && !node.offline);
  const statuses = await Promise.allSettled(
    others.map((node) => call(ctx, node, 'status', {}, ctx.timings.nodeCallTimeoutMs)),
  );
  const onSource = !source.offline && (await runsOn(ctx, source, instance));
  let runningOn: NodeRecord | undefined;
  for (const [i, answer] of statuses.entries()) {
    if (answer.status !== 'fulfilled') continue;
    const found = answer.value.instances.find((s) => s.name === instance.name);
    if (found === undefined) continue;
    const node = others[i]!;
    // A target that received everything waits paused, when the disks were copied, for the master's word.
    if ((found.state === 'running' || found.state === 'paused') && !onSource) runningOn = node;
    else {
      ctx.log(`dropping the ${found.state} copy of ${instance.name} on ${node.name}`);
      await call(ctx, node, 'migrateFinish', {
        name: instance.name,
        hypervisor: instance.hypervisor,
        succeeded: false,
      });
    }
  }
  if (runningOn === undefined) {
    ctx.log(`${instance.name} stays on ${source.name}`);
    await removeStrayDisks(ctx, config, instance, source);
    return { result: { instance: instance.name, node: source.name } };
  }
  ctx.log(`${instance.name} runs on ${runningOn.name}; recording it as its primary node`);
  if (needsSecondary(instance.diskTemplate)) return finishMirroredMigration(ctx, instance, source, runningOn);
  await call(ctx, runningOn, 'migrateFinish', {
    name: instance.name,
    hypervisor: instance.hypervisor,
    succeeded: true,
  });
  await removeStrayDisks(ctx, config, instance, runningOn);
  return {
    mutation: {
      type: 'instance-set' as const,
      uuid: instance.uuid,
      changes: { primaryNode: runningOn.uuid },
    },
    result: { instance: instance.name, node: runningOn.name },
  };
}

/**
 * The end of every mirrored migration, once the guest waits paused on the secondary: the two nodes swap roles
 * in one config change (the old primary keeps the other copy), the mirror is attached the other way round,
 * then the guest resumes.
 */
async function swapMirrorRoles(
  ctx: OpContext,
  instance: InstanceRecord,
  source: NodeRecord,
  target: NodeRecord,
) {
  await detachMirror(ctx, instance, source);
  await ctx.commit({
    type: 'instance-set',
    uuid: instance.uuid,
    changes: { primaryNode: target.uuid, secondaryNodes: [source.uuid] },
  });
  await attachMirror(ctx, ctx.config(), requireInstance(ctx.config(), instance.name), target);
  await call(ctx, target, 'migrateFinish', {
    name: instance.name,
    hypervisor: instance.hypervisor,
    succeeded: true,
  });
}

/**
 * The end of a mirrored migration whose master died after the guest moved to the secondary, as
 * migrateToSecondary ends one.
 */
async function finishMirroredMigration(
  ctx: OpContext,
  instance: InstanceRecord,
  source: NodeRecord,
  target: NodeRecord,
) {
  if (!instance.secondaryNodes.includes(target.uuid))
    throw new CorralError(
      'conflict',
      `${instance.name} runs on ${target.name}, which holds no copy of its disks; stop it there (instance shutdown) and run the cleanup again`,
    );
  await swapMirrorRoles(ctx, instance, source, target);
  return { result: { instance: instance.name, node: target.name } };
}

/** Removes the disks of a one-node template from every node but the one that keeps the instance. */
async function removeStrayDisks(
  ctx: OpContext,
  config: ConfigData,
  instance: InstanceRecord,
  keeper: NodeRecord,
) {
  if (!disksOnOneNode(instance.diskTemplate)) return;
  for (const node of sortedNodes(config)) {
    if (node.uuid === keeper.uuid || node.offline || !node.vmCapable) continue;
    await bestEffort(ctx, `remove stray disks of ${instance.name} on ${node.name}`, () =>
      removeDisks(ctx, node, instance),
    );
  }
}

/**
 * Stops the instance on its old node, or establishes that it cannot run there: the fence before a start
 * elsewhere. A node that is offline, held dead by gossip or not answering is fenced by its lease: the
 * master refuses leases to an offline node, and waits until the node's lease has surely run out.
 */
async function fenceSource(
  ctx: OpContext,
  source: NodeRecord,
  instance: InstanceRecord,
  timeoutS: number,
): Promise<'stopped' | 'fenced'> {
  let why: string;
  if (source.offline) why = `${source.name} is declared offline`;
  else if (ctx.observed(source.id)?.state === 'dead') why = `gossip holds ${source.name} dead`;
  else {
    try {
      await stopOn(ctx, source, instance, timeoutS);
      return 'stopped';
    } catch (error) {
      why = `${instance.name} could not be stopped on ${source.name} (${asCorralError(error).message})`;
    }
  }
  await awaitLeaseLapse(ctx, source, instance, why);
  return 'fenced';
}

/**
 * Waits until the node's lease has surely run out by this master's clock, so that it has killed its
 * guests. A node that keeps renewing it reaches the master: it is not dead, and the failover is refused.
 */
async function awaitLeaseLapse(ctx: OpContext, source: NodeRecord, instance: InstanceRecord, why: string) {
  const startedMs = ctx.clock.monotonicMs();
  const firstLapseMs = ctx.leaseLapsesAtMs(source.id);
  if (firstLapseMs > startedMs)
    ctx.log(`${why}; waiting ${((firstLapseMs - startedMs) / 1000).toFixed(1)} s for its lease to run out`);
  for (;;) {
    const nowMs = ctx.clock.monotonicMs();
    const lapseMs = ctx.leaseLapsesAtMs(source.id);
    if (nowMs >= lapseMs) {
      // Only a master that still leads knows every grant: a successor may have renewed the lease since.
      await ctx.confirmLeadership();
      if (ctx.leaseLapsesAtMs(source.id) <= lapseMs) break;
      continue;
    }
    // Renewed since the wait began: the node still reaches the master and keeps its guests.
    if (lapseMs > firstLapseMs)
      throw new CorralError(
        'conflict',
        `${why}, but it still renews its lease, so ${instance.name} may still run there; stop it there first`,
      );
    // At least a millisecond: a timer may fire a hair early on a clock finer than its own.
    await pause(ctx.clock, Math.max(1, lapseMs - nowMs), ctx.signal);
  }
  ctx.log(`the lease of ${source.name} has run out: ${instance.name} no longer runs there`);
}

/** Stops the instance, copies its one-node disks to the target over libp2p, and starts it there if it was up. */
async function move(
  ctx: OpContext,
  instance: InstanceRecord,
  choice: TargetChoice,
  timeoutS: number,
  ignoreConsistency = false,
) {
  const config = ctx.config();
  if (!disksOnOneNode(instance.diskTemplate))
    throw new CorralError(
      'conflict',
      `instance move copies ${ONE_NODE_TEMPLATES.join(' or ')} disks; ${instance.name} uses ${instance.diskTemplate}: use instance failover or migrate`,
    );
  const source = primaryOf(config, instance);
  if (source.offline)
    throw new CorralError(
      'conflict',
      `${source.name} is offline; the disks of ${instance.name} cannot be copied from it`,
    );
  const wasUp = instance.adminState === 'up';
  const target = await targetNode(ctx, config, instance, choice, need(config, instance, wasUp));
  const stopped = await stopForMove(ctx, source, instance, timeoutS, ignoreConsistency);
  const moved: InstanceRecord = { ...instance, primaryNode: target.uuid };
  try {
    for (const disk of agentDisks(instance)) {
      const { bytes } = await call(ctx, target, 'fetchDisk', {
        from: source.id,
        instance: instanceRef(instance),
        template: instance.diskTemplate,
        disk,
      });
      ctx.log(`copied disk/${disk.index} of ${instance.name} to ${target.name} (${bytes} bytes)`);
    }
    if (wasUp && stopped) await startOn(ctx, config, target, moved);
    // Never two running copies: the master starts it on the target once the source no longer runs it.
    else if (wasUp)
      ctx.log(
        `not starting ${instance.name} on ${target.name} while it may still run on ${source.name}; start it once it has stopped there`,
      );
  } catch (error) {
    await bestEffort(ctx, `remove the partial copy on ${target.name}`, () =>
      removeDisks(ctx, target, instance),
    );
    if (wasUp && stopped)
      await bestEffort(ctx, `restart ${instance.name} on ${source.name}`, () =>
        startOn(ctx, config, source, instance),
      );
    throw error;
  }
  if (stopped)
    await bestEffort(ctx, `remove the old disks on ${source.name}`, () => removeDisks(ctx, source, instance));
  else ctx.log(`the old disks of ${instance.name} stay on ${source.name}, which may still use them`);
  return {
    mutation: { type: 'instance-set' as const, uuid: instance.uuid, changes: { primaryNode: target.uuid } },
    result: { instance: instance.name, node: target.name },
  };
}

/**
 * Stops the instance on the node a move copies from. With Ganeti's --ignore-consistency a node that cannot
 * stop its guest (a hung hypervisor) does not keep the data from being recovered: false then.
 */
async function stopForMove(
  ctx: OpContext,
  source: NodeRecord,
  instance: InstanceRecord,
  timeoutS: number,
  ignoreConsistency: boolean,
): Promise<boolean> {
  try {
    await stopOn(ctx, source, instance, timeoutS);
    return true;
  } catch (error) {
    if (!ignoreConsistency) throw error;
    ctx.log(
      `could not stop ${instance.name} on ${source.name} (${asCorralError(error).message}); copying its disks anyway, as --ignore-consistency asks`,
    );
    return false;
  }
}

export const moveOpDefinitions: Pick<OpDefinitions, MoveOpId> = {
  OP_INSTANCE_MIGRATE: {
    onTakeover: 'fail',
    locks: lockInstance('exclusive', (op) => (op.target_node ? [op.target_node] : 'all')),
    hooks: (op, config) =>
      moveHooks('instance-migrate', config, requireInstance(config, op.instance_name), op.target_node, {
        MIGRATE_LIVE: op.mode === 'non-live' ? 'False' : 'True',
        MIGRATE_CLEANUP: op.cleanup ? 'True' : 'False',
        ALLOW_RUNTIME_CHANGES: op.allow_runtime_changes === false ? 'False' : 'True',
      }),
    async run(op, ctx) {
      const config = ctx.config();
      const instance = requireInstance(config, op.instance_name);
      if (op.cleanup) return cleanupMigration(ctx, instance);
      if (needsSecondary(instance.diskTemplate)) return migrateToSecondary(ctx, instance, op);
      const choice = { named: op.target_node, iallocator: op.iallocator };
      const storage = migrationStorage(instance);
      const source = primaryOf(config, instance);
      if (source.offline || !(await runsOn(ctx, source, instance))) {
        if (!op.allow_failover)
          throw new CorralError(
            'conflict',
            `${instance.name} is not running on ${source.name}; fail it over instead (instance failover), or add --allow-failover`,
          );
        // The offline way of a migration: a failover, or for disks only this node holds, a move.
        if (storage === 'copy') {
          ctx.log(`${instance.name} is not running; moving it instead`);
          return move(ctx, instance, choice, DEFAULT_SHUTDOWN_TIMEOUT_S);
        }
        ctx.log(`${instance.name} is not running; failing over instead`);
        return failover(ctx, instance, choice, DEFAULT_SHUTDOWN_TIMEOUT_S);
      }
      const target = await targetNode(ctx, config, instance, choice, migrationNeed(config, instance));
      const memoryMiB = await prepareMigration(ctx, instance, source, target, op);
      if (storage === 'shared') await checkDisks(ctx, target, instance);
      else await createDisks(ctx, target, instance);
      const dropTargetCopy = async () => {
        await bestEffort(ctx, `drop the half-received copy on ${target.name}`, () =>
          call(ctx, target, 'migrateFinish', {
            name: instance.name,
            hypervisor: instance.hypervisor,
            succeeded: false,
          }),
        );
        if (storage === 'copy')
          await bestEffort(ctx, `remove the partial disks on ${target.name}`, () =>
            removeDisks(ctx, target, instance),
          );
      };
      let figures: MigrationFigures;
      try {
        figures = await sendInstance(ctx, config, instance, source, target, {
          copyStorage: storage === 'copy',
          live: op.mode !== 'non-live',
          memoryMiB,
        });
      } catch (error) {
        await dropTargetCopy();
        throw new CorralError(
          'conflict',
          `migrating ${instance.name} failed (${asCorralError(error).message}); it still runs on ${source.name}`,
        );
      }
      await call(ctx, target, 'migrateFinish', {
        name: instance.name,
        hypervisor: instance.hypervisor,
        succeeded: true,
      });
      if (storage === 'copy')
        await bestEffort(ctx, `remove the old disks on ${source.name}`, () =>
          removeDisks(ctx, source, instance),
        );
      ctx.log(
        `migrated ${instance.name} to ${target.name} in ${Math.round(figures.totalMs)} ms (downtime ${Math.round(figures.downtimeMs)} ms, ${figures.transferredBytes} bytes)`,
      );
      return {
        mutation: { type: 'instance-set', uuid: instance.uuid, changes: { primaryNode: target.uuid } },
        result: { instance: instance.name, node: target.name, ...figures },
      };
    },
  },

  OP_INSTANCE_FAILOVER: {
    onTakeover: 'fail',
    locks: lockInstance('exclusive', (op) => (op.target_node ? [op.target_node] : 'all')),
    hooks: (op, config) =>
      moveHooks('instance-failover', config, requireInstance(config, op.instance_name), op.target_node, {
        IGNORE_CONSISTENCY: op.ignore_consistency ? 'True' : 'False',
        SHUTDOWN_TIMEOUT: String(op.shutdown_timeout ?? DEFAULT_SHUTDOWN_TIMEOUT_S),
        FAILOVER_CLEANUP: op.cleanup ? 'True' : 'False',
      }),
    run: (op, ctx) => {
      const instance = requireInstance(ctx.config(), op.instance_name);
      const timeoutS = op.shutdown_timeout ?? DEFAULT_SHUTDOWN_TIMEOUT_S;
      for (const [source, reason] of op.reason ?? []) ctx.log(`reason (${source}): ${reason}`);
      if (op.cleanup) return cleanupMigration(ctx, instance);
      if (needsSecondary(instance.diskTemplate)) {
        noAllocatorForMirror(instance, op.iallocator, 'failed over');
        return failoverToSecondary(ctx, instance, op.target_node, timeoutS, op.ignore_consistency ?? false);
      }
      return failover(ctx, instance, { named: op.target_node, iallocator: op.iallocator }, timeoutS);
    },
  },

  OP_INSTANCE_MOVE: {
    onTakeover: 'fail',
    locks: lockInstance('exclusive', (op) => [op.target_node]),
    hooks: (op, config) =>
      moveHooks('instance-move', config, requireInstance(config, op.instance_name), op.target_node, {
        TARGET_NODE: op.target_node,
        SHUTDOWN_TIMEOUT: String(op.shutdown_timeout ?? DEFAULT_SHUTDOWN_TIMEOUT_S),
        IGNORE_CONSISTENCY: op.ignore_consistency ? 'True' : 'False',
      }),
    run: (op, ctx) => {
      if (op.compress !== undefined && op.compress !== 'none')
        ctx.log(`the disks are copied uncompressed: Corral's copy over libp2p has no ${op.compress} stage`);
      return move(
        ctx,
        requireInstance(ctx.config(), op.instance_name),
        { named: op.target_node },
        op.shutdown_timeout ?? DEFAULT_SHUTDOWN_TIMEOUT_S,
        op.ignore_consistency ?? false,
      );
    },
  },

  OP_NODE_MIGRATE: {
    onTakeover: 'resume',
    locks: (op) => [
      { level: 'cluster', names: ['BGL'], mode: 'shared' },
      { level: 'node', names: [op.node_name], mode: 'shared' },
    ],
    hooks: (op, config) => {
      const nodes = config.master ? [config.master] : [];
      return {
        hpath: 'node-migrate',
        objectType: 'NODE',
        target: op.node_name,
        env: { NODE_NAME: op.node_name },
        preNodes: nodes,
        postNodes: nodes,
      };
    },
    async run(op, ctx) {
      const config = ctx.config();
      const node = requireNode(config, op.node_name);
      const { primary } = instancesOfNode(config, node.uuid);
      if (op.target_node !== undefined && op.iallocator !== undefined)
        throw new CorralError('bad_request', 'give a target node (-n) or an allocator (-I), not both');
      // Without a named target the allocator places every instance, counting what the earlier ones take.
      const ops: Opcode[][] =
        op.target_node === undefined
          ? await planMoves(ctx, config, primary, 'primary-only', {
              copyDisks: false,
              ...(op.iallocator !== undefined && { iallocator: op.iallocator }),
              ...(op.mode !== undefined && { migrationMode: op.mode }),
            })
          : primary.map((instance) => [
              {
                OP_ID: 'OP_INSTANCE_MIGRATE',
                instance_name: instance.name,
                allow_failover: true,
                target_node: op.target_node,
                ...(op.mode !== undefined && { mode: op.mode }),
              },
            ]);
      const jobs = await ctx.submitJobs(
        op.allow_runtime_changes === false ? ops.map(withoutRuntimeChanges) : ops,
      );
      ctx.log(`submitted ${jobs.length} migration job(s): ${jobs.join(', ') || 'none needed'}`);
      // Ganeti's shape: one [submitted, job ID or error] pair per job.
      return { result: { jobs: jobs.map((job) => [true, job]) } };
    },
  },

  OP_NODE_EVACUATE: {
    onTakeover: 'resume',
    locks: () => [
      { level: 'cluster', names: ['BGL'], mode: 'shared' },
      { level: 'node', names: 'all', mode: 'shared' },
    ],
    async run(op, ctx) {
      const config = ctx.config();
      const node = requireNode(config, op.node_name);
      const { primary, secondary } = instancesOfNode(config, node.uuid);
      if (op.remote_node !== undefined && op.mode === 'primary')
        throw new CorralError('bad_request', 'a new secondary node (-n) goes with secondary evacuation (-s)');
      const named = op.remote_node;
      if (named !== undefined && op.iallocator !== undefined)
        throw new CorralError('bad_request', 'give a new secondary (-n) or an allocator (-I), not both');
      const moving = { primary, secondary, all: [...primary, ...secondary] }[op.mode];
      const options = {
        copyDisks: true,
        ...(op.iallocator !== undefined && { iallocator: op.iallocator }),
        ...(op.ignore_soft_errors && { ignoreSoftErrors: true }),
      };
      // One plan for all, so that two instances do not both count on the same room; with a new secondary
      // named, Ganeti's way: one replace-disks per instance it mirrors.
      const planned: Opcode[][] =
        named === undefined
          ? await planMoves(ctx, config, moving, EVAC_MODES[op.mode], options)
          : [
              ...(op.mode === 'all' ? await planMoves(ctx, config, primary, 'primary-only', options) : []),
              ...secondary.map((instance): Opcode[] => [
                {
                  OP_ID: 'OP_INSTANCE_REPLACE_DISKS',
                  instance_name: instance.name,
                  mode: 'replace_new_secondary',
                  remote_node: requireNode(config, named).name,
                },
              ]),
            ];
      const ops = planned.map((job) =>
        job.map(
          (o): Opcode =>
            o.OP_ID === 'OP_INSTANCE_REPLACE_DISKS' && op.early_release ? { ...o, early_release: true } : o,
        ),
      );
      const jobs = await ctx.submitJobs(ops);
      ctx.log(
        `submitted ${jobs.length} job(s) to move instances off ${node.name}: ${jobs.join(', ') || 'none needed'}`,
      );
      // Ganeti's shape: one [submitted, job ID or error] pair per job.
      return { result: { jobs: jobs.map((job) => [true, job]) } };
    },
  },
};

type MigrateOp = Extract<Opcode, { OP_ID: 'OP_INSTANCE_MIGRATE' }>;

/** Node migrate --no-runtime-changes, passed to each instance's migration. */
function withoutRuntimeChanges(job: Opcode[]): Opcode[] {
  return job.map((o) => (o.OP_ID === 'OP_INSTANCE_MIGRATE' ? { ...o, allow_runtime_changes: false } : o));
}

type MigrationFigures = { totalMs: number; downtimeMs: number; transferredBytes: number };

/** The target readies a QEMU waiting for the instance, and the source sends it there (memory, and disks to copy). */
async function sendInstance(
  ctx: OpContext,
  config: ConfigData,
  instance: InstanceRecord,
  source: NodeRecord,
  target: NodeRecord,
  options: {
    readonly copyStorage: boolean;
    readonly holdPaused?: boolean;
    readonly live: boolean;
    /** The memory the guest runs with, when ballooned below its maxmem. */
    readonly memoryMiB?: number | undefined;
  },
): Promise<MigrationFigures> {
  const spec = runtimeSpec(config, instance);
  const { memoryMiB } = options;
  const ballooned = hypervisorTraits[instance.hypervisor].migratesBalloonedMemory;
  // The guest as it runs, which changes made without hot-plugging have not touched yet: QEMU's migration
  // needs the same devices on the same slots at both ends.
  const devices = await call(ctx, source, 'guestDevices', {
    name: instance.name,
    hypervisor: instance.hypervisor,
  });
  const endpoint = await call(ctx, target, 'migrateAccept', {
    spec: memoryMiB !== undefined && ballooned ? { ...spec, memoryMiB } : spec,
    devices,
    bindHost: target.secondaryIp,
    copyStorage: options.copyStorage,
    ...(options.holdPaused !== undefined && { holdPaused: options.holdPaused }),
  });
  ctx.log(
    `${target.name} waits for ${instance.name} at ${endpoint.host}:${endpoint.port}${endpoint.storage ? ` and for its disks at port ${endpoint.storage.port}` : ''}`,
  );
  return call(ctx, source, 'migrateSend', {
    name: instance.name,
    hypervisor: instance.hypervisor,
    endpoint,
    live: options.live,
  });
}

/** The secondary of a mirrored instance, checked against the node the operator named, if any. */
function secondaryTarget(
  config: ConfigData,
  instance: InstanceRecord,
  named: string | undefined,
  what: string,
): NodeRecord {
  const [secondary] = instance.secondaryNodes;
  if (secondary === undefined)
    throw new CorralError('internal', `${instance.name} uses drbd but has no secondary node`);
  const target = nodeOfUuid(config, secondary);
  if (named !== undefined && requireNode(config, named).uuid !== target.uuid)
    throw new CorralError(
      'bad_request',
      `${instance.name} ${what} to its secondary ${target.name}, which holds its disks; to run it elsewhere, replace its secondary first (instance replace-disks -n)`,
    );
  return target;
}

/**
 * Live-migrates a mirrored instance to its secondary, copying no disk: the target's QEMU opens the disks of
 * its own copy (then the secondary, read-only) and stays paused when the memory has moved. The source's
 * QEMU flushed its writes through the mirror as it ended; the copies then change roles, the config names
 * the new primary, and the guest resumes there.
 */
async function migrateToSecondary(ctx: OpContext, instance: InstanceRecord, op: MigrateOp) {
  const config = ctx.config();
  noAllocatorForMirror(instance, op.iallocator, 'migrated');
  const source = primaryOf(config, instance);
  const target = secondaryTarget(config, instance, op.target_node, 'migrates');
  if (source.offline || !(await runsOn(ctx, source, instance))) {
    if (!op.allow_failover)
      throw new CorralError(
        'conflict',
        `${instance.name} is not running on ${source.name}; fail it over instead (instance failover), or add --allow-failover`,
      );
    ctx.log(`${instance.name} is not running; failing over instead`);
    return failoverToSecondary(ctx, instance, op.target_node, DEFAULT_SHUTDOWN_TIMEOUT_S, false);
  }
  if (!requireMirror(instance).current.includes(target.uuid))
    throw new CorralError(
      'conflict',
      `the disks of ${instance.name} on ${target.name} are not in sync; wait for the resync to end (instance info), or fail over with --ignore-consistency`,
    );
  requireFitNode(target);
  await requireRoom(ctx, target, migrationNeed(config, instance));
  const memoryMiB = await prepareMigration(ctx, instance, source, target, op);
  let figures: MigrationFigures;
  try {
    figures = await sendInstance(ctx, config, instance, source, target, {
      copyStorage: false,
      holdPaused: true,
      live: op.mode !== 'non-live',
      memoryMiB,
    });
  } catch (error) {
    await bestEffort(ctx, `drop the half-received copy on ${target.name}`, () =>
      call(ctx, target, 'migrateFinish', {
        name: instance.name,
        hypervisor: instance.hypervisor,
        succeeded: false,
      }),
    );
    throw new CorralError(
      'conflict',
      `migrating ${instance.name} failed (${asCorralError(error).message}); it still runs on ${source.name}`,
    );
  }
  await swapMirrorRoles(ctx, instance, source, target);
  ctx.log(
    `migrated ${instance.name} to ${target.name} in ${Math.round(figures.totalMs)} ms (downtime ${Math.round(figures.downtimeMs)} ms, ${figures.transferredBytes} bytes of memory; no disk copied)`,
  );
  return { result: { instance: instance.name, node: target.name, ...figures } };
}

/**
 * Fails a mirrored instance over to its secondary, which holds its disks: nothing is copied. The old primary
 * becomes the secondary, and the config says so before the guest starts, so that from then on the old
 * primary's reports are refused and its copy takes no more writes. Only a current copy may take over, unless
 * the operator accepts losing what it missed (--ignore-consistency).
 */
async function failoverToSecondary(
  ctx: OpContext,
  instance: InstanceRecord,
  named: string | undefined,
  timeoutS: number,
  ignoreConsistency: boolean,
) {
  const config = ctx.config();
  const source = primaryOf(config, instance);
  const target = secondaryTarget(config, instance, named, 'fails over');
  const staleOn = (mirror: MirrorState) => {
    const stale = !mirror.current.includes(target.uuid);
    if (stale && !ignoreConsistency)
      throw new CorralError(
        'conflict',
        `the copy of the disks of ${instance.name} on ${target.name} is not current (a resync has not finished, or ${source.name} took writes it missed); add --ignore-consistency to fail over to it anyway and lose those writes`,
      );
    return stale;
  };
  staleOn(requireMirror(instance));
  requireFitNode(target);
  const wasUp = instance.adminState === 'up';
  await requireRoom(ctx, target, need(config, instance, wasUp));
  // Stopping it there detaches its mirror on both nodes.
  const fenced = (await fenceSource(ctx, source, instance, timeoutS)) === 'fenced';
  // The source may have outdated the target's copy while it was being stopped (it lost its link first):
  // decide on the mirror as it is now, and commit only if it stays so.
  const mirror = requireMirror(requireInstance(ctx.config(), instance.name));
  const stale = staleOn(mirror);
  if (stale) ctx.log(`failing over to the stale copy on ${target.name}, as --ignore-consistency asks`);
  // A primary that was not stopped (offline, dead or cut off) may hold writes in flight that never reached
  // the target: its copy is no longer counted current, and a full comparison brings it level when it returns.
  const dropSource = stale || fenced;
  await ctx.commit({
    type: 'instance-set',
    uuid: instance.uuid,
    changes: {
      primaryNode: target.uuid,
      secondaryNodes: [source.uuid],
      ...(dropSource && { mirror: { generation: mirror.generation + 1, current: [target.uuid] } }),
    },
    ifMirrorGeneration: mirror.generation,
  });
  const moved = requireInstance(ctx.config(), instance.name);
  if (wasUp) await startOn(ctx, ctx.config(), target, moved);
  ctx.log(`${instance.name} failed over from ${source.name} to ${target.name}`);
  return { result: { instance: instance.name, node: target.name } };
}

async function failover(ctx: OpContext, instance: InstanceRecord, choice: TargetChoice, timeoutS: number) {
  const config = ctx.config();
  requireShared(instance, 'failover');
  const source = primaryOf(config, instance);
  const wasUp = instance.adminState === 'up';
  const target = await targetNode(ctx, config, instance, choice, need(config, instance, wasUp));
  await fenceSource(ctx, source, instance, timeoutS);
  const moved: InstanceRecord = { ...instance, primaryNode: target.uuid };
  if (wasUp) {
    await checkDisks(ctx, target, instance);
    await startOn(ctx, config, target, moved);
  }
  ctx.log(`${instance.name} failed over from ${source.name} to ${target.name}`);
  return {
    mutation: { type: 'instance-set' as const, uuid: instance.uuid, changes: { primaryNode: target.uuid } },
    result: { instance: instance.name, node: target.name },
  };
}
