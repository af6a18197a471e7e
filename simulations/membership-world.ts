import type { Clock, Timer } from '../src/common/clock.js';
import { asNodeId, type NodeId } from '../src/common/ids.js';
import { silentLogger } from '../src/common/log.js';
import { type Rng, seededRng } from '../src/common/random.js';
import { SimClock } from '../src/common/sim-clock.js';
import { CORRAL_VERSION } from '../src/common/version.js';
import {
  createGossipService,
  type GossipService,
  type MemberView,
} from '../src/membership/gossip-service.js';
import type { HealthRecord } from '../src/membership/health.js';
import type { MemberState } from '../src/membership/swim.js';
import type { SwimConfig } from '../src/membership/swim-config.js';
import { MemoryHub, type MemoryTransport, type Packet } from '../src/peer/memory-transport.js';
import { healthyNetwork, type NetworkFaults, SimNetwork } from '../src/peer/sim-network.js';

export interface MembershipWorldOptions {
  readonly seed: number;
  readonly nodes: number;
  readonly config?: Partial<SwimConfig>;
  readonly faults?: NetworkFaults;
}

/** A state change one node saw about another. */
export interface ObservedChange {
  readonly atMs: number;
  readonly observer: NodeId;
  readonly node: NodeId;
  readonly previous: MemberState;
  readonly state: MemberState;
  readonly incarnation: number;
}

/** How a node misbehaves without being down: slow to handle anything, or frozen for a while. */
interface Sluggishness {
  /** Extra delay on every packet it sends or receives, drawn per packet. */
  extraDelayMs: { readonly min: number; readonly max: number } | undefined;
  /** Until then, nothing it sends leaves, nothing sent to it is handled, and its timers wait (a GC pause). */
  pausedUntilMs: number;
}

/**
 * The network the in-memory transports share, with the sluggishness of single nodes laid on top, and a count
 * of what crosses it by kind.
 */
class MembershipNetwork extends SimNetwork<Packet> {
  readonly sluggish = new Map<NodeId, Sluggishness>();
  readonly sentByKind = new Map<string, number>();
  bytesSent = 0;

  constructor(
    clock: SimClock,
    rng: Rng,
    private readonly delayRng: Rng,
    faults: NetworkFaults,
  ) {
    super(clock, rng, faults);
  }

  override send(from: NodeId, to: NodeId, packet: Packet): void {
    this.counted(from, to, packet, () => super.send(from, to, packet));
  }

  /** Requests and their replies (the probes) travel this way. */
  override sendReliably(from: NodeId, to: NodeId, packet: Packet, delayMs: number): boolean {
    this.counted(from, to, packet, () => super.sendReliably(from, to, packet, delayMs));
    return true;
  }

  private counted(from: NodeId, to: NodeId, packet: Packet, deliver: () => void): void {
    const kind = packet.kind === 'gossip' ? 'gossip' : packet.kind === 'message' ? 'notice' : 'probe';
    this.sentByKind.set(kind, (this.sentByKind.get(kind) ?? 0) + 1);
    this.bytesSent += 'frame' in packet ? packet.frame.byteLength : 0;
    const heldMs = this.holdMs(from, to);
    if (heldMs <= 0) deliver();
    else this.clock.setTimer(heldMs, deliver);
  }

  private holdMs(from: NodeId, to: NodeId): number {
    const nowMs = this.clock.monotonicMs();
    let heldMs = 0;
    for (const node of [from, to]) {
      const slow = this.sluggish.get(node);
      if (slow === undefined) continue;
      heldMs = Math.max(heldMs, slow.pausedUntilMs - nowMs);
      if (slow.extraDelayMs !== undefined) {
        heldMs += this.delayRng.between(slow.extraDelayMs.min, slow.extraDelayMs.max);
      }
    }
    return heldMs;
  }

  pausedUntilMs(node: NodeId): number {
    return this.sluggish.get(node)?.pausedUntilMs ?? Number.NEGATIVE_INFINITY;
  }
}

/** A node's view of time: its timers do not fire while it is paused, as in a stopped process. */
function nodeClock(clock: SimClock, pausedUntilMs: () => number): Clock {
  const defer = (callback: () => void): void => {
    const waitMs = pausedUntilMs() - clock.monotonicMs();
    if (waitMs > 0) clock.setTimer(waitMs, () => defer(callback));
    else callback();
  };
  return {
    monotonicMs: () => clock.monotonicMs(),
    wallMs: () => clock.wallMs(),
    setTimer: (delayMs, callback): Timer => clock.setTimer(delayMs, () => defer(callback)),
  };
}

interface SimMember {
  readonly id: NodeId;
  transport: MemoryTransport | undefined;
  service: GossipService | undefined;
}

/** A typical record, so that heartbeats have their real size on the simulated wire. */
function simHealth(clock: SimClock): HealthRecord {
  return {
    load1: 0.42,
    load5: 0.37,
    load15: 0.3,
    cpuCount: 16,
    cpuUsePercent: 12.5,
    memoryTotalBytes: 64 * 1024 ** 3,
    memoryFreeBytes: 41 * 1024 ** 3,
    storage: [{ path: '/srv/corral/file-storage', freeBytes: 812 * 1024 ** 3, totalBytes: 1800 * 1024 ** 3 }],
    instancesRunning: 7,
    instanceMemoryBytes: 20 * 1024 ** 3,
    version: CORRAL_VERSION,
    configSerial: 1234,
    raftRole: 'follower',
    collectedWallMs: Math.floor(clock.wallMs()),
  };
}

