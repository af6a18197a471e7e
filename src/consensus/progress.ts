/**
 * The leader's view of one follower (etcd's tracker.Progress). In `probe` the leader sends one append per
 * heartbeat until it finds where the logs match; in `replicate` it streams appends optimistically, up to a
 * window of maxInflightAppends; in `snapshot` it sends a snapshot in chunks and waits for it to be installed.
 */
export type ProgressState = 'probe' | 'replicate' | 'snapshot';

export class Progress {
  match = 0;
  next: number;
  state: ProgressState = 'probe';
  /** In probe: an append is out and the next waits for a heartbeat response. */
  probeSent = false;
  /** Heard from since the last check-quorum round. */
  recentActive = true;
  /** The highest read sequence number this follower acknowledged in the current term. */
  readSeqAcked = 0;
  /** In snapshot: the index of the snapshot being sent. */
  pendingSnapshot = 0;
  /** The last index of each append in flight, oldest first (replicate only). */
  private readonly inflight: number[] = [];

  constructor(
    next: number,
    private readonly maxInflight: number,
  ) {
    this.next = next;
  }

  becomeProbe(): void {
    // After a snapshot, resume from just after it; otherwise from just after what is known to match.
    this.next = this.state === 'snapshot' ? Math.max(this.match, this.pendingSnapshot) + 1 : this.match + 1;
    this.state = 'probe';
    this.probeSent = false;
    this.pendingSnapshot = 0;
    this.inflight.length = 0;
  }

  becomeReplicate(): void {
    this.state = 'replicate';
    this.next = this.match + 1;
    this.probeSent = false;
    this.inflight.length = 0;
  }

  becomeSnapshot(snapshotIndex: number): void {
    this.state = 'snapshot';
    this.pendingSnapshot = snapshotIndex;
    this.probeSent = false;
    this.inflight.length = 0;
  }

  isPaused(): boolean {
    switch (this.state) {
      case 'probe':
        return this.probeSent;
      case 'replicate':
        return this.inflight.length >= this.maxInflight;
      case 'snapshot':
        return true;
    }
  }

  /**
   * A heartbeat reply while the window is full: an append may have been lost, so make room for one more; the
   * follower's rejection of the next append then sends us back to probing.
   */
  freeOldestInflight(): void {
    this.inflight.shift();
  }

  /** Records an append just sent whose last entry is `lastIndex`. */
  sentAppend(lastIndex: number, entryCount: number): void {
    if (this.state === 'replicate') {
      if (entryCount > 0) {
        this.next = lastIndex + 1;
        this.inflight.push(lastIndex);
      }
    } else if (this.state === 'probe') {
      this.probeSent = true;
    }
  }

  /** A successful append response; returns false when it tells nothing new (a stale or duplicated reply). */
  maybeUpdate(index: number): boolean {
    let updated = false;
    if (index > this.match) {
      this.match = index;
      updated = true;
      this.probeSent = false;
    }
    this.next = Math.max(this.next, index + 1);
    while (this.inflight.length > 0 && this.inflight[0]! <= index) this.inflight.shift();
    return updated;
  }

  /**
   * A rejected append for prevIndex `rejected`; `hint` is where the leader should try next. Returns false when
   * the rejection is stale (it answers an append sent before a newer one).
   */
  maybeDecrease(rejected: number, hint: number): boolean {
    if (this.state === 'replicate') {
      if (rejected <= this.match) return false;
      this.next = this.match + 1;
      return true;
    }
    if (this.next - 1 !== rejected) return false;
    this.next = Math.max(Math.min(rejected, hint + 1), this.match + 1);
    this.probeSent = false;
    return true;
  }
}
