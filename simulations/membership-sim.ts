import type { NodeId } from '../src/common/ids.js';
import { seededRng } from '../src/common/random.js';
import { minSuspicionTimeoutMs } from '../src/membership/suspicion.js';
import { defaultSwimConfig, heartbeatIntervalMs } from '../src/membership/swim-config.js';
import { MembershipWorld } from './membership-world.js';

export interface MembershipSimOptions {
  readonly seed: number;
  readonly nodes: number;
}

export interface MembershipSimResult {
  readonly nodes: number;
  readonly seed: number;
  /** Every node saw every other alive after the warm-up. */
  readonly converged: boolean;
  readonly heartbeatIntervalMs: number;
  /** The suspicion timeout's floor at this size: the least a detection can take once a probe fails. */
  readonly suspicionFloorMs: number;
  /** From the kill to the first survivor, and to the last, marking the victim dead. */
  readonly detectionFirstMs: number | undefined;
  readonly detectionAllMs: number | undefined;
  /** Survivors that had not marked the victim dead when the run gave up. */
  readonly undetectedBy: number;
  /** Dead verdicts about live nodes: must be 0. */
  readonly falseDead: number;
  /**
   * Packets per node per second in the steady state, by kind (gossip: heartbeats and rumours; probe: pings,
   * indirect probes and their answers; notice), and their frame bytes. With no loss, what a node sends on
   * average is what it receives.
   */
  readonly messagesPerNodePerSecond: {
    readonly total: number;
    readonly gossip: number;
    readonly probe: number;
    readonly notice: number;
  };
  readonly bytesPerNodePerSecond: number;
  readonly simulatedMs: number;
  readonly wallMs: number;
}

/** Time to measure steady-state traffic over, in heartbeat intervals. */
const measureHeartbeats = 3;

/**
 * One run of the real gossip service on n simulated nodes: warm up until every node has heard every other,
 * measure the steady traffic, kill one node, and time its detection on every survivor.
 */
export async function runMembershipSimulation(options: MembershipSimOptions): Promise<MembershipSimResult> {
  const started = performance.now();
  const config = defaultSwimConfig;
  const world = new MembershipWorld({
    seed: options.seed,
    nodes: options.nodes,
    faults: { lossRate: 0, duplicateRate: 0, delayMinMs: 1, delayMaxMs: 5 },
  });
  const intervalMs = heartbeatIntervalMs(config, options.nodes);
  // Two heartbeats from everyone, so every view holds every member's health.
  await world.runFor(2 * intervalMs + config.probeIntervalMs);
  const converged = world.allSeeAllUpAlive();

  const before = snapshot(world);
  const measureMs = measureHeartbeats * intervalMs;
  await world.runFor(measureMs);
  const after = snapshot(world);
  const perNodePerSecond = (count: number) => round((count * 1000) / (options.nodes * measureMs));

  const victim = seededRng(options.seed).pick(world.ids);
  const survivors = world.ids.filter((id) => id !== victim);
  const killedMs = world.clock.monotonicMs();
  const seenDeadAt = new Map<NodeId, number>();
  let scanned = world.changes.length;
  world.crash(victim);
  const floorMs = minSuspicionTimeoutMs(config.suspicionMult, options.nodes, config.probeIntervalMs);
  const giveUpMs = config.suspicionMaxTimeoutMult * floorMs + 10 * config.probeIntervalMs;
  await world.runFor(giveUpMs, () => {
    for (; scanned < world.changes.length; scanned++) {
      const change = world.changes[scanned]!;
      if (change.node === victim && change.state === 'dead' && !seenDeadAt.has(change.observer)) {
        seenDeadAt.set(change.observer, change.atMs - killedMs);
      }
    }
    return seenDeadAt.size === survivors.length;
  });
  const detections = [...seenDeadAt.values()];
  return {
    nodes: options.nodes,
    seed: options.seed,
    converged,
    heartbeatIntervalMs: intervalMs,
    suspicionFloorMs: floorMs,
    detectionFirstMs: detections.length > 0 ? Math.min(...detections) : undefined,
    detectionAllMs: detections.length === survivors.length ? Math.max(...detections) : undefined,
    undetectedBy: survivors.length - detections.length,
    falseDead: world.changes.filter((change) => change.state === 'dead' && change.node !== victim).length,
    messagesPerNodePerSecond: {
      total: perNodePerSecond(
        after.gossip + after.probe + after.notice - before.gossip - before.probe - before.notice,
      ),
      gossip: perNodePerSecond(after.gossip - before.gossip),
      probe: perNodePerSecond(after.probe - before.probe),
      notice: perNodePerSecond(after.notice - before.notice),
    },
    bytesPerNodePerSecond: perNodePerSecond(after.bytes - before.bytes),
    simulatedMs: world.clock.monotonicMs(),
    wallMs: Math.round(performance.now() - started),
  };
}

function snapshot(world: MembershipWorld) {
  const sent = world.network.sentByKind;
  return {
    gossip: sent.get('gossip') ?? 0,
    probe: sent.get('probe') ?? 0,
    notice: sent.get('notice') ?? 0,
    bytes: world.network.bytesSent,
  };
}

function round(value: number): number {
  return Math.round(value * 10) / 10;
}
