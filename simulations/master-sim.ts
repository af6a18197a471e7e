import type { ClusterState } from '../src/cluster/cluster-state.js';
import { type ConfigData, sortedGroups, sortedNodes } from '../src/cluster/config.js';
import { isFinished, type JobRecord, type JobStatus } from '../src/cluster/jobs.js';
import { allocPolicies, type InstanceRecord, type JobId } from '../src/cluster/model.js';
import type { NdParamsInput } from '../src/cluster/ndparams.js';
import { oobCommands } from '../src/cluster/oob.js';
import type { Opcode, TagKind } from '../src/cluster/opcodes.js';
import { CorralError } from '../src/common/errors.js';
import type { NodeId } from '../src/common/ids.js';
import type { Rng } from '../src/common/random.js';
import type { ClusterService } from '../src/daemon/cluster-service.js';
import { memoryAddress } from '../src/peer/memory-transport.js';
import { healthyNetwork } from '../src/peer/sim-network.js';
import { hangUpCutLinks, MirrorWatch, runningTwice } from './master-checks.js';
import { MasterWorld, SIM_OOB_PROGRAM, SIM_RESTRICTED_COMMAND } from './master-world.js';
import { SIM_OS } from './sim-os.js';

export interface MasterSimOptions {
  readonly seed: number;
  readonly nodes?: number;
  /** Operations submitted, each followed by a fault with some chance. */
  readonly steps?: number;
}

export interface MasterSimResult {
  readonly seed: number;
  readonly violations: readonly string[];
  /** How the submitted jobs ended: success, error (a refusal or a failure), or unknown (lost in a fault). */
  readonly jobs: { readonly success: number; readonly error: number; readonly unknown: number };
  /** The opcodes submitted, and those that succeeded, by name: what the run really exercised. */
  readonly submitted: Readonly<Record<string, number>>;
  readonly succeeded: Readonly<Record<string, number>>;
  readonly faults: readonly string[];
  /** The instances at the end, and that a job submitted once everything healed succeeded. */
  readonly instances: number;
  readonly recovered: boolean;
}

const INSTANCES_MAX = 5;
const JOB_LIMIT_MS = 60_000;
/** Long enough for the watcher to restart what should run, and for a new master to settle in. */
const HEAL_MS = 20_000;
/**
 * How long the healed cluster has to add a node back and to end every job it accepted: longer than any one call
 * may wait (a stop waits 3 minutes), since a job can hold its locks that long and the others queue behind it.
 */
const QUIESCE_MS = 300_000;
/** The share of operations on the cluster, its groups and nodes, tags and the queue rather than on instances. */
const CLUSTER_OP_SHARE = 0.3;
/** Node removal stops here, so that a crash still leaves a majority. */
const MIN_MEMBERS = 3;
const SIM_TEMPLATES = ['diskless', 'file', 'sharedfile', 'drbd'] as const;
/**
 * One address: a node that held an address and was down while the cluster changed it keeps the old one (it
 * cleans up only the address configured now), as a real host would until an administrator removes it.
 */
const SIM_MASTER_IPS = ['192.0.2.10'] as const;
const TAGS = ['red', 'green', 'blue'] as const;

/**
 * Random operations (every opcode: instances, nodes, groups, the cluster, tags, exports and imports, the test
 * delay), submitted through random nodes, while nodes are cut off and crash and come back, and are removed and
 * added again; after every instant of simulated time, no instance may run on two nodes. Once everything heals,
 * the cluster must take a job again and every job it accepted must have ended, once, the same on every node.
 * One seed, one run: a violation replays exactly.
 */
