import type { AgentGuestDevices } from '../cluster/agent-protocols.js';
import { requireNode, sortedInstances } from '../cluster/config.js';
import { diskTemplateTraits, needsSecondary, takesDisks } from '../cluster/disk-templates.js';
import { type DiskRecord, filledBeParams, type InstanceRecord, type NodeRecord } from '../cluster/model.js';
import type { Mutation } from '../cluster/mutations.js';
import type { DiskModification, Opcode } from '../cluster/opcodes.js';
import { asCorralError, CorralError } from '../common/errors.js';
import { planDiskMods, planNicMods } from './device-mods.js';
import { generateMac, primaryOf, requireFitNode, runtimeSpec } from './instance-runtime.js';
import {
  attachMirror,
  bestEffort,
  call,
  createDisks,
  diskNodes,
  removeDisks,
  runsOn,
} from './instance-steps.js';
import type { OpContext } from './op-context.js';

type SetParamsOp = Extract<Opcode, { OP_ID: 'OP_INSTANCE_SET_PARAMS' }>;
type Changes = Extract<Mutation, { type: 'instance-set' }>['changes'];

/** Ganeti's disk modifications, with Corral's older disks_add appended as adds at the end. */
export function diskModsOf(op: SetParamsOp): DiskModification[] {
  return [...(op.disks ?? []), ...(op.disks_add ?? []).map((spec): DiskModification => ['add', -1, spec])];
}

/** NIC or disk additions and removals: what Ganeti would hot-plug into a running instance. */
function plugsDevices(op: SetParamsOp): boolean {
  return [...(op.nics ?? []), ...diskModsOf(op)].some(([kind]) => kind !== 'modify');
}

/** Whether the instance runs on its primary: asked only when a change depends on it. */
export async function instanceRuns(ctx: OpContext, instance: InstanceRecord): Promise<boolean> {
  const pnode = primaryOf(ctx.config(), instance);
  return !pnode.offline && (await runsOn(ctx, pnode, instance));
}

/** The running guest that a change hot-plugs into: its primary and its devices as they run. */
export interface HotplugTarget {
  readonly pnode: NodeRecord;
  readonly devices: AgentGuestDevices;
}

/**
 * Ganeti's --hotplug and --hotplug-if-possible: the guest's hypervisor says whether the kinds of device changed
 * can be plugged in or out; if not, --hotplug refuses the change and --hotplug-if-possible makes it without
 * hot-plugging (it takes effect at the next start). Undefined when nothing is hot-plugged.
 */
export async function hotplugTarget(
  ctx: OpContext,
  op: SetParamsOp,
  instance: InstanceRecord,
  running: boolean,
): Promise<HotplugTarget | undefined> {
  const nextStart = () => {
    if (running && plugsDevices(op))
      ctx.log(`the NIC and disk additions and removals of ${instance.name} take effect at its next start`);
  };
  if (op.hotplug !== true && op.hotplug_if_possible !== true) {
    nextStart();
    return undefined;
  }
  const kinds = [
    ...((op.nics ?? []).length > 0 ? (['nic'] as const) : []),
    ...(diskModsOf(op).some(([kind]) => kind !== 'modify') ? (['disk'] as const) : []),
  ];
  if (kinds.length === 0) {
    ctx.log('--hotplug: no NIC or disk is added, changed or removed, so there is nothing to hot-plug');
    return undefined;
  }
  const pnode = primaryOf(ctx.config(), instance);
  const devices = running
    ? await call(ctx, pnode, 'guestDevices', { name: instance.name, hypervisor: instance.hypervisor })
    : undefined;
  const why =
    devices === undefined
      ? `${instance.name} is not running`
      : kinds.map((kind) => devices.hotplugRefusals[kind]).find((refusal) => refusal !== undefined);
  if (why === undefined && devices !== undefined) return { pnode, devices };
  if (op.hotplug === true)
    throw new CorralError(
      'conflict',
      `Hotplug is not possible: ${why}; try --hotplug-if-possible, or leave out --hotplug and the change applies at the next start`,
    );
  ctx.log(`Hotplug is not possible: ${why}; the modification takes place without hotplugging`);
  nextStart();
  return undefined;
}

/** One hot-plug step; as Ganeti's, a failure is a warning and the change still applies at the next start. */
async function tryHotplug(ctx: OpContext, what: string, step: () => Promise<unknown>): Promise<void> {
  try {
    await step();
    ctx.log(`hot-plugged: ${what}`);
  } catch (error) {
    ctx.log(
      `could not hot-plug (${what}): ${asCorralError(error).message}; it takes effect at the next start`,
    );
  }
}

