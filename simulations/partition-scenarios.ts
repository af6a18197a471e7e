import type { Rng } from '../src/common/random.js';
import { defaultSwimConfig } from '../src/membership/swim-config.js';
import type { PartitionCluster, View } from './partition-cluster.js';
import { seconds } from './partition-cluster.js';
import { cutBetween, isolate, range } from './partition-links.js';

export const scenarioNames = ['isolate', 'split', 'one-way', 'heal', 'flap'] as const;
export type ScenarioName = (typeof scenarioNames)[number];

/** Figures a scenario measured, in ms from the cut or the heal. */
export type Figures = Record<string, number | undefined>;

const { probeIntervalMs, suspicionMaxTimeoutMult } = defaultSwimConfig;
/** Time after a heal for every node to be alive everywhere and the incarnations to settle. */
const CONVERGE_TIMEOUT_MS = 45_000;

/**
 * The detection time the protocol promises at this size: a probe round to reach the node, then the longest a
 * suspicion may last unconfirmed (Lifeguard's maximum), and two probe intervals for the gossip to spread.
 */
export function detectionBoundMs(cluster: PartitionCluster): number {
  return (cluster.size + 2) * probeIntervalMs + suspicionMaxTimeoutMult * cluster.suspicionFloorMs;
}

/** Every node of `observers` holds every node of `subjects` dead. */
function allDead(observers: readonly number[], subjects: readonly number[]) {
  return (views: View[]) =>
    observers.every((o) => {
      const view = views.find((v) => v.observer === o);
      return view !== undefined && subjects.every((s) => view.rows.get(s)?.state === 'dead');
    }) && observers.length > 0;
}

/**
 * Cuts `minority` off, waits until every node of the majority holds each of it dead, and returns the time
 * from the cut to the first and to the last such verdict (from the nodes' own state ages).
 */
async function cutAndDetect(
  cluster: PartitionCluster,
  minority: readonly number[],
  label: string,
): Promise<Figures> {
  const majority = range(cluster.size).filter((i) => !minority.includes(i));
  const links = minority.length === 1 ? isolate(minority[0]!, cluster.size) : cutBetween(minority, majority);
  const cutMs = await cluster.cut(links, label);
  const seenMs = await cluster.until(
    `the majority (${majority.map((i) => cluster.name(i)).join(' ')}) to hold ${minority.map((i) => cluster.name(i)).join(' ')} dead`,
    allDead(majority, minority),
    detectionBoundMs(cluster),
  );
  cluster.printViews('what every node concluded');
  if (seenMs === undefined) return {};
  const since = majority.flatMap((o) => minority.map((s) => cluster.deadSince(o, s) ?? seenMs));
  const figures = {
    detection_first_ms: Math.round(Math.min(...since) - cutMs),
    detection_all_ms: Math.round(Math.max(...since) - cutMs),
  };
  return figures;
}

async function healAndConverge(cluster: PartitionCluster): Promise<Figures> {
  const healedMs = await cluster.heal();
  const { aliveMs, settledMs } = await cluster.converge(CONVERGE_TIMEOUT_MS);
  cluster.printViews('after healing');
  return {
    ...(aliveMs !== undefined && { rejoin_all_alive_ms: Math.round(aliveMs - healedMs) }),
    ...(settledMs !== undefined && { settled_ms: Math.round(settledMs - healedMs) }),
  };
}

/** Runs one scenario; what it expects is checked as it goes and recorded as the cluster's violations. */
export async function runScenario(name: ScenarioName, cluster: PartitionCluster, rng: Rng): Promise<Figures> {
  const nodes = range(cluster.size);
  const shuffled = shuffle(nodes, rng);
  switch (name) {
    case 'isolate': {
      const victim = rng.pick(nodes);
      const detected = await cutAndDetect(cluster, [victim], `isolate ${cluster.name(victim)}`);
      return { ...detected, ...(await healAndConverge(cluster)) };
    }
    case 'split': {
      const minority = shuffled.slice(0, Math.floor(cluster.size / 2)).sort((a, b) => a - b);
      const detected = await cutAndDetect(
        cluster,
        minority,
        `split ${minority.length}|${cluster.size - minority.length}: ${minority.map((i) => cluster.name(i)).join(' ')} cut off`,
      );
      return { ...detected, ...(await healAndConverge(cluster)) };
    }
    case 'one-way': {
      const [from, to] = shuffled as [number, number];
      await cluster.cut([{ from, to }], `one-way loss: ${cluster.name(from)} → ${cluster.name(to)} dropped`);
      // Long enough for a suspicion to run out several times over; no one may die (indirect probes work).
      await cluster.hold(3 * cluster.suspicionFloorMs);
      cluster.printViews('what every node concluded');
      return healAndConverge(cluster);
    }
    case 'heal': {
      const victim = rng.pick(nodes);
      const detected = await cutAndDetect(cluster, [victim], `isolate ${cluster.name(victim)}`);
      const before = (await cluster.nextViews()).find((v) => v.observer === victim)?.rows.get(victim);
      const healed = await healAndConverge(cluster);
      const after = (await cluster.nextViews()).find((v) => v.observer === victim)?.rows.get(victim);
      // Declared dead, it must have refuted with a higher incarnation to be taken back.
      if (before !== undefined && after !== undefined && after.incarnation <= before.incarnation)
        cluster.violation(`${cluster.name(victim)} came back without raising its incarnation`);
      return { ...detected, ...healed };
    }
    case 'flap': {
      const victim = rng.pick(nodes);
      const periodMs = rng.between(2_000, 4_000);
      for (let round = 0; round < 6; round++) {
        await cluster.cut(
          isolate(victim, cluster.size),
          `flap ${round + 1}/6: isolate ${cluster.name(victim)}`,
        );
        await cluster.hold(periodMs);
        await cluster.heal();
        await cluster.hold(periodMs);
      }
      cluster.printViews(`after flapping every ${seconds(periodMs)}`);
      return { period_ms: periodMs, ...(await healAndConverge(cluster)) };
    }
  }
}

function shuffle(items: readonly number[], rng: Rng): number[] {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}