export async function runMasterSimulation(options: MasterSimOptions): Promise<MasterSimResult> {
  const world = new MasterWorld({ seed: options.seed, nodes: options.nodes ?? 4, watcherIntervalMs: 2_000 });
  const violations: string[] = [];
  const faults: string[] = [];
  const jobs = { success: 0, error: 0, unknown: 0 };
  const submitted: Record<string, number> = {};
  const succeeded: Record<string, number> = {};
  const seen = new Set<string>();
  const ledger = new JobLedger(violations);
  const mirrors = new MirrorWatch(world, violations);
  world.afterInstant = () => {
    mirrors.observeStarts();
    const found = runningTwice(world);
    // Each double run once, when it began: it lasts until something stops one copy.
    if (found === undefined || seen.has(found)) return;
    seen.add(found);
    violations.push(`t=${(world.clock.monotonicMs() / 1000).toFixed(1)}s ${found}`);
  };
  await world.form();
  const fleet = new Fleet(world, ledger);
  for (const id of fleet.ids) await ledger.watch(id, world.machine(id).service);
  hangUpCutLinks(world, fleet.ids);
  const rng = world.rng.fork();
  let serial = 0;
  const exports: Made[] = [];
  const newName = (prefix: string) => `${prefix}${++serial}`;
  /** Submits a job through a node and follows it from there; undefined when a fault lost it. */
  const run = (via: NodeId, ops: readonly Opcode[], limitMs = JOB_LIMIT_MS): Promise<JobRecord | undefined> =>
    world
      .submit(via, ops)
      .then((job) => {
        ledger.accepted.add(job);
        return world.waitJob(via, job, limitMs);
      })
      .catch((error: unknown) => {
        if (error instanceof CorralError) return undefined;
        throw error;
      });
  const count = (ops: readonly Opcode[], outcome: JobStatus | 'unknown') => {
    for (const op of ops) {
      submitted[op.OP_ID] = (submitted[op.OP_ID] ?? 0) + 1;
      if (outcome === 'success') succeeded[op.OP_ID] = (succeeded[op.OP_ID] ?? 0) + 1;
    }
    if (outcome === 'success') jobs.success++;
    else if (outcome === 'unknown') jobs.unknown++;
    else jobs.error++;
  };

  for (let step = 0; step < (options.steps ?? 12); step++) {
    const via = rng.pick(fleet.ids.filter((id) => fleet.config(id) !== undefined));
    const config = fleet.config(via);
    if (config !== undefined) {
      const ops = [
        rng.chance(CLUSTER_OP_SHARE)
          ? clusterOp(rng, config, fleet, newName)
          : instanceOp(rng, config, fleet.ids, exports, () => newName('inst')),
      ].flat();
      // A node added back runs its daemon first, unjoined, as an administrator would start it.
      for (const op of ops) if (op.OP_ID === 'OP_NODE_ADD') await fleet.start(op.node_name as NodeId);
      mirrors.forcing(config, ops);
      const outcome = (await run(via, ops))?.status ?? 'unknown';
      mirrors.forced(config, ops, outcome);
      // An offline mark that may still land must not find the node running guests again (issue 21's hazard).
      for (const op of ops)
        if (op.OP_ID === 'OP_NODE_SET_PARAMS' && op.offline === true && outcome === 'unknown')
          fleet.heldDown.add(op.node_name as NodeId);
      count(ops, outcome);
      if (outcome === 'success') noteExports(exports, ops);
    }
    if (rng.chance(0.4)) faults.push(await injectFault(world, rng, fleet));
    if (rng.chance(0.6)) await mirrors.write(rng);
  }

  // Heal: every link open, every crashed node back; the watcher puts instances back where they should run.
  world.network.heal();
  world.setFaults(healthyNetwork);
  for (const id of [...fleet.crashed]) await fleet.start(id);
  await world.runFor(HEAL_MS);
  // A removed node can come back: every machine the cluster lost is added again.
  for (const id of fleet.ids) {
    const config = fleet.newest();
    if (config === undefined || memberOf(config, id)) continue;
    await fleet.start(id);
    const groups = sortedGroups(config);
    const add = [fleet.addOp(id, groups.length > 1 ? rng.pick(groups).name : undefined)];
    const added = await run(rng.pick(fleet.members()), add, QUIESCE_MS);
    count(add, added?.status ?? 'unknown');
    if (added?.status !== 'success')
      violations.push(`${id} could not be added back once healed: ${added?.log.at(-1)?.message ?? 'lost'}`);
  }
  const members = fleet.members();
  const via = rng.pick(members);
  const last = await run(via, [{ OP_ID: 'OP_TAGS_SET', kind: 'cluster', tags: [`healed${options.seed}`] }]);
  await world.until(() => ledger.quiet(members), QUIESCE_MS, 'every job to end').catch(() => undefined);
  ledger.check(members);
  await mirrors.checkResynced(members);
  checkMasterIp(world, fleet, violations);
  mirrors.checkCopies();
  return {
    seed: options.seed,
    violations,
    jobs,
    submitted,
    succeeded,
    faults,
    instances: fleet.config(via)?.instances.size ?? 0,
    recovered: last?.status === 'success',
  };
}

/**
 * Every accepted job ends exactly once: follows the job table of every replica (each daemon's life apart,
 * since a restarted node replays its log), and says when a job ends in two ways, on one node or on two, and,
 * once the healed cluster has quiesced, which accepted job some member lost or never ended.
 */
class JobLedger {
  readonly accepted = new Set<JobId>();
  /** The first final status any replica gave each job. */
  private readonly ended = new Map<JobId, JobStatus>();
  /** The job table of each node's current daemon. */
  private readonly replicas = new Map<NodeId, ClusterState>();

  constructor(private readonly violations: string[]) {}

  async watch(node: NodeId, service: ClusterService | undefined): Promise<void> {
    if (service === undefined) return;
    const { jobs: state } = await service.view(false);
    this.replicas.set(node, state);
    const last = new Map<JobId, JobStatus>();
    state.onChange((change) => {
      if (change.type !== 'job') return;
      const { id, status } = change.job;
      const before = last.get(id);
      last.set(id, status);
      if (before !== undefined && isFinished(before) && before !== status)
        this.violations.push(`job ${id} ended ${before} on ${node}, then became ${status}`);
      if (!isFinished(status)) return;
      const first = this.ended.get(id);
      if (first === undefined) this.ended.set(id, status);
      else if (first !== status)
        this.violations.push(`job ${id} ended ${first} on one node and ${status} on ${node}`);
    });
  }

  /** True once every member holds every accepted job, and no job unended. */
  quiet(members: readonly NodeId[]): boolean {
    return members.every((node) => this.unended(node).length === 0);
  }

  check(members: readonly NodeId[]): void {
    for (const node of members) {
      const state = this.replicas.get(node);
      for (const id of this.accepted)
        if (state?.job(id) === undefined)
          this.violations.push(`job ${id} was accepted, but ${node} has no record of it`);
      for (const job of state?.jobs() ?? [])
        if (!isFinished(job.status))
          this.violations.push(
            `job ${job.id} is still ${job.status} on ${node} after healing: ${job.log.at(-1)?.message ?? 'no log'}`,
          );
    }
  }

  private unended(node: NodeId): readonly JobId[] {
    const state = this.replicas.get(node);
    if (state === undefined) return [...this.accepted];
    return [
      ...[...this.accepted].filter((id) => state.job(id) === undefined),
      ...state
        .jobs()
        .filter((job) => !isFinished(job.status))
        .map((job) => job.id),
    ];
  }
}

/** The machines as the simulation drives them: which it crashed, which it keeps down, which belong to the cluster. */
class Fleet {
  readonly ids: readonly NodeId[];
  /** Crashed by a fault; back with a later fault or at the heal. */
  readonly crashed = new Set<NodeId>();
  /** Crashed nodes an offline mark may still reach: back only at the heal. */
  readonly heldDown = new Set<NodeId>();

