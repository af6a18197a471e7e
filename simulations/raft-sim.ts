import type { NodeId } from '../src/common/ids.js';
import type { Rng } from '../src/common/random.js';
import { members } from '../src/consensus/membership.js';
import { type CheckResult, checkHistory } from './linearizability.js';
import type { Observations, Scenario } from './scenarios.js';
import { World, type WorldOptions } from './world.js';

export interface RaftSimOptions extends WorldOptions {
  readonly safetyMs?: number;
  /** The bound on the liveness phase: a leader and every client's next operations must complete within it. */
  readonly livenessMs?: number;
  /** Replaces the random nemesis: schedules its own faults on the world during the safety phase. */
  readonly scenario?: Scenario;
}

export interface RaftSimResult {
  readonly seed: number;
  readonly violations: readonly string[];
  readonly linearizability: CheckResult;
  readonly operations: { total: number; ok: number; unknown: number };
  readonly crashes: number;
  readonly snapshotsRestored: number;
  readonly events: number;
  readonly simulatedMs: number;
  readonly maxTerm: number;
  readonly faults: string;
  readonly observations: Observations;
  readonly world: World;
}

/** Operations each client must complete once the faults are healed. */
const livenessOpsPerClient = 3;

/**
 * One run: a safety phase with faults everywhere (nothing may diverge), then a liveness phase with every fault
 * healed (a leader must emerge and the clients' operations complete in bounded time), then the history check.
 */
export function runRaftSimulation(options: RaftSimOptions): RaftSimResult {
  const world = new World(options);
  const safetyMs = options.safetyMs ?? 4000;
  const livenessMs = options.livenessMs ?? 5000;
  const faults =
    options.scenario === undefined ? startNemesis(world, world.rng.fork(), safetyMs) : options.scenario.name;
  const observations = options.scenario?.install(world) ?? {};
  world.workload.start();
  world.runUntil(safetyMs);

  world.healEverything();
  const clients = options.clients ?? 3;
  const before = Array.from({ length: clients }, (_, c) => world.workload.completed(c));
  const done = (): boolean =>
    before.every((count, c) => world.workload.completed(c) >= count + livenessOpsPerClient);
  world.runUntil(safetyMs + livenessMs, done);
  const violations = [...world.checker.violations];
  const now = world.clock.monotonicMs();
  if (!done())
    violations.push(
      `t=${now}ms liveness: clients did not complete ${livenessOpsPerClient} operations each within ${livenessMs}ms of healing`,
    );
  world.workload.stop();
  // Let the cluster settle, then every member must have applied the same commit index.
  world.runFor(1000);
  const convergence = checkConvergence(world);
  if (convergence !== undefined) violations.push(`t=${world.clock.monotonicMs()}ms liveness: ${convergence}`);
  const rafts = world.nodes.map((n) => n.raft);
  world.checker.checkLogMatching(rafts, world.clock.monotonicMs());
  violations.push(...world.checker.violations.slice(violations.length));

  const linearizability = checkHistory(world.workload.operations());
  if (linearizability === 'not-linearizable') violations.push('the client history is not linearizable');
  return {
    seed: options.seed,
    violations: [...new Set(violations)],
    linearizability,
    operations: world.workload.counts(),
    crashes: world.crashes,
    snapshotsRestored: world.snapshotsRestored,
    events: world.eventCount(),
    simulatedMs: world.clock.monotonicMs(),
    maxTerm: Math.max(...rafts.map((r) => r.status().term)),
    faults,
    observations,
    world,
  };
}

function checkConvergence(world: World): string | undefined {
  const leader = world.leader();
  if (leader === undefined) return 'no leader after healing';
  const { commit } = leader.raft.status();
  for (const id of members(leader.raft.status().membership)) {
    const applied = world.node(id).raft.status().applied;
    if (applied !== commit) return `${id} applied ${applied}, leader ${leader.id} committed ${commit}`;
  }
  return undefined;
}

/**
 * The random nemesis: network fault rates drawn once per run, then every 100–800 ms a new fault (partitions
 * symmetric, one-way or flapping; crashes with later restarts; slow disks; membership changes).
 */
