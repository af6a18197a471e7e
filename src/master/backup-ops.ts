import { type ConfigData, requireInstance, requireNode, sortedNodes } from '../cluster/config.js';
import { dumpFileName, type ExportInfo, formatExportInfo, parseExportInfo } from '../cluster/export-info.js';
import type { InstanceRecord, NodeRecord } from '../cluster/model.js';
import type { BeParamsInput, Opcode } from '../cluster/opcodes.js';
import { asCorralError, CorralError } from '../common/errors.js';
import { instanceHooks, primaryOf } from './instance-runtime.js';
import {
  bestEffort,
  call,
  checkScriptRun,
  DEFAULT_SHUTDOWN_TIMEOUT_S,
  instanceLocks,
  OS_SCRIPT_CALL_TIMEOUT_MS,
  osInstance,
  osRun,
  removeInstance,
  requireOs,
  runsOn,
  startOn,
  stopOn,
} from './instance-steps.js';
import type { LockRequest } from './locks.js';
import type { OpContext, OpDefinitions } from './op-context.js';

/**
 * Ganeti's gnt-backup: an export is an instance's description (config.ini) and one dump per disk, made by its
 * OS's export script on the primary node and kept in the export dir of a node the operator names; an import
 * (instance add in import mode) makes a new instance's disks and fills them with the OS's import script.
 */

type BackupOpId = 'OP_BACKUP_EXPORT' | 'OP_BACKUP_REMOVE' | 'OP_BACKUP_QUERY';

const bglShared: LockRequest = { level: 'cluster', names: ['BGL'], mode: 'shared' };

/** Python's str() of a parameter, as Ganeti writes it into an export. */
function pythonText(value: string | number | boolean): string {
  if (typeof value === 'boolean') return value ? 'True' : 'False';
  return String(value);
}

function exportInfo(config: ConfigData, instance: InstanceRecord, nowMs: number): ExportInfo {
  const be = osInstance(config, instance).beParams;
  return {
    name: instance.name,
    os: instance.os,
    timestampS: Math.floor(nowMs / 1000),
    source: primaryOf(config, instance).name,
    hypervisor: instance.hypervisor,
    diskTemplate: instance.diskTemplate,
    tags: instance.tags,
    disks: instance.disks.map((disk, index) => ({
      sizeMiB: disk.sizeMiB,
      dump: dumpFileName(index),
      ...(disk.name !== undefined && { name: disk.name }),
    })),
    nics: instance.nics.map((nic) => ({
      mac: nic.mac,
      mode: nic.mode,
      link: nic.link,
      ...(nic.ip !== undefined && { ip: nic.ip }),
      ...(nic.name !== undefined && { name: nic.name }),
    })),
    beParams: Object.fromEntries(Object.entries(be).map(([key, value]) => [key, pythonText(value)])),
    hvParams: { ...instance.hvParams },
    osParams: { ...instance.osParams },
  };
}

/** Every reachable online node's exports (of one instance, with their descriptions, when named). */
async function listExports(ctx: OpContext, nodes: readonly NodeRecord[], name?: string) {
  const answers = await Promise.allSettled(
    nodes.map((node) =>
      call(
        ctx,
        node,
        'exports',
        { action: 'list', ...(name !== undefined && { name }) },
        ctx.timings.nodeCallTimeoutMs,
      ),
    ),
  );
  const found: { node: NodeRecord; name: string; info?: string }[] = [];
  const unreachable: string[] = [];
  for (const [i, answer] of answers.entries()) {
    const node = nodes[i]!;
    if (answer.status === 'rejected') unreachable.push(node.name);
    else for (const entry of answer.value.exports) found.push({ node, ...entry });
  }
  return { found, unreachable };
}

const onlineNodes = (config: ConfigData) => sortedNodes(config).filter((node) => !node.offline);

/** The description of the export of `name` kept on `node`, read and checked. */
export async function readExportInfo(ctx: OpContext, node: NodeRecord, name: string): Promise<ExportInfo> {
  const { exports } = await call(
    ctx,
    node,
    'exports',
    { action: 'list', name },
    ctx.timings.nodeCallTimeoutMs,
  );
  const info = exports[0]?.info;
  if (info === undefined)
    throw new CorralError('not_found', `${node.name} has no export of ${name} (see backup list)`);
  return parseExportInfo(info, `the export of ${name} on ${node.name}`);
}

/** Refuses new disks that cannot take the export's dumps: fewer of them, or smaller ones. */
export function requireRoomForExport(
  info: ExportInfo,
  instanceName: string,
  sizesMiB: readonly number[],
): void {
  if (info.disks.length !== sizesMiB.length)
    throw new CorralError(
      'bad_request',
      `the export of ${info.name} has ${info.disks.length} disk(s); ${instanceName} is given ${sizesMiB.length}`,
    );
  for (const [index, disk] of info.disks.entries()) {
    const size = sizesMiB[index]!;
    if (size < disk.sizeMiB)
      throw new CorralError(
        'bad_request',
        `disk/${index} of ${instanceName} (${size} MiB) is smaller than the exported disk (${disk.sizeMiB} MiB)`,
      );
  }
}

