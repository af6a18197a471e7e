import { type HaParams, type LeaseGrant, lapseAfterMs, takeoverGrant } from '../cluster/lease.js';
import type { NodeId } from '../common/ids.js';

/**
 * The leases this master granted, by its monotonic clock. It knows nothing of the grants of the masters
 * before it, except that each was confirmed by a quorum before this one was elected: so every node counts
 * as granted at the takeover, with the longest lease the configuration may have handed out.
 */
export class LeaseTable {
  private readonly lapses = new Map<NodeId, number>();
  private readonly takeoverLapseMs: number;

  constructor(
    takeoverAtMs: number,
    private readonly params: () => HaParams,
  ) {
    const ha = params();
    this.takeoverLapseMs = takeoverAtMs + lapseAfterMs(takeoverGrant(ha), ha.clockDriftPpm);
  }

  /** Records a grant, sent at `atMs`, after the quorum confirmed this master. */
  granted(node: NodeId, atMs: number, grant: LeaseGrant): void {
    const lapse = atMs + lapseAfterMs(grant, this.params().clockDriftPpm);
    this.lapses.set(node, Math.max(lapse, this.lapses.get(node) ?? 0));
  }

  /** By this master's clock, when the node's guests are surely dead unless it renews. */
  lapsesAtMs(node: NodeId): number {
    return Math.max(this.takeoverLapseMs, this.lapses.get(node) ?? 0);
  }
}
