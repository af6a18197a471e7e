import {
  type ConfigData,
  findInstance,
  nodeOfUuid,
  requireInstance,
  requireNode,
  sortedInstances,
} from '../cluster/config.js';
import {
  type CorralDiskTemplate,
  disksOnOneNode,
  needsSecondary,
  takesDisks,
} from '../cluster/disk-templates.js';
import {
  type DiskRecord,
  filledBeParams,
  type InstanceRecord,
  type NicRecord,
  type NodeRecord,
} from '../cluster/model.js';
import type { Mutation } from '../cluster/mutations.js';
import type { Opcode } from '../cluster/opcodes.js';
import { requireApart } from '../cluster/os-params.js';
import { asCorralError, CorralError } from '../common/errors.js';
import { importDefaults, importDisks, importSource, requireRoomForExport } from './backup-ops.js';
import { withoutClusterDefaults } from './identify-defaults.js';
import {
  diskChanges,
  diskModsOf,
  hotplugTarget,
  instanceRuns,
  nicChanges,
  primaryChange,
  runtimeMemory,
} from './instance-modify.js';
import { chooseSecondary, type Placement, placeInstance, requireRoom } from './instance-placement.js';
import {
  agentDisks,
  beParamsFromInput,
  generateMac,
  instanceHooks,
  primaryOf,
  requireFitNode,
} from './instance-runtime.js';
import {
  attachMirror,
  bestEffort,
  call,
  checkDisks,
  createDisks,
  createDisksOn,
  DEFAULT_SHUTDOWN_TIMEOUT_S,
  detachMirror,
  diskNodes,
  instanceLocks,
  instanceRef,
  lockInstance,
  primaryCopyOnly,
  removeDisks,
  removeInstance,
  requireOs,
  runOsScript,
  runsOn,
  startOn,
  stopOn,
  waitForSync,
} from './instance-steps.js';
import type { OpContext, OpDefinitions, OpOutcome } from './op-context.js';

type InstanceOpId =
  | 'OP_INSTANCE_CREATE'
  | 'OP_INSTANCE_REMOVE'
  | 'OP_INSTANCE_STARTUP'
  | 'OP_INSTANCE_SHUTDOWN'
  | 'OP_INSTANCE_REBOOT'
  | 'OP_INSTANCE_SET_PARAMS'
  | 'OP_INSTANCE_GROW_DISK'
  | 'OP_INSTANCE_REINSTALL'
  | 'OP_INSTANCE_RENAME'
  | 'OP_INSTANCE_ACTIVATE_DISKS'
  | 'OP_INSTANCE_DEACTIVATE_DISKS';

type CreateOp = Extract<Opcode, { OP_ID: 'OP_INSTANCE_CREATE' }>;

/** Ganeti refuses to start or stop an instance whose primary is offline, unless told only to record it. */
function requireIgnoreOffline(
  op: { readonly ignore_offline_nodes?: boolean | undefined },
  pnode: NodeRecord,
  instance: InstanceRecord,
  state: 'up' | 'down',
): void {
  if (!op.ignore_offline_nodes)
    throw new CorralError(
      'conflict',
      `the primary node ${pnode.name} of ${instance.name} is offline; add --ignore-offline to only record it as ${state}`,
    );
}

/**
 * Before a full reboot stops a mirrored instance: its secondary answers, so that the restart has its mirror
 * (Ganeti fails the disks' assembly on a secondary that is not offline, unless --ignore-secondaries).
 */
async function requireSecondaryAnswers(ctx: OpContext, config: ConfigData, instance: InstanceRecord) {
  for (const uuid of instance.secondaryNodes) {
    const node = nodeOfUuid(config, uuid);
    if (node.offline) continue;
    try {
      await call(ctx, node, 'status', {}, ctx.timings.nodeCallTimeoutMs);
    } catch (error) {
      throw new CorralError(
        'conflict',
        `the secondary ${node.name} of ${instance.name} does not answer (${asCorralError(error).message}); add --ignore-secondaries to reboot it without its mirror`,
      );
    }
  }
}

/**
 * Ganeti assembles disks at the size the config records: a disk smaller than that (a grow-disk that failed
 * halfway) is refused, unless --ignore-size.
 */
async function requireRecordedSizes(ctx: OpContext, node: NodeRecord, instance: InstanceRecord) {
  if (instance.disks.length === 0) return;
  const { sizesMiB } = await call(ctx, node, 'disks', {
    action: 'sizes',
    instance: instanceRef(instance),
    template: instance.diskTemplate,
    disks: agentDisks(instance),
  });
  // A node that predates size reports cannot be asked: its disks are taken at their recorded size.
  instance.disks.forEach((disk, index) => {
    const size = sizesMiB?.[index];
    if (size !== null && size !== undefined && size < disk.sizeMiB)
      throw new CorralError(
        'conflict',
        `disk/${index} of ${instance.name} is ${size} MiB on ${node.name}, less than the ${disk.sizeMiB} MiB recorded: run cluster repair-disk-sizes, or add --ignore-size`,
      );
  });
}

