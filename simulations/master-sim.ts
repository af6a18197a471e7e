import type { ConfigData } from '../src/cluster/config.js';
import type { InstanceRecord } from '../src/cluster/model.js';
import type { Opcode } from '../src/cluster/opcodes.js';
import { CorralError } from '../src/common/errors.js';
import type { NodeId } from '../src/common/ids.js';
import type { Rng } from '../src/common/random.js';
import { healthyNetwork } from '../src/peer/sim-network.js';
import { MasterWorld } from './master-world.js';
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
  /** The opcodes that succeeded, by name: what the run really exercised. */
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
 * Random instance operations (every instance opcode, node migrate and evacuate, export and import),
 * submitted through random nodes, while nodes are cut off and crash and come
 * back; after every instant of simulated time, no instance may run on two nodes. Once everything heals, the
 * cluster must take a job again. One seed, one run: a violation replays exactly.
 */
export async function runMasterSimulation(options: MasterSimOptions): Promise<MasterSimResult> {
  const world = new MasterWorld({ seed: options.seed, nodes: options.nodes ?? 4, watcherIntervalMs: 2_000 });
  const violations: string[] = [];
  const faults: string[] = [];
  const jobs = { success: 0, error: 0, unknown: 0 };
  const succeeded: Record<string, number> = {};
  const seen = new Set<string>();
  world.afterInstant = () => {
    const found = runningTwice(world);
    // Each double run once, when it began: it lasts until something stops one copy.
    if (found === undefined || seen.has(found)) return;
    seen.add(found);
    violations.push(`t=${(world.clock.monotonicMs() / 1000).toFixed(1)}s ${found}`);
  };
  await world.form();
  const rng = world.rng.fork();
  const ids = world.machines.map((machine) => machine.id);
  const crashed = new Set<NodeId>();
  let serial = 0;

  for (let step = 0; step < (options.steps ?? 12); step++) {
    const via = rng.pick(ids.filter((id) => !crashed.has(id)));
    const config = world.machine(via).service?.localConfig();
    if (config !== undefined) {
      const op = randomOp(rng, config, ids, () => `inst${++serial}`);
      const outcome = await world
        .submit(via, [op])
        .then((job) => world.waitJob(via, job, JOB_LIMIT_MS))
        .then(
          (job) => job.status,
          (error: unknown) => {
            if (error instanceof CorralError) return 'unknown' as const;
            throw error;
          },
        );
      if (outcome === 'success') succeeded[op.OP_ID] = (succeeded[op.OP_ID] ?? 0) + 1;
      if (outcome === 'success') jobs.success++;
      else if (outcome === 'unknown') jobs.unknown++;
      else jobs.error++;
    }
    if (rng.chance(0.4)) faults.push(await injectFault(world, rng, ids, crashed));
  }

  // Heal: every link open, every node back; the watcher puts instances back where they should run.
  world.network.heal();
  world.setFaults(healthyNetwork);
  for (const id of crashed) await world.boot(id);
  await world.runFor(HEAL_MS);
  const via = rng.pick(ids);
  const last = await world
    .submit(via, [{ OP_ID: 'OP_TAGS_SET', kind: 'cluster', tags: [`healed${options.seed}`] }])
    .then((job) => world.waitJob(via, job, JOB_LIMIT_MS))
    .catch(() => undefined);
  return {
    seed: options.seed,
    violations,
    jobs,
    succeeded,
    faults,
    instances: world.machine(via).service?.localConfig()?.instances.size ?? 0,
    recovered: last?.status === 'success',
  };
}

/** The first instance found running (or paused) on more than one node, described; undefined when none is. */
function runningTwice(world: MasterWorld): string | undefined {
  const where = new Map<string, NodeId[]>();
  for (const { node, guest } of world.guests()) {
    if (guest.state === 'incoming') continue;
    where.set(guest.name, [...(where.get(guest.name) ?? []), node]);
  }
  for (const [name, nodes] of where)
    if (nodes.length > 1) return `instance ${name} runs on ${nodes.join(' and ')}`;
  return undefined;
}

function randomOp(rng: Rng, config: ConfigData, nodes: readonly NodeId[], newName: () => string): Opcode {
  const instances = [...config.instances.values()];
  if (instances.length === 0 || (instances.length < INSTANCES_MAX && rng.chance(0.3))) {
    const template = rng.pick(['diskless', 'file', 'sharedfile'] as const);
    return {
      OP_ID: 'OP_INSTANCE_CREATE',
      instance_name: newName(),
      disk_template: template,
      disks: template === 'diskless' ? [] : [{ size: 1 }],
      os_type: SIM_OS,
      beparams: { memory: 128 },
      ...(rng.chance(0.5) && { pnode: rng.pick(nodes) }),
    };
  }
  const instance: InstanceRecord = rng.pick(instances);
  const instance_name = instance.name;
  const shared = instance.diskTemplate !== 'file';
  const other = () => rng.pick(nodes);
  const choices: (() => Opcode)[] = [
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
        ? { OP_ID: 'OP_INSTANCE_FAILOVER', instance_name, ...(rng.chance(0.5) && { target_node: other() }) }
        : { OP_ID: 'OP_INSTANCE_MOVE', instance_name, target_node: other() },
    () => ({ OP_ID: 'OP_NODE_MIGRATE', node_name: other() }),
    () => ({ OP_ID: 'OP_NODE_EVACUATE', node_name: other(), mode: 'all' }),
    () => ({
      OP_ID: 'OP_INSTANCE_SET_PARAMS',
      instance_name,
      beparams: { memory: rng.pick([64, 128, 256]) },
    }),
    () =>
      instance.diskTemplate === 'diskless'
        ? { OP_ID: 'OP_INSTANCE_REINSTALL', instance_name }
        : { OP_ID: 'OP_INSTANCE_GROW_DISK', instance_name, disk: 0, amount: 1 },
    () => ({ OP_ID: 'OP_INSTANCE_RENAME', instance_name, new_name: newName() }),
    () => ({ OP_ID: 'OP_INSTANCE_DEACTIVATE_DISKS', instance_name }),
    () => ({ OP_ID: 'OP_INSTANCE_ACTIVATE_DISKS', instance_name }),
    () => ({ OP_ID: 'OP_BACKUP_EXPORT', instance_name, target_node: other(), shutdown: true }),
    () => ({
      OP_ID: 'OP_INSTANCE_CREATE',
      instance_name: newName(),
      disk_template: instance.diskTemplate === 'diskless' ? 'file' : instance.diskTemplate,
      disks: [{ size: 1 }],
      os_type: SIM_OS,
      beparams: { memory: 128 },
      mode: 'import',
      src_node: other(),
      src_path: instance_name,
    }),
    () => ({ OP_ID: 'OP_BACKUP_REMOVE', instance_name }),
  ];
  return rng.pick(choices)();
}

/** Cuts a node off, crashes one, brings a crashed one back, or heals the network; says which. */
async function injectFault(
  world: MasterWorld,
  rng: Rng,
  ids: readonly NodeId[],
  crashed: Set<NodeId>,
): Promise<string> {
  const upNodes = ids.filter((id) => !crashed.has(id));
  const roll = rng.next();
  if (roll < 0.3 && crashed.size > 0) {
    const back = rng.pick([...crashed]);
    crashed.delete(back);
    await world.boot(back);
    return `restart ${back}`;
  }
  // A majority stays up, so that the cluster can make progress once the network heals.
  if (roll < 0.6 && crashed.size + 1 < Math.ceil(ids.length / 2)) {
    const victim = rng.pick(upNodes);
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
