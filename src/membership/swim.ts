import type { NodeId } from '../common/ids.js';
import type { Rng } from '../common/random.js';
import { minSuspicionTimeoutMs, Suspicion } from './suspicion.js';
import {
  checkSwimConfig,
  heartbeatIntervalMs,
  MAX_RUMORS_PER_MESSAGE,
  type SwimConfig,
} from './swim-config.js';

export type MemberState = 'alive' | 'suspect' | 'dead' | 'left';

/**
 * What a member announces on the gossip topic: that it suspects a member, that its suspicion ran out, or
 * that it is leaving itself. A member is alive by default; being alive is said by speaking, with the
 * incarnation every message carries.
 */
export interface Rumor {
  readonly node: NodeId;
  readonly state: 'suspect' | 'dead' | 'left';
  readonly incarnation: number;
}

export type SwimInput =
  | { readonly type: 'tick' }
  /** The configured members; this node may be among them. */
  | { readonly type: 'members'; readonly ids: readonly NodeId[] }
  /** A gossip message; the transport vouches for its sender, who is alive at that incarnation. */
  | {
      readonly type: 'gossip';
      readonly from: NodeId;
      readonly incarnation: number;
      readonly rumors: readonly Rumor[];
    }
  /** A member tells us what it holds about us. */
  | {
      readonly type: 'notice';
      readonly from: NodeId;
      readonly state: MemberState;
      readonly incarnation: number;
    }
  | { readonly type: 'probeAck' | 'probeFailed'; readonly probeId: number }
  /** A helper's answer to an indirect probe: it reached the target, it did not (a nack), or it never answered. */
  | {
      readonly type: 'indirectAck' | 'indirectNack' | 'indirectFailed';
      readonly probeId: number;
      readonly via: NodeId;
    }
  | { readonly type: 'leave' };

export type SwimEffect =
  /** Ping the target directly; report probeAck or probeFailed. */
  | { readonly type: 'probe'; readonly probeId: number; readonly target: NodeId; readonly timeoutMs: number }
  /**
   * Ask each helper to ping the target, waiting helperTimeoutMs, and report one indirect answer per helper
   * within timeoutMs.
   */
  | {
      readonly type: 'probeIndirect';
      readonly probeId: number;
      readonly target: NodeId;
      readonly via: readonly NodeId[];
      readonly timeoutMs: number;
      readonly helperTimeoutMs: number;
    }
  /** Publish on the gossip topic; a heartbeat also carries this node's health record. */
  | {
      readonly type: 'publish';
      readonly incarnation: number;
      readonly rumors: readonly Rumor[];
      readonly heartbeat: boolean;
    }
  /** Tell a member directly what we hold about it, so that it can refute. */
  | {
      readonly type: 'notify';
      readonly to: NodeId;
      readonly state: MemberState;
      readonly incarnation: number;
    }
  | {
      readonly type: 'changed';
      readonly node: NodeId;
      readonly previous: MemberState;
      readonly state: MemberState;
      readonly incarnation: number;
    };

export interface MemberStatus {
  readonly id: NodeId;
  readonly state: MemberState;
  readonly incarnation: number;
  /** Monotonic time of the last first-hand sign of life (a message from it, or an answered probe). */
  readonly lastHeardMs: number | undefined;
  readonly stateChangedMs: number;
  /** Not heard from first-hand for staleAfterHeartbeats heartbeat intervals: what we show may be old. */
  readonly stale: boolean;
}

interface Member {
  readonly id: NodeId;
  state: MemberState;
  incarnation: number;
  stateChangedMs: number;
  lastHeardMs: number | undefined;
  /** When this node learned of the member: the start of its silence while it has never been heard. */
  readonly knownSinceMs: number;
  suspicion: Suspicion | undefined;
  /** Our own probe raised or confirmed the current suspicion, so our verdict is ours to announce. */
  accused: boolean;
  lastNoticeMs: number | undefined;
}