  constructor(
    private readonly world: MasterWorld,
    private readonly ledger: JobLedger,
  ) {
    this.ids = world.machines.map((machine) => machine.id);
  }

  config(id: NodeId): ConfigData | undefined {
    return this.world.machine(id).service?.localConfig();
  }

  up(id: NodeId): boolean {
    return this.world.machine(id).up;
  }

  /** The newest configuration any running node holds. */
  newest(): ConfigData | undefined {
    let newest: ConfigData | undefined;
    for (const id of this.ids) {
      const config = this.config(id);
      if (config !== undefined && (newest === undefined || config.serial > newest.serial)) newest = config;
    }
    return newest;
  }

  /** The running nodes the newest configuration holds online: those that replicate its log. */
  members(): NodeId[] {
    const config = this.newest();
    if (config === undefined) return [];
    return sortedNodes(config)
      .filter((node) => !node.offline && this.up(node.id))
      .map((node) => node.id);
  }

  /** Starts a machine's daemon (again) if it is down, and follows its job table. */
  async start(id: NodeId): Promise<void> {
    this.crashed.delete(id);
    this.heldDown.delete(id);
    if (this.up(id)) return;
    await this.world.boot(id);
    await this.ledger.watch(id, this.world.machine(id).service);
  }

  /** Node add for a machine: its memory address, an IP of its own, its enrolment code now, and a group. */
  addOp(id: NodeId, group?: string): Opcode {
    return {
      OP_ID: 'OP_NODE_ADD',
      node_name: id,
      address: memoryAddress(id),
      primary_ip: `127.0.1.${this.ids.indexOf(id) + 1}`,
      enrol_code: this.world.machine(id).enrolment.code(),
      ...(group !== undefined && { group }),
    };
  }
}

function memberOf(config: ConfigData, id: NodeId): boolean {
  return [...config.nodes.values()].some((node) => node.id === id);
}

/** Keeps the list of the run's exports: what an export made, and what a removal took away. */
function noteExports(exports: Made[], ops: readonly Opcode[]): void {
  for (const op of ops) {
    if (op.OP_ID === 'OP_BACKUP_EXPORT')
      exports.push({ name: op.instance_name, node: op.target_node as NodeId });
    if (op.OP_ID !== 'OP_BACKUP_REMOVE') continue;
    const left = exports.filter(({ name }) => name !== op.instance_name);
    exports.splice(0, exports.length, ...left);
  }
}

/** An export the run made: the instance's name, and the node that holds it. */
interface Made {
  readonly name: string;
  readonly node: NodeId;
}

/**
 * An operation on an instance, or an instance created (from scratch or from an export). Imports and export
 * removals mostly name an export the run made, so that they do not all fail.
 */
