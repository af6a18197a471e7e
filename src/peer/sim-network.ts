import type { NodeId } from '../common/ids.js';
import type { Rng } from '../common/random.js';
import type { SimClock } from '../common/sim-clock.js';

/** Fault rates of a simulated network; every draw comes from the network's seeded Rng. */
export interface NetworkFaults {
  /** Probability that a datagram is lost. */
  readonly lossRate: number;
  /** Probability that a delivered datagram is delivered twice. */
  readonly duplicateRate: number;
  readonly delayMinMs: number;
  readonly delayMaxMs: number;
}

export const healthyNetwork: NetworkFaults = { lossRate: 0, duplicateRate: 0, delayMinMs: 1, delayMaxMs: 1 };

export type Receiver<M> = (from: NodeId, message: M) => void;

/**
 * A deterministic network of datagrams between simulated nodes. Reordering comes from independent delays;
 * partitions are one-way blocks (a symmetric partition is two of them). Ordered streams are built on top by
 * the in-memory transport, which breaks a stream when its path is blocked, as a TCP connection would.
 */
export class SimNetwork<M> {
  private readonly receivers = new Map<NodeId, Receiver<M>>();
  private readonly blocked = new Set<string>();
  private readonly down = new Set<NodeId>();
  private faults: NetworkFaults;
  private delivered = 0;
  private dropped = 0;

  constructor(
    readonly clock: SimClock,
    private readonly rng: Rng,
    faults: NetworkFaults = healthyNetwork,
  ) {
    this.faults = faults;
  }

  setFaults(faults: NetworkFaults): void {
    this.faults = faults;
  }

  attach(node: NodeId, receiver: Receiver<M>): void {
    this.receivers.set(node, receiver);
    this.down.delete(node);
  }

  /** A crashed node: nothing reaches it and what it had in flight is lost on arrival. */
  detach(node: NodeId): void {
    this.receivers.delete(node);
    this.down.add(node);
  }

  /** Blocks traffic from `from` to `to` only. */
  blockOneWay(from: NodeId, to: NodeId): void {
    this.blocked.add(pathKey(from, to));
  }

  /** Splits the nodes into sides that cannot reach each other; nodes not named keep reaching everyone. */
  partition(...sides: readonly (readonly NodeId[])[]): void {
    for (const [i, side] of sides.entries()) {
      for (const [j, other] of sides.entries()) {
        if (i === j) continue;
        for (const a of side) for (const b of other) this.blockOneWay(a, b);
      }
    }
  }

  heal(): void {
    this.blocked.clear();
  }

  canReach(from: NodeId, to: NodeId): boolean {
    return !this.down.has(from) && !this.down.has(to) && !this.blocked.has(pathKey(from, to));
  }

  /** Sends a datagram; it may be lost, duplicated, or overtaken by a later one. */
  send(from: NodeId, to: NodeId, message: M): void {
    if (!this.canReach(from, to) || this.rng.chance(this.faults.lossRate)) {
      this.dropped++;
      return;
    }
    const copies = this.rng.chance(this.faults.duplicateRate) ? 2 : 1;
    for (let i = 0; i < copies; i++) this.deliverLater(from, to, message, this.drawDelayMs());
  }

  /** Sends with a fixed delay and no loss or duplication, for ordered streams built on top. */
  sendReliably(from: NodeId, to: NodeId, message: M, delayMs: number): boolean {
    if (!this.canReach(from, to)) return false;
    this.deliverLater(from, to, message, delayMs);
    return true;
  }

  drawDelayMs(): number {
    return this.rng.between(this.faults.delayMinMs, this.faults.delayMaxMs);
  }

  stats(): { delivered: number; dropped: number } {
    return { delivered: this.delivered, dropped: this.dropped };
  }

  private deliverLater(from: NodeId, to: NodeId, message: M, delayMs: number): void {
    this.clock.setTimer(delayMs, () => {
      // The path is checked again on arrival: a partition cuts what is still in flight.
      const receiver = this.receivers.get(to);
      if (receiver === undefined || !this.canReach(from, to)) {
        this.dropped++;
        return;
      }
      this.delivered++;
      receiver(from, message);
    });
  }
}

function pathKey(from: NodeId, to: NodeId): string {
  return `${from}\u0000${to}`;
}