interface ProbeRound {
  readonly id: number;
  readonly target: NodeId;
  readonly deadlineMs: number;
  /** Helpers asked and not yet answered; undefined while the direct ping is out. */
  waiting: Set<NodeId> | undefined;
  helpers: number;
  nacks: number;
}

interface QueuedRumor {
  readonly rumor: Rumor;
  remaining: number;
}

/**
 * The SWIM failure detector with Lifeguard's refinements, as a pure core: every decision is a function of
 * its state, the input and the time given, and every effect is returned for the shell to carry out. Rumours
 * travel on a broadcast topic that reaches every member, so no one relays another's rumour: each member
 * announces only what its own probes found, and confirmations are counted per accuser.
 */
export class Swim {
  private readonly members = new Map<NodeId, Member>();
  private readonly suspects = new Set<Member>();
  private readonly queued = new Map<NodeId, QueuedRumor>();
  private probeOrder: NodeId[] = [];
  private probeIndex = 0;
  private probe: ProbeRound | undefined;
  private nextProbeId = 1;
  private nextProbeMs: number;
  private nextHeartbeatMs: number;
  private awarenessScore = 0;
  private ownIncarnation = 0;
  private leaving = false;
  private heartbeatSent = false;
  private readonly startedMs: number;
  // Gathered during one step, emitted at its end.
  private effects: SwimEffect[] = [];
  private outgoing: Rumor[] = [];
  private refuted = false;

  constructor(
    readonly self: NodeId,
    private readonly config: SwimConfig,
    private readonly rng: Rng,
    nowMs: number,
  ) {
    checkSwimConfig(config);
    this.startedMs = nowMs;
    // A random phase, so that members started together do not probe and heartbeat in lockstep.
    this.nextProbeMs = nowMs + rng.int(config.probeIntervalMs);
    this.nextHeartbeatMs = nowMs + rng.int(config.heartbeatIntervalMs);
  }

  get incarnation(): number {
    return this.ownIncarnation;
  }

  /** Lifeguard's local health score: 0 is healthy. */
  get awareness(): number {
    return this.awarenessScore;
  }

  /** Members including this node. */
  get size(): number {
    return this.members.size + 1;
  }

  isMember(id: NodeId): boolean {
    return id === this.self || this.members.has(id);
  }

  step(nowMs: number, input: SwimInput): SwimEffect[] {
    if (this.leaving) return [];
    switch (input.type) {
      case 'tick':
        this.tick(nowMs);
        break;
      case 'members':
        this.setMembers(input.ids, nowMs);
        break;
      case 'gossip':
        this.onGossip(input.from, input.incarnation, input.rumors, nowMs);
        break;
      case 'notice':
        if (this.members.has(input.from)) this.aboutSelf(input.state, input.incarnation);
        break;
      case 'probeAck':
        this.onProbeAck(input.probeId, nowMs);
        break;
      case 'probeFailed':
        this.onProbeFailed(input.probeId, nowMs);
        break;
      case 'indirectAck':
      case 'indirectNack':
      case 'indirectFailed':
        this.onIndirect(input.type, input.probeId, input.via, nowMs);
        break;
      case 'leave':
        this.leave();
        break;
    }
    return this.flush(nowMs);
  }

  /** When the core next needs a tick; Infinity once it has left. */
  nextDueMs(): number {
    if (this.leaving) return Number.POSITIVE_INFINITY;
    let due = Math.min(this.nextHeartbeatMs, this.probe?.deadlineMs ?? this.nextProbeMs);
    for (const member of this.suspects) due = Math.min(due, this.suspicionDeadlineMs(member));
    return due;
  }

  view(nowMs: number): MemberStatus[] {
    return [
      this.selfStatus(nowMs),
      ...[...this.members.values()].map((member) => this.status(member, nowMs)),
    ];
  }

  /** One member as view() shows it; undefined for a node that is not a member. */
  member(id: NodeId, nowMs: number): MemberStatus | undefined {
    if (id === this.self) return this.selfStatus(nowMs);
    const member = this.members.get(id);
    return member === undefined ? undefined : this.status(member, nowMs);
  }