function instanceOp(
  rng: Rng,
  config: ConfigData,
  nodes: readonly NodeId[],
  exports: readonly Made[],
  newName: () => string,
): Opcode | Opcode[] {
  const instances = [...config.instances.values()];
  if (instances.length === 0 || (instances.length < INSTANCES_MAX && rng.chance(0.3))) {
    // File twice: only its instances move (the others migrate or fail over), and drbd took a share.
    const template = rng.pick([...SIM_TEMPLATES, 'file'] as const);
    const pnode = rng.pick(nodes);
    // A mirrored instance names both its nodes, or lets the allocator place them.
    const placed =
      template === 'drbd'
        ? rng.chance(0.6) && { pnode, snode: rng.pick(nodes.filter((node) => node !== pnode)) }
        : rng.chance(0.5) && { pnode };
    const create = {
      OP_ID: 'OP_INSTANCE_CREATE',
      instance_name: newName(),
      disk_template: template,
      disks: template === 'diskless' ? [] : [{ size: 1 }],
      os_type: SIM_OS,
      beparams: { memory: 128 },
      ...placed,
    } as const;
    // Now and then two at once, through a multi-allocation job that submits a create job for each.
    if (!rng.chance(0.15)) return create;
    const { OP_ID: _create, ...first } = create;
    return {
      OP_ID: 'OP_INSTANCE_MULTI_ALLOC',
      instances: [first, { ...first, instance_name: newName() }],
    };
  }
  const instance: InstanceRecord = rng.pick(instances);
  const instance_name = instance.name;
  const shared = instance.diskTemplate !== 'file';
  const mirrored = instance.diskTemplate === 'drbd';
  const other = () => rng.pick(nodes);
  const made = (): Made =>
    exports.length > 0 && rng.chance(0.8) ? rng.pick(exports) : { name: instance_name, node: other() };
  const choices: (() => Opcode | Opcode[])[] = [
    () => ({ OP_ID: 'OP_INSTANCE_STARTUP', instance_name }),
    () => ({ OP_ID: 'OP_INSTANCE_SHUTDOWN', instance_name, timeout: 0 }),
    () => ({ OP_ID: 'OP_INSTANCE_REBOOT', instance_name, reboot_type: 'hard' }),
    () => ({ OP_ID: 'OP_INSTANCE_REMOVE', instance_name }),
    () =>
      shared
        ? { OP_ID: 'OP_INSTANCE_MIGRATE', instance_name, ...(rng.chance(0.5) && { target_node: other() }) }
        : { OP_ID: 'OP_INSTANCE_MOVE', instance_name, target_node: other() },
    () =>
      shared
        ? {
            OP_ID: 'OP_INSTANCE_FAILOVER',
            instance_name,
            ...(rng.chance(0.5) && { target_node: other() }),
            ...(mirrored && rng.chance(0.15) && { ignore_consistency: true }),
          }
        : { OP_ID: 'OP_INSTANCE_MOVE', instance_name, target_node: other() },
    () => ({ OP_ID: 'OP_NODE_MIGRATE', node_name: other() }),
    () => ({ OP_ID: 'OP_NODE_EVACUATE', node_name: other(), mode: 'all' }),
    // Into another node group (the allocator plans it); with none holding a node, one made of nodes the
    // instance does not use, in the same job.
    () => {
      const used = new Set<string>([instance.primaryNode, ...instance.secondaryNodes]);
      const all = [...config.nodes.values()];
      const usedGroups = new Set(all.filter((node) => used.has(node.uuid)).map((node) => node.group));
      const free = all.filter((node) => !used.has(node.uuid));
      const change = { OP_ID: 'OP_INSTANCE_CHANGE_GROUP', instance_name } as const;
      if (all.some((node) => !usedGroups.has(node.group)) || free.length === 0 || rng.chance(0.2))
        return change;
      const group_name = newName();
      return [
        { OP_ID: 'OP_GROUP_ADD', group_name },
        // Two nodes when there are: the allocator keeps N+1 room, which one node alone never has.
        {
          OP_ID: 'OP_GROUP_ASSIGN_NODES',
          group_name,
          nodes: free.slice(0, 2).map((n) => n.name),
          force: true,
        },
        change,
      ];
    },
    // Twice: modify has many forms.
    () => setParams(rng, instance, nodes),
    () => setParams(rng, instance, nodes),
    () =>
      instance.diskTemplate === 'diskless'
        ? // Reinstall wants the instance stopped: one job does both, as an operator's script would.
          [
            { OP_ID: 'OP_INSTANCE_SHUTDOWN', instance_name, timeout: 0 },
            { OP_ID: 'OP_INSTANCE_REINSTALL', instance_name },
          ]
        : { OP_ID: 'OP_INSTANCE_GROW_DISK', instance_name, disk: 0, amount: 1 },
    () => ({ OP_ID: 'OP_INSTANCE_RENAME', instance_name, new_name: newName() }),
    () => ({ OP_ID: 'OP_INSTANCE_QUERY_DATA', instances: [instance_name], static: rng.chance(0.5) }),
    () => ({ OP_ID: 'OP_INSTANCE_DEACTIVATE_DISKS', instance_name }),
    // What wants the instance stopped, on one that is: most of the instances run.
    () => {
      const stopped = instances.filter(({ adminState }) => adminState === 'down');
      // None stopped: stop one, and half the time reinstall it in the same job (as RAPI's reinstall does).
      if (stopped.length === 0)
        return [
          { OP_ID: 'OP_INSTANCE_SHUTDOWN', instance_name, timeout: 0 },
          ...(rng.chance(0.5) ? [{ OP_ID: 'OP_INSTANCE_REINSTALL', instance_name } as const] : []),
        ];
      const { name } = rng.pick(stopped);
      const opcodes: Opcode[] = [
        { OP_ID: 'OP_INSTANCE_REINSTALL', instance_name: name },
        { OP_ID: 'OP_INSTANCE_RENAME', instance_name: name, new_name: newName() },
        { OP_ID: 'OP_INSTANCE_DEACTIVATE_DISKS', instance_name: name },
      ];
      return rng.pick(opcodes);
    },
    () => ({ OP_ID: 'OP_INSTANCE_ACTIVATE_DISKS', instance_name }),
    () => replaceDisks(rng, config, instance, nodes),
    () => replaceDisks(rng, config, instance, nodes),
    () => recreateDisks(rng, instance, nodes),
    () => ({ OP_ID: 'OP_BACKUP_EXPORT', instance_name, target_node: other(), shutdown: true }),
    () => {
      const { name, node } = made();
      return {
        OP_ID: 'OP_INSTANCE_CREATE',
        instance_name: newName(),
        disk_template: instance.diskTemplate === 'diskless' ? 'file' : instance.diskTemplate,
        disks: [{ size: 1 }],
        os_type: SIM_OS,
        beparams: { memory: 128 },
        mode: 'import',
        src_node: node,
        src_path: name,
      };
    },
    () => ({ OP_ID: 'OP_BACKUP_REMOVE', instance_name: made().name }),
    // Exports are few (an export needs disks, and the instance stopped): once there is one, use it more.
    () =>
      exports.length > 0
        ? { OP_ID: 'OP_BACKUP_REMOVE', instance_name: made().name }
        : { OP_ID: 'OP_BACKUP_EXPORT', instance_name, target_node: other(), shutdown: true },
  ];
  return rng.pick(choices)();
}

/**
 * Recreate-disks, which wants the instance stopped: a running one is shut down first in the same job. Every
 * disk, the first one grown by a MiB, every disk on other nodes (as many as the instance has), or where the
 * allocator says.
 */
function recreateDisks(rng: Rng, instance: InstanceRecord, nodes: readonly NodeId[]): Opcode[] {
  const instance_name = instance.name;
  const primary = rng.pick(nodes);
  const others =
    instance.secondaryNodes.length > 0 ? [rng.pick(nodes.filter((node) => node !== primary))] : [];
  const how = rng.pick([
    {},
    { disks: [[0, { size: (instance.disks[0]?.sizeMiB ?? 1) + 1 }]] as [number, { size: number }][] },
    { nodes: [primary, ...others] },
    { iallocator: '.' },
  ]);
  return [
    ...(instance.adminState === 'up'
      ? [{ OP_ID: 'OP_INSTANCE_SHUTDOWN', instance_name, timeout: 0 } as const]
      : []),
    { OP_ID: 'OP_INSTANCE_RECREATE_DISKS', instance_name, ...how },
  ];
}

/**
 * Instance modify's forms (issue 22): memory, NICs added (at the end or first, hot-plugged if possible),
 * changed and removed, a disk's mode changed, a disk added, a disk removed (stopped first), runtime
 * memory (forced below minmem now and then) and a new primary for a stopped sharedfile or diskless instance.
 */