function instanceSet(
  instance: InstanceRecord,
  changes: Extract<Mutation, { type: 'instance-set' }>['changes'],
): Mutation {
  return { type: 'instance-set', uuid: instance.uuid, changes };
}

function diskTotalMiB(disks: readonly { readonly sizeMiB: number }[]): number {
  return disks.reduce((sum, disk) => sum + disk.sizeMiB, 0);
}

function newDisks(ctx: OpContext, specs: NonNullable<CreateOp['disks']>): DiskRecord[] {
  return specs.map((spec) => ({
    uuid: ctx.newUuid(),
    sizeMiB: spec.size,
    mode: spec.mode ?? 'rw',
    format: spec.format ?? 'raw',
    ...(spec.name !== undefined && { name: spec.name }),
  }));
}

function newNics(ctx: OpContext, op: CreateOp): NicRecord[] {
  const config = ctx.config();
  const taken = new Set(sortedInstances(config).flatMap((i) => i.nics.map((nic) => nic.mac)));
  return (op.nics ?? [{}]).map((spec) => {
    let mac = spec.mac !== undefined && spec.mac !== 'generate' ? spec.mac.toLowerCase() : undefined;
    if (mac !== undefined && taken.has(mac))
      throw new CorralError('conflict', `MAC address ${mac} is already in use`);
    while (mac === undefined || taken.has(mac)) mac = generateMac(config.cluster.macPrefix, ctx.newUuid());
    taken.add(mac);
    return {
      uuid: ctx.newUuid(),
      mac,
      mode: spec.mode ?? config.cluster.nicParams.mode,
      link: spec.link ?? config.cluster.nicParams.link,
      ...(spec.ip !== undefined && { ip: spec.ip }),
      ...(spec.name !== undefined && { name: spec.name }),
    };
  });
}

/** The instance must not run anywhere: what rename, reinstall and offline need. */
async function requireStopped(ctx: OpContext, instance: InstanceRecord): Promise<void> {
  const node = primaryOf(ctx.config(), instance);
  if (!node.offline && (await runsOn(ctx, node, instance)))
    throw new CorralError('conflict', `${instance.name} is running on ${node.name}; shut it down first`);
}

/**
 * The instance's private OS parameters after `changes` (none given: no change), kept apart from its public
 * ones as Ganeti requires.
 */
function privateParams(
  publicParams: Readonly<Record<string, string>>,
  current: Readonly<Record<string, string>> | undefined,
  changes: Readonly<Record<string, string>> | undefined,
): { osParamsPrivate?: Record<string, string> } {
  if (changes === undefined) {
    requireApart(publicParams, current ?? {});
    return {};
  }
  const osParamsPrivate = mergeParams(current ?? {}, changes);
  requireApart(publicParams, osParamsPrivate);
  return { osParamsPrivate };
}

function mergeParams(
  current: Readonly<Record<string, string>>,
  changes: Readonly<Record<string, string>> | undefined,
): Record<string, string> {
  const merged: Record<string, string> = { ...current };
  // Ganeti's convention: the value `default` drops the instance's own setting.
  for (const [key, value] of Object.entries(changes ?? {}))
    if (value === 'default') delete merged[key];
    else merged[key] = value;
  return merged;
}

/**
 * Converts a stopped instance's disks between drbd and a template that keeps them on the primary alone
 * (Ganeti's plain to drbd and back): the primary's copy changes template in place, and a new secondary is
 * brought level by a full resync, or the old secondary's copy is dropped.
 */
