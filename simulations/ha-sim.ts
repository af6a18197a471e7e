import type { ConfigData } from '../src/cluster/config.js';
import { sortedNodes } from '../src/cluster/config.js';
import { DEFAULT_HA_PARAMS } from '../src/cluster/lease.js';
import type { InstanceRecord } from '../src/cluster/model.js';
import type { Opcode } from '../src/cluster/opcodes.js';
import type { NodeId } from '../src/common/ids.js';
import type { Rng } from '../src/common/random.js';
import { healthyNetwork } from '../src/peer/sim-network.js';
import { hangUpCutLinks, MirrorWatch, runningTwice } from './master-checks.js';
import { MasterWorld } from './master-world.js';
import { SIM_OS } from './sim-os.js';

export interface HaSimOptions {
  readonly seed: number;
  readonly nodes?: number;
  /** Random faults before the final death, each followed by some simulated time and guest writes. */
  readonly steps?: number;
}

export interface HaSimResult {
  readonly seed: number;
  readonly violations: readonly string[];
  readonly faults: readonly string[];
  /** How the last node went: power loss, or cut off from the others while its guests ran on. */
  readonly death: string;
  /** For each instance that had to move at the final death, ms of simulated time until it ran elsewhere. */
  readonly failoverMs: readonly number[];
}

/** What every instance of a healed cluster has to be running again in, after everything came back. */
const HEALED_BOUND_MS = 60_000;
/**
 * What the instances of a dead node have to be running elsewhere in: the lease the master waits out (about
 * 9.2 s with the defaults), gossip's verdict, the master's next pass and the failover job, with room to spare.
 * Issue 21 asks for 20 s at the median and 40 s at the 99th percentile on real nodes.
 */
const FAILOVER_BOUND_MS = 30_000;
const STEP_MIN_MS = 1_000;
const STEP_MAX_MS = 15_000;
const JOB_LIMIT_MS = 60_000;

/**
 * Automatic failover under faults (issue 21): instances on drbd, sharedfile and diskless disks, on nodes whose
 * clocks run apart within the bound the leases assume, through crashes, partitions and message loss. After
 * every instant: no instance runs on two nodes, and none starts on a stale copy. Once healed, every instance
 * that should run runs again, and its current copies hold every write its guest had acknowledged. Then one
 * node dies for good, by power loss or by a cut: its instances must run elsewhere within the bound, by
 * themselves, and when it comes back nothing runs twice and its stale copies resync.
 */
export async function runHaSimulation(options: HaSimOptions): Promise<HaSimResult> {
  const world = new MasterWorld({
    seed: options.seed,
    nodes: options.nodes ?? 5,
    watcherIntervalMs: 2_000,
    clockDriftPpm: DEFAULT_HA_PARAMS.clockDriftPpm,
  });
  const violations: string[] = [];
  const faults: string[] = [];
  const mirrors = new MirrorWatch(world, violations);
  const seen = new Set<string>();
  const at = () => `t=${(world.clock.monotonicMs() / 1000).toFixed(1)}s`;
  world.afterInstant = () => {
    mirrors.observeStarts();
    for (const broken of leasesOutlived(world)) {
      if (seen.has(broken)) continue;
      seen.add(broken);
      violations.push(`${at()} ${broken}`);
    }
    const found = runningTwice(world);
    if (found === undefined || seen.has(found)) return;
    seen.add(found);
    violations.push(`${at()} ${found}`);
  };
  await world.form();
  const ids = world.machines.map((machine) => machine.id);
  hangUpCutLinks(world, ids);
  const rng = world.rng.fork();
  await createInstances(world, rng, ids);

  const crashed = new Set<NodeId>();
  for (let step = 0; step < (options.steps ?? 8); step++) {
    faults.push(await injectFault(world, rng, ids, crashed));
    await world.runFor(STEP_MIN_MS + rng.int(STEP_MAX_MS - STEP_MIN_MS));
    if (rng.chance(0.7)) await mirrors.write(rng);
  }

  // Healed: every node back, every link open; what should run runs once, on its primary.
  world.network.heal();
  world.setFaults(healthyNetwork);
  for (const id of [...crashed]) await world.boot(id);
  crashed.clear();
  await settledOrViolation(world, violations, HEALED_BOUND_MS, 'once healed');
  await mirrors.checkResynced(ids);
  mirrors.checkCopies();
  await mirrors.write(rng);

  // One node dies for good: its instances move by themselves.
  const config = world.newestConfig();
  const victim = config === undefined ? undefined : busiestNode(config, rng);
  if (config === undefined || victim === undefined)
    return { seed: options.seed, violations, faults, death: 'none', failoverMs: [] };
  const powerLoss = rng.chance(0.5);
  const death = `${powerLoss ? 'power loss of' : 'cut off'} ${victim}`;
  const diedAt = world.clock.monotonicMs();
  if (powerLoss) world.crash(victim);
  else
    world.network.partition(
      [victim],
      ids.filter((id) => id !== victim),
    );
  const moving = movable(config, victim);
  const failoverMs = await timeFailovers(world, moving, victim, diedAt);
  for (const [name, ms] of failoverMs)
    if (ms === undefined)
      violations.push(`${name} did not run elsewhere within ${FAILOVER_BOUND_MS / 1000}s of the ${death}`);
  await mirrors.write(rng);

  // It comes back: it runs nothing, and its copies become secondaries that resync.
  if (powerLoss) await world.boot(victim);
  else world.network.heal();
  await settledOrViolation(world, violations, HEALED_BOUND_MS, `after the return of ${victim}`);
  await mirrors.checkResynced(ids);
  mirrors.checkCopies();
  return {
    seed: options.seed,
    violations,
    faults,
    death,
    failoverMs: [...failoverMs.values()].filter((ms): ms is number => ms !== undefined),
  };
}

