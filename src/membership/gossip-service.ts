import type { Clock, Timer } from '../common/clock.js';
import type { NodeId } from '../common/ids.js';
import type { Logger } from '../common/log.js';
import type { Rng } from '../common/random.js';
import type { Transport } from '../peer/transport.js';
import type { HealthRecord } from './health.js';
import { type MemberState, type MemberStatus, Swim, type SwimEffect, type SwimInput } from './swim.js';
import { defaultSwimConfig, type SwimConfig } from './swim-config.js';
import { type GossipMessage, indirectProbeProtocol, membershipTopic, noticeProtocol } from './wire.js';

export interface GossipServiceInit {
  readonly config?: Partial<SwimConfig>;
}

/**
 * What SWIM needs of the network: pings and indirect probes (answered as well as asked), notices to one
 * member, and the membership topic.
 */
export type GossipTransport = Pick<
  Transport,
  'self' | 'ping' | 'request' | 'handle' | 'send' | 'onMessage' | 'publish' | 'subscribe'
>;

export interface GossipServiceComponents {
  readonly transport: GossipTransport;
  readonly clock: Clock;
  readonly rng: Rng;
  readonly log: Logger;
  /** This node's latest health record, sent with each heartbeat; undefined until one has been collected. */
  readonly health: () => HealthRecord | undefined;
  /** The cluster's members by the replicated config; asked once per probe interval. */
  readonly members: () => readonly NodeId[];
}

export interface MemberView {
  readonly id: NodeId;
  readonly state: MemberState;
  readonly incarnation: number;
  /** Wall-clock time of the last first-hand sign of life, undefined if none yet. */
  readonly lastHeardMs: number | undefined;
  /** How long ago that was. */
  readonly ageMs: number | undefined;
  /** How long it has been in its current state. */
  readonly stateAgeMs: number;
  /** Silent for several heartbeat intervals: its figures may be old. */
  readonly stale: boolean;
  readonly health: HealthRecord | undefined;
  /** How long ago the health record arrived. */
  readonly healthAgeMs: number | undefined;
}

export interface MemberChange {
  readonly node: NodeId;
  readonly previous: MemberState;
  readonly state: MemberState;
  readonly incarnation: number;
}

export interface GossipService {
  /** Every member as this node sees it, itself included; answered locally, master or not. */
  view(): MemberView[];
  /** One member as view() shows it; undefined for a node that is not a member. */
  member(id: NodeId): MemberView | undefined;
  onChange(handler: (change: MemberChange) => void): () => void;
  /** Tells the cluster this node is leaving, then stops. */
  leave(): Promise<void>;
  stop(): void;
}

interface ReceivedHealth {
  readonly record: HealthRecord;
  readonly receivedMs: number;
}

/**
 * Runs the SWIM core over a Transport and a Clock: heartbeats and rumours on the membership topic, direct
 * probes by ping, indirect probes through helpers, notices to members that must refute. The shell only
 * carries out what the core decides and feeds back what happened.
 */