async function convertTemplate(
  ctx: OpContext,
  instance: InstanceRecord,
  to: CorralDiskTemplate,
  op: Extract<Opcode, { OP_ID: 'OP_INSTANCE_SET_PARAMS' }>,
): Promise<OpOutcome> {
  const config = ctx.config();
  // --force and the hotplug flags qualify other changes; Ganeti's clients send them with a conversion too.
  const {
    disk_template: _template,
    remote_node: _node,
    iallocator: _allocator,
    instance_name: _name,
    OP_ID: _id,
    force: _force,
    hotplug: _hotplug,
    hotplug_if_possible: _ifPossible,
    ...others
  } = op;
  if (Object.keys(others).length > 0)
    throw new CorralError('bad_request', 'convert the disk template on its own, with no other change');
  const from = instance.diskTemplate;
  const toMirror = needsSecondary(to);
  if (!(toMirror ? disksOnOneNode(from) : needsSecondary(from) && disksOnOneNode(to)))
    throw new CorralError(
      'bad_request',
      `Corral converts between drbd and a template whose disks live on one node (file, plain), not ${from} to ${to}`,
    );
  if (!config.cluster.enabledDiskTemplates.includes(to))
    throw new CorralError('conflict', `disk template ${to} is not enabled in this cluster`);
  const secondaryGiven = [op.remote_node, op.iallocator].filter((given) => given !== undefined).length;
  if (toMirror ? secondaryGiven !== 1 : secondaryGiven > 0)
    throw new CorralError(
      'bad_request',
      toMirror
        ? 'a conversion to drbd needs its secondary node (-n NODE) or an allocator to choose it (-I), one of them'
        : 'a new secondary (-n, -I) is only for drbd',
    );
  await requireStopped(ctx, instance);
  const pnode = primaryOf(config, instance);
  const convert = async () => {
    const disks = agentDisks(instance);
    const { bytes } = await call(ctx, pnode, 'convertDisks', {
      instance: instanceRef(instance),
      from,
      to,
      disks,
    });
    ctx.log(`converted the disks of ${instance.name} on ${pnode.name} to ${to} (${bytes} bytes)`);
  };
  if (toMirror) {
    const snode =
      op.remote_node !== undefined
        ? requireNode(config, op.remote_node)
        : await chooseSecondary(ctx, config, instance, op.iallocator);
    if (snode.uuid === pnode.uuid)
      throw new CorralError(
        'bad_request',
        `${snode.name} is the primary; name another node as the secondary`,
      );
    requireFitNode(snode);
    await requireRoom(ctx, snode, {
      instance: instance.name,
      memoryMiB: 0,
      template: to,
      diskMiB: diskTotalMiB(instance.disks),
    });
    await convert();
    await ctx.commit({
      type: 'instance-set',
      uuid: instance.uuid,
      changes: {
        diskTemplate: to,
        secondaryNodes: [snode.uuid],
        mirror: { generation: 1, current: [pnode.uuid] },
        disksActive: false,
      },
    });
    const mirrored = requireInstance(ctx.config(), instance.name);
    await createDisksOn(ctx, snode, mirrored);
    await attachMirror(ctx, ctx.config(), mirrored, pnode);
    await waitForSync(ctx, mirrored);
    await detachMirror(ctx, mirrored, pnode);
    return { result: { instance: instance.name, template: to, secondary: snode.name } };
  }
  await detachMirror(ctx, instance, pnode);
  await convert();
  const [secondary] = instance.secondaryNodes;
  await ctx.commit({
    type: 'instance-set',
    uuid: instance.uuid,
    changes: { diskTemplate: to, secondaryNodes: [], disksActive: false },
  });
  if (secondary !== undefined) {
    const old = nodeOfUuid(ctx.config(), secondary);
    if (old.offline) ctx.log(`${old.name} is offline; its drbd copy of ${instance.name} stays there`);
    else await bestEffort(ctx, `remove the drbd copy on ${old.name}`, () => removeDisks(ctx, old, instance));
  }
  return { result: { instance: instance.name, template: to } };
}

/** The nodes an operator named for a new instance (`-n PRIMARY[:SECONDARY]`). */
function namedPlacement(
  config: Parameters<typeof requireNode>[0],
  pnode: string,
  snode: string | undefined,
): Placement {
  const primary = requireNode(config, pnode);
  if (snode === undefined) return { primary };
  const secondary = requireNode(config, snode);
  if (secondary.uuid === primary.uuid)
    throw new CorralError('bad_request', `${primary.name} cannot be both the primary and the secondary node`);
  return { primary, secondary };
}

