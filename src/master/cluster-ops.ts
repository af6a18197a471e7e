import {
  type ConfigData,
  nodeOfUuid,
  requireInstance,
  sortedInstances,
  sortedNodes,
} from '../cluster/config.js';
import type { ClusterParams, DiskRecord, InstanceRecord } from '../cluster/model.js';
import type { Mutation } from '../cluster/mutations.js';
import type { Opcode } from '../cluster/opcodes.js';
import { pause } from '../common/clock.js';
import { timeoutSignal } from '../common/deadline.js';
import { asCorralError, CorralError } from '../common/errors.js';
import { resolveAllocator } from './external-allocator.js';
import { agentDisks, beParamsFromInput } from './instance-runtime.js';
import type { LockRequest } from './locks.js';
import type { OpContext, OpDefinition } from './op-context.js';

/**
 * The cluster-wide opcodes of `gnt-cluster` beyond modify and verify: rename, redist-conf and
 * repair-disk-sizes, with the parameter defaults `cluster modify` (and `init`) set.
 */

type Op<K extends Opcode['OP_ID']> = Extract<Opcode, { OP_ID: K }>;
type ClusterSet = Extract<Mutation, { type: 'cluster-set' }>;

const bglShared: LockRequest = { level: 'cluster', names: ['BGL'], mode: 'shared' };
const bglExclusive: LockRequest = { level: 'cluster', names: ['BGL'], mode: 'exclusive' };

/** Ganeti's refusal of a job while the queue is drained, and what to do about it. */
export const QUEUE_DRAINED = "Queue drained: the master takes no new jobs until 'gnt-cluster queue undrain'";

/** How long redist-conf waits for lagging nodes to apply the serial before it names them. */
export const REDIST_CONF_WAIT_MS = 10_000;
const REDIST_CONF_POLL_MS = 250;

function masterOnly(config: ConfigData) {
  return config.master === undefined ? [] : [config.master];
}

/** The defaults instances inherit (-B, -N, --mac-prefix), merged over the cluster's current ones. */
export function clusterDefaults(
  op: Op<'OP_CLUSTER_SET_PARAMS'>,
  cluster: ClusterParams,
): Pick<ClusterSet, 'beParams' | 'nicParams' | 'macPrefix'> {
  return {
    ...(op.beparams !== undefined && {
      beParams: { ...cluster.beParams, ...beParamsFromInput(op.beparams) },
    }),
    ...(op.nicparams !== undefined && { nicParams: { ...cluster.nicParams, ...op.nicparams } }),
    ...(op.mac_prefix !== undefined && { macPrefix: op.mac_prefix.toLowerCase() }),
  };
}

/**
 * The default allocator as stored: '' (the built-in one) for '' or '.', else the name as given, once this
 * master finds the program (each master looks it up on its own disk when it places an instance).
 */
export async function defaultAllocator(name: string): Promise<string> {
  if (name === '' || name === '.') return '';
  await resolveAllocator(name);
  return name;
}

const rename: OpDefinition<Op<'OP_CLUSTER_RENAME'>> = {
  onTakeover: 'resume',
  locks: () => [bglExclusive],
  hooks: (op, config) => ({
    hpath: 'cluster-rename',
    objectType: 'CLUSTER',
    target: config.cluster.name,
    env: { NEW_NAME: op.name },
    preNodes: masterOnly(config),
    postNodes: masterOnly(config),
  }),
  async run(op, ctx) {
    const old = ctx.config().cluster.name;
    // A rerun after a master change finds the name taken already: the same outcome.
    if (op.name === old) return { result: op.name };
    ctx.log(`renaming the cluster from ${old} to ${op.name}`);
    const mutation: Mutation = { type: 'cluster-set', name: op.name };
    return { mutation, result: op.name };
  },
};

/** One online node's answer: the serial it has applied, or why it did not say. */
interface NodeSerial {
  readonly node: string;
  readonly serial?: number;
  readonly error?: string;
}

async function appliedSerials(ctx: OpContext, names: readonly string[]): Promise<NodeSerial[]> {
  const config = ctx.config();
  const nodes = sortedNodes(config).filter((node) => names.includes(node.name));
  const answers = await Promise.allSettled(
    nodes.map((node) =>
      ctx.agent.info(node.id, timeoutSignal(ctx.clock, ctx.timings.nodeCallTimeoutMs, ctx.signal)),
    ),
  );
  return nodes.map((node, i) => {
    const answer = answers[i]!;
    if (answer.status === 'rejected') return { node: node.name, error: asCorralError(answer.reason).message };
    return answer.value.configSerial === undefined
      ? { node: node.name, error: 'its daemon does not report the serial it applied (upgrade it)' }
      : { node: node.name, serial: answer.value.configSerial };
  });
}