  private selfStatus(nowMs: number): MemberStatus {
    return {
      id: this.self,
      state: this.leaving ? 'left' : 'alive',
      incarnation: this.ownIncarnation,
      lastHeardMs: nowMs,
      stateChangedMs: this.startedMs,
      stale: false,
    };
  }

  private status(member: Member, nowMs: number): MemberStatus {
    const staleAfterMs = this.config.staleAfterHeartbeats * heartbeatIntervalMs(this.config, this.size);
    return {
      id: member.id,
      state: member.state,
      incarnation: member.incarnation,
      lastHeardMs: member.lastHeardMs,
      stateChangedMs: member.stateChangedMs,
      stale: member.lastHeardMs === undefined || nowMs - member.lastHeardMs > staleAfterMs,
    };
  }

  private tick(nowMs: number): void {
    if (this.probe !== undefined && nowMs >= this.probe.deadlineMs) this.finishProbe(nowMs, 'failed');
    if (this.probe === undefined && nowMs >= this.nextProbeMs) this.startProbe(nowMs);
    for (const member of [...this.suspects]) {
      if (nowMs >= this.suspicionDeadlineMs(member)) this.declareDead(member, nowMs);
    }
  }

  private setMembers(ids: readonly NodeId[], nowMs: number): void {
    const wanted = new Set(ids);
    wanted.delete(this.self);
    for (const member of [...this.members.values()]) {
      if (wanted.has(member.id)) continue;
      this.members.delete(member.id);
      this.suspects.delete(member);
      this.queued.delete(member.id);
      if (this.probe?.target === member.id) this.probe = undefined;
    }
    for (const id of wanted) {
      if (this.members.has(id)) continue;
      // Never heard from: alive until probes say otherwise, so a member that is down at start is found out.
      this.members.set(id, {
        id,
        state: 'alive',
        incarnation: 0,
        stateChangedMs: nowMs,
        lastHeardMs: undefined,
        knownSinceMs: nowMs,
        suspicion: undefined,
        accused: false,
        lastNoticeMs: undefined,
      });
      // Somewhere in the rest of this round, not at its end, so that a newcomer is probed soon.
      const at = this.probeIndex + this.rng.int(this.probeOrder.length - this.probeIndex + 1);
      this.probeOrder.splice(at, 0, id);
    }
  }

  private onGossip(from: NodeId, incarnation: number, rumors: readonly Rumor[], nowMs: number): void {
    const sender = this.members.get(from);
    if (sender === undefined) return;
    this.heardFrom(sender, incarnation, nowMs);
    for (const rumor of rumors.slice(0, MAX_RUMORS_PER_MESSAGE)) {
      if (rumor.node === this.self) {
        this.aboutSelf(rumor.state, rumor.incarnation);
      } else if (rumor.state === 'left') {
        // Only a member itself may say that it leaves.
        if (rumor.node === from) this.onLeft(sender, rumor.incarnation, nowMs);
      } else if (
        rumor.state === 'dead' &&
        this.silentThroughSuspicion(rumor.node, rumor.incarnation, nowMs)
      ) {
        const accused = this.members.get(rumor.node)!;
        accused.incarnation = rumor.incarnation;
        this.setState(accused, 'dead', nowMs);
      } else {
        // Any other verdict is a suspicion here, which the accused can still beat by refuting.
        this.suspect(rumor.node, rumor.incarnation, from, nowMs);
      }
    }
  }

  /**
   * Whether another member's verdict of death may be taken as ours: the accused has not shown itself to us,
   * first-hand, for at least the shortest suspicion, so it had that long to refute to us too and did not.
   * memberlist takes every dead message; waiting for our own timer instead left the slowest survivor of a
   * 20-node cluster tens of seconds behind the first. A member we heard from lately is only suspected; a live
   * one may be silent for a whole heartbeat interval, so the silence must also outlast one, and a probe more.
   */
  private silentThroughSuspicion(node: NodeId, incarnation: number, nowMs: number): boolean {
    const member = this.members.get(node);
    if (member === undefined || incarnation < member.incarnation) return false;
    if (member.state === 'dead' || member.state === 'left') return false;
    const silentSinceMs = member.lastHeardMs ?? member.knownSinceMs;
    const floorMs = Math.max(
      minSuspicionTimeoutMs(this.config.suspicionMult, this.size, this.config.probeIntervalMs),
      heartbeatIntervalMs(this.config, this.size) + this.config.probeIntervalMs,
    );
    return nowMs - silentSinceMs >= floorMs;
  }