/**
 * Many nodes in one process, each running the real gossip service over the in-memory transport, on one
 * simulated clock and one seed. Crashes, partitions, slow and paused nodes are applied through its methods.
 */
export class MembershipWorld {
  readonly clock = new SimClock();
  readonly network: MembershipNetwork;
  readonly ids: readonly NodeId[];
  readonly changes: ObservedChange[] = [];
  private readonly hub: MemoryHub;
  private readonly rng: Rng;
  private readonly members = new Map<NodeId, SimMember>();

  constructor(readonly options: MembershipWorldOptions) {
    this.rng = seededRng(options.seed);
    this.network = new MembershipNetwork(
      this.clock,
      this.rng.fork(),
      this.rng.fork(),
      options.faults ?? healthyNetwork,
    );
    this.hub = new MemoryHub(this.network);
    this.ids = Array.from({ length: options.nodes }, (_, i) => asNodeId(`n${i + 1}`));
    for (const id of this.ids) this.members.set(id, { id, transport: undefined, service: undefined });
    for (const id of this.ids) this.start(id);
  }

  /** Starts a node, or restarts a crashed one with a fresh service (incarnation 0, as after a reboot). */
  start(id: NodeId): void {
    const member = this.member(id);
    if (member.service !== undefined) return;
    const transport = this.hub.join(id);
    const service = createGossipService(
      { config: this.options.config },
      {
        transport,
        clock: nodeClock(this.clock, () => this.network.pausedUntilMs(id)),
        rng: this.rng.fork(),
        log: silentLogger,
        health: () => simHealth(this.clock),
        members: () => this.ids,
      },
    );
    service.onChange((change) =>
      this.changes.push({ atMs: this.clock.monotonicMs(), observer: id, ...change }),
    );
    member.transport = transport;
    member.service = service;
  }

  crash(id: NodeId): void {
    const member = this.member(id);
    member.service?.stop();
    void member.transport?.stop();
    member.service = undefined;
    member.transport = undefined;
  }

  /** A graceful leave: the node says so, lets its message go out, then shuts down. */
  async leave(id: NodeId): Promise<void> {
    await this.member(id).service?.leave();
    await this.runFor(500);
    this.crash(id);
  }

  isUp(id: NodeId): boolean {
    return this.member(id).service !== undefined;
  }

  /** Cuts a node off from all others, both ways. */
  isolate(id: NodeId): void {
    this.network.partition(
      [id],
      this.ids.filter((other) => other !== id),
    );
  }

  partition(...sides: readonly (readonly NodeId[])[]): void {
    this.network.partition(...sides);
  }

  heal(): void {
    this.network.heal();
  }

  /** Every packet the node sends or receives takes between min and max ms longer, as on a loaded machine. */
  slow(id: NodeId, minMs: number, maxMs: number): void {
    this.sluggishness(id).extraDelayMs = { min: minMs, max: maxMs };
  }

  /** Freezes the node for durationMs from now: a GC pause or a SIGSTOP. */
  pause(id: NodeId, durationMs: number): void {
    this.sluggishness(id).pausedUntilMs = this.clock.monotonicMs() + durationMs;
  }

  view(observer: NodeId): MemberView[] {
    const service = this.member(observer).service;
    if (service === undefined) throw new RangeError(`${observer} is down`);
    return service.view();
  }

  stateOf(observer: NodeId, node: NodeId): MemberState | undefined {
    return this.view(observer).find((member) => member.id === node)?.state;
  }

  /** Up nodes whose view of every up node is alive. */
  allSeeAllUpAlive(): boolean {
    const up = this.ids.filter((id) => this.isUp(id));
    return up.every((observer) => {
      const states = new Map(this.view(observer).map((member) => [member.id, member.state]));
      return up.every((node) => states.get(node) === 'alive');
    });
  }

  /**
   * Runs every event due up to untilMs. After each instant's events, promise callbacks (ping replies,
   * indirect probe answers) run before time moves on, as they would on a real event loop.
   */
  async runUntil(untilMs: number, stop: () => boolean = () => false): Promise<void> {
    for (;;) {
      await new Promise<void>((resolve) => setImmediate(resolve));
      if (stop()) return;
      const dueMs = this.clock.nextDueMs();
      if (dueMs === undefined || dueMs > untilMs) break;
      while (this.clock.nextDueMs() === dueMs) this.clock.step();
    }
    this.clock.advanceTo(untilMs);
  }

  runFor(durationMs: number, stop?: () => boolean): Promise<void> {
    return this.runUntil(this.clock.monotonicMs() + durationMs, stop);
  }

  private member(id: NodeId): SimMember {
    const member = this.members.get(id);
    if (member === undefined) throw new RangeError(`no node ${id}`);
    return member;
  }

  private sluggishness(id: NodeId): Sluggishness {
    let slow = this.network.sluggish.get(id);
    if (slow === undefined) {
      slow = { extraDelayMs: undefined, pausedUntilMs: Number.NEGATIVE_INFINITY };
      this.network.sluggish.set(id, slow);
    }
    return slow;
  }
}