export const instanceOpDefinitions: Pick<OpDefinitions, InstanceOpId> = {
  OP_INSTANCE_CREATE: {
    // A create cut short by a master change may have left disks: the record stays for instance remove.
    onTakeover: 'fail',
    locks: (op, config) =>
      instanceLocks(
        config,
        undefined,
        op.instance_name,
        'exclusive',
        // An import without a source node looks for the export on every node.
        op.pnode !== undefined && (op.mode !== 'import' || op.src_node !== undefined)
          ? [
              op.pnode,
              ...(op.snode !== undefined ? [op.snode] : []),
              ...(op.src_node !== undefined ? [op.src_node] : []),
            ]
          : 'all',
      ),
    async run(given, ctx) {
      const config = ctx.config();
      const { cluster } = config;
      if (findInstance(config, given.instance_name))
        throw new CorralError('conflict', `instance ${given.instance_name} already exists`);
      const imported =
        given.mode === 'import'
          ? await importSource(ctx, given.src_node, given.src_path ?? given.instance_name)
          : undefined;
      if (imported !== undefined)
        ctx.log(
          `importing ${imported.info.name} from ${imported.node.name} (exported from ${imported.info.source})`,
        );
      const macsInUse = new Set(sortedInstances(config).flatMap((i) => i.nics.map((nic) => nic.mac)));
      const filled = imported === undefined ? given : importDefaults(given, imported.info, macsInUse);
      const hypervisor = filled.hypervisor ?? (cluster.enabledHypervisors[0] as InstanceRecord['hypervisor']);
      const op = filled.identify_defaults ? withoutClusterDefaults(filled, cluster, hypervisor) : filled;
      if (op.compress !== undefined && op.compress !== 'none')
        ctx.log(`the dumps are read uncompressed: Corral's copy over libp2p has no ${op.compress} stage`);
      if (!cluster.enabledHypervisors.includes(hypervisor))
        throw new CorralError(
          'conflict',
          `hypervisor ${hypervisor} is not enabled in this cluster (enabled: ${cluster.enabledHypervisors.join(', ')})`,
        );
      if (!cluster.enabledDiskTemplates.includes(op.disk_template))
        throw new CorralError(
          'conflict',
          `disk template ${op.disk_template} is not enabled in this cluster (enabled: ${cluster.enabledDiskTemplates.join(', ')})`,
        );
      const mirrored = needsSecondary(op.disk_template);
      if (op.snode !== undefined && !mirrored)
        throw new CorralError('bad_request', 'a secondary node is only for the mirrored template (drbd)');
      if (mirrored && op.pnode !== undefined && op.snode === undefined)
        throw new CorralError(
          'bad_request',
          'a drbd instance needs a secondary node: give -n PRIMARY:SECONDARY, or let an allocator (-I) choose both',
        );
      if (mirrored && op.disks.some((disk) => (disk.format ?? 'raw') !== 'raw'))
        throw new CorralError(
          'bad_request',
          'drbd disks are raw: the mirror copies their bytes, not an image format',
        );
      if (!takesDisks(op.disk_template) && op.disks.length > 0)
        throw new CorralError('bad_request', `a ${op.disk_template} instance takes no disks`);
      if (takesDisks(op.disk_template) && op.disks.length === 0)
        throw new CorralError('bad_request', 'give at least one disk (-s SIZE or --disk 0:size=SIZE)');
      if (!op.no_install && op.os_type === undefined)
        throw new CorralError('bad_request', 'say which OS to install (-o OS), or add --no-install');
      const beParams = beParamsFromInput(op.beparams ?? {});
      const be = { ...cluster.beParams, ...beParams };
      if (be.minmemMiB > be.maxmemMiB)
        throw new CorralError(
          'bad_request',
          `minmem ${be.minmemMiB} MiB is above maxmem ${be.maxmemMiB} MiB`,
        );
      const start = op.start ?? !op.no_install;
      const disks = newDisks(ctx, op.disks);
      if (imported !== undefined)
        requireRoomForExport(
          imported.info,
          op.instance_name,
          disks.map((disk) => disk.sizeMiB),
        );
      const need = {
        instance: op.instance_name,
        memoryMiB: start ? be.maxmemMiB : 0,
        template: op.disk_template,
        diskMiB: takesDisks(op.disk_template) ? diskTotalMiB(disks) : 0,
      };
      if (op.pnode !== undefined && op.iallocator !== undefined)
        throw new CorralError('bad_request', 'give a node (-n) or an allocator (-I), not both');
      let placement: Placement;
      if (op.pnode !== undefined) {
        placement = namedPlacement(config, op.pnode, op.snode);
        requireFitNode(placement.primary);
        await requireRoom(ctx, placement.primary, need);
        if (placement.secondary !== undefined) {
          requireFitNode(placement.secondary);
          await requireRoom(ctx, placement.secondary, { ...need, memoryMiB: 0 });
        }
      } else {
        placement = await placeInstance(
          ctx,
          config,
          {
            name: op.instance_name,
            template: op.disk_template,
            disksMiB: disks.map((disk) => disk.sizeMiB),
            memoryMiB: be.maxmemMiB,
            vcpus: be.vcpus,
            spindleUse: be.spindleUse,
            tags: op.tags ?? [],
            nicCount: (op.nics ?? [{}]).length,
            ...(op.group_name !== undefined && { group: op.group_name }),
          },
          op.iallocator,
        );
      }
      const { primary: pnode, secondary: snode } = placement;
      for (const node of [pnode, ...(snode !== undefined ? [snode] : [])])
        await call(ctx, node, 'checkParams', { hypervisor, hvParams: op.hvparams ?? {} });
      if (!op.no_install && op.os_type !== undefined)
        await requireOs(ctx, pnode, op.os_type, 'install', op.force_variant === true);

      const uuid = ctx.newUuid();
      await ctx.commit({
        type: 'instance-add',
        uuid,
        name: op.instance_name,
        primaryNode: pnode.uuid,
        secondaryNodes: snode !== undefined ? [snode.uuid] : [],
        // New copies are alike (zeros on both nodes) until something writes the primary's.
        ...(snode !== undefined && { mirror: { generation: 1, current: [pnode.uuid, snode.uuid] } }),
        os: op.os_type ?? '',
        hypervisor,
        hvParams: op.hvparams ?? {},
        beParams,
        osParams: op.osparams ?? {},
        ...privateParams(op.osparams ?? {}, {}, op.osparams_private),
        diskTemplate: op.disk_template,
        disks,
        nics: newNics(ctx, op),
        adminState: 'down',
        adminStateSource: 'admin',
        disksActive: false,
        tags: op.tags ?? [],
      });
      let instance = requireInstance(ctx.config(), op.instance_name);
      try {
        await createDisks(ctx, pnode, instance);
        const writesDisks = imported !== undefined || !op.no_install;
        // The OS scripts write the primary's copy alone: the secondary catches up by a resync.
        if (mirrored && writesDisks) instance = await primaryCopyOnly(ctx, instance);
        if (imported !== undefined) await importDisks(ctx, pnode, instance, imported.node, imported.info);
        else if (!op.no_install) await runOsScript(ctx, ctx.config(), pnode, instance, 'create');
        if (start) await startOn(ctx, ctx.config(), pnode, instance);
        if (mirrored && writesDisks && (op.wait_for_sync ?? true)) {
          if (!start) await attachMirror(ctx, ctx.config(), instance, pnode);
          await waitForSync(ctx, instance);
          if (!start) await detachMirror(ctx, instance, pnode);
        }
      } catch (error) {
        // Ganeti removes what a failed create made: disks first, then the record.
        ctx.log(`creating ${instance.name} failed; removing what was made`);
        const made = instance;
        await bestEffort(ctx, `stop ${made.name}`, () => stopOn(ctx, pnode, made, 10));
        for (const node of diskNodes(ctx.config(), made))
          await bestEffort(ctx, `remove the disks of ${made.name} on ${node.name}`, () =>
            removeDisks(ctx, node, made),
          );
        await bestEffort(ctx, `remove the record of ${instance.name}`, () =>
          ctx.commit({ type: 'instance-remove', uuid: instance.uuid }),
        );
        throw error;
      }
      return {
        mutation: instanceSet(instance, { disksActive: true, adminState: start ? 'up' : 'down' }),
        result: {
          instance: instance.name,
          pnode: pnode.name,
          ...(snode !== undefined && { snode: snode.name }),
        },
      };
    },
    hooks: (op, config) => {
      const pnode = op.pnode !== undefined ? requireNode(config, op.pnode) : undefined;
      const nodes = [...new Set([...(config.master ? [config.master] : []), ...(pnode ? [pnode.id] : [])])];
      return {
        hpath: 'instance-add',
        objectType: 'INSTANCE',
        target: op.instance_name,
        env: {
          ADD_MODE: op.mode ?? 'create',
          SRC_NODE: op.src_node ?? '',
          SRC_PATH: op.mode === 'import' ? (op.src_path ?? op.instance_name) : '',
          SRC_IMAGES: '',
          INSTANCE_NAME: op.instance_name,
          INSTANCE_PRIMARY: op.pnode ?? '',
          INSTANCE_SECONDARIES: '',
          INSTANCE_OS_TYPE: op.os_type ?? '',
          INSTANCE_STATUS: 'down',
          INSTANCE_HYPERVISOR: op.hypervisor ?? config.cluster.enabledHypervisors[0] ?? '',
          INSTANCE_DISK_TEMPLATE: op.disk_template,
          INSTANCE_DISK_COUNT: String(op.disks.length),
          INSTANCE_NIC_COUNT: String((op.nics ?? [{}]).length),
          INSTANCE_TAGS: (op.tags ?? []).join(' '),
        },
        preNodes: nodes,
        postNodes: nodes,
      };
    },
  },

  OP_INSTANCE_REMOVE: {
    onTakeover: 'resume',
    locks: lockInstance('exclusive'),
    hooks: (op, config) =>
      instanceHooks('instance-remove', config, requireInstance(config, op.instance_name), {
        SHUTDOWN_TIMEOUT: String(op.shutdown_timeout ?? DEFAULT_SHUTDOWN_TIMEOUT_S),
      }),
    run: (op, ctx) =>
      removeInstance(ctx, requireInstance(ctx.config(), op.instance_name), {
        ignoreFailures: op.ignore_failures ?? false,
        shutdownTimeoutS: op.shutdown_timeout ?? DEFAULT_SHUTDOWN_TIMEOUT_S,
      }),
  },

  OP_INSTANCE_STARTUP: {
    onTakeover: 'resume',
    locks: lockInstance('shared'),
    hooks: (op, config) =>
      instanceHooks('instance-start', config, requireInstance(config, op.instance_name), {
        FORCE: op.force ? 'True' : 'False',
      }),
    async run(op, ctx) {
      const config = ctx.config();
      const instance = requireInstance(config, op.instance_name);
      if (instance.adminState === 'offline')
        throw new CorralError(
          'conflict',
          `${instance.name} is marked offline; bring it back first (instance modify --online)`,
        );
      const pnode = primaryOf(config, instance);
      if (pnode.offline) requireIgnoreOffline(op, pnode, instance, 'up');
      if (pnode.offline) ctx.log(`${pnode.name} is offline; marked ${instance.name} as started`);
      else if (await runsOn(ctx, pnode, instance))
        ctx.log(`${instance.name} is already running on ${pnode.name}`);
      else {
        await requireRoom(ctx, pnode, {
          instance: instance.name,
          memoryMiB: filledBeParams(config.cluster, instance).maxmemMiB,
          template: instance.diskTemplate,
          diskMiB: 0,
        });
        await checkDisks(ctx, pnode, instance);
        await startOn(ctx, config, pnode, instance, op.paused ?? false);
      }
      return {
        ...(!op.no_remember && {
          mutation: instanceSet(instance, { adminState: 'up', adminStateSource: 'admin', disksActive: true }),
        }),
        result: { instance: instance.name, node: pnode.name },
      };
    },
  },

  OP_INSTANCE_SHUTDOWN: {
    onTakeover: 'resume',
    locks: lockInstance('shared'),
    hooks: (op, config) =>
      instanceHooks('instance-stop', config, requireInstance(config, op.instance_name), {
        TIMEOUT: String(op.timeout ?? DEFAULT_SHUTDOWN_TIMEOUT_S),
      }),
    async run(op, ctx) {
      const config = ctx.config();
      const instance = requireInstance(config, op.instance_name);
      const pnode = primaryOf(config, instance);
      if (pnode.offline) requireIgnoreOffline(op, pnode, instance, 'down');
      if (pnode.offline) ctx.log(`${pnode.name} is offline; marked ${instance.name} as stopped`);
      else await stopOn(ctx, pnode, instance, op.timeout ?? DEFAULT_SHUTDOWN_TIMEOUT_S);
      const source = op.admin_state_source ?? 'admin';
      return {
        ...(!op.no_remember &&
          instance.adminState !== 'offline' && {
            mutation: instanceSet(instance, { adminState: 'down', adminStateSource: source }),
          }),
        result: { instance: instance.name },
      };
    },
  },

  OP_INSTANCE_REBOOT: {
    onTakeover: 'resume',
    locks: lockInstance('shared'),
    hooks: (op, config) =>
      instanceHooks('instance-reboot', config, requireInstance(config, op.instance_name), {
        IGNORE_SECONDARIES: op.ignore_secondaries ? 'True' : 'False',
        REBOOT_TYPE: op.reboot_type ?? 'hard',
        SHUTDOWN_TIMEOUT: String(op.shutdown_timeout ?? DEFAULT_SHUTDOWN_TIMEOUT_S),
      }),
    async run(op, ctx) {
      const config = ctx.config();
      const instance = requireInstance(config, op.instance_name);
      const pnode = primaryOf(config, instance);
      if (pnode.offline || !(await runsOn(ctx, pnode, instance)))
        throw new CorralError(
          'conflict',
          `${instance.name} is not running; start it instead (instance startup)`,
        );
      const kind = op.reboot_type ?? 'hard';
      if (kind === 'full') {
        if (needsSecondary(instance.diskTemplate) && !op.ignore_secondaries)
          await requireSecondaryAnswers(ctx, config, instance);
        await stopOn(ctx, pnode, instance, op.shutdown_timeout ?? DEFAULT_SHUTDOWN_TIMEOUT_S);
        await startOn(ctx, config, pnode, instance);
      } else {
        await call(ctx, pnode, 'reboot', { name: instance.name, hypervisor: instance.hypervisor, kind });
        ctx.log(`${instance.name} rebooted (${kind}) on ${pnode.name}`);
      }
      return { result: { instance: instance.name, type: kind } };
    },
  },

  OP_INSTANCE_SET_PARAMS: {
    // Added disks are new each run: a rerun would make them twice.
    onTakeover: 'fail',
    // A new primary or a new drbd secondary is locked with the instance's own nodes.
    // An allocator may choose any node as the new secondary.
    locks: lockInstance('exclusive', (op) =>
      op.iallocator !== undefined ? 'all' : [op.pnode, op.remote_node].filter((n) => n !== undefined),
    ),
    hooks: (op, config) =>
      instanceHooks('instance-modify', config, requireInstance(config, op.instance_name), {
        NEW_DISK_TEMPLATE: '',
        RUNTIME_MEMORY: op.runtime_mem === undefined ? '' : String(op.runtime_mem),
      }),
    async run(op, ctx) {
      const config = ctx.config();
      const instance = requireInstance(config, op.instance_name);
      const pnode = primaryOf(config, instance);
      if (op.disk_template !== undefined && op.disk_template !== instance.diskTemplate)
        return convertTemplate(ctx, instance, op.disk_template, op);
      if (op.remote_node !== undefined || op.iallocator !== undefined)
        throw new CorralError(
          'bad_request',
          'a new secondary (-n, -I) goes with a conversion to drbd (-t drbd)',
        );
      const changes: Extract<Mutation, { type: 'instance-set' }>['changes'] = {};
      if (op.beparams !== undefined) {
        const beParams = { ...instance.beParams, ...beParamsFromInput(op.beparams) };
        const be = { ...config.cluster.beParams, ...beParams };
        if (be.minmemMiB > be.maxmemMiB)
          throw new CorralError(
            'bad_request',
            `minmem ${be.minmemMiB} MiB is above maxmem ${be.maxmemMiB} MiB`,
          );
        changes.beParams = beParams;
      }
      if (op.hvparams !== undefined) {
        const hvParams = mergeParams(instance.hvParams, op.hvparams);
        await call(ctx, pnode, 'checkParams', { hypervisor: instance.hypervisor, hvParams });
        changes.hvParams = hvParams;
      }
      if (op.osparams !== undefined) changes.osParams = mergeParams(instance.osParams, op.osparams);
      Object.assign(
        changes,
        privateParams(changes.osParams ?? instance.osParams, instance.osParamsPrivate, op.osparams_private),
      );
      if (op.os_name !== undefined) {
        await requireOs(ctx, pnode, op.os_name, 'install', op.force_variant === true);
        changes.os = op.os_name;
      }
      if (op.offline === true) {
        if (instance.adminState === 'up')
          throw new CorralError(
            'conflict',
            `${instance.name} is marked up; shut it down before marking it offline`,
          );
        await requireStopped(ctx, instance);
        changes.adminState = 'offline';
      }
      if (op.offline === false) {
        if (instance.adminState !== 'offline')
          throw new CorralError('conflict', `${instance.name} is not offline`);
        changes.adminState = 'down';
      }
      // Only what depends on it asks the primary whether the guest runs.
      const asksRunning =
        (op.nics ?? []).length > 0 ||
        diskModsOf(op).length > 0 ||
        op.runtime_mem !== undefined ||
        op.hotplug === true ||
        op.hotplug_if_possible === true;
      const running = asksRunning && (await instanceRuns(ctx, instance));
      const hotplug = await hotplugTarget(ctx, op, instance, running);
      const nics = nicChanges(ctx, op, instance, hotplug);
      Object.assign(changes, nics.changes);
      const disks = diskChanges(ctx, op, instance, running, hotplug);
      Object.assign(changes, disks.changes);
      const balloon = runtimeMemory(ctx, op, instance, changes.beParams, running);
      Object.assign(changes, await primaryChange(ctx, op, instance));
      const ballooned = op.runtime_mem !== undefined;
      if (Object.keys(changes).length === 0 && !ballooned)
        throw new CorralError('bad_request', 'no change was asked for');
      // Every check is done: now the nodes change.
      const after: InstanceRecord = {
        ...instance,
        nics: changes.nics ?? instance.nics,
        disks: changes.disks ?? instance.disks,
      };
      await disks.apply(after);
      await nics.plug(after);
      await balloon();
      const configChanged = Object.keys(changes).filter((key) => key !== 'primaryNode');
      const pending = configChanged.filter(
        (key) => hotplug === undefined || !['nics', 'disks'].includes(key),
      );
      if (instance.adminState === 'up' && pending.length > 0)
        ctx.log('the changes take effect at the next start of the instance');
      return {
        ...(Object.keys(changes).length > 0 && { mutation: instanceSet(instance, changes) }),
        result: {
          instance: instance.name,
          changed: [...Object.keys(changes), ...(ballooned ? ['runtimeMemory'] : [])],
        },
      };
    },
  },

  OP_INSTANCE_GROW_DISK: {
    // A relative growth run twice would grow twice.
    onTakeover: 'fail',
    locks: lockInstance('exclusive'),
    hooks: (op, config) =>
      instanceHooks('disk-grow', config, requireInstance(config, op.instance_name), {
        DISK: String(op.disk),
        AMOUNT: String(op.amount),
      }),
    async run(op, ctx) {
      const config = ctx.config();
      const instance = requireInstance(config, op.instance_name);
      const disk = instance.disks[op.disk];
      if (disk === undefined)
        throw new CorralError(
          'not_found',
          `${instance.name} has no disk ${op.disk} (it has ${instance.disks.length})`,
        );
      if (needsSecondary(instance.diskTemplate)) {
        const served = await call(ctx, primaryOf(config, instance), 'mirror', {
          action: 'status',
          instance: instanceRef(instance),
        });
        if (served.disks.length > 0)
          throw new CorralError(
            'conflict',
            `the disks of ${instance.name} are attached to their mirror (it runs, or its disks are active); stop it and deactivate its disks to grow them`,
          );
      }
      const newSizeMiB = op.absolute ? op.amount : disk.sizeMiB + op.amount;
      if (newSizeMiB <= disk.sizeMiB)
        throw new CorralError(
          'bad_request',
          `disk ${op.disk} of ${instance.name} is ${disk.sizeMiB} MiB; disks only grow (asked for ${newSizeMiB} MiB)`,
        );
      for (const node of diskNodes(config, instance)) {
        await call(ctx, node, 'growDisk', {
          instance: instanceRef(instance),
          template: instance.diskTemplate,
          disk: {
            uuid: disk.uuid,
            index: op.disk,
            sizeMiB: disk.sizeMiB,
            mode: disk.mode,
            format: disk.format,
          },
          newSizeMiB,
        });
        ctx.log(`disk/${op.disk} of ${instance.name} on ${node.name} is now ${newSizeMiB} MiB`);
      }
      const disks = instance.disks.map((d, i) => (i === op.disk ? { ...d, sizeMiB: newSizeMiB } : d));
      return {
        mutation: instanceSet(instance, { disks }),
        result: { instance: instance.name, sizeMiB: newSizeMiB },
      };
    },
  },

  OP_INSTANCE_REINSTALL: {
    onTakeover: 'resume',
    locks: lockInstance('exclusive'),
    hooks: (op, config) =>
      instanceHooks('instance-reinstall', config, requireInstance(config, op.instance_name)),
    async run(op, ctx) {
      const config = ctx.config();
      const instance = requireInstance(config, op.instance_name);
      const os = op.os_type ?? instance.os;
      if (os === '')
        throw new CorralError('bad_request', `${instance.name} has no OS yet; give one with -o OS`);
      await requireStopped(ctx, instance);
      const pnode = primaryOf(config, instance);
      await requireOs(ctx, pnode, os, 'install', op.force_variant === true);
      const osParams = mergeParams(instance.osParams, op.osparams);
      const reinstalled = {
        ...instance,
        os,
        osParams,
        ...privateParams(osParams, instance.osParamsPrivate, op.osparams_private),
      };
      await runOsScript(ctx, config, pnode, reinstalled, 'create', { INSTANCE_REINSTALL: '1' });
      return {
        mutation: instanceSet(instance, {
          os,
          osParams: reinstalled.osParams,
          ...(reinstalled.osParamsPrivate !== undefined && { osParamsPrivate: reinstalled.osParamsPrivate }),
        }),
        result: { instance: instance.name, os },
      };
    },
  },

  OP_INSTANCE_RENAME: {
    // The OS rename script has run by then; a rerun would find the new name taken by this very instance.
    onTakeover: 'fail',
    locks: (op, config) => [
      ...lockInstance('shared')(op, config),
      { level: 'instance', names: [op.new_name], mode: 'exclusive' },
    ],
    hooks: (op, config) =>
      instanceHooks('instance-rename', config, requireInstance(config, op.instance_name), {
        INSTANCE_NEW_NAME: op.new_name,
      }),
    async run(op, ctx) {
      const config = ctx.config();
      const instance = requireInstance(config, op.instance_name);
      if (findInstance(config, op.new_name))
        throw new CorralError('conflict', `instance ${op.new_name} already exists`);
      await requireStopped(ctx, instance);
      const renamed = { ...instance, name: op.new_name };
      if (instance.os !== '')
        await runOsScript(ctx, config, primaryOf(config, instance), renamed, 'rename', {
          OLD_INSTANCE_NAME: instance.name,
        });
      return { mutation: instanceSet(instance, { name: op.new_name }), result: { instance: op.new_name } };
    },
  },

  OP_INSTANCE_ACTIVATE_DISKS: {
    onTakeover: 'resume',
    locks: lockInstance('shared'),
    async run(op, ctx) {
      const config = ctx.config();
      const instance = requireInstance(config, op.instance_name);
      const pnode = primaryOf(config, instance);
      const paths = await checkDisks(ctx, pnode, instance);
      if (!op.ignore_size) await requireRecordedSizes(ctx, pnode, instance);
      // A mirrored disk is served over NBD by its primary once attached (the watcher re-attaches a secondary
      // that restarted this way, as Ganeti's watcher reactivates DRBD after a reboot).
      if (needsSecondary(instance.diskTemplate)) {
        await attachMirror(ctx, config, instance, pnode);
        if (op.wait_for_sync) await waitForSync(ctx, instance);
      }
      // Ganeti's output: node:disk/N:path.
      const lines = paths.map((path, index) => `${pnode.name}:disk/${index}:${path}`);
      for (const line of lines) ctx.log(line);
      return { mutation: instanceSet(instance, { disksActive: true }), result: { disks: lines } };
    },
  },

  OP_INSTANCE_DEACTIVATE_DISKS: {
    onTakeover: 'resume',
    locks: lockInstance('shared'),
    async run(op, ctx) {
      const instance = requireInstance(ctx.config(), op.instance_name);
      if (!op.force) await requireStopped(ctx, instance);
      if (needsSecondary(instance.diskTemplate))
        await detachMirror(ctx, instance, primaryOf(ctx.config(), instance));
      return { mutation: instanceSet(instance, { disksActive: false }), result: { instance: instance.name } };
    },
  },
};
