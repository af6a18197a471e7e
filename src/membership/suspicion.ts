import type { NodeId } from '../common/ids.js';

/**
 * Lifeguard's suspicion timer, as a value: no clock of its own. It starts at its longest and shrinks toward
 * its shortest as independent members confirm the suspicion, so a node that everyone finds silent is declared
 * dead quickly, while one that only a single (perhaps unwell) member suspects gets a long time to refute.
 */
export class Suspicion {
  private readonly confirmers = new Set<NodeId>();

  /**
   * @param accuser the first member to suspect; it does not count as a confirmation (it may hear its own
   *   suspicion back), but it cannot confirm twice either.
   * @param wantedConfirmations k: confirmations that bring the timeout down to its minimum.
   */
  constructor(
    accuser: NodeId,
    readonly startMs: number,
    private readonly wantedConfirmations: number,
    private readonly minTimeoutMs: number,
    private readonly maxTimeoutMs: number,
  ) {
    this.confirmers.add(accuser);
  }

  /** Independent confirmations so far (the accuser excluded). */
  get confirmations(): number {
    return this.confirmers.size - 1;
  }

  /** Records a confirmation; false when it adds nothing (a repeat, or the timeout is already at its floor). */
  confirm(from: NodeId): boolean {
    if (this.confirmations >= this.wantedConfirmations || this.confirmers.has(from)) return false;
    this.confirmers.add(from);
    return true;
  }

  /** The whole timeout as it stands, measured from startMs. */
  timeoutMs(): number {
    return suspicionTimeoutMs(
      this.confirmations,
      this.wantedConfirmations,
      this.minTimeoutMs,
      this.maxTimeoutMs,
    );
  }
}

/**
 * max − log(n+1)/log(k+1) × (max − min), never below min: each confirmation takes a shrinking bite, so the
 * first few matter most (memberlist's remainingSuspicionTime, before the elapsed time is taken off).
 */
export function suspicionTimeoutMs(
  confirmations: number,
  wantedConfirmations: number,
  minTimeoutMs: number,
  maxTimeoutMs: number,
): number {
  if (wantedConfirmations <= 0) return minTimeoutMs;
  const fraction = Math.log(confirmations + 1) / Math.log(wantedConfirmations + 1);
  const timeoutMs = Math.floor(maxTimeoutMs - fraction * (maxTimeoutMs - minTimeoutMs));
  return Math.max(minTimeoutMs, timeoutMs);
}

/**
 * The floor of the suspicion timeout: suspicionMult × max(1, log10 n) × probeIntervalMs, so that it grows
 * with the time a rumour needs to cross a larger cluster.
 */
export function minSuspicionTimeoutMs(
  suspicionMult: number,
  members: number,
  probeIntervalMs: number,
): number {
  const nodeScale = Math.max(1, Math.log10(Math.max(1, members)));
  return Math.floor(suspicionMult * nodeScale * probeIntervalMs);
}