/** Two mirrored instances, one on shared storage and one diskless, each placed by hand on random nodes. */
async function createInstances(world: MasterWorld, rng: Rng, ids: readonly NodeId[]): Promise<void> {
  const specs: { name: string; template: 'drbd' | 'sharedfile' | 'diskless' }[] = [
    { name: 'db1', template: 'drbd' },
    { name: 'db2', template: 'drbd' },
    { name: 'web1', template: 'sharedfile' },
    { name: 'cache1', template: 'diskless' },
  ];
  for (const { name, template } of specs) {
    const [pnode, snode] = rng.shuffle([...ids]);
    const op: Opcode = {
      OP_ID: 'OP_INSTANCE_CREATE',
      instance_name: name,
      disk_template: template,
      disks: template === 'diskless' ? [] : [{ size: 1 }],
      os_type: SIM_OS,
      beparams: { memory: 128 },
      pnode: pnode!,
      ...(template === 'drbd' && { snode: snode! }),
    };
    const job = await world.submit(ids[0]!, [op]);
    const ended = await world.waitJob(ids[0]!, job, JOB_LIMIT_MS);
    if (ended.status !== 'success')
      throw new Error(`creating ${name} failed: ${ended.log.at(-1)?.message ?? ended.status}`);
  }
}

/**
 * Crashes a node, cuts one off (or a minority from the majority), brings a crashed one back, makes the
 * network lossy or heals it. A crash leaves a majority of the nodes up.
 */
async function injectFault(
  world: MasterWorld,
  rng: Rng,
  ids: readonly NodeId[],
  crashed: Set<NodeId>,
): Promise<string> {
  const roll = rng.next();
  if (roll < 0.2 && crashed.size > 0) {
    const back = rng.pick([...crashed]);
    crashed.delete(back);
    await world.boot(back);
    return `restart ${back}`;
  }
  const up = ids.filter((id) => !crashed.has(id));
  if (roll < 0.4 && (crashed.size + 1) * 2 < ids.length) {
    const victim = rng.pick(up);
    world.crash(victim);
    crashed.add(victim);
    return `crash ${victim}`;
  }
  if (roll < 0.7) {
    const minority = rng.shuffle([...ids]).slice(0, 1 + rng.int(Math.floor((ids.length - 1) / 2)));
    world.network.partition(
      minority,
      ids.filter((id) => !minority.includes(id)),
    );
    return `cut off ${minority.join('+')}`;
  }
  if (roll < 0.85) {
    world.setFaults({ lossRate: 0.02, duplicateRate: 0.01, delayMinMs: 1, delayMaxMs: 30 });
    return 'lossy';
  }
  world.network.heal();
  world.setFaults(healthyNetwork);
  return 'heal';
}