  /** The sender spoke, so it was alive at that incarnation. */
  private heardFrom(member: Member, incarnation: number, nowMs: number): void {
    member.lastHeardMs = nowMs;
    if (incarnation > member.incarnation) {
      member.incarnation = incarnation;
      if (member.state !== 'alive') this.setState(member, 'alive', nowMs);
      return;
    }
    const outdated = incarnation < member.incarnation || member.state !== 'alive';
    // A few members, not all, tell it: it must refute, and a thousand notices would not help it more.
    const chance = Math.min(1, this.config.noticeFanout / Math.max(1, this.members.size));
    if (outdated && this.rng.chance(chance)) this.notify(member, nowMs);
  }

  private notify(member: Member, nowMs: number): void {
    // At most one notice per member per probe interval, however often it speaks.
    if (member.lastNoticeMs !== undefined && nowMs - member.lastNoticeMs < this.config.probeIntervalMs)
      return;
    member.lastNoticeMs = nowMs;
    this.effects.push({
      type: 'notify',
      to: member.id,
      state: member.state,
      incarnation: member.incarnation,
    });
  }

  /** Someone holds us as other than alive, or alive at a later incarnation (we restarted): raise ours. */
  private aboutSelf(state: MemberState, incarnation: number): void {
    const accused = state !== 'alive';
    if (accused ? incarnation < this.ownIncarnation : incarnation <= this.ownIncarnation) return;
    this.ownIncarnation = incarnation + 1;
    // Being suspected while alive hints that we are slow to answer: Lifeguard counts it against our health.
    if (accused) this.adjustAwareness(1);
    this.refuted = true;
  }

  /** Returns whether the suspicion was new to us (a new suspect or a new confirmation). */
  private suspect(node: NodeId, incarnation: number, from: NodeId, nowMs: number): boolean {
    const member = this.members.get(node);
    if (member === undefined || incarnation < member.incarnation) return false;
    if (member.state === 'dead' || member.state === 'left') return false;
    if (member.suspicion !== undefined) {
      member.incarnation = incarnation;
      return member.suspicion.confirm(from);
    }
    member.incarnation = incarnation;
    member.suspicion = this.newSuspicion(from, nowMs);
    this.setState(member, 'suspect', nowMs);
    return true;
  }

  private newSuspicion(accuser: NodeId, nowMs: number): Suspicion {
    const n = this.size;
    // Confirmations that bring the timeout to its floor: suspicionMult − 2, as memberlist sets it so that the
    // floor is reached about two probe intervals early; none when too few members could confirm.
    const wanted = n - 2 < this.config.suspicionMult - 2 ? 0 : this.config.suspicionMult - 2;
    const minMs = minSuspicionTimeoutMs(this.config.suspicionMult, n, this.config.probeIntervalMs);
    return new Suspicion(accuser, nowMs, wanted, minMs, minMs * this.config.suspicionMaxTimeoutMult);
  }

  private suspicionDeadlineMs(member: Member): number {
    const suspicion = member.suspicion!;
    return suspicion.startMs + suspicion.timeoutMs() * (this.awarenessScore + 1);
  }

  private declareDead(member: Member, nowMs: number): void {
    this.setState(member, 'dead', nowMs);
    if (member.accused) this.announce({ node: member.id, state: 'dead', incarnation: member.incarnation });
  }

  private onLeft(member: Member, incarnation: number, nowMs: number): void {
    if (incarnation < member.incarnation || member.state === 'left') return;
    member.incarnation = incarnation;
    this.setState(member, 'left', nowMs);
  }