function plugIn(
  ctx: OpContext,
  target: HotplugTarget,
  after: InstanceRecord,
  kind: 'disk' | 'nic',
  uuid: string,
  pciSlot?: number,
) {
  return call(ctx, target.pnode, 'hotplug', {
    action: 'add',
    spec: runtimeSpec(ctx.config(), after),
    kind,
    uuid,
    ...(pciSlot !== undefined && { pciSlot }),
  });
}

function unplug(
  ctx: OpContext,
  target: HotplugTarget,
  instance: InstanceRecord,
  kind: 'disk' | 'nic',
  uuid: string,
) {
  return call(ctx, target.pnode, 'hotplug', {
    action: 'remove',
    name: instance.name,
    hypervisor: instance.hypervisor,
    kind,
    uuid,
  });
}

/**
 * The NIC changes (Ganeti's `nics`), checked against every MAC in the cluster; `plug` hot-plugs them into the
 * running guest (a modified NIC is unplugged and plugged back into its slot, as Ganeti's HotModDevice does).
 */
export function nicChanges(
  ctx: OpContext,
  op: SetParamsOp,
  instance: InstanceRecord,
  hotplug: HotplugTarget | undefined,
): { readonly changes: Changes; readonly plug: (after: InstanceRecord) => Promise<void> } {
  if (op.nics === undefined || op.nics.length === 0) return { changes: {}, plug: async () => {} };
  const config = ctx.config();
  const macsElsewhere = new Set(
    sortedInstances(config)
      .filter((other) => other.uuid !== instance.uuid)
      .flatMap((other) => other.nics.map((nic) => nic.mac)),
  );
  const plan = planNicMods(instance.nics, op.nics, {
    defaults: config.cluster.nicParams,
    macsElsewhere,
    newUuid: () => ctx.newUuid(),
    newMac: () => generateMac(config.cluster.macPrefix, ctx.newUuid()),
  });
  for (const nic of plan.added)
    ctx.log(`NIC ${nic.mac} (${nic.mode}, ${nic.link}) added to ${instance.name}`);
  for (const nic of plan.removed) ctx.log(`NIC ${nic.mac} removed from ${instance.name}`);
  const plug = async (after: InstanceRecord) => {
    if (hotplug === undefined) return;
    for (const nic of plan.removed)
      await tryHotplug(ctx, `NIC ${nic.mac} unplugged`, () =>
        unplug(ctx, hotplug, instance, 'nic', nic.uuid),
      );
    for (const nic of plan.modified) {
      const pciSlot = hotplug.devices.nics.find((running) => running.uuid === nic.uuid)?.pciSlot;
      await tryHotplug(ctx, `NIC ${nic.mac} changed`, async () => {
        await unplug(ctx, hotplug, instance, 'nic', nic.uuid);
        await plugIn(ctx, hotplug, after, 'nic', nic.uuid, pciSlot);
      });
    }
    for (const nic of plan.added)
      await tryHotplug(ctx, `NIC ${nic.mac} plugged in`, () => plugIn(ctx, hotplug, after, 'nic', nic.uuid));
  };
  return { changes: { nics: plan.nics }, plug };
}

/**
 * The disk changes (Ganeti's `disks`), checked; `apply` creates new disks on every node that holds the
 * instance's disks and removes the removed ones there (both copies of drbd), hot-plugging them into the
 * running guest when asked. A removal needs the instance stopped, as Ganeti's does, unless it is hot-plugged.
 */
export function diskChanges(
  ctx: OpContext,
  op: SetParamsOp,
  instance: InstanceRecord,
  running: boolean,
  hotplug: HotplugTarget | undefined,
): { readonly changes: Changes; readonly apply: (after: InstanceRecord) => Promise<void> } {
  const mods = diskModsOf(op);
  if (mods.length === 0) return { changes: {}, apply: async () => {} };
  const plan = planDiskMods(instance.disks, mods, (spec) => ({
    uuid: ctx.newUuid(),
    sizeMiB: spec.size,
    mode: spec.mode ?? 'rw',
    format: spec.format ?? 'raw',
    ...(spec.name !== undefined && { name: spec.name }),
  }));
  if (plan.added.length > 0 && !takesDisks(instance.diskTemplate))
    throw new CorralError('conflict', `${instance.name} is ${instance.diskTemplate}; it takes no disks`);
  if (plan.removed.length > 0 && running && hotplug === undefined)
    throw new CorralError(
      'conflict',
      `${instance.name} is running: can't remove a disk from a running instance without hotplug; shut it down first`,
    );
  if (plan.disks.length === 0 && takesDisks(instance.diskTemplate))
    throw new CorralError(
      'conflict',
      `${instance.name} is ${instance.diskTemplate} and would have no disk left; remove the instance instead`,
    );
  return {
    changes: { disks: plan.disks },
    apply: async (after) => {
      // A disk the guest still holds must not lose its storage: an unplug that fails stops the change here.
      if (hotplug !== undefined)
        for (const disk of plan.removed) {
          await unplug(ctx, hotplug, instance, 'disk', disk.uuid);
          ctx.log(`hot-plugged: disk ${disk.uuid} unplugged`);
        }
      if (plan.added.length > 0) {
        await createDisks(ctx, primaryOf(ctx.config(), instance), { ...instance, disks: plan.added });
        if (hotplug !== undefined) {
          // A mirrored disk reaches the guest through the mirror, which the new disks join first.
          if (needsSecondary(after.diskTemplate)) await attachMirror(ctx, ctx.config(), after, hotplug.pnode);
          for (const disk of plan.added)
            await tryHotplug(ctx, `disk ${disk.uuid} plugged in`, () =>
              plugIn(ctx, hotplug, after, 'disk', disk.uuid),
            );
        }
      }
      if (plan.removed.length > 0) await removeStorage(ctx, instance, plan.removed);
    },
  };
}