function setParams(rng: Rng, instance: InstanceRecord, nodes: readonly NodeId[]): Opcode | Opcode[] {
  const instance_name = instance.name;
  type SetParams = Omit<Extract<Opcode, { OP_ID: 'OP_INSTANCE_SET_PARAMS' }>, 'OP_ID' | 'instance_name'>;
  const op = (fields: SetParams): Opcode => ({ OP_ID: 'OP_INSTANCE_SET_PARAMS', instance_name, ...fields });
  const stoppedFirst = (...then: Opcode[]): Opcode[] => [
    { OP_ID: 'OP_INSTANCE_SHUTDOWN', instance_name, timeout: 0 },
    ...then,
  ];
  const addNic = () =>
    op({
      nics: [['add', rng.pick([-1, 0]), rng.chance(0.5) ? { mode: 'routed', link: 'rt0' } : {}]],
      ...(rng.chance(0.5) && { hotplug_if_possible: true }),
    });
  const withDisks = instance.diskTemplate !== 'diskless';
  const sharedDisks = instance.diskTemplate === 'sharedfile' || instance.diskTemplate === 'diskless';
  return rng.pick([
    () => op({ beparams: { memory: rng.pick([64, 128, 256]) } }),
    addNic,
    () => op({ nics: [['modify', -1, { link: rng.pick(['br0', 'br1']), mac: 'generate' }]] }),
    () => (instance.nics.length > 1 ? op({ nics: [['remove', rng.pick([-1, 0]), {}]] }) : addNic()),
    () => (withDisks ? op({ disks: [['modify', 0, { mode: rng.pick(['ro', 'rw'] as const) }]] }) : addNic()),
    () => (withDisks ? op({ disks: [['add', -1, { size: 1 }]] }) : addNic()),
    // Never disk 0, which the checks follow the guest's acknowledged writes on: a lone disk gets a second
    // one first, in the same job.
    () =>
      withDisks
        ? stoppedFirst(
            ...(instance.disks.length > 1 ? [] : [op({ disks: [['add', -1, { size: 1 }]] })]),
            op({ disks: [['remove', -1, {}]] }),
          )
        : addNic(),
    () => op(rng.chance(0.7) ? { runtime_mem: 128 } : { runtime_mem: 96, force: true }),
    () => (sharedDisks ? stoppedFirst(op({ pnode: rng.pick(nodes) })) : addNic()),
  ])();
}

/**
 * Replace-disks: on a mirrored instance mostly, a new secondary (mostly a node that holds no copy), the
 * secondary's copy made again, whichever copy is stale, or the primary's (which wants the instance stopped);
 * on another instance it is refused, as only mirrored disks are replaced.
 */
function replaceDisks(
  rng: Rng,
  config: ConfigData,
  instance: InstanceRecord,
  nodes: readonly NodeId[],
): Opcode {
  const instance_name = instance.name;
  const holding = [instance.primaryNode, ...instance.secondaryNodes].map(
    (uuid) => config.nodes.get(uuid)?.id,
  );
  const free = nodes.filter((node) => !holding.includes(node));
  const early = rng.chance(0.3) && { early_release: true as const };
  switch (rng.pick(['new', 'new', 'secondary', 'auto', 'primary'] as const)) {
    case 'new':
      return {
        OP_ID: 'OP_INSTANCE_REPLACE_DISKS',
        instance_name,
        mode: 'replace_new_secondary',
        remote_node: rng.pick(free.length > 0 && rng.chance(0.9) ? free : nodes),
        ...early,
      };
    case 'secondary':
      return { OP_ID: 'OP_INSTANCE_REPLACE_DISKS', instance_name, mode: 'replace_on_secondary', ...early };
    case 'auto':
      return { OP_ID: 'OP_INSTANCE_REPLACE_DISKS', instance_name, mode: 'replace_auto' };
    case 'primary':
      return { OP_ID: 'OP_INSTANCE_REPLACE_DISKS', instance_name, mode: 'replace_on_primary' };
  }
}

/**
 * An operation on the cluster rather than an instance: its parameters and verify, node groups, node flags,
 * removal and addition, tags, the export list and the test delay. Declared offline are only nodes the
 * simulation crashed: marking a live node offline is the hazard issue 21 removes, not something to find again.
 */
