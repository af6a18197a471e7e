import { asNodeId } from '../src/common/ids.js';
import type { MembershipChange } from '../src/consensus/types.js';
import type { World } from './world.js';

/** What a scenario saw while it ran, for its test to assert on. */
export type Observations = Record<string, number | string | boolean | undefined>;

export interface Scenario {
  readonly name: string;
  /** Schedules the scenario's faults on a fresh world and returns the record it fills in as they happen. */
  readonly install: (world: World) => Observations;
}

function at(world: World, timeMs: number, action: () => void): void {
  world.clock.setTimer(Math.max(0, timeMs - world.clock.monotonicMs()), action);
}

/**
 * Figure 8 of the Raft paper, over and over: a leader replicates to one follower only, then crashes while the
 * majority elects another leader; the old leader returns later. Old-term entries spread through new leaders,
 * which must never commit them by counting replicas.
 */
export const figure8: Scenario = {
  name: 'figure 8: leaders crash after replicating to a minority',
  install(world) {
    const observed: Observations = { rounds: 0 };
    // Some loss, so that an old-term entry can arrive while the new leader's own entry behind it does not.
    world.setNetwork({ lossRate: 0.15, duplicateRate: 0, delayMinMs: 1, delayMaxMs: 10 });
    const round = (): void => {
      if (world.clock.monotonicMs() > 3500) return;
      const leader = world.leader();
      if (leader !== undefined) {
        const follower = world.nodes.find((n) => n.up && n.id !== leader.id)!;
        const rest = world.nodes.map((n) => n.id).filter((id) => id !== leader.id && id !== follower.id);
        world.partition([leader.id, follower.id], rest);
        at(world, world.clock.monotonicMs() + 60, () => world.crash(leader.id));
        at(world, world.clock.monotonicMs() + 80, () => world.heal());
        at(world, world.clock.monotonicMs() + world.rng.between(100, 400), () => world.restart(leader.id));
        observed.rounds = Number(observed.rounds) + 1;
      }
      at(world, world.clock.monotonicMs() + world.rng.between(150, 300), round);
    };
    at(world, 300, round);
    return observed;
  },
};

/** The leader is cut off alone: the majority elects a new leader; check-quorum makes the old one step down. */
export const leaderIsolated: Scenario = {
  name: 'a leader isolated in a minority',
  install(world) {
    const observed: Observations = {};
    at(world, 1000, () => {
      const leader = world.leader();
      if (leader === undefined) return;
      observed.oldLeader = leader.id;
      observed.oldTerm = leader.raft.status().term;
      world.isolate(leader.id);
    });
    at(world, 2500, () => {
      const old = world.node(String(observed.oldLeader));
      observed.oldLeaderRole = old.raft.status().role;
      const leader = world.leader();
      observed.newLeader = leader?.id;
      observed.newTerm = leader?.raft.status().term;
      world.heal();
    });
    return observed;
  },
};

/** A follower is cut off for three seconds; pre-vote keeps it from raising terms, so its return disturbs no one. */
export const rejoinAfterLongPartition: Scenario = {
  name: 'a node that rejoins after a long partition',
  install(world) {
    const observed: Observations = {};
    at(world, 800, () => {
      const leader = world.leader();
      const follower = world.nodes.find((n) => n.up && n.id !== leader?.id);
      if (leader === undefined || follower === undefined) return;
      observed.leader = leader.id;
      observed.term = leader.raft.status().term;
      observed.follower = follower.id;
      world.isolate(follower.id);
    });
    at(world, 3800, () => {
      observed.followerTermBeforeHeal = world.node(String(observed.follower)).raft.status().term;
      world.heal();
    });
    at(world, 3990, () => {
      observed.leaderAfter = world.leader()?.id;
      observed.termAfter = world.leader()?.raft.status().term;
    });
    return observed;
  },
};

/**
 * Starts with four voters and n5 outside. While n4 is cut off: n5 joins as a learner, is promoted, then n4 is
 * removed, each change committing before the next is tried.
 */
export const membershipDuringPartition: Scenario = {
  name: 'membership change during a partition',
  install(world) {
    const observed: Observations = { applied: 0 };
    const steps: MembershipChange[] = [
      { type: 'addLearner', node: asNodeId('n5') },
      { type: 'promote', node: asNodeId('n5') },
      { type: 'remove', node: asNodeId('n4') },
    ];
    at(world, 500, () => world.isolate(asNodeId('n4')));
    const attempt = (): void => {
      const step = steps[Number(observed.applied)];
      if (step === undefined) return;
      if (world.changeMembership(step)) observed.applied = Number(observed.applied) + 1;
      at(world, world.clock.monotonicMs() + 100, attempt);
    };
    at(world, 700, attempt);
    at(world, 3500, () => world.heal());
    return observed;
  },
};

/** A follower misses many entries while the others compact their logs: it must be sent a snapshot. */
export const followerNeedsSnapshot: Scenario = {
  name: 'a follower that needs a snapshot',
  install(world) {
    const observed: Observations = {};
    at(world, 300, () => {
      const leader = world.leader();
      const follower = world.nodes.find((n) => n.up && n.id !== leader?.id);
      if (follower === undefined) return;
      observed.follower = follower.id;
      world.isolate(follower.id);
    });
    at(world, 2500, () => world.heal());
    return observed;
  },
};

export const scenarios: readonly Scenario[] = [
  figure8,
  leaderIsolated,
  rejoinAfterLongPartition,
  membershipDuringPartition,
  followerNeedsSnapshot,
];