  private setState(member: Member, state: MemberState, nowMs: number): void {
    const previous = member.state;
    member.state = state;
    member.stateChangedMs = nowMs;
    if (state === 'suspect') {
      this.suspects.add(member);
    } else {
      this.suspects.delete(member);
      member.suspicion = undefined;
    }
    if (state === 'alive') {
      member.accused = false;
      // Whatever we still had to repeat about it is out of date now.
      this.queued.delete(member.id);
    }
    this.effects.push({ type: 'changed', node: member.id, previous, state, incarnation: member.incarnation });
  }

  private announce(rumor: Rumor): void {
    this.queued.delete(rumor.node);
    this.queued.set(rumor.node, { rumor, remaining: this.config.rumorRetransmits });
    this.outgoing.push(rumor);
  }

  private startProbe(nowMs: number): void {
    this.nextProbeMs = nowMs + this.scaled(this.config.probeIntervalMs);
    const target = this.nextTarget();
    if (target === undefined) return;
    const id = this.nextProbeId++;
    this.probe = {
      id,
      target: target.id,
      deadlineMs: this.nextProbeMs,
      waiting: undefined,
      helpers: 0,
      nacks: 0,
    };
    this.effects.push({
      type: 'probe',
      probeId: id,
      target: target.id,
      timeoutMs: this.config.probeTimeoutMs,
    });
  }

  /** The next member in the shuffled round that is worth probing; a new round is shuffled afresh. */
  private nextTarget(): Member | undefined {
    for (let pass = 0; pass < 2; pass++) {
      while (this.probeIndex < this.probeOrder.length) {
        const member = this.members.get(this.probeOrder[this.probeIndex++]!);
        if (member !== undefined && (member.state === 'alive' || member.state === 'suspect')) return member;
      }
      this.probeOrder = shuffle([...this.members.keys()], this.rng);
      this.probeIndex = 0;
    }
    return undefined;
  }

  private currentProbe(probeId: number): ProbeRound | undefined {
    return this.probe?.id === probeId ? this.probe : undefined;
  }

  private onProbeAck(probeId: number, nowMs: number): void {
    const probe = this.currentProbe(probeId);
    if (probe === undefined || probe.waiting !== undefined) return;
    this.adjustAwareness(-1);
    this.finishProbe(nowMs, 'ack');
    const target = this.members.get(probe.target);
    if (target === undefined) return;
    target.lastHeardMs = nowMs;
    // Lifeguard's buddy system: a suspect that answers us hears of the suspicion at once.
    if (target.state === 'suspect') this.notify(target, nowMs);
  }

  private onProbeFailed(probeId: number, nowMs: number): void {
    const probe = this.currentProbe(probeId);
    if (probe === undefined || probe.waiting !== undefined) return;
    const helpers = this.randomAlive(this.config.indirectChecks, probe.target);
    probe.waiting = new Set(helpers);
    probe.helpers = helpers.length;
    if (helpers.length === 0) {
      this.finishProbe(nowMs, 'failed');
      return;
    }
    const remainingMs = Math.max(0, probe.deadlineMs - nowMs);
    this.effects.push({
      type: 'probeIndirect',
      probeId,
      target: probe.target,
      via: helpers,
      timeoutMs: remainingMs,
      // A helper gives up at 80 % of what is left (Lifeguard's figure), so its nack is back before our deadline.
      helperTimeoutMs: Math.max(1, Math.min(this.config.probeTimeoutMs, Math.floor(0.8 * remainingMs))),
    });
  }

  private onIndirect(
    kind: 'indirectAck' | 'indirectNack' | 'indirectFailed',
    probeId: number,
    via: NodeId,
    nowMs: number,
  ): void {
    const probe = this.currentProbe(probeId);
    if (probe?.waiting === undefined || !probe.waiting.delete(via)) return;
    if (kind === 'indirectAck') {
      this.finishProbe(nowMs, 'ack');
      return;
    }
    if (kind === 'indirectNack') probe.nacks++;
    if (probe.waiting.size === 0) this.finishProbe(nowMs, 'failed');
  }

