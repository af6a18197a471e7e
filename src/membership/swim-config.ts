import { CorralError } from '../common/errors.js';

/**
 * The knobs of the failure detector, with memberlist's LAN defaults where the two designs agree. Formulas use
 * n, the number of configured members including this node.
 */
export interface SwimConfig {
  /** One member is probed per interval, round-robin over a shuffled list, so each is probed about once a second cluster-wide. Default 1000 ms. */
  readonly probeIntervalMs: number;
  /** How long a direct ping may take before helpers are asked; the 99th percentile of the round trip. Default 500 ms. */
  readonly probeTimeoutMs: number;
  /** Members asked to ping a target that did not answer us (k). Default 3. */
  readonly indirectChecks: number;
  /** Suspicion lasts at least suspicionMult × max(1, log10 n) × probeIntervalMs. Default 4 (5.2 s at n = 20, 12 s at n = 1,000). */
  readonly suspicionMult: number;
  /** With no confirmation a suspicion lasts this many times its minimum. Default 6. */
  readonly suspicionMaxTimeoutMult: number;
  /**
   * Lifeguard's local health: a score from 0 to awarenessMax − 1 that rises when our probes fail without the
   * helpers' nacks or when we must refute, and falls with each answered probe. The probe interval and our own
   * suspicion timeouts are multiplied by score + 1, so a node that is itself slow backs off instead of
   * declaring others dead. Default 8.
   */
  readonly awarenessMax: number;
  /**
   * Each member publishes a heartbeat (incarnation and health) this often, up to heartbeatScaleThreshold
   * members. Probes find failures, not missed heartbeats: this sets how fresh the gossiped health is, and how
   * much an idle cluster sends, since every member receives every heartbeat (at 1 s, the larger part of an
   * idle daemon's work). Default 2000 ms.
   */
  readonly heartbeatIntervalMs: number;
  /**
   * Above this many members the heartbeat interval is multiplied by ceil(log2 n − log2 threshold) + 1
   * (memberlist's push-pull scaling), so the heartbeats one node receives grow as n / log n, not n: at the
   * defaults, under 8 a second up to 32 members, 10.5 at 64. Default 16: 20 members on a 2-core host each spent
   * 6.4 % of a core idle with heartbeats every 2 s, which left a restarting daemon a tenth of a core to start in.
   */
  readonly heartbeatScaleThreshold: number;
  /** A rumour this node raised rides on this many of its heartbeats after its own publish, against loss. Default 3. */
  readonly rumorRetransmits: number;
  /**
   * When a member that we hold suspect or dead speaks, this many members on average (each with probability
   * noticeFanout / (n − 1)) tell it directly so that it refutes, instead of every member at once. Default 3.
   */
  readonly noticeFanout: number;
  /** A member not heard from first-hand for this many heartbeat intervals is shown as stale. Default 3. */
  readonly staleAfterHeartbeats: number;
}

/** Rumours in one gossip message at most; the wire schema refuses more. */
export const MAX_RUMORS_PER_MESSAGE = 16;

export const defaultSwimConfig: SwimConfig = {
  probeIntervalMs: 1000,
  probeTimeoutMs: 500,
  indirectChecks: 3,
  suspicionMult: 4,
  suspicionMaxTimeoutMult: 6,
  awarenessMax: 8,
  heartbeatIntervalMs: 2000,
  heartbeatScaleThreshold: 16,
  rumorRetransmits: 3,
  noticeFanout: 3,
  staleAfterHeartbeats: 3,
};

export function heartbeatIntervalMs(config: SwimConfig, members: number): number {
  if (members <= config.heartbeatScaleThreshold) return config.heartbeatIntervalMs;
  const multiplier = Math.ceil(Math.log2(members) - Math.log2(config.heartbeatScaleThreshold)) + 1;
  return multiplier * config.heartbeatIntervalMs;
}

/** Refuses settings under which the detector cannot work, naming the knob to fix. */
export function checkSwimConfig(config: SwimConfig): SwimConfig {
  const problem =
    config.probeIntervalMs <= 0
      ? 'probeIntervalMs must be positive'
      : config.probeTimeoutMs <= 0 || config.probeTimeoutMs >= config.probeIntervalMs
        ? 'probeTimeoutMs must be positive and below probeIntervalMs, to leave helpers time to answer'
        : config.heartbeatIntervalMs <= 0
          ? 'heartbeatIntervalMs must be positive'
          : [config.indirectChecks, config.rumorRetransmits, config.noticeFanout].some(
                (n) => !Number.isInteger(n) || n < 0,
              )
            ? 'indirectChecks, rumorRetransmits and noticeFanout must be whole numbers, 0 or more'
            : [
                  config.suspicionMult,
                  config.suspicionMaxTimeoutMult,
                  config.awarenessMax,
                  config.heartbeatScaleThreshold,
                  config.staleAfterHeartbeats,
                ].some((n) => !Number.isInteger(n) || n < 1)
              ? 'suspicionMult, suspicionMaxTimeoutMult, awarenessMax, heartbeatScaleThreshold and staleAfterHeartbeats must be whole numbers, 1 or more'
              : undefined;
  if (problem !== undefined) throw new CorralError('bad_request', `bad membership setting: ${problem}`);
  return config;
}