function clusterOp(
  rng: Rng,
  config: ConfigData,
  fleet: Fleet,
  newName: (prefix: string) => string,
): Opcode | Opcode[] {
  const nodes = sortedNodes(config);
  const node = () => rng.pick(nodes);
  const group = () => rng.pick(sortedGroups(config)).name;
  const instances = [...config.instances.values()];
  /** Everything that takes tags, with the tags it has. */
  const taggable: { target: { kind: TagKind; name?: string }; tags: readonly string[] }[] = [
    { target: { kind: 'cluster' }, tags: config.cluster.tags },
    ...nodes.map(({ name, tags }) => ({ target: { kind: 'node' as const, name }, tags })),
    ...sortedGroups(config).map(({ name, tags }) => ({ target: { kind: 'nodegroup' as const, name }, tags })),
    ...instances.map(({ name, tags }) => ({ target: { kind: 'instance' as const, name }, tags })),
  ];
  /** Deletes a tag an object has, or one it does not; with nothing tagged, sets one first in the same job. */
  const untag = (): Opcode[] => {
    const tagged = taggable.filter(({ tags }) => tags.length > 0);
    if (tagged.length === 0) {
      const { target } = rng.pick(taggable);
      const tags = [rng.pick(TAGS)];
      return [
        { OP_ID: 'OP_TAGS_SET', ...target, tags },
        { OP_ID: 'OP_TAGS_DEL', ...target, tags },
      ];
    }
    const { target, tags } = rng.chance(0.8) ? rng.pick(tagged) : { ...rng.pick(taggable), tags: TAGS };
    return [{ OP_ID: 'OP_TAGS_DEL', ...target, tags: [rng.pick(tags)] }];
  };
  /**
   * Ganeti's out-of-band commands on nodes with the simulated hosts' OOB program: the power changes mostly
   * on nodes that are not the master (off on offline ones), power-on mostly on nodes recorded unpowered.
   */
  const oob = (): Opcode | Opcode[] => {
    const command = rng.pick(oobCommands);
    const others = nodes.filter((n) => n.id !== config.master);
    const pool =
      command === 'power-off'
        ? others.filter((n) => n.offline)
        : command === 'power-on'
          ? nodes.filter((n) => n.powered === false)
          : command === 'power-cycle'
            ? others
            : nodes;
    const named =
      pool.length > 0 && rng.chance(0.9) ? [rng.pick(pool).name] : rng.chance(0.5) ? [] : [node().name];
    const commandOp: Opcode = {
      OP_ID: 'OP_OOB_COMMAND',
      node_names: named,
      command,
      ...(rng.chance(0.2) && { ignore_status: true }),
      ...(rng.chance(0.5) && { power_delay: rng.pick([0, 0.5]) }),
    };
    // With no program on the cluster, it is set in the same job first, so that the programs do run.
    return config.cluster.ndParams?.oob_program
      ? commandOp
      : [{ OP_ID: 'OP_CLUSTER_SET_PARAMS', ndparams: { oob_program: SIM_OOB_PROGRAM } }, commandOp];
  };
  /** Node parameters at the three levels; the cluster's oob_program is what the OOB commands run. */
  const ndParams = (): Opcode =>
    rng.pick<() => Opcode>([
      () => ({
        OP_ID: 'OP_CLUSTER_SET_PARAMS',
        ndparams: rng.chance(0.8)
          ? { oob_program: SIM_OOB_PROGRAM }
          : ({ oob_program: '', spindle_count: 2 } as NdParamsInput),
      }),
      () => ({
        OP_ID: 'OP_GROUP_SET_PARAMS',
        group_name: group(),
        ndparams: rng.pick<NdParamsInput>([
          { oob_program: 'default' },
          { oob_program: '' },
          { cpu_speed: '1.5' },
        ]),
      }),
      () =>
        rng.chance(0.7)
          ? {
              OP_ID: 'OP_NODE_SET_PARAMS',
              node_name: node().name,
              ndparams: rng.pick<NdParamsInput>([
                { oob_program: 'default' },
                { spindle_count: 4 },
                { ssh_port: '2222' },
              ]),
            }
          : { OP_ID: 'OP_NODE_SET_PARAMS', node_name: node().name, powered: rng.chance(0.5) },
    ])();
  const choices: (() => Opcode | Opcode[])[] = [
    oob,
    ndParams,
    () => ({ OP_ID: 'OP_CLUSTER_VERIFY' }),
    () => ({ OP_ID: 'OP_CLUSTER_VERIFY_DISKS' }),
    () => ({
      OP_ID: 'OP_NODE_QUERY_STORAGE',
      nodes: rng.chance(0.5) ? [] : [rng.pick([...config.nodes.values()]).name],
      storage_type: rng.pick(['file', 'sharedfile'] as const),
      output_fields: ['node', 'name', 'size', 'free'],
    }),
    () => ({
      OP_ID: 'OP_NODE_QUERYVOLS',
      nodes: rng.chance(0.5) ? [] : [rng.pick([...config.nodes.values()]).name],
      output_fields: ['node', 'phys', 'vg', 'name', 'size', 'instance'],
    }),
    () => ({
      OP_ID: 'OP_REPAIR_NODE_STORAGE',
      node_name: rng.pick([...config.nodes.values()]).name,
      storage_type: 'lvm-vg',
      name: 'xenvg',
    }),
    () => ({ OP_ID: 'OP_CLUSTER_SET_PARAMS', ...clusterParams(rng) }),
    () => ({ OP_ID: 'OP_CLUSTER_RENEW_CRYPTO', new_rapi_certificate: rng.chance(0.5) }),
    () => ({ OP_ID: 'OP_CLUSTER_RENAME', name: newName('cluster') }),
    // The floating master IP: set (in the same job when the cluster has none), activated or deactivated.
    () => {
      const toggle: Opcode = {
        OP_ID: rng.chance(0.6) ? 'OP_CLUSTER_ACTIVATE_MASTER_IP' : 'OP_CLUSTER_DEACTIVATE_MASTER_IP',
      };
      if (config.cluster.masterIp !== undefined && rng.chance(0.8)) return toggle;
      return [
        { OP_ID: 'OP_CLUSTER_SET_PARAMS', master_ip: rng.pick(SIM_MASTER_IPS), master_netdev: 'eth0' },
        toggle,
      ];
    },
    () => ({ OP_ID: 'OP_CLUSTER_REDIST_CONF' }),
    // Recorded by the simulated host, not done: its crash faults stand for the reboot.
    () => ({
      OP_ID: 'OP_NODE_POWERCYCLE',
      node_name: rng.pick([...config.nodes.values()]).name,
      ...(rng.chance(0.5) && { force: true }),
    }),
    () => ({
      OP_ID: 'OP_RESTRICTED_COMMAND',
      command: SIM_RESTRICTED_COMMAND,
      nodes: [rng.pick([...config.nodes.values()]).name],
      ...(rng.chance(0.5) && { use_locking: true }),
    }),
    () => ({
      OP_ID: 'OP_CLUSTER_REPAIR_DISK_SIZES',
      ...(instances.length > 0 && rng.chance(0.5) && { instances: [rng.pick(instances).name] }),
    }),
    () => ({
      OP_ID: 'OP_GROUP_ADD',
      group_name: newName('group'),
      alloc_policy: rng.pick(allocPolicies),
      ...(rng.chance(0.3) && { ipolicy_disk_templates: [rng.pick(SIM_TEMPLATES)] }),
    }),
    () => ({ OP_ID: 'OP_GROUP_RENAME', group_name: group(), new_name: newName('group') }),
    // Every instance of the group into the others: one job each, or none when the group holds none (often
    // refused when the others have no room). With a single group there is nowhere to go (Ganeti refuses), so
    // another is made in the same job and evacuated: an empty group evacuates with no job.
    (): Opcode | Opcode[] => {
      const groups = sortedGroups(config);
      if (groups.length === 1) {
        const group_name = newName('group');
        return [
          { OP_ID: 'OP_GROUP_ADD', group_name },
          { OP_ID: 'OP_GROUP_EVACUATE', group_name },
        ];
      }
      const used = new Set(
        [...config.instances.values()].flatMap((instance) =>
          [instance.primaryNode, ...instance.secondaryNodes].map((uuid) => config.nodes.get(uuid)?.group),
        ),
      );
      const idle = groups.filter((group) => !used.has(group.uuid));
      const group_name = idle.length > 0 && rng.chance(0.5) ? rng.pick(idle).name : group();
      return { OP_ID: 'OP_GROUP_EVACUATE', group_name };
    },
    () =>
      rng.chance(0.7)
        ? { OP_ID: 'OP_GROUP_SET_PARAMS', group_name: group(), alloc_policy: rng.pick(allocPolicies) }
        : { OP_ID: 'OP_GROUP_SET_PARAMS', group_name: group(), ipolicy_disk_templates: [...SIM_TEMPLATES] },
    () => ({
      OP_ID: 'OP_GROUP_ASSIGN_NODES',
      group_name: group(),
      nodes: [node().name],
      ...(rng.chance(0.5) && { force: true }),
    }),
    // Mostly a group that holds no node, which is what may be removed; with none, one made in the same job.
    () => {
      const empty = sortedGroups(config).filter(({ uuid }) => !nodes.some((node) => node.group === uuid));
      if (empty.length === 0) {
        const group_name = newName('group');
        return [
          { OP_ID: 'OP_GROUP_ADD', group_name },
          { OP_ID: 'OP_GROUP_REMOVE', group_name },
        ];
      }
      return { OP_ID: 'OP_GROUP_REMOVE', group_name: rng.chance(0.8) ? rng.pick(empty).name : group() };
    },
    () => nodeFlags(rng, config, fleet),
    () => nodeFlags(rng, config, fleet),
    () => nodeMembership(rng, config, fleet),
    () => nodeMembership(rng, config, fleet),
    () => ({ OP_ID: 'OP_TAGS_SET', ...rng.pick(taggable).target, tags: [rng.pick(TAGS)] }),
    untag,
    () => ({
      OP_ID: 'OP_BACKUP_QUERY',
      ...(rng.chance(0.5) && { nodes: [node().name] }),
      ...(instances.length > 0 && rng.chance(0.5) && { instance_name: rng.pick(instances).name }),
    }),
    () => ({
      OP_ID: 'OP_TEST_DELAY',
      duration: rng.pick([0, 0.5, 2]),
      ...(rng.chance(0.5) && { on_nodes: [node().name] }),
      ...(rng.chance(0.3) && { on_master: rng.chance(0.7) }),
      ...(rng.chance(0.3) && { repeat: 2 }),
      ...(rng.chance(0.2) && { interruptible: true }),
      ...(rng.chance(0.2) && { no_locks: true }),
    }),
    () => testAllocator(rng, config, newName),
    () => ({
      OP_ID: 'OP_TEST_JQUEUE',
      notify_exec: true,
      log_messages: ['Hello World', '', 'Foo|bar|baz'],
      ...(rng.chance(0.2) && { fail: true }),
    }),
  ];
  return rng.pick(choices)();
}