  private finishProbe(nowMs: number, outcome: 'ack' | 'failed'): void {
    const probe = this.probe!;
    this.probe = undefined;
    if (outcome === 'ack') return;
    // Helpers that answered nack showed that the network and we are fine and the target is not; a helper
    // that stayed silent suggests the fault may be ours. With no helpers, any failure counts against us.
    this.adjustAwareness(probe.helpers > 0 ? probe.helpers - probe.nacks : 1);
    const target = this.members.get(probe.target);
    if (target === undefined || target.state === 'dead' || target.state === 'left') return;
    if (this.suspect(target.id, target.incarnation, this.self, nowMs)) {
      target.accused = true;
      this.announce({ node: target.id, state: 'suspect', incarnation: target.incarnation });
    }
  }

  /** Up to k members in the alive state other than the target, drawn without replacement. */
  private randomAlive(k: number, exclude: NodeId): NodeId[] {
    const candidates: NodeId[] = [];
    for (const member of this.members.values()) {
      if (member.state === 'alive' && member.id !== exclude) candidates.push(member.id);
    }
    return shuffle(candidates, this.rng, k);
  }

  private leave(): void {
    this.probe = undefined;
    this.effects.push({
      type: 'publish',
      incarnation: this.ownIncarnation,
      rumors: [{ node: this.self, state: 'left', incarnation: this.ownIncarnation }],
      heartbeat: false,
    });
    this.leaving = true;
  }

  private adjustAwareness(delta: number): void {
    this.awarenessScore = Math.min(this.config.awarenessMax - 1, Math.max(0, this.awarenessScore + delta));
  }

  private scaled(durationMs: number): number {
    return durationMs * (this.awarenessScore + 1);
  }

  /** Ends a step: one publish at most, a heartbeat if one is due, carrying the rumours still to repeat. */
  private flush(nowMs: number): SwimEffect[] {
    const heartbeatDue = !this.leaving && nowMs >= this.nextHeartbeatMs;
    if (heartbeatDue) {
      const intervalMs = heartbeatIntervalMs(this.config, this.size);
      // The first heartbeat comes within a base interval of the start, so a new member is heard at once; the
      // second at a random point of the (scaled) interval, so that a cluster started at once does not beat
      // in step; after a long pause, a full interval on rather than a burst to catch up.
      this.nextHeartbeatMs = this.heartbeatSent
        ? this.nextHeartbeatMs + intervalMs
        : nowMs + 1 + this.rng.int(intervalMs);
      this.heartbeatSent = true;
      if (this.nextHeartbeatMs <= nowMs) this.nextHeartbeatMs = nowMs + intervalMs;
    }
    if (heartbeatDue || this.outgoing.length > 0 || this.refuted) {
      const rumors = heartbeatDue ? this.piggyback() : this.outgoing.slice(0, MAX_RUMORS_PER_MESSAGE);
      this.effects.push({
        type: 'publish',
        incarnation: this.ownIncarnation,
        rumors,
        heartbeat: heartbeatDue,
      });
    }
    const effects = this.effects;
    this.effects = [];
    this.outgoing = [];
    this.refuted = false;
    return effects;
  }

  /** The rumours sent the fewest times first; each one leaves the queue after its last repeat. */
  private piggyback(): Rumor[] {
    const picked = [...this.queued.values()]
      .sort((a, b) => b.remaining - a.remaining)
      .slice(0, MAX_RUMORS_PER_MESSAGE);
    for (const entry of picked) {
      entry.remaining--;
      if (entry.remaining <= 0) this.queued.delete(entry.rumor.node);
    }
    return picked.map((entry) => entry.rumor);
  }
}

/** A Fisher–Yates shuffle, in place, of the first `take` places (all by default). */
function shuffle<T>(items: T[], rng: Rng, take = items.length): T[] {
  const count = Math.min(take, items.length);
  for (let i = 0; i < count; i++) {
    const j = i + rng.int(items.length - i);
    [items[i], items[j]] = [items[j]!, items[i]!];
  }
  items.length = count;
  return items;
}