/** A node that is primary to some instance that should run, if any (else any node). */
function busiestNode(config: ConfigData, rng: Rng): NodeId | undefined {
  const primaries = [...config.instances.values()]
    .filter((instance) => instance.adminState === 'up')
    .map((instance) => config.nodes.get(instance.primaryNode)?.id)
    .filter((id): id is NodeId => id !== undefined);
  const nodes = primaries.length > 0 ? primaries : sortedNodes(config).map((node) => node.id);
  return nodes.length > 0 ? rng.pick(nodes) : undefined;
}

/**
 * The instances of the dead node that can run elsewhere: admin up, and on shared storage, diskless, or
 * mirrored to a live secondary holding a current copy.
 */
function movable(config: ConfigData, victim: NodeId): InstanceRecord[] {
  const nodeId = (uuid: string) => config.nodes.get(uuid as InstanceRecord['primaryNode'])?.id;
  return [...config.instances.values()].filter((instance) => {
    if (instance.adminState !== 'up' || nodeId(instance.primaryNode) !== victim) return false;
    if (instance.diskTemplate !== 'drbd') return true;
    const secondary = instance.secondaryNodes[0];
    return secondary !== undefined && (instance.mirror?.current.includes(secondary) ?? false);
  });
}

/** For each instance, how long after the death it ran on another node; undefined past the bound. */
async function timeFailovers(
  world: MasterWorld,
  instances: readonly InstanceRecord[],
  victim: NodeId,
  diedAt: number,
): Promise<Map<string, number | undefined>> {
  const times = new Map<string, number | undefined>(instances.map((instance) => [instance.name, undefined]));
  const runsElsewhere = (name: string) =>
    world
      .guests()
      .some(({ node, guest }) => node !== victim && guest.name === name && guest.state === 'running');
  await world
    .until(
      () => {
        for (const [name, ms] of times)
          if (ms === undefined && runsElsewhere(name)) times.set(name, world.clock.monotonicMs() - diedAt);
        return [...times.values()].every((ms) => ms !== undefined);
      },
      FAILOVER_BOUND_MS,
      'the dead node’s instances to run elsewhere',
    )
    .catch(() => undefined);
  return times;
}

/** Waits until every instance that should run runs once, on its primary; says which do not, when not. */
async function settledOrViolation(
  world: MasterWorld,
  violations: string[],
  boundMs: number,
  when: string,
): Promise<void> {
  const unsettled = () => {
    const config = world.newestConfig();
    const guests = world.guests().filter(({ guest }) => guest.state === 'running');
    return [...(config?.instances.values() ?? [])].flatMap((instance) => {
      const where = guests.filter(({ guest }) => guest.name === instance.name).map(({ node }) => node);
      const primary = config?.nodes.get(instance.primaryNode)?.id;
      const expected = instance.adminState === 'up' ? [primary] : [];
      return where.join() === expected.join()
        ? []
        : [`${instance.name} runs on [${where.join(', ')}], should on [${expected.join(', ')}]`];
    });
  };
  await world
    .until(() => unsettled().length === 0, boundMs, 'every instance to settle')
    .catch(() => undefined);
  for (const problem of unsettled()) violations.push(`${(boundMs / 1000).toFixed(0)}s ${when}: ${problem}`);
}

/**
 * The lease's timing argument, checked at every instant on clocks that drift within the bound: once the
 * master of the newest term counts a node's lease as run out (by its clock), that node no longer holds it (by
 * its own). A deposed master that has not heard yet knows nothing of its successor's grants; it acts on its
 * table only after a quorum confirms it still leads, which it cannot.
 */
function leasesOutlived(world: MasterWorld): string[] {
  const broken: string[] = [];
  const masters = world.machines.filter(
    (machine) => machine.service?.leaseLapsesAtMs(machine.id) !== undefined,
  );
  const newestTerm = Math.max(...world.machines.map((machine) => machine.service?.raftTerm()?.term ?? 0));
  for (const master of masters) {
    const service = master.service;
    if (service === undefined || service.raftTerm()?.term !== newestTerm) continue;
    for (const node of world.machines) {
      const lapsesAtMs = service.leaseLapsesAtMs(node.id);
      if (lapsesAtMs === undefined) break;
      if (master.clock.monotonicMs() >= lapsesAtMs && node.lease?.holds() === true)
        broken.push(
          `master ${master.id} counts the lease of ${node.id} run out (at ${lapsesAtMs.toFixed(0)} ms of its clock), but ${node.id} still holds it`,
        );
    }
  }
  return broken;
}