const redistConf: OpDefinition<Op<'OP_CLUSTER_REDIST_CONF'>> = {
  onTakeover: 'resume',
  locks: () => [bglShared],
  async run(_op, ctx) {
    const config = ctx.config();
    const serial = config.serial;
    const online = sortedNodes(config)
      .filter((node) => !node.offline)
      .map((node) => node.name);
    ctx.log(`confirming that the ${online.length} online nodes have applied configuration serial ${serial}`);
    // Raft has sent the configuration already: a node behind is catching up, or cannot be reached.
    const deadlineMs = ctx.clock.monotonicMs() + REDIST_CONF_WAIT_MS;
    let waiting = online;
    let last: NodeSerial[] = [];
    for (;;) {
      last = (await appliedSerials(ctx, waiting)).filter(
        (answer) => answer.serial === undefined || answer.serial < serial,
      );
      waiting = last.map((answer) => answer.node);
      if (waiting.length === 0 || ctx.clock.monotonicMs() >= deadlineMs) break;
      await pause(ctx.clock, REDIST_CONF_POLL_MS, ctx.signal);
    }
    for (const answer of last)
      ctx.log(
        answer.serial !== undefined
          ? `warning: ${answer.node} has applied configuration serial ${answer.serial}, not ${serial}`
          : `warning: could not ask ${answer.node} which configuration it has applied: ${answer.error}`,
      );
    if (last.length === 0) ctx.log(`every online node has applied configuration serial ${serial}`);
    const offline = config.nodes.size - online.length;
    if (offline > 0) ctx.log(`${offline} offline node(s) skipped; they catch up when set online`);
    return { result: { serial, nodes: online.length, behind: last } };
  },
};

/** Ganeti's repair-disk-sizes result: one [instance, disk index, "size", new size] per correction. */
type Correction = [string, number, 'size', number];

const repairDiskSizes: OpDefinition<Op<'OP_CLUSTER_REPAIR_DISK_SIZES'>> = {
  onTakeover: 'resume',
  locks: (op) => [
    bglShared,
    {
      level: 'instance',
      names: op.instances !== undefined && op.instances.length > 0 ? op.instances : 'all',
      mode: 'exclusive',
    },
  ],
  async run(op, ctx) {
    const config = ctx.config();
    const instances =
      op.instances !== undefined && op.instances.length > 0
        ? [...new Set(op.instances)].map((name) => requireInstance(config, name))
        : sortedInstances(config);
    const corrections: Correction[] = [];
    for (const instance of instances) {
      if (instance.disks.length === 0) continue;
      const sizes = await diskSizes(ctx, instance);
      if (sizes === undefined) continue;
      const disks: DiskRecord[] = instance.disks.map((disk, index) => {
        const actual = sizes[index];
        if (actual === undefined || actual === null) {
          ctx.log(`disk ${index} of instance ${instance.name} is missing on its primary node, ignoring`);
          return disk;
        }
        if (actual === disk.sizeMiB) return disk;
        if (actual === 0) {
          ctx.log(`disk ${index} of instance ${instance.name} holds less than 1 MiB, ignoring`);
          return disk;
        }
        ctx.log(
          `disk ${index} of instance ${instance.name} has mismatched size, correcting: recorded ${disk.sizeMiB}, actual ${actual}`,
        );
        corrections.push([instance.name, index, 'size', actual]);
        return { ...disk, sizeMiB: actual };
      });
      if (disks.every((disk, index) => disk === instance.disks[index])) continue;
      // Committed instance by instance: a rerun finds the ones done equal and corrects the rest.
      await ctx.commit({ type: 'instance-set', uuid: instance.uuid, changes: { disks } });
    }
    if (corrections.length === 0) ctx.log('every recorded disk size matches its node');
    return { result: corrections };
  },
};

/** What the instance's primary node says its disks measure; undefined (logged) when it cannot say. */
async function diskSizes(
  ctx: OpContext,
  instance: InstanceRecord,
): Promise<readonly (number | null)[] | undefined> {
  const primary = nodeOfUuid(ctx.config(), instance.primaryNode);
  if (primary.offline) {
    ctx.log(`skipping instance ${instance.name}: its primary node ${primary.name} is offline`);
    return undefined;
  }
  try {
    const answer = await ctx.agent.call(
      primary.id,
      'disks',
      {
        action: 'sizes',
        instance: { name: instance.name, uuid: instance.uuid },
        template: instance.diskTemplate,
        disks: agentDisks(instance),
      },
      { signal: timeoutSignal(ctx.clock, ctx.timings.nodeCallTimeoutMs, ctx.signal) },
    );
    if (answer.sizesMiB === undefined)
      throw new CorralError('unavailable', `${primary.name} does not report disk sizes (upgrade its daemon)`);
    return answer.sizesMiB;
  } catch (error) {
    if (ctx.signal.aborted) throw error;
    ctx.log(
      `could not read the disk sizes of ${instance.name} on ${primary.name}, ignoring: ${asCorralError(error).message}`,
    );
    return undefined;
  }
}

export const clusterOpDefinitions = {
  OP_CLUSTER_RENAME: rename,
  OP_CLUSTER_REDIST_CONF: redistConf,
  OP_CLUSTER_REPAIR_DISK_SIZES: repairDiskSizes,
};