function startNemesis(world: World, rng: Rng, untilMs: number): string {
  const lossRate = rng.chance(0.25) ? 0 : rng.next() * 0.3;
  const duplicateRate = rng.chance(0.5) ? 0 : rng.next() * 0.1;
  const delayMaxMs = rng.between(1, 30);
  world.setNetwork({ lossRate, duplicateRate, delayMinMs: 1, delayMaxMs });
  const ids = world.nodes.map((n) => n.id);
  for (const id of ids) if (rng.chance(0.3)) world.slowDisks.add(id);
  const membershipChanges = rng.chance(0.5);
  const summary = `loss ${(lossRate * 100).toFixed(1)}%, dup ${(duplicateRate * 100).toFixed(1)}%, delay 1-${delayMaxMs}ms, slow disks ${world.slowDisks.size}, membership changes ${membershipChanges}`;

  const act = (): void => {
    const now = world.clock.monotonicMs();
    if (now >= untilMs) return;
    const roll = rng.next();
    if (roll < 0.2) {
      world.heal();
    } else if (roll < 0.35) {
      world.heal();
      const shuffled = shuffle(rng, ids);
      const cut = rng.between(1, ids.length - 1);
      world.partition(shuffled.slice(0, cut), shuffled.slice(cut));
    } else if (roll < 0.45) {
      const leader = world.leader();
      if (leader !== undefined) {
        world.heal();
        world.isolate(leader.id);
      }
    } else if (roll < 0.55) {
      for (let i = rng.between(1, 3); i > 0; i--) {
        const [from, to] = shuffle(rng, ids);
        world.network.blockOneWay(from!, to!);
      }
    } else if (roll < 0.62) {
      flap(world, rng, shuffle(rng, ids).slice(0, rng.between(1, 2)), rng.between(3, 10), untilMs);
    } else if (roll < 0.8) {
      const up = world.nodes.filter((n) => n.up);
      if (up.length > 0) {
        // Leaders half the time: leader churn is where old-term entries meet new leaders (Figure 8).
        const victim = (rng.chance(0.5) ? world.leader() : undefined)?.id ?? rng.pick(up).id;
        world.crash(victim);
        world.clock.setTimer(rng.between(20, 1500), () => {
          if (world.clock.monotonicMs() < untilMs) world.restart(victim);
        });
      }
    } else if (roll < 0.85) {
      const id = rng.pick(ids);
      if (world.slowDisks.has(id)) world.slowDisks.delete(id);
      else world.slowDisks.add(id);
    } else if (membershipChanges) {
      changeMembership(world, rng);
    }
    world.clock.setTimer(rng.between(100, 800), act);
  };
  world.clock.setTimer(rng.between(100, 800), act);
  return summary;
}

/** A partition of `side` from the rest that comes and goes every 20–150 ms, until the safety phase ends. */
function flap(world: World, rng: Rng, side: readonly NodeId[], times: number, untilMs: number): void {
  const rest = world.nodes.map((n) => n.id).filter((id) => !side.includes(id));
  let cut = false;
  const toggle = (remaining: number): void => {
    if (remaining === 0 || world.clock.monotonicMs() >= untilMs) return;
    cut = !cut;
    if (cut) world.partition(side, rest);
    else world.heal();
    world.clock.setTimer(rng.between(20, 150), () => toggle(remaining - 1));
  };
  toggle(times * 2);
}

function changeMembership(world: World, rng: Rng): void {
  const leader = world.leader();
  if (leader === undefined) return;
  const { voters, learners } = leader.raft.status().membership;
  const outside = world.nodes.map((n) => n.id).filter((id) => !voters.includes(id) && !learners.includes(id));
  const options: (() => boolean)[] = [];
  if (voters.length > 3)
    options.push(() => world.changeMembership({ type: 'remove', node: rng.pick(voters) }));
  if (outside.length > 0)
    options.push(() => world.changeMembership({ type: 'addLearner', node: rng.pick(outside) }));
  if (learners.length > 0)
    options.push(() => world.changeMembership({ type: 'promote', node: rng.pick(learners) }));
  if (options.length > 0) rng.pick(options)();
}

function shuffle<T>(rng: Rng, items: readonly T[]): T[] {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}