/** gnt-debug iallocator: a request about a new instance, or about moving existing ones; either direction. */
function testAllocator(rng: Rng, config: ConfigData, newName: (prefix: string) => string): Opcode {
  const instances = [...config.instances.values()].map(({ name }) => name);
  const moving = instances.length > 0 && rng.chance(0.4);
  const mode = moving
    ? rng.pick(['node-evacuate', 'change-group'] as const)
    : rng.pick(['allocate', 'multi-allocate'] as const);
  return {
    OP_ID: 'OP_TEST_ALLOCATOR',
    direction: rng.pick(['in', 'out'] as const),
    iallocator: '.',
    mode,
    name: moving ? rng.pick(instances) : newName('alloc'),
    ...(moving && { instances: [rng.pick(instances)] }),
    ...(mode === 'change-group' && { target_groups: [rng.pick(sortedGroups(config)).name] }),
    disk_template: rng.pick(SIM_TEMPLATES),
    disks: [{ size: 64 }],
    memory: 128,
    count: 2,
  };
}

/** Once healed, only the master holds an address, and only the cluster's master IP. */
function checkMasterIp(world: MasterWorld, fleet: Fleet, violations: string[]): void {
  const config = fleet.newest();
  for (const id of fleet.ids)
    for (const address of world.machine(id).addresses)
      if (id !== config?.master || address !== config.cluster.masterIp?.address)
        violations.push(
          `${id} holds ${address} once healed, while ${config?.master ?? 'no node'} is master with ${config?.cluster.masterIp?.address ?? 'no master IP'}`,
        );
}