/** Fills the new instance's disks on `node` from the export on `source`, one import script run per disk. */
export async function importDisks(
  ctx: OpContext,
  node: NodeRecord,
  instance: InstanceRecord,
  source: NodeRecord,
  info: ExportInfo,
): Promise<void> {
  const config = ctx.config();
  for (const [index, disk] of info.disks.entries()) {
    ctx.log(`importing disk/${index} of ${instance.name} from ${source.name} (${disk.dump})`);
    const { run, bytes } = await call(
      ctx,
      node,
      'importDisk',
      { ...osRun(config, instance), disk: index, from: source.id, name: info.name, file: disk.dump },
      OS_SCRIPT_CALL_TIMEOUT_MS,
    );
    checkScriptRun(ctx, run, `import (disk/${index})`, instance, node);
    ctx.log(`disk/${index}: ${bytes} bytes imported`);
  }
}

export const backupOpDefinitions: Pick<OpDefinitions, BackupOpId> = {
  OP_BACKUP_EXPORT: {
    // A half-made export sits apart (name~new) until it is complete: a new master fails the job, and the
    // next export of the instance replaces it.
    onTakeover: 'fail',
    locks: (op, config) =>
      instanceLocks(config, requireInstance(config, op.instance_name), op.instance_name, 'shared', [
        op.target_node,
      ]),
    hooks: (op, config) =>
      instanceHooks(
        'instance-export',
        config,
        requireInstance(config, op.instance_name),
        {
          EXPORT_MODE: 'local',
          EXPORT_NODE: op.target_node,
          EXPORT_DO_SHUTDOWN: op.shutdown === false ? 'False' : 'True',
          REMOVE_INSTANCE: op.remove_instance ? 'True' : 'False',
        },
        [requireNode(config, op.target_node)],
      ),
    async run(op, ctx) {
      const config = ctx.config();
      const instance = requireInstance(config, op.instance_name);
      const source = primaryOf(config, instance);
      const target = requireNode(config, op.target_node);
      const timeoutS = op.shutdown_timeout ?? DEFAULT_SHUTDOWN_TIMEOUT_S;
      if (target.offline)
        throw new CorralError('conflict', `${target.name} is offline; export to another node`);
      if (source.offline)
        throw new CorralError('conflict', `${source.name}, the primary node of ${instance.name}, is offline`);
      if (instance.disks.length === 0)
        throw new CorralError('conflict', `${instance.name} has no disks to export`);
      if (instance.os === '')
        throw new CorralError(
          'conflict',
          `${instance.name} has no OS, whose export script would make the dumps; set one (instance modify -o)`,
        );
      await requireOs(ctx, source, instance.os, 'export');
      const running = await runsOn(ctx, source, instance);
      if (running && op.shutdown === false)
        throw new CorralError(
          'conflict',
          `exporting ${instance.name} as it runs needs disk snapshots, which ${instance.diskTemplate} disks do not take here; export it shut down (without --noshutdown)`,
        );
      if (op.compress !== undefined && op.compress !== 'none')
        ctx.log(`the dumps are sent uncompressed: Corral's copy over libp2p has no ${op.compress} stage`);
      // Ganeti keeps a running instance down only for its snapshots, unless --long-sleep; Corral takes none.
      if (running && !op.long_sleep)
        ctx.log(
          `${instance.name} stays shut down for the whole export, as Ganeti's --long-sleep allows: Corral takes no disk snapshots`,
        );
      if (running) await stopOn(ctx, source, instance, timeoutS);
      try {
        for (const index of instance.disks.keys()) {
          ctx.log(`exporting disk/${index} of ${instance.name} to ${target.name}`);
          const { run, bytes } = await call(
            ctx,
            source,
            'exportDisk',
            {
              ...osRun(config, instance),
              disk: index,
              to: target.id,
              name: instance.name,
              file: dumpFileName(index),
            },
            OS_SCRIPT_CALL_TIMEOUT_MS,
          );
          checkScriptRun(ctx, run, `export (disk/${index})`, instance, source);
          ctx.log(`disk/${index}: ${bytes} bytes exported`);
        }
        const info = formatExportInfo(exportInfo(config, instance, ctx.clock.wallMs()));
        await call(ctx, target, 'exports', { action: 'finalize', name: instance.name, info });
      } catch (error) {
        await bestEffort(ctx, `drop the unfinished export on ${target.name}`, () =>
          call(ctx, target, 'exports', { action: 'abort', name: instance.name }),
        );
        if (running)
          await bestEffort(ctx, `restart ${instance.name}`, () => startOn(ctx, config, source, instance));
        throw error;
      }
      // As Ganeti does: one export per instance, the newest.
      const others = onlineNodes(config).filter((node) => node.uuid !== target.uuid);
      for (const { node } of (await listExports(ctx, others, instance.name)).found)
        await bestEffort(ctx, `remove the older export of ${instance.name} on ${node.name}`, async () => {
          await call(ctx, node, 'exports', { action: 'remove', name: instance.name });
          ctx.log(`removed the older export of ${instance.name} on ${node.name}`);
        });
      if (op.remove_instance)
        return removeInstance(ctx, instance, {
          ignoreFailures: op.ignore_remove_failures ?? false,
          shutdownTimeoutS: timeoutS,
        });
      if (running) await startOn(ctx, config, source, instance);
      return { result: { instance: instance.name, node: target.name, disks: instance.disks.length } };
    },
  },

  OP_BACKUP_REMOVE: {
    onTakeover: 'resume',
    locks: () => [bglShared, { level: 'node', names: 'all', mode: 'shared' }],
    async run(op, ctx) {
      const { found, unreachable } = await listExports(ctx, onlineNodes(ctx.config()), op.instance_name);
      if (found.length === 0)
        throw new CorralError(
          'not_found',
          `no export of ${op.instance_name} on any node that answered${unreachable.length > 0 ? ` (no answer from ${unreachable.join(', ')})` : ''}`,
        );
      for (const { node } of found) {
        await call(ctx, node, 'exports', { action: 'remove', name: op.instance_name });
        ctx.log(`removed the export of ${op.instance_name} on ${node.name}`);
      }
      return { result: { instance: op.instance_name, nodes: found.map((f) => f.node.name) } };
    },
  },

  OP_BACKUP_QUERY: {
    onTakeover: 'resume',
    locks: () => [bglShared],
    async run(op, ctx) {
      const config = ctx.config();
      const nodes =
        op.nodes === undefined
          ? onlineNodes(config)
          : op.nodes.map((name) => {
              const node = requireNode(config, name);
              if (node.offline) throw new CorralError('conflict', `${node.name} is offline`);
              return node;
            });
      const { found, unreachable } = await listExports(ctx, nodes, op.instance_name);
      return {
        result: {
          exports: found.map(({ node, name, info }) => ({
            node: node.name,
            export: name,
            ...(info !== undefined && { info }),
          })),
          unreachable,
        },
      };
    },
  },
};