async function removeStorage(ctx: OpContext, instance: InstanceRecord, removed: DiskRecord[]): Promise<void> {
  const gone: InstanceRecord = { ...instance, disks: removed };
  // As Ganeti's: a node that cannot remove its copy leaves it behind with a warning, the disk leaves the config.
  for (const node of diskNodes(ctx.config(), instance)) {
    if (node.offline) ctx.log(`${node.name} is offline; the removed disks of ${instance.name} stay there`);
    else
      await bestEffort(ctx, `remove disks of ${instance.name} on ${node.name}`, () =>
        removeDisks(ctx, node, gone),
      );
  }
}

/** Ganeti's --new-primary: the disks must already be reachable from the new node, and the instance stopped. */
export async function primaryChange(
  ctx: OpContext,
  op: SetParamsOp,
  instance: InstanceRecord,
): Promise<Changes> {
  if (op.pnode === undefined) return {};
  const config = ctx.config();
  const node: NodeRecord = requireNode(config, op.pnode);
  const current = primaryOf(config, instance);
  if (node.uuid === current.uuid) {
    ctx.log(`${node.name} is already the primary node of ${instance.name}`);
    return {};
  }
  if (!diskTemplateTraits[instance.diskTemplate].sharedStorage)
    throw new CorralError(
      'conflict',
      `--new-primary ${node.name}: ${instance.name} is ${instance.diskTemplate}, whose disks ${node.name} cannot reach; only sharedfile and diskless instances change primary this way (use failover, migrate or move)`,
    );
  requireFitNode(node);
  // Ganeti skips this check under --force; Corral still refuses a guest it sees running, which would then
  // run on two nodes, and lets --force pass only a primary it cannot ask.
  let running: boolean;
  try {
    running = await instanceRuns(ctx, instance);
  } catch (error) {
    if (op.force !== true) throw error;
    ctx.log(
      `cannot tell whether ${instance.name} still runs on ${current.name}: ${(error as Error).message}`,
    );
    running = false;
  }
  if (running)
    throw new CorralError(
      'conflict',
      `Instance ${instance.name} is still running on ${current.name}; shut it down first`,
    );
  ctx.log(`${instance.name} now has ${node.name} as its primary node (was ${current.name})`);
  return { primaryNode: node.uuid };
}

/**
 * Ganeti's --runtime-memory, checked: the guest must run and stay within minmem..maxmem unless forced; the
 * returned step balloons it.
 */
export function runtimeMemory(
  ctx: OpContext,
  op: SetParamsOp,
  instance: InstanceRecord,
  beParams: InstanceRecord['beParams'] | undefined,
  running: boolean,
): () => Promise<void> {
  const memoryMiB = op.runtime_mem;
  if (memoryMiB === undefined) return async () => {};
  if (!running) throw new CorralError('conflict', `Instance ${instance.name} is not running`);
  const config = ctx.config();
  const be = filledBeParams(config.cluster, { ...instance, beParams: beParams ?? instance.beParams });
  if (op.force !== true && (memoryMiB > be.maxmemMiB || memoryMiB < be.minmemMiB))
    throw new CorralError(
      'bad_request',
      `Instance ${instance.name} must have memory between ${be.minmemMiB} and ${be.maxmemMiB} MB of memory unless --force is given`,
    );
  const pnode = primaryOf(config, instance);
  return async () => {
    await call(ctx, pnode, 'balloon', { name: instance.name, hypervisor: instance.hypervisor, memoryMiB });
    ctx.log(`${instance.name} runs with ${memoryMiB} MiB of memory on ${pnode.name}`);
  };
}