function clusterParams(rng: Rng): Omit<Extract<Opcode, { OP_ID: 'OP_CLUSTER_SET_PARAMS' }>, 'OP_ID'> {
  const dropped = rng.pick(SIM_TEMPLATES);
  return rng.pick([
    { candidate_pool_size: rng.pick([3, 10]) },
    { max_running_jobs: rng.pick([1, 4, 20]) },
    { candidate_dead_grace_s: rng.pick([30, 600]) },
    { auto_failover: rng.chance(0.5) },
    // A shorter lease than some node may hold: a master taking over must still wait out the longer one.
    { node_lease_s: rng.pick([4, 8, 12]) },
    { enabled_hypervisors: ['fake'] },
    { enabled_disk_templates: [...SIM_TEMPLATES] },
    { enabled_disk_templates: SIM_TEMPLATES.filter((template) => template !== dropped) },
    { beparams: { vcpus: rng.pick([1, 2]), memory: 128 } },
    { nicparams: { mode: 'none' as const, link: '' }, mac_prefix: rng.pick(['aa:00:00', 'aa:00:01']) },
    { default_iallocator: rng.pick(['', '.']) },
    // gnt-os modify: parameters the sim OS's instances inherit; another OS hidden and blacklisted.
    { osparams: { [SIM_OS]: { dhcp: rng.pick(['yes', 'default']) } } },
    { os_hvp: { [SIM_OS]: { fake: { kernel_path: rng.pick(['/boot/k', 'default']) } } } },
    { hidden_os: [['add', 'retired'] as const], blacklisted_os: [['add', 'retired'] as const] },
  ]);
}

/** Offline for a crashed node or back online, drained or not, a master candidate or not. */
function nodeFlags(rng: Rng, config: ConfigData, fleet: Fleet): Opcode | Opcode[] {
  const nodes = sortedNodes(config);
  const down = nodes.filter((node) => fleet.crashed.has(node.id) && !node.offline);
  const offline = nodes.filter((node) => node.offline);
  if (down.length > 0 && rng.chance(0.5)) {
    const node = rng.pick(down);
    const offline: Opcode = { OP_ID: 'OP_NODE_SET_PARAMS', node_name: node.name, offline: true };
    // What an operator does next: fail the node's mirrored instances over to their secondaries, at times
    // accepting a stale copy.
    const served = [...config.instances.values()].filter(
      (instance) => instance.diskTemplate === 'drbd' && instance.primaryNode === node.uuid,
    );
    if (served.length === 0 || rng.chance(0.3)) return offline;
    return [
      offline,
      {
        OP_ID: 'OP_INSTANCE_FAILOVER',
        instance_name: rng.pick(served).name,
        ...(rng.chance(0.3) && { ignore_consistency: true }),
      },
    ];
  }
  if (offline.length > 0 && rng.chance(0.5))
    return { OP_ID: 'OP_NODE_SET_PARAMS', node_name: rng.pick(offline).name, offline: false };
  const node = rng.pick(nodes);
  return rng.chance(0.5)
    ? { OP_ID: 'OP_NODE_SET_PARAMS', node_name: node.name, drained: !node.drained }
    : {
        OP_ID: 'OP_NODE_SET_PARAMS',
        node_name: node.name,
        master_candidate: !node.masterCandidate,
        ...(rng.chance(0.5) && { auto_promote: true }),
      };
}

/** Adds back a machine the cluster does not hold, or removes a node (preferring one that hosts nothing). */
function nodeMembership(rng: Rng, config: ConfigData, fleet: Fleet): Opcode {
  const absent = fleet.ids.filter((id) => !memberOf(config, id));
  if (absent.length > 0 && (config.nodes.size <= MIN_MEMBERS || rng.chance(0.7))) {
    // Without a group while there are several, it is refused: that is exercised too.
    const groups = sortedGroups(config);
    return fleet.addOp(rng.pick(absent), rng.chance(0.7) ? rng.pick(groups).name : undefined);
  }
  if (config.nodes.size <= MIN_MEMBERS) return { OP_ID: 'OP_CLUSTER_VERIFY' };
  const hosting = new Set(
    [...config.instances.values()].flatMap((instance) => [instance.primaryNode, ...instance.secondaryNodes]),
  );
  const nodes = sortedNodes(config).filter((node) => node.id !== config.master);
  const idle = nodes.filter((node) => !hosting.has(node.uuid));
  return { OP_ID: 'OP_NODE_REMOVE', node_name: rng.pick(idle.length > 0 ? idle : nodes).name };
}

/**
 * Cuts a node off, crashes one, brings a crashed one back, or heals the network; says which. A crash leaves
 * a majority of the voters up, so that the cluster can make progress once the network heals.
 */
async function injectFault(world: MasterWorld, rng: Rng, fleet: Fleet): Promise<string> {
  const { ids, crashed } = fleet;
  const roll = rng.next();
  const restartable = [...crashed].filter((id) => !fleet.heldDown.has(id));
  if (roll < 0.3 && restartable.length > 0) {
    const back = rng.pick(restartable);
    await fleet.start(back);
    return `restart ${back}`;
  }
  const victims = crashable(fleet);
  if (roll < 0.6 && crashed.size + 1 < Math.ceil(ids.length / 2) && victims.length > 0) {
    const victim = rng.pick(victims);
    world.crash(victim);
    crashed.add(victim);
    return `crash ${victim}`;
  }
  if (roll < 0.85) {
    const cut = rng.pick(ids);
    world.network.partition(
      [cut],
      ids.filter((id) => id !== cut),
    );
    return `isolate ${cut}`;
  }
  world.network.heal();
  return 'heal';
}

/** The running nodes whose crash leaves a majority of the voters (online master candidates) up. */
function crashable(fleet: Fleet): NodeId[] {
  const config = fleet.newest();
  if (config === undefined) return [];
  const voters = sortedNodes(config)
    .filter((node) => node.masterCandidate && !node.offline)
    .map((node) => node.id);
  return fleet.ids.filter((victim) => {
    if (!fleet.up(victim)) return false;
    const left = voters.filter((id) => id !== victim && fleet.up(id)).length;
    return left * 2 > voters.length;
  });
}