export function createGossipService(
  init: GossipServiceInit,
  components: GossipServiceComponents,
): GossipService {
  const { transport, clock, log } = components;
  const config: SwimConfig = { ...defaultSwimConfig, ...init.config };
  const core = new Swim(transport.self, config, components.rng, clock.monotonicMs());
  const health = new Map<NodeId, ReceivedHealth>();
  const handlers = new Set<(change: MemberChange) => void>();
  let timer: Timer | undefined;
  let timerDueMs = Number.POSITIVE_INFINITY;
  let membersCheckedMs = Number.NEGATIVE_INFINITY;
  let knownMembers: readonly NodeId[] | undefined;
  let stopped = false;

  /** Steps the core and carries out its effects; returns the publishes in flight, which leave() waits for. */
  function step(input: SwimInput): Promise<void>[] {
    if (stopped) return [];
    return core.step(clock.monotonicMs(), input).flatMap((effect) => perform(effect) ?? []);
  }

  function run(input: SwimInput): Promise<void>[] {
    const pending = step(input);
    arm();
    return pending;
  }

  function perform(effect: SwimEffect): Promise<void> | undefined {
    switch (effect.type) {
      case 'probe':
        transport.ping(effect.target, { timeoutMs: effect.timeoutMs }).then(
          () => run({ type: 'probeAck', probeId: effect.probeId }),
          () => run({ type: 'probeFailed', probeId: effect.probeId }),
        );
        return undefined;
      case 'probeIndirect':
        for (const via of effect.via) {
          transport
            .request(
              via,
              indirectProbeProtocol,
              { target: effect.target, timeoutMs: effect.helperTimeoutMs },
              { timeoutMs: Math.max(1, effect.timeoutMs) },
            )
            .then(
              ({ ack }) => run({ type: ack ? 'indirectAck' : 'indirectNack', probeId: effect.probeId, via }),
              () => run({ type: 'indirectFailed', probeId: effect.probeId, via }),
            );
        }
        return undefined;
      case 'publish': {
        const record = effect.heartbeat ? components.health() : undefined;
        const message: GossipMessage = {
          incarnation: effect.incarnation,
          rumors: effect.rumors,
          ...(record !== undefined && { health: record }),
        };
        return transport.publish(membershipTopic, message).catch((error: unknown) => {
          log.debug({ reason: (error as Error).message }, 'could not publish membership gossip');
        });
      }
      case 'notify':
        transport.send(effect.to, noticeProtocol, { state: effect.state, incarnation: effect.incarnation });
        return undefined;
      case 'changed': {
        const { node, previous, state, incarnation } = effect;
        log.info({ peer: node, previous, state, incarnation }, 'member state changed');
        for (const handler of handlers) {
          // A failing listener must not keep the rest of this step's effects from happening.
          try {
            handler({ node, previous, state, incarnation });
          } catch (error) {
            log.error({ err: error }, 'a membership change listener failed');
          }
        }
        return undefined;
      }
    }
  }

  /** Keeps one timer, at the core's next due time; a timer that fires early only costs a spare tick. */
  function arm(): void {
    const dueMs = core.nextDueMs();
    if (stopped || dueMs >= timerDueMs) return;
    timer?.cancel();
    timerDueMs = dueMs;
    timer = clock.setTimer(Math.max(0, dueMs - clock.monotonicMs()), () => {
      timer = undefined;
      timerDueMs = Number.POSITIVE_INFINITY;
      refreshMembers();
      run({ type: 'tick' });
    });
  }

  function refreshMembers(): void {
    const nowMs = clock.monotonicMs();
    if (nowMs - membersCheckedMs < config.probeIntervalMs) return;
    membersCheckedMs = nowMs;
    const ids = components.members();
    // The same list as last time: nothing to compare, which matters when a thousand nodes share one process.
    if (ids === knownMembers) return;
    knownMembers = ids;
    step({ type: 'members', ids });
    for (const id of health.keys()) if (!core.isMember(id)) health.delete(id);
  }

  const unsubscribe = transport.subscribe(membershipTopic, (from, message) => {
    if (stopped || !core.isMember(from)) return;
    if (message.health !== undefined) {
      health.set(from, { record: message.health, receivedMs: clock.monotonicMs() });
    }
    run({ type: 'gossip', from, incarnation: message.incarnation, rumors: message.rumors });
  });
  transport.onMessage(noticeProtocol, (from, notice) => {
    run({ type: 'notice', from, state: notice.state, incarnation: notice.incarnation });
  });
  transport.handle(indirectProbeProtocol, async ({ target, timeoutMs }, context) => {
    // Members only, on behalf of members only: the helper role must not become a way to make us dial anyone.
    if (stopped || !core.isMember(context.from) || !core.isMember(target)) return { ack: false };
    try {
      await transport.ping(target, { timeoutMs, signal: context.signal });
      return { ack: true };
    } catch {
      return { ack: false };
    }
  });
  refreshMembers();
  arm();

  function memberView(member: MemberStatus, nowMs: number): MemberView {
    const ageMs = member.lastHeardMs === undefined ? undefined : nowMs - member.lastHeardMs;
    const received =
      member.id === transport.self
        ? { record: components.health(), receivedMs: nowMs }
        : health.get(member.id);
    return {
      id: member.id,
      state: member.state,
      incarnation: member.incarnation,
      lastHeardMs: ageMs === undefined ? undefined : clock.wallMs() - ageMs,
      ageMs,
      stateAgeMs: nowMs - member.stateChangedMs,
      stale: member.stale,
      health: received?.record,
      healthAgeMs: received?.record === undefined ? undefined : nowMs - received.receivedMs,
    };
  }

  function stop(): void {
    if (stopped) return;
    stopped = true;
    timer?.cancel();
    unsubscribe();
  }

  return {
    view() {
      const nowMs = clock.monotonicMs();
      return core.view(nowMs).map((member) => memberView(member, nowMs));
    },
    member(id) {
      const nowMs = clock.monotonicMs();
      const member = core.member(id, nowMs);
      return member === undefined ? undefined : memberView(member, nowMs);
    },
    onChange(handler) {
      handlers.add(handler);
      return () => handlers.delete(handler);
    },
    async leave() {
      await Promise.allSettled(run({ type: 'leave' }));
      stop();
    },
    stop,
  };
}