/** Where an import reads from: the node named, or the one holding the newest export of that name. */
export async function importSource(
  ctx: OpContext,
  srcNode: string | undefined,
  name: string,
): Promise<{ node: NodeRecord; info: ExportInfo }> {
  const config = ctx.config();
  if (srcNode !== undefined) {
    const node = requireNode(config, srcNode);
    return { node, info: await readExportInfo(ctx, node, name) };
  }
  const { found } = await listExports(ctx, onlineNodes(config), name);
  let newest: { node: NodeRecord; info: ExportInfo } | undefined;
  for (const entry of found) {
    try {
      const info = parseExportInfo(entry.info ?? '', `the export of ${name} on ${entry.node.name}`);
      if (newest === undefined || info.timestampS > newest.info.timestampS)
        newest = { node: entry.node, info };
    } catch (error) {
      ctx.log(`skipping the export of ${name} on ${entry.node.name}: ${asCorralError(error).message}`);
    }
  }
  if (newest === undefined)
    throw new CorralError('not_found', `no node has an export of ${name} (see backup list)`);
  return newest;
}

type CreateOp = Extract<Opcode, { OP_ID: 'OP_INSTANCE_CREATE' }>;

/** An exported backend parameter as the opcode takes it; undefined when absent or not understood. */
function beValue(key: keyof BeParamsInput, text: string | undefined): number | boolean | undefined {
  if (text === undefined) return undefined;
  if (key === 'auto_balance' || key === 'always_failover')
    return text === 'True' ? true : text === 'False' ? false : undefined;
  const value = Number(text);
  return Number.isInteger(value) && value >= 0 ? value : undefined;
}

/**
 * An import's settings: what the operator gave, and for the rest what the export recorded (Ganeti's rule).
 * The exported MACs are kept, except where another instance uses one now: that NIC gets a new one.
 */
export function importDefaults(op: CreateOp, info: ExportInfo, macsInUse: ReadonlySet<string>): CreateOp {
  const given = op.beparams ?? {};
  const beparams: BeParamsInput = { ...given };
  const keys = ['vcpus', 'auto_balance', 'always_failover', 'spindle_use'] as const;
  for (const key of given.memory === undefined ? (['maxmem', 'minmem', ...keys] as const) : keys) {
    const value = beValue(key, info.beParams[key]);
    if (given[key] === undefined && value !== undefined) Object.assign(beparams, { [key]: value });
  }
  return {
    ...op,
    os_type: op.os_type ?? info.os,
    hypervisor: op.hypervisor ?? info.hypervisor,
    disks:
      op.disks.length > 0
        ? op.disks
        : info.disks.map((disk) => ({
            size: disk.sizeMiB,
            ...(disk.name !== undefined && { name: disk.name }),
          })),
    nics:
      op.nics ??
      info.nics.map((nic) => ({
        mac: macsInUse.has(nic.mac.toLowerCase()) ? 'generate' : nic.mac,
        mode: nic.mode,
        link: nic.link,
        ...(nic.ip !== undefined && { ip: nic.ip }),
        ...(nic.name !== undefined && { name: nic.name }),
      })),
    beparams,
    hvparams: { ...info.hvParams, ...op.hvparams },
    osparams: { ...info.osParams, ...op.osparams },
    tags: op.tags ?? [...info.tags],
  };
}
